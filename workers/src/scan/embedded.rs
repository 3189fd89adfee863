//! The embedded worker: consumes an in-process queue (the scans', or a post-clean stage's) and
//! runs each job, retrying transient failures with backoff until the job's runner records an
//! outcome or gives up (after [`MAX_ATTEMPTS`] runs for the clip in all, counted across
//! restarts of `serve`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use voicebin_domain::ClipId;

use super::job::{Attempt, JobRunner, Round, MAX_ATTEMPTS};
use super::queue::in_process::ScanJobs;

/// Scans running at once.
const CONCURRENCY: usize = 2;

/// The in-process worker of one queue.
#[derive(Clone)]
pub struct EmbeddedWorker {
    /// Runs jobs: a `ScanJobRunner`, or a stage's `StageJobRunner`.
    pub runner: Arc<dyn JobRunner>,
}

impl EmbeddedWorker {
    /// Scans jobs until `shutdown` completes or the queue closes.
    pub async fn run(self, mut jobs: ScanJobs, shutdown: impl Future<Output = ()>) {
        let permits = Arc::new(Semaphore::new(CONCURRENCY));
        tokio::pin!(shutdown);
        loop {
            let job = tokio::select! {
                job = jobs.next() => job,
                () = &mut shutdown => None,
            };
            let Some(id) = job else { break };
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let worker = self.clone();
            tokio::spawn(async move {
                worker.scan_one(&id).await;
                drop(permit);
            });
        }
        // Let scans in flight finish before returning.
        let _ = permits.acquire_many(CONCURRENCY as u32).await;
    }

    async fn scan_one(&self, id: &ClipId) {
        // Backing off 0.5, 1, 2, 4 s in between, so a scanner that is briefly down does not
        // fail clips. Each attempt is counted in the database, and the runner gives up at
        // MAX_ATTEMPTS; the bound here only ends attempts that could not even be counted
        // (the database is down), leaving the clip pending for the relay to republish.
        for attempt in 1..=MAX_ATTEMPTS {
            match self.runner.attempt(id, Round::First).await {
                Attempt::Done | Attempt::GaveUp => return,
                Attempt::Retry(why) => {
                    tracing::warn!(clip.id = %id, attempt, error = %why, "scan attempt failed");
                    if attempt < MAX_ATTEMPTS {
                        tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
                    }
                }
            }
        }
        tracing::error!(clip.id = %id, "scan attempts keep failing; left pending for the relay");
    }
}
