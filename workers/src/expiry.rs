//! The expiry sweeper: records `Expired` for clips whose expiry has come, then purges their
//! bytes.
//!
//! Every replica runs one. The read model names the candidates (`ExpiryIndex::due`, over the
//! partial index of migration 0015); the aggregate decides, through `ClipService::expire`: a
//! clip whose owner moved or cleared the expiry since the view was read records nothing, and of
//! two sweepers racing on one clip the second loses the optimistic-concurrency race, retries,
//! finds the clip expired and records nothing either, so `Expired` is recorded once. The event
//! log, not the read model, then says whether the clip is expired, and only then are its
//! original and rendition deleted (the transcript and search entry go with the projection of
//! `Expired`). A purge that fails, or a process that dies before it, is finished by the orphan
//! sweeper ([`crate::sweeper`]), which removes the blobs of expired clips. See ADR 0019.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use voicebin_commands::ClipService;
use voicebin_domain::{ClipEvent, ClipId};
use voicebin_projections::{EventLog, ExpiryIndex};

/// Expiry sweeper timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpirySettings {
    /// Time between sweeps: how long a clip may stay listed (not served: the access rule
    /// refuses a clip past its expiry at once) before `Expired` is recorded and its bytes go.
    pub interval: Duration,
    /// Clips expired per sweep at most (the rest wait for the next one).
    pub batch: u32,
}

impl Default for ExpirySettings {
    fn default() -> Self {
        ExpirySettings {
            interval: Duration::from_secs(60),
            batch: 500,
        }
    }
}

/// What one sweep did, for the log (and a place to count expirations in metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpiryReport {
    /// Due clips the read model named.
    pub due: usize,
    /// Of those, clips found expired afterwards (by this sweeper or a racing one) and purged.
    pub purged: usize,
    /// Of those, clips whose `Expired` this sweep recorded (counted in the metrics).
    pub expired: usize,
    /// Clips that could not be expired this time (the event store was unavailable, or kept
    /// conflicting); the next sweep tries again.
    pub failed: usize,
}

/// Expires due clips.
pub struct ExpirySweeper {
    service: ClipService,
    index: Arc<dyn ExpiryIndex>,
    log: Arc<dyn EventLog>,
    settings: ExpirySettings,
    metrics: Option<Arc<voicebin_metrics::Metrics>>,
}

impl ExpirySweeper {
    /// A sweeper recording through `service`, finding candidates in `index` and reading the
    /// outcome from `log`.
    pub fn new(
        service: ClipService,
        index: Arc<dyn ExpiryIndex>,
        log: Arc<dyn EventLog>,
        settings: ExpirySettings,
    ) -> Self {
        ExpirySweeper {
            service,
            index,
            log,
            settings,
            metrics: None,
        }
    }

    /// The same sweeper, counting the expirations it records in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<voicebin_metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// One sweep of the clips due at `now`.
    pub async fn sweep_once(&self, now: DateTime<Utc>) -> ExpiryReport {
        let mut report = ExpiryReport::default();
        let due = match self
            .index
            .due(now.timestamp_micros(), self.settings.batch)
            .await
        {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the clips due to expire");
                return report;
            }
        };
        report.due = due.len();
        for clip in due {
            let Ok(id) = ClipId::parse(&clip.id) else {
                tracing::warn!(clip.id = %clip.id, "malformed clip id in the read model");
                continue;
            };
            // Microseconds, as the event store keeps instants, so the event read back carries
            // exactly this one.
            let at = DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap_or(now);
            if let Err(e) = self.service.expire(&id, at).await {
                tracing::warn!(clip.id = %id, error = %e, "clip not expired yet");
                report.failed += 1;
                continue;
            }
            let expired = match self.log.events_for(id.as_str()).await {
                Ok(events) => events.iter().find_map(|e| match &e.payload {
                    ClipEvent::Expired { at: recorded, .. } => Some(*recorded == at),
                    _ => None,
                }),
                Err(e) => {
                    // The orphan sweeper purges it later if it did expire.
                    tracing::warn!(clip.id = %id, error = %e, "event store unavailable; purge left to the orphan sweeper");
                    report.failed += 1;
                    continue;
                }
            };
            if let Some(by_this_sweep) = expired {
                self.service.purge(&id, &clip.blob_key, "expired").await;
                report.purged += 1;
                if by_this_sweep {
                    report.expired += 1;
                    if let Some(metrics) = &self.metrics {
                        metrics.clips_expired(1);
                    }
                }
                tracing::info!(clip.id = %id, by_this_sweep, "clip expired and purged");
            }
        }
        report
    }

    /// Sweeps every `interval` until `shutdown`.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(self.settings.interval) => {},
            }
            let report = self.sweep_once(Utc::now()).await;
            if report != ExpiryReport::default() {
                tracing::debug!(?report, "expiry sweep");
            }
        }
    }
}
