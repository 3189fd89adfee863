//! The probes that read `/metrics`' gauges at scrape time: the depth and dead letters of each
//! RabbitMQ queue (passive declares), from the database the scan backlog (relay lag and, in
//! embedded mode, the in-process queue's depth) and, in embedded mode, each post-clean stage's
//! pending clips, and from memory the download bytes the kernel sent from clip files.
//! [`register_probes`] and [`register_stage_probes`] are called by [`crate::build`]; each probe
//! costs at most one bounded round trip per scrape.

use std::sync::Arc;
use std::time::Duration;

use voicebin_domain::Stage;
use voicebin_metrics::{Metrics, Probe};
use voicebin_projections::{ScanDispatch, StageDispatch};
use voicebin_workers::RabbitQueue;

/// The queue label of scan jobs (post-clean stages use their stage's name).
const SCAN_QUEUE: &str = "scan";

/// A RabbitMQ queue's ready messages and dead letters.
struct RabbitDepth {
    queue: Arc<RabbitQueue>,
    label: &'static str,
}

#[async_trait::async_trait]
impl Probe for RabbitDepth {
    async fn observe(&self, metrics: &Metrics) -> Result<(), String> {
        let depths = self.queue.depths().await.map_err(|e| e.to_string())?;
        metrics.set_queue_depth(self.label, depths.ready);
        metrics.set_dead_letters(self.label, depths.dead);
        Ok(())
    }

    fn forget(&self, metrics: &Metrics) {
        metrics.forget_queue_depth(self.label);
        metrics.forget_dead_letters(self.label);
    }
}

/// The scan backlog in the database: the relay's lag and, when scans are queued in process
/// (where no broker counts them), the queue's depth.
struct ScanBacklog {
    dispatch: Arc<dyn ScanDispatch>,
    in_process: bool,
}

#[async_trait::async_trait]
impl Probe for ScanBacklog {
    async fn observe(&self, metrics: &Metrics) -> Result<(), String> {
        let backlog = self.dispatch.backlog().await.map_err(|e| e.to_string())?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| {
                i64::try_from(since.as_micros()).unwrap_or(i64::MAX)
            });
        let lag = backlog
            .oldest_unrelayed_at
            .map(|at| Duration::from_micros(u64::try_from(now - at).unwrap_or(0)))
            .unwrap_or_default();
        metrics.set_relay_lag(SCAN_QUEUE, lag);
        if self.in_process {
            metrics.set_queue_depth(SCAN_QUEUE, backlog.pending);
        }
        Ok(())
    }

    fn forget(&self, metrics: &Metrics) {
        metrics.forget_relay_lag(SCAN_QUEUE);
        if self.in_process {
            metrics.forget_queue_depth(SCAN_QUEUE);
        }
    }
}

/// The clips pending in a post-clean stage whose jobs are queued in process (embedded mode).
struct StagePending {
    dispatch: Arc<dyn StageDispatch>,
    stage: Stage,
}

#[async_trait::async_trait]
impl Probe for StagePending {
    async fn observe(&self, metrics: &Metrics) -> Result<(), String> {
        let pending = self
            .dispatch
            .pending(self.stage)
            .await
            .map_err(|e| e.to_string())?;
        metrics.set_queue_depth(self.stage.as_str(), pending);
        Ok(())
    }

    fn forget(&self, metrics: &Metrics) {
        metrics.forget_queue_depth(self.stage.as_str());
    }
}

/// The download bytes the kernel has sent from clip files (`voicebin_commands::sendfile`).
struct KernelSent;

#[async_trait::async_trait]
impl Probe for KernelSent {
    async fn observe(&self, metrics: &Metrics) -> Result<(), String> {
        metrics.set_download_bytes_sent_by_kernel(voicebin_commands::sendfile::bytes_sent());
        Ok(())
    }

    /// A counter read from memory cannot fail.
    fn forget(&self, _: &Metrics) {}
}

/// Registers the depth probe of each post-clean stage queued in process (embedded mode).
pub(crate) fn register_stage_probes(
    metrics: &Metrics,
    dispatch: &Arc<dyn StageDispatch>,
    stages: &[Stage],
) {
    for stage in stages {
        metrics.add_probe(Arc::new(StagePending {
            dispatch: dispatch.clone(),
            stage: *stage,
        }));
    }
}

/// Registers the probes of `serve`: the bytes the kernel sent, the scan backlog, and each
/// RabbitMQ queue when there is a broker (`rabbit` is the scan queue, `stages` the post-clean
/// stages' queues).
pub(crate) fn register_probes(
    metrics: &Metrics,
    dispatch: Arc<dyn ScanDispatch>,
    rabbit: Option<Arc<RabbitQueue>>,
    stages: &[(Stage, Arc<RabbitQueue>)],
) {
    metrics.add_probe(Arc::new(KernelSent));
    metrics.add_probe(Arc::new(ScanBacklog {
        dispatch,
        in_process: rabbit.is_none(),
    }));
    if let Some(queue) = rabbit {
        metrics.add_probe(Arc::new(RabbitDepth {
            queue,
            label: SCAN_QUEUE,
        }));
    }
    for (stage, queue) in stages {
        metrics.add_probe(Arc::new(RabbitDepth {
            queue: queue.clone(),
            label: stage.as_str(),
        }));
    }
}
