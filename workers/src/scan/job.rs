//! Running one scan job: find the clip, count the attempt, get its bytes as a local file, scan,
//! record the verdict. Shared by the embedded worker and the RabbitMQ worker, so both behave the
//! same.
//!
//! Every scan of a clip is counted in the database *before* it runs ([`ScanDispatch::start_attempt`]),
//! so a scan that kills its worker (or is lost with it) counts too, whichever job, delivery or
//! process started it. The attempt that finds [`MAX_ATTEMPTS`] already started does not scan:
//! it records `failed`, and the RabbitMQ worker dead-letters that job (once: later duplicates
//! find the clip `failed` and are acknowledged). A transient failure on the last attempt
//! records `failed` at once.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tracing::instrument;
use voicebin_commands::{BlobStore, ClipService, CommandError, Scanner};
use voicebin_domain::{ClipId, ScanOutcome, ScanState, ScanVerdict};
use voicebin_projections::{ReadStore, ScanDispatch};

/// Scans of one clip started in all (every job, redelivery and process) before it is recorded
/// `failed`. At most the RabbitMQ queue's delivery limit, so the job that records it is still
/// delivered, and dead-lettered by the worker, not by the broker.
pub const MAX_ATTEMPTS: u32 = 5;

/// What happened to one attempt at a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// A verdict is recorded, or there is nothing to do (unknown, deleted or already scanned).
    Done,
    /// Scanning kept failing: the clip is recorded `failed` (a retry leaves it `failed`), and
    /// will not be scanned again unless an operator retries it.
    GaveUp,
    /// Something transient failed; try again later. Never recorded as `clean`.
    Retry(String),
}

/// Which round of scanning a job belongs to, which decides whether a `failed` clip is scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// A job of the clip's first round: published by the relay, or a redelivery of one. Only a
    /// pending clip is scanned.
    First,
    /// An operator's retry (a re-queued dead letter): a `failed` clip is scanned again. `fresh`
    /// on the job's first delivery, which starts a new count of attempts.
    Retry {
        /// The first delivery of the retry.
        fresh: bool,
    },
}

impl Round {
    pub(crate) fn is_retry(self) -> bool {
        matches!(self, Round::Retry { .. })
    }
}

/// Scans clips for the workers.
#[derive(Clone)]
pub struct ScanJobRunner {
    /// Records verdicts; reads blobs.
    pub service: ClipService,
    /// Finds a clip's blob and state.
    pub views: Arc<dyn ReadStore>,
    /// Decides verdicts.
    pub scanner: Arc<dyn Scanner>,
    /// Counts the scans started per clip.
    pub attempts: Arc<dyn ScanDispatch>,
    /// Where finished scans are counted, by outcome, with their durations.
    pub metrics: Arc<voicebin_metrics::Metrics>,
}

/// Runs one job of a queue (a scan, or a post-clean stage): what the embedded worker and the
/// RabbitMQ worker call, so both treat every queue the same.
#[async_trait::async_trait]
pub trait JobRunner: Send + Sync {
    /// One attempt at the job for `id`.
    async fn attempt(&self, id: &ClipId, round: Round) -> Attempt;
    /// Records that the job for `id` failed for good, for `reason` ([`Attempt::GaveUp`] once
    /// recorded).
    async fn give_up(&self, id: &ClipId, reason: &str, round: Round) -> Attempt;
}

#[async_trait::async_trait]
impl JobRunner for ScanJobRunner {
    async fn attempt(&self, id: &ClipId, round: Round) -> Attempt {
        ScanJobRunner::attempt(self, id, round).await
    }

    async fn give_up(&self, id: &ClipId, reason: &str, round: Round) -> Attempt {
        ScanJobRunner::give_up(self, id, reason, round).await
    }
}

/// A local copy of a blob, removed when dropped (unless the store's own file is used).
pub(crate) enum LocalCopy {
    Store(PathBuf),
    Temp(tempfile::TempPath),
}

impl LocalCopy {
    pub(crate) fn path(&self) -> &std::path::Path {
        match self {
            LocalCopy::Store(p) => p,
            LocalCopy::Temp(p) => p,
        }
    }
}

impl ScanJobRunner {
    /// One attempt at scanning `id`.
    #[instrument(skip_all, fields(clip.id = %id, ?round))]
    pub async fn attempt(&self, id: &ClipId, round: Round) -> Attempt {
        let view = match self.views.get(id.as_str()).await {
            Ok(Some(view)) => view,
            // Only a view lost to a crash is missing; the relay repairs it and republishes.
            Ok(None) => {
                tracing::warn!("scan job for a clip without a view; left to the relay");
                return Attempt::Done;
            }
            Err(e) => return Attempt::Retry(format!("read model unavailable: {e}")),
        };
        // Deleted and removed clips have no bytes left to scan; a clip with a verdict is done,
        // and a `failed` one is scanned again only when an operator asks.
        let wanted = match view.scan_state {
            ScanState::Pending => true,
            ScanState::Failed => round.is_retry(),
            _ => false,
        };
        if view.is_deleted() || view.is_removed() || !wanted {
            tracing::info!(scan_state = ?view.scan_state, "nothing to scan; job acknowledged without scanning");
            return Attempt::Done;
        }
        if round == (Round::Retry { fresh: true }) {
            if let Err(e) = self.attempts.reset_attempts(id.as_str()).await {
                return Attempt::Retry(format!("could not reset the attempts: {e}"));
            }
        }
        let started = match self.attempts.start_attempt(id.as_str()).await {
            Ok(started) => started,
            Err(e) => return Attempt::Retry(format!("could not count the attempt: {e}")),
        };
        if started > MAX_ATTEMPTS {
            tracing::error!(
                started,
                "scan never finished; giving up without scanning again"
            );
            let reason = format!(
                "it was started {MAX_ATTEMPTS} times and never finished (the scanner died or \
                 was stopped each time)"
            );
            let gave_up = self.give_up(id, &reason, round).await;
            // The count is atomic: the attempt that got MAX_ATTEMPTS + 1 is the one whose job
            // is dead-lettered; later ones (duplicates) are acknowledged.
            return match gave_up {
                Attempt::GaveUp if started > MAX_ATTEMPTS + 1 => Attempt::Done,
                other => other,
            };
        }
        let scan_started = Instant::now();
        let scanned = match local_copy(self.service.blobs().as_ref(), &view.blob_key).await {
            Ok(copy) => {
                let scanned = self.scanner.scan(copy.path()).await;
                drop(copy);
                scanned.map_err(|e| e.to_string())
            }
            Err(e) => Err(e),
        };
        match scanned {
            Ok(outcome) => self.record(id, outcome, round, Some(scan_started)).await,
            Err(why) if started >= MAX_ATTEMPTS => {
                // A duplicate job may have given up meanwhile (and had its job dead-lettered).
                if let Ok(Some(now)) = self.views.get(id.as_str()).await {
                    if now.scan_state != view.scan_state {
                        return Attempt::Done;
                    }
                }
                tracing::error!(started, error = %why, "scan keeps failing; giving up");
                self.give_up(id, &why, round).await
            }
            Err(why) => Attempt::Retry(why),
        }
    }

    /// Records `failed` (a retry leaves the clip `failed` as it was), so the owner sees the
    /// clip will not be served. [`Attempt::GaveUp`] once recorded.
    pub async fn give_up(&self, id: &ClipId, reason: &str, round: Round) -> Attempt {
        let outcome = ScanOutcome {
            verdict: ScanVerdict::Failed,
            audio: None,
            detail: Some(format!("scanning failed after all retries: {reason}")),
            scanner: self.scanner.describe(),
        };
        match self.record(id, outcome, round, None).await {
            Attempt::Done => Attempt::GaveUp,
            other => other,
        }
    }

    /// Records `outcome`; counts it in the metrics, with the time since `started` when the
    /// clip was scanned.
    async fn record(
        &self,
        id: &ClipId,
        outcome: ScanOutcome,
        round: Round,
        started: Option<Instant>,
    ) -> Attempt {
        let verdict = match outcome.verdict {
            ScanVerdict::Clean => voicebin_metrics::ScanOutcome::Clean,
            ScanVerdict::Rejected => voicebin_metrics::ScanOutcome::Rejected,
            ScanVerdict::Infected => voicebin_metrics::ScanOutcome::Infected,
            ScanVerdict::Failed => voicebin_metrics::ScanOutcome::Failed,
        };
        match self
            .service
            .complete_scan(id, outcome, round.is_retry(), "scanner")
            .await
        {
            Ok(()) => {
                self.metrics
                    .scanned(verdict, started.map(|started| started.elapsed()));
                Attempt::Done
            }
            Err(CommandError::Rule(rule)) => {
                tracing::warn!(%rule, "verdict not recorded");
                Attempt::Done
            }
            Err(e) => Attempt::Retry(format!("could not record the verdict: {e}")),
        }
    }
}

/// The blob under `key` as a local file: the store's own, or a temporary copy.
pub(crate) async fn local_copy(blobs: &dyn BlobStore, key: &str) -> Result<LocalCopy, String> {
    if let Some(path) = blobs.local_path(key) {
        return Ok(LocalCopy::Store(path));
    }
    let temp = tempfile::NamedTempFile::new()
        .map_err(|e| format!("temp file: {e}"))?
        .into_temp_path();
    let mut stream = blobs.get(key, None).await.map_err(|e| e.to_string())?;
    let mut file = tokio::fs::File::create(&temp)
        .await
        .map_err(|e| format!("temp file: {e}"))?;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("reading the blob: {e}"))?;
        file.write_all(&chunk)
            .await
            .map_err(|e| format!("temp file: {e}"))?;
    }
    file.flush().await.map_err(|e| format!("temp file: {e}"))?;
    Ok(LocalCopy::Temp(temp))
}
