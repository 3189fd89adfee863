//! `voicebin worker`: scan jobs and the post-clean stages' jobs consumed from RabbitMQ (one
//! queue each), retried with back-off, recorded as failed on the last delivery.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::FutureExt;
use voicebin_commands::ClipService;
use voicebin_workers::{Attempt, JobRunner, RabbitQueue, Round, ScanJobRunner, StageJobRunner};
use voicebin_workers::{JobOutcome, RabbitOptions, ScanJob, ScanJobHandler};

use crate::adapters::{adapters, ViewsBlocklist};
use crate::{Database, Settings};

/// A `voicebin worker` process: consumes scan jobs and stage jobs from RabbitMQ.
pub struct Worker {
    queue: Arc<RabbitQueue>,
    handler: Arc<RabbitHandler>,
    /// Each enabled post-clean stage's queue and handler.
    stages: Vec<(voicebin_domain::Stage, Arc<RabbitQueue>, Arc<RabbitHandler>)>,
    /// What the worker scans with, for start-up logs.
    pub scanner: String,
    /// Where the worker stores and reads, for start-up logs.
    pub database: Database,
    /// How long jobs in flight may run on after shutdown; `None` waits for them.
    drain: Option<Duration>,
    /// The worker's metrics (scan outcomes and durations), served by `voicebin worker` on
    /// `VOICEBIN_METRICS_LISTEN`.
    pub metrics: Arc<voicebin_metrics::Metrics>,
}

struct RabbitHandler {
    runner: Arc<dyn JobRunner>,
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
        let service = ClipService::new(
            adapters.store,
            adapters.blobs,
            // Workers never upload, so they never trigger the relay.
            queue.clone(),
            Arc::new(ViewsBlocklist(adapters.views.clone())),
            settings.max_upload_bytes,
        );
        let metrics = Arc::new(voicebin_metrics::Metrics::new());
        let runner = ScanJobRunner {
            service: service.clone(),
            views: adapters.views.clone(),
            scanner: adapters.scanner.clone(),
            attempts: adapters.database.dispatch(),
            metrics: metrics.clone(),
        };
        let delivery_limit = RabbitOptions::default().delivery_limit;
        let mut stages = Vec::new();
        for (stage, work) in crate::stages::works(settings).await? {
            let Some((_, stage_queue)) = adapters.stage_queues.iter().find(|(s, _)| *s == stage)
            else {
                anyhow::bail!("no RabbitMQ queue for the {} stage", stage.as_str());
            };
            let runner = StageJobRunner {
                work,
                service: service.clone(),
                views: adapters.views.clone(),
                attempts: adapters.database.stage_dispatch(),
            };
            stages.push((
                stage,
                stage_queue.clone(),
                Arc::new(RabbitHandler {
                    runner: Arc::new(runner),
                    delivery_limit,
                }),
            ));
        }
        Ok(Worker {
            handler: Arc::new(RabbitHandler {
                runner: Arc::new(runner),
                delivery_limit,
            }),
            stages,
            queue,
            scanner: adapters.scanner.describe(),
            database: adapters.database,
            drain: None,
            metrics,
        })
    }

    /// Stops jobs still running `drain` after shutdown (their messages go back to the queue
    /// for another worker) instead of waiting for them.
    pub fn drain_within(mut self, drain: Duration) -> Self {
        self.drain = Some(drain);
        self
    }

    /// Consumes jobs from every queue (at most `prefetch` at once from each) until `shutdown`,
    /// then lets the jobs in flight finish (within [`Worker::drain_within`], if set).
    pub async fn run(
        self,
        prefetch: u16,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let shutdown = shutdown.shared();
        let mut consumers = vec![(self.queue, self.handler)];
        consumers.extend(self.stages.into_iter().map(|(_, q, h)| (q, h)));
        let drain = self.drain;
        let runs = consumers.into_iter().map(|(queue, handler)| {
            let shutdown = shutdown.clone();
            async move {
                queue
                    .consume_until(handler, prefetch, shutdown, drain)
                    .await
            }
        });
        for ended in futures::future::join_all(runs).await {
            ended.map_err(|e| anyhow::anyhow!(e))?;
        }
        Ok(())
    }

    /// The queue of a post-clean stage, for dead-letter commands.
    pub fn stage_queue(&self, stage: voicebin_domain::Stage) -> Option<&RabbitQueue> {
        self.stages
            .iter()
            .find(|(s, _, _)| *s == stage)
            .map(|(_, queue, _)| queue.as_ref())
    }

    /// The queue, for dead-letter commands.
    pub fn queue(&self) -> &RabbitQueue {
        &self.queue
    }
}
