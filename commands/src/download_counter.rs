//! Counting downloads. A clip with a limit is counted through its aggregate, one `Downloaded`
//! event per download, so optimistic concurrency makes exactly N succeed across replicas. The
//! downloads of one limited clip that arrive while its previous ones are being recorded wait
//! and are recorded together, in one command and one commit (group commit): a popular limited
//! clip costs a commit per batch, not per download. A clip without a limit is counted in memory
//! and flushed as one `DownloadsCounted` event per clip about once a second, so a popular clip's
//! downloads never queue behind aggregate writes. See `docs/adr/0005-download-counting.md`.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::oneshot;
use voicebin_domain::{ClipCommand, ClipError, ClipId};

use crate::bus::{ClipStore, CommandError, CommandMeta};

/// Striped locks: the batches of one limited clip in this process take turns, so they do not
/// collide on the aggregate (other replicas still race, and the event store decides).
const STRIPES: usize = 64;

/// The answer a download of a limited clip waits for.
type Answer = oneshot::Sender<Result<(), CommandError>>;

/// Counts downloads; cheap to share.
pub struct DownloadCounter {
    store: Arc<dyn ClipStore>,
    pending: Mutex<HashMap<ClipId, u64>>,
    /// Downloads of limited clips not recorded yet, per clip, each waiting for its answer.
    waiting: Mutex<HashMap<ClipId, Vec<Answer>>>,
    stripes: Vec<Arc<tokio::sync::Mutex<()>>>,
}

impl DownloadCounter {
    /// A counter writing through `store`.
    pub fn new(store: Arc<dyn ClipStore>) -> Self {
        DownloadCounter {
            store,
            pending: Mutex::new(HashMap::new()),
            waiting: Mutex::new(HashMap::new()),
            stripes: (0..STRIPES)
                .map(|_| Arc::new(tokio::sync::Mutex::new(())))
                .collect(),
        }
    }

    /// Counts one download of a clip with a limit; fails with `LimitReached` once it is used up.
    ///
    /// The download joins the clip's waiting batch; a task records the batch once the clip's
    /// previous one is recorded. The task runs to the end even if this request is dropped, so
    /// a client that goes away never leaves the others of its batch without an answer.
    pub async fn count_limited(self: &Arc<Self>, id: &ClipId) -> Result<(), CommandError> {
        let (answer, answered) = oneshot::channel();
        lock(&self.waiting)
            .entry(id.clone())
            .or_default()
            .push(answer);
        let (counter, id) = (self.clone(), id.clone());
        tokio::spawn(async move { counter.record_waiting(&id).await });
        answered.await.unwrap_or_else(|_| {
            Err(CommandError::Unavailable(
                "the download was not recorded".into(),
            ))
        })
    }

    /// Takes the clip's turn, then records every download of it waiting by then (none, when an
    /// earlier turn took them all).
    async fn record_waiting(&self, id: &ClipId) {
        let mut hasher = DefaultHasher::new();
        id.hash(&mut hasher);
        let stripe = self.stripes[hasher.finish() as usize % STRIPES].clone();
        let _turn = stripe.lock().await;
        let batch = lock(&self.waiting).remove(id).unwrap_or_default();
        if batch.is_empty() {
            return;
        }
        let meta = || CommandMeta::system("downloads");
        let count = u32::try_from(batch.len()).unwrap_or(u32::MAX);
        let command = match count {
            1 => ClipCommand::RecordDownload { at: Utc::now() },
            count => ClipCommand::RecordDownloads {
                count,
                at: Utc::now(),
            },
        };
        match self.store.execute(id, command, meta()).await {
            // Fewer remain than came together: one at a time, so exactly as many as remain
            // are counted and the others refused.
            Err(CommandError::Rule(ClipError::LimitReached)) if count > 1 => {
                for answer in batch {
                    let command = ClipCommand::RecordDownload { at: Utc::now() };
                    let _ = answer.send(self.store.execute(id, command, meta()).await);
                }
            }
            result => {
                for answer in batch {
                    let _ = answer.send(result.clone());
                }
            }
        }
    }

    /// Counts one download of a clip without a limit (recorded at the next flush).
    pub fn count_unlimited(&self, id: &ClipId) {
        *lock(&self.pending).entry(id.clone()).or_default() += 1;
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
