//! The embedded scan worker: consumes the in-process queue, scans, records `ScanCompleted`.
//!
//! At start-up it re-queues every clip still `pending` in the read model, so jobs lost when
//! the process stopped are not lost for good.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tracing::instrument;
use voicebin_commands::{ClipService, ScanJobs, ScanQueue, Scanner};
use voicebin_domain::{ClipId, ScanOutcome, ScanVerdict};
use voicebin_projections::ReadStore;

/// Attempts before a clip is recorded as `failed`.
const MAX_ATTEMPTS: u32 = 3;
/// Scans running at once.
const CONCURRENCY: usize = 2;

/// Everything the worker needs.
#[derive(Clone)]
pub struct EmbeddedWorker {
    /// Records verdicts and reads blobs.
    pub service: ClipService,
    /// Finds the blob of a clip and its current state.
    pub views: Arc<dyn ReadStore>,
    /// Decides verdicts.
    pub scanner: Arc<dyn Scanner>,
}

impl EmbeddedWorker {
    /// Re-queues pending clips, then scans jobs until `shutdown` completes or the queue closes.
    pub async fn run(
        self,
        queue: Arc<dyn ScanQueue>,
        mut jobs: ScanJobs,
        shutdown: impl Future<Output = ()>,
    ) {
        match self.views.pending_ids().await {
            Ok(ids) => {
                for id in ids.iter().filter_map(|id| ClipId::parse(id).ok()) {
                    let _ = queue.enqueue(&id).await;
                }
                if !ids.is_empty() {
                    tracing::info!(count = ids.len(), "re-queued pending clips");
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not list pending clips"),
        }
        drop(queue);
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

    /// Scans one clip with retries; never records `clean` after an error.
    #[instrument(skip_all, fields(clip.id = %id))]
    pub async fn scan_one(&self, id: &ClipId) {
        let view = match self.views.get(id.as_str()).await {
            Ok(Some(view)) => view,
            Ok(None) => {
                tracing::warn!("scan job for an unknown clip; dropped");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "read model unavailable; job dropped until restart");
                return;
            }
        };
        if view.is_deleted() || view.scan_state != "pending" {
            return;
        }
        let mut last_error = String::new();
        for attempt in 1..=MAX_ATTEMPTS {
            let Some(path) = self.service.blobs().local_path(&view.blob_key) else {
                last_error = "blob store keeps no local files".into();
                break;
            };
            match self.scanner.scan(&path).await {
                Ok(outcome) => {
                    self.record(id, outcome).await;
                    return;
                }
                Err(e) => {
                    tracing::warn!(attempt, error = %e, "scan attempt failed");
                    last_error = e.to_string();
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                }
            }
        }
        let outcome = ScanOutcome {
            verdict: ScanVerdict::Failed,
            audio: None,
            detail: Some(format!(
                "scanning failed after {MAX_ATTEMPTS} attempts: {last_error}"
            )),
            scanner: self.scanner.describe(),
        };
        self.record(id, outcome).await;
    }

    async fn record(&self, id: &ClipId, outcome: ScanOutcome) {
        if let Err(e) = self.service.complete_scan(id, outcome, "scanner").await {
            tracing::error!(error = %e, "could not record the scan verdict");
        }
    }
}
