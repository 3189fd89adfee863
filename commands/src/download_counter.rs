//! Counting downloads. A clip with a limit is counted through its aggregate, one `Downloaded`
//! event per download, so optimistic concurrency makes exactly N succeed across replicas. A clip
//! without a limit is counted in memory and flushed as one `DownloadsCounted` event per clip
//! about once a second, so a popular clip's downloads never queue behind aggregate writes.
//! See `docs/adr/0005-download-counting.md`.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use voicebin_domain::{ClipCommand, ClipId};

use crate::bus::{ClipStore, CommandError, CommandMeta};

/// Striped locks: concurrent downloads of one limited clip in this process take turns, so
/// they do not all collide on the aggregate (other replicas still race, and the event store
/// decides).
const STRIPES: usize = 64;

/// Counts downloads; cheap to share.
pub struct DownloadCounter {
    store: Arc<dyn ClipStore>,
    pending: Mutex<HashMap<ClipId, u64>>,
    stripes: Vec<tokio::sync::Mutex<()>>,
}

impl DownloadCounter {
    /// A counter writing through `store`.
    pub fn new(store: Arc<dyn ClipStore>) -> Self {
        DownloadCounter {
            store,
            pending: Mutex::new(HashMap::new()),
            stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
        }
    }

    /// Counts one download of a clip with a limit; fails with `LimitReached` once it is used up.
    pub async fn count_limited(&self, id: &ClipId) -> Result<(), CommandError> {
        let mut hasher = DefaultHasher::new();
        id.hash(&mut hasher);
        let _turn = self.stripes[hasher.finish() as usize % STRIPES]
            .lock()
            .await;
        let command = ClipCommand::RecordDownload { at: Utc::now() };
        self.store
            .execute(id, command, CommandMeta::system("downloads"))
            .await
    }

    /// Counts one download of a clip without a limit (recorded at the next flush).
    pub fn count_unlimited(&self, id: &ClipId) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        *pending.entry(id.clone()).or_default() += 1;
    }

    /// Records every pending batch; batches that fail are kept for the next flush.
    pub async fn flush(&self) {
        let batches = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        self.record(batches).await;
    }

    /// Records the pending batch of one clip now (before its limit changes).
    pub async fn flush_one(&self, id: &ClipId) {
        let batch = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove_entry(id);
        self.record(batch.into_iter().collect()).await;
    }

    async fn record(&self, batches: HashMap<ClipId, u64>) {
        for (id, count) in batches {
            let command = ClipCommand::CountDownloads {
                count,
                at: Utc::now(),
            };
            match self
                .store
                .execute(&id, command, CommandMeta::system("downloads"))
                .await
            {
                Ok(()) => {}
                Err(CommandError::Rule(rule)) => {
                    tracing::warn!(clip.id = %id, %rule, count, "download count dropped");
                }
                Err(e) => {
                    tracing::warn!(clip.id = %id, error = %e, count, "download count kept for retry");
                    let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                    *pending.entry(id).or_default() += count;
                }
            }
        }
    }

    /// Flushes every `interval` until `shutdown`, then once more.
    pub async fn run(self: Arc<Self>, interval: Duration, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(interval) => self.flush().await,
            }
        }
        self.flush().await;
    }
}
