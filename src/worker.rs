//! `voicebin worker`: scan jobs consumed from RabbitMQ, retried with back-off, recorded as failed
//! on the last delivery.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use voicebin_commands::ClipService;
use voicebin_workers::{Attempt, RabbitQueue, Round, ScanJobRunner};
use voicebin_workers::{JobOutcome, RabbitOptions, ScanJob, ScanJobHandler};

use crate::adapters::{adapters, ViewsBlocklist};
use crate::{Database, Settings};

/// A `voicebin worker` process: consumes scan jobs from RabbitMQ.
pub struct Worker {
    queue: Arc<RabbitQueue>,
    handler: Arc<RabbitHandler>,
    /// What the worker scans with, for start-up logs.
    pub scanner: String,
    /// Where the worker stores and reads, for start-up logs.
    pub database: Database,
}

struct RabbitHandler {
    runner: ScanJobRunner,
    delivery_limit: u32,
}

#[async_trait::async_trait]
impl ScanJobHandler for RabbitHandler {
    async fn handle(&self, job: &ScanJob) -> JobOutcome {
        let (clip, delivery_count) = (&job.clip, job.delivery_count);
        let round = if job.retry {
            Round::Retry {
                fresh: delivery_count == 0,
            }
        } else {
            Round::First
        };
        match self.runner.attempt(clip, round).await {
            Attempt::Done => JobOutcome::Done,
            // Recorded `failed`: dead-letter this job, once (duplicates find the clip failed).
            Attempt::GaveUp => JobOutcome::GiveUp,
            // The runner gives up after MAX_ATTEMPTS counted scans; should the count itself keep
            // failing, the broker's last delivery records `failed` all the same, so the owner
            // sees it instead of an endless `pending`.
            Attempt::Retry(why) if delivery_count >= self.delivery_limit => {
                tracing::error!(clip.id = %clip, error = %why, "scan keeps failing; giving up");
                match self.runner.give_up(clip, &why, round).await {
                    Attempt::GaveUp | Attempt::Done => JobOutcome::GiveUp,
                    Attempt::Retry(_) => JobOutcome::Retry,
                }
            }
            Attempt::Retry(why) => {
                // Hold the job a while before handing it back: a requeue is immediate, and a
                // scanner that is down for a minute must not burn all deliveries at once.
                let backoff = Duration::from_secs(1 << delivery_count.min(5));
                tracing::warn!(clip.id = %clip, delivery_count, error = %why, ?backoff, "scan failed; will retry");
                tokio::time::sleep(backoff).await;
                JobOutcome::Retry
            }
        }
    }
}

impl Worker {
    /// Connects the worker's adapters.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let adapters = adapters(settings).await?;
        let queue = adapters.rabbit.context(
            "`voicebin worker` and `voicebin dead-letters` need VOICEBIN_AMQP_URL (embedded mode scans inside `serve`)",
        )?;
        let runner = ScanJobRunner {
            service: ClipService::new(
                adapters.store,
                adapters.blobs,
                // Workers never upload, so they never trigger the relay.
                queue.clone(),
                Arc::new(ViewsBlocklist(adapters.views.clone())),
                settings.max_upload_bytes,
            ),
            views: adapters.views,
            scanner: adapters.scanner.clone(),
            attempts: adapters.database.dispatch(),
        };
        Ok(Worker {
            handler: Arc::new(RabbitHandler {
                runner,
                delivery_limit: RabbitOptions::default().delivery_limit,
            }),
            queue,
            scanner: adapters.scanner.describe(),
            database: adapters.database,
        })
    }

    /// Consumes jobs until `shutdown`.
    pub async fn run(
        self,
        prefetch: u16,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        self.queue
            .consume(self.handler, prefetch, shutdown)
            .await
            .map_err(|e| anyhow::anyhow!(e))
    }

    /// The queue, for dead-letter commands.
    pub fn queue(&self) -> &RabbitQueue {
        &self.queue
    }
}
