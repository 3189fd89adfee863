//! Transcription: after a clip's clean verdict, what was said in it is written down as timed
//! segments (`TranscriptCompleted`), or the reason it could not be (`TranscriptFailed`).
//!
//! One job ([`TranscribeJobRunner::attempt`]):
//!
//! 1. reads the clip's view: a clip deleted, taken down, not clean, or that already has a
//!    transcript (the engine's, the owner's) or a recorded failure is done;
//! 2. gets the clip's bytes as a local file and decodes at most
//!    [`TranscribeSettings::max_duration_ms`] of them to 16 kHz mono PCM **in the scan
//!    sandbox** (`decode-sandboxed` mode of the analyser child, under its limits), so no
//!    engine ever parses an uploaded container;
//! 3. hands the PCM to the [`Transcriber`] (the engine behind a trait: [`whisper`] is the one
//!    voicebin ships), and records its transcript; a clip that cannot be transcribed (cannot
//!    be decoded, too long, the engine's answer unusable, past the time limit) records the
//!    failure with its reason and stays exactly as it was: clean and playable. An engine that
//!    is broken (cannot start, crashed) is a transient failure, retried.

pub mod whisper;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use tracing::instrument;
use voicebin_commands::ClipService;
use voicebin_domain::{ClipId, Language, ScanState, Transcript, TranscriptStatus};
use voicebin_projections::ReadStore;

use crate::scan::job::Attempt;
use crate::scan::sandbox::{DecodeError, Sandbox, SandboxSettings};
use crate::scan::local_copy::local_copy;

/// The component name written in the metadata of the events this stage records.
pub const COMPONENT: &str = "transcriber";

/// A speech-to-text engine.
#[async_trait]
pub trait Transcriber: Send + Sync {
    /// The engine and model, recorded with each transcript (e.g. `faster-whisper/tiny.en`).
    fn engine(&self) -> &str;

    /// Transcribes `pcm`: raw 16 kHz mono signed 16-bit little-endian samples.
    async fn transcribe(
        &self,
        pcm: &Path,
        language: Option<&Language>,
    ) -> Result<Transcript, TranscribeError>;
}

/// Why an engine gave no transcript.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranscribeError {
    /// This clip cannot be transcribed; trying again will not help.
    #[error("{0}")]
    Failed(String),
    /// The engine is not working (missing, crashed, answered nonsense); worth another try.
    #[error("the speech-to-text engine is unavailable: {0}")]
    Unavailable(String),
}

/// What the operator decides about transcription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscribeSettings {
    /// The spoken language to assume; `None` lets the engine detect it.
    pub language: Option<Language>,
    /// Clips longer than this are not transcribed (the failure says so).
    pub max_duration_ms: u64,
}

impl TranscribeSettings {
    /// Default `max_duration_ms`: two hours.
    pub const DEFAULT_MAX_DURATION_MS: u64 = 2 * 60 * 60 * 1000;
}

/// Runs transcription jobs.
#[derive(Clone)]
pub struct TranscribeJobRunner {
    /// Records transcripts; reads blobs.
    pub service: ClipService,
    /// Finds a clip's blob and state.
    pub views: Arc<dyn ReadStore>,
    /// The engine.
    pub engine: Arc<dyn Transcriber>,
    /// Decodes in the sandbox.
    sandbox: Sandbox,
    settings: TranscribeSettings,
}

impl TranscribeJobRunner {
    /// A runner decoding under `sandbox`'s limits and transcribing with `engine`.
    pub fn new(
        service: ClipService,
        views: Arc<dyn ReadStore>,
        engine: Arc<dyn Transcriber>,
        sandbox: SandboxSettings,
        settings: TranscribeSettings,
    ) -> Self {
        TranscribeJobRunner {
            service,
            views,
            engine,
            sandbox: Sandbox::new(sandbox),
            settings,
        }
    }

    /// One attempt at transcribing `id`.
    #[instrument(skip_all, fields(clip.id = %id))]
    pub async fn attempt(&self, id: &ClipId) -> Attempt {
        let view = match self.views.get(id.as_str()).await {
            Ok(Some(view)) => view,
            Ok(None) => return Attempt::Done,
            Err(e) => return Attempt::Retry(format!("reading the clip: {e}")),
        };
        if view.is_deleted()
            || view.is_removed()
            || view.scan_state != ScanState::Clean
            || view.transcript_state != TranscriptStatus::None
        {
            return Attempt::Done;
        }
        let copy = match local_copy(&self.service, &view.blob_key).await {
            Ok(copy) => copy,
            Err(e) => return Attempt::Retry(e),
        };
        let pcm = match tempfile::NamedTempFile::new() {
            Ok(file) => file.into_temp_path(),
            Err(e) => return Attempt::Retry(format!("temp file: {e}")),
        };
        let max_ms = self.settings.max_duration_ms;
        let summary = match self.sandbox.decode_pcm(copy.path(), max_ms, &pcm).await {
            Ok(summary) => summary,
            Err(DecodeError::Undecodable(why)) => {
                return self.fail(id, &format!("the audio could not be decoded: {why}")).await
            }
            Err(DecodeError::Transient(why)) => return Attempt::Retry(why),
        };
        drop(copy);
        if summary.truncated {
            return self
                .fail(
                    id,
                    &format!(
                        "clips longer than {} minutes are not transcribed",
                        max_ms / 60_000
                    ),
                )
                .await;
        }
        let language = self.settings.language.as_ref();
        match self.engine.transcribe(&pcm, language).await {
            Ok(transcript) => {
                tracing::info!(
                    segments = transcript.segments().len(),
                    "transcribed"
                );
                match self
                    .service
                    .complete_transcript(id, transcript, self.engine.engine(), COMPONENT)
                    .await
                {
                    Ok(()) => Attempt::Done,
                    Err(e) => Attempt::Retry(format!("could not record the transcript: {e}")),
                }
            }
            Err(TranscribeError::Failed(why)) => self.fail(id, &why).await,
            Err(TranscribeError::Unavailable(why)) => Attempt::Retry(why),
        }
    }

    /// Records that transcription gave up on `id` (after the last attempt, or for a reason that
    /// will not change).
    pub async fn fail(&self, id: &ClipId, reason: &str) -> Attempt {
        tracing::info!(clip.id = %id, reason, "transcription failed");
        match self
            .service
            .fail_transcript(id, reason, self.engine.engine(), COMPONENT)
            .await
        {
            Ok(()) => Attempt::Done,
            Err(e) => Attempt::Retry(format!("could not record the failure: {e}")),
        }
    }
}
