//! Running one scan job: find the clip, get its bytes as a local file, scan, record the verdict.
//! Shared by the embedded worker and the RabbitMQ worker, so both behave the same.

use std::path::PathBuf;
use std::sync::Arc;

use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tracing::instrument;
use voicebin_commands::{ClipService, CommandError, Scanner};
use voicebin_domain::{ClipId, ScanOutcome, ScanState, ScanVerdict};
use voicebin_projections::ReadStore;

/// What happened to one attempt at a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// A verdict is recorded, or there is nothing to do (unknown, deleted or already scanned).
    Done,
    /// Something transient failed; try again later. Never recorded as `clean`.
    Retry(String),
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
}

/// A local copy of a blob, removed when dropped (unless the store's own file is used).
enum LocalCopy {
    Store(PathBuf),
    Temp(tempfile::TempPath),
}

impl LocalCopy {
    fn path(&self) -> &std::path::Path {
        match self {
            LocalCopy::Store(p) => p,
            LocalCopy::Temp(p) => p,
        }
    }
}

impl ScanJobRunner {
    /// One attempt at scanning `id`.
    #[instrument(skip_all, fields(clip.id = %id))]
    pub async fn attempt(&self, id: &ClipId) -> Attempt {
        let view = match self.views.get(id.as_str()).await {
            Ok(Some(view)) => view,
            // Only a view lost to a crash is missing; the relay repairs it and republishes.
            Ok(None) => {
                tracing::warn!("scan job for a clip without a view; left to the relay");
                return Attempt::Done;
            }
            Err(e) => return Attempt::Retry(format!("read model unavailable: {e}")),
        };
        // Deleted and removed clips have no bytes left to scan.
        if view.is_deleted()
            || view.is_removed()
            || !matches!(view.scan_state, ScanState::Pending | ScanState::Failed)
        {
            return Attempt::Done;
        }
        let copy = match self.local_copy(&view.blob_key).await {
            Ok(copy) => copy,
            Err(e) => return Attempt::Retry(e),
        };
        let outcome = match self.scanner.scan(copy.path()).await {
            Ok(outcome) => outcome,
            Err(e) => return Attempt::Retry(e.to_string()),
        };
        drop(copy);
        self.record(id, outcome).await
    }

    /// Records `failed` after the last attempt, so the owner sees the clip will not be served.
    pub async fn give_up(&self, id: &ClipId, reason: &str) -> Attempt {
        let outcome = ScanOutcome {
            verdict: ScanVerdict::Failed,
            audio: None,
            detail: Some(format!("scanning failed after all retries: {reason}")),
            scanner: self.scanner.describe(),
        };
        self.record(id, outcome).await
    }

    async fn record(&self, id: &ClipId, outcome: ScanOutcome) -> Attempt {
        match self.service.complete_scan(id, outcome, "scanner").await {
            Ok(()) => Attempt::Done,
            Err(CommandError::Rule(rule)) => {
                tracing::warn!(%rule, "verdict not recorded");
                Attempt::Done
            }
            Err(e) => Attempt::Retry(format!("could not record the verdict: {e}")),
        }
    }

    async fn local_copy(&self, key: &str) -> Result<LocalCopy, String> {
        let blobs = self.service.blobs();
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
}
