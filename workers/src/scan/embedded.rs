//! The embedded scan worker: consumes the in-process queue and runs each job, retrying
//! transient failures a few times before recording `failed`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use voicebin_domain::ClipId;

use super::job::{Attempt, ScanJobRunner};
use super::queue::in_process::ScanJobs;

/// Attempts before a clip is recorded as `failed` (backing off 0.5, 1, 2, 4, 8 s in between,
/// so a scanner that is briefly down does not fail clips).
const MAX_ATTEMPTS: u32 = 6;
/// Scans running at once.
const CONCURRENCY: usize = 2;

/// The in-process worker.
#[derive(Clone)]
pub struct EmbeddedWorker {
    /// Runs jobs.
    pub runner: ScanJobRunner,
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
        let mut reason = String::new();
        for attempt in 1..=MAX_ATTEMPTS {
            match self.runner.attempt(id).await {
                Attempt::Done => return,
                Attempt::Retry(why) => {
                    tracing::warn!(clip.id = %id, attempt, error = %why, "scan attempt failed");
                    reason = why;
                    if attempt < MAX_ATTEMPTS {
                        tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
                    }
                }
            }
        }
        // The relay republishes clips that are still pending, so a clip that is merely not
        // projected yet gets another chance; one that keeps failing is recorded as failed.
        if let Attempt::Retry(why) = self.runner.give_up(id, &reason).await {
            tracing::error!(clip.id = %id, error = %why, "could not record the failure");
        }
    }
}
