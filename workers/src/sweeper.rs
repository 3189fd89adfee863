//! The orphan sweeper: removes blobs that no clip owns.
//!
//! A blob without an `Uploaded` event is left when a process dies between storing the bytes
//! and recording the upload; a deleted, expired (or moderator-removed) clip's blob is left when
//! its purge failed. Both are removed once older than a grace period (uploads in flight are younger than
//! that). The same goes for playback renditions (`renditions/<id>`), which are also left when a
//! worker dies between storing one and recording it and the stage then fails: a rendition is
//! kept while its clip is live and either records it or may still do so.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use voicebin_commands::BlobStore;
use voicebin_domain::ClipEvent;
use voicebin_projections::EventLog;

/// Sweeper timing.
#[derive(Debug, Clone, Copy)]
pub struct SweeperSettings {
    /// Blobs younger than this are never touched.
    pub grace: Duration,
    /// Time between sweeps.
    pub interval: Duration,
    /// Blobs examined per sweep.
    pub batch: usize,
}

impl Default for SweeperSettings {
    fn default() -> Self {
        SweeperSettings {
            grace: Duration::from_secs(3600),
            interval: Duration::from_secs(3600),
            batch: 100_000,
        }
    }
}

/// Removes orphaned and purge-pending blobs.
pub struct BlobSweeper {
    blobs: Arc<dyn BlobStore>,
    log: Arc<dyn EventLog>,
    settings: SweeperSettings,
}

impl BlobSweeper {
    /// A sweeper over `blobs`, deciding ownership from the event log.
    pub fn new(
        blobs: Arc<dyn BlobStore>,
        log: Arc<dyn EventLog>,
        settings: SweeperSettings,
    ) -> Self {
        BlobSweeper {
            blobs,
            log,
            settings,
        }
    }

    /// One sweep; returns how many blobs were removed.
    pub async fn sweep_once(&self) -> usize {
        let mut removed = 0;
        for prefix in ["clips/", "renditions/"] {
            let (n, finished) = self.sweep_prefix(prefix).await;
            removed += n;
            if !finished {
                break;
            }
        }
        removed
    }

    /// Sweeps the blobs under `prefix`: how many were removed, and whether the sweep got through
    /// them (not when the event store failed part way).
    async fn sweep_prefix(&self, prefix: &str) -> (usize, bool) {
        let keys = match self
            .blobs
            .list_older_than(prefix, self.settings.grace, self.settings.batch)
            .await
        {
            Ok(keys) => keys,
            Err(e) => {
                tracing::warn!(error = %e, "could not list blobs to sweep");
                return (0, true);
            }
        };
        let rendition = prefix == "renditions/";
        let mut removed = 0;
        for key in keys {
            let Some(id) = key.strip_prefix(prefix) else {
                continue;
            };
            // The event log, not the read model, decides: a lagging view must not cost a clip.
            let events = match self.log.events_for(id).await {
                Ok(events) => events,
                Err(e) => {
                    tracing::warn!(error = %e, "event store unavailable; sweep stopped");
                    return (removed, false);
                }
            };
            let orphan = events.is_empty();
            let deleted = events.iter().any(|e| {
                matches!(
                    e.payload,
                    ClipEvent::Deleted { .. }
                        | ClipEvent::Removed { .. }
                        | ClipEvent::Expired { .. }
                )
            });
            // A rendition its clip never recorded, after the stage failed for good.
            let abandoned = rendition
                && !events.iter().any(|e| {
                    matches!(&e.payload, ClipEvent::RenditionCompleted { blob_key, .. } if *blob_key == key)
                })
                && events
                    .iter()
                    .any(|e| matches!(e.payload, ClipEvent::RenditionFailed { .. }));
            if !(orphan || deleted || abandoned) {
                continue;
            }
            match self.blobs.delete(&key).await {
                Ok(()) => {
                    removed += 1;
                    tracing::info!(blob = %key, orphan, "swept blob");
                }
                Err(e) => tracing::warn!(blob = %key, error = %e, "could not sweep blob"),
            }
        }
        (removed, true)
    }

    /// Sweeps every `interval` until `shutdown`.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(self.settings.interval) => {},
            }
            self.sweep_once().await;
        }
    }
}
