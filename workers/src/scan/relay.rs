//! The scan-job relay: publishes a job for every pending clip, so a job reaches the queue at
//! least once even if the process that accepted the upload died right after committing it.
//! The same relay publishes a post-clean stage's jobs ([`ScanRelay::for_stage`]): for every
//! clip pending in the stage, claimed in `stage_dispatch` (`crate::stage`).
//!
//! The source of truth is the read model's pending clips (kept honest by repairing stale views
//! from the event store at start-up and periodically); `scan_dispatch` throttles republishing
//! and arbitrates between replicas. See `docs/adr/0003-scan-job-relay.md`.
//!
//! Republishing is not retrying: a published job that never reaches a worker costs nothing, so
//! the relay has no cap of its own. What bounds a clip is the count of scans *started*
//! ([`super::job::MAX_ATTEMPTS`], counted across every job the relay publishes): past it the
//! clip is recorded `failed`, and the relay never republishes a `failed` clip
//! (`docs/adr/0010-sandboxed-scans-and-bounded-attempts.md`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::Notify;
use voicebin_commands::{QueueError, ScanQueue};
use voicebin_domain::{ClipId, Stage};
use voicebin_projections::{ClipProjector, ScanDispatch, StageDispatch, StoreError};

/// Relay timing.
#[derive(Debug, Clone, Copy)]
pub struct RelaySettings {
    /// Time between passes when nothing pokes the relay.
    pub interval: Duration,
    /// A published job not scanned after this long is published again (then after twice as
    /// long, and so on, up to 32 times this).
    pub republish_after: Duration,
    /// Time between stale-view repairs.
    pub repair_every: Duration,
}

impl Default for RelaySettings {
    fn default() -> Self {
        RelaySettings {
            interval: Duration::from_secs(2),
            republish_after: Duration::from_secs(15),
            repair_every: Duration::from_secs(600),
        }
    }
}

/// Publishes scan jobs for pending clips, or a stage's jobs for the clips pending in it.
pub struct ScanRelay {
    claims: Claims,
    queue: Arc<dyn ScanQueue>,
    /// Repairs stale views (the scan relay does; one repairer is enough).
    projector: Option<ClipProjector>,
    settings: RelaySettings,
    wake: Arc<Notify>,
}

/// Whose jobs a relay publishes, and where it claims them.
enum Claims {
    Scan(Arc<dyn ScanDispatch>),
    Stage(Arc<dyn StageDispatch>, Stage),
}

impl Claims {
    async fn claim_pending(
        &self,
        now: i64,
        first_retry: i64,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        match self {
            Claims::Scan(d) => d.claim_pending(now, first_retry, limit).await,
            Claims::Stage(d, stage) => d.claim_pending(*stage, now, first_retry, limit).await,
        }
    }

    async fn release(&self, id: &str) -> Result<(), StoreError> {
        match self {
            Claims::Scan(d) => d.release(id).await,
            Claims::Stage(d, stage) => d.release(*stage, id).await,
        }
    }

    async fn prune(&self) -> Result<u64, StoreError> {
        match self {
            Claims::Scan(d) => d.prune().await,
            Claims::Stage(d, stage) => d.prune(*stage).await,
        }
    }

    fn what(&self) -> &'static str {
        match self {
            Claims::Scan(_) => "scan",
            Claims::Stage(_, stage) => stage.as_str(),
        }
    }
}

/// Handed to `ClipService` as its queue: an upload pokes the relay instead of publishing, so
/// there is one publishing path and it is crash-safe.
#[derive(Clone)]
pub struct RelayTrigger(Arc<Notify>);

#[async_trait]
impl ScanQueue for RelayTrigger {
    async fn enqueue(&self, _clip: &ClipId) -> Result<(), QueueError> {
        self.0.notify_one();
        Ok(())
    }
}

impl ScanRelay {
    /// A relay from the claim table to `queue`, repairing views with `projector`.
    pub fn new(
        dispatch: Arc<dyn ScanDispatch>,
        queue: Arc<dyn ScanQueue>,
        projector: ClipProjector,
        settings: RelaySettings,
    ) -> Self {
        ScanRelay {
            claims: Claims::Scan(dispatch),
            queue,
            projector: Some(projector),
            settings,
            wake: Arc::new(Notify::new()),
        }
    }

    /// A relay of `stage`'s jobs from its claims in `dispatch` to `queue`.
    pub fn for_stage(
        dispatch: Arc<dyn StageDispatch>,
        stage: Stage,
        queue: Arc<dyn ScanQueue>,
        settings: RelaySettings,
    ) -> Self {
        ScanRelay {
            claims: Claims::Stage(dispatch, stage),
            queue,
            projector: None,
            settings,
            wake: Arc::new(Notify::new()),
        }
    }

    /// The trigger to give to `ClipService`.
    pub fn trigger(&self) -> RelayTrigger {
        RelayTrigger(self.wake.clone())
    }

    /// Repairs views that are behind their event stream (a crash between commit and projection).
    pub async fn repair_stale_views(&self) -> usize {
        let Some(projector) = &self.projector else {
            return 0;
        };
        let ids = match projector.stale_views().await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "could not look for stale views");
                return 0;
            }
        };
        let mut repaired = 0;
        for id in &ids {
            match projector.repair(id).await {
                Ok(()) => repaired += 1,
                Err(e) => tracing::warn!(clip.id = %id, error = %e, "view repair failed"),
            }
        }
        if repaired > 0 {
            tracing::info!(repaired, "repaired stale clip views");
        }
        repaired
    }

    /// One pass: claim pending clips and publish their jobs. Returns how many were published.
    pub async fn publish_pending(&self) -> usize {
        let now = Utc::now().timestamp_micros();
        let first_retry = self.settings.republish_after.as_micros() as i64;
        let mut published = 0;
        loop {
            let claimed = match self.claims.claim_pending(now, first_retry, 200).await {
                Ok(ids) => ids,
                Err(e) => {
                    tracing::warn!(error = %e, jobs = self.claims.what(), "could not claim pending jobs");
                    return published;
                }
            };
            if claimed.is_empty() {
                return published;
            }
            for (i, raw) in claimed.iter().enumerate() {
                let Ok(id) = ClipId::parse(raw) else { continue };
                if let Err(e) = self.queue.enqueue(&id).await {
                    tracing::warn!(error = %e, jobs = self.claims.what(), "queue unavailable; will retry");
                    // Release this and every later claim so the next pass retries them now,
                    // not after `republish_after`.
                    for rest in &claimed[i..] {
                        let _ = self.claims.release(rest).await;
                    }
                    return published;
                }
                published += 1;
            }
        }
    }

    /// Runs passes until `shutdown`: at start, on every trigger, and every `interval`.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        self.repair_stale_views().await;
        let mut last_repair = tokio::time::Instant::now();
        loop {
            self.publish_pending().await;
            if last_repair.elapsed() >= self.settings.repair_every {
                self.repair_stale_views().await;
                let _ = self.claims.prune().await;
                last_repair = tokio::time::Instant::now();
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = self.wake.notified() => {},
                () = tokio::time::sleep(self.settings.interval) => {},
            }
        }
    }
}
