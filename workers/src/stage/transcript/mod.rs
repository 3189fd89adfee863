//! Transcription: after a clip's clean verdict, what was said in it is written down as timed
//! segments (`TranscriptCompleted`), or the reason it could not be (`TranscriptFailed`).
//!
//! One job:
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
use voicebin_commands::{ClipService, CommandError};
use voicebin_domain::{ClipId, Language, Stage, Transcript};
use voicebin_projections::ClipView;

use super::StageWork;
use crate::scan::sandbox::{DecodeError, Sandbox, SandboxSettings};

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

/// Transcription as a deployment runs it: the engine and the job's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptionSettings {
    /// Whether a missing or broken engine stops start-up (`on`) or only turns transcription
    /// off with a warning (`auto`).
    pub required: bool,
    /// The engine.
    pub whisper: whisper::WhisperSettings,
    /// The job.
    pub job: TranscribeSettings,
}

/// What transcribing one file came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transcribed {
    /// What was said.
    Transcript(Transcript),
    /// This clip cannot be transcribed, for this reason (the same every time).
    Failed(String),
    /// Something else went wrong; worth another try.
    Retry(String),
}

/// Transcribes files: decodes them in the sandbox, then hands the PCM to the engine.
#[derive(Clone)]
pub struct Transcribing {
    /// The engine.
    pub engine: Arc<dyn Transcriber>,
    sandbox: Sandbox,
    settings: TranscribeSettings,
}

impl Transcribing {
    /// Decoding under `sandbox`'s limits and transcribing with `engine`.
    pub fn new(
        engine: Arc<dyn Transcriber>,
        sandbox: SandboxSettings,
        settings: TranscribeSettings,
    ) -> Self {
        Transcribing {
            engine,
            sandbox: Sandbox::new(sandbox),
            settings,
        }
    }

    /// Transcribes the audio file at `path`.
    pub async fn file(&self, path: &Path) -> Transcribed {
        let pcm = match tempfile::NamedTempFile::new() {
            Ok(file) => file.into_temp_path(),
            Err(e) => return Transcribed::Retry(format!("temp file: {e}")),
        };
        let max_ms = self.settings.max_duration_ms;
        let summary = match self.sandbox.decode_pcm(path, max_ms, &pcm).await {
            Ok(summary) => summary,
            Err(DecodeError::Undecodable(why)) => {
                return Transcribed::Failed(format!("the audio could not be decoded: {why}"))
            }
            Err(DecodeError::Transient(why)) => return Transcribed::Retry(why),
        };
        if summary.truncated {
            return Transcribed::Failed(format!(
                "clips longer than {} are not transcribed here",
                human_duration(max_ms)
            ));
        }
        match self
            .engine
            .transcribe(&pcm, self.settings.language.as_ref())
            .await
        {
            Ok(transcript) => Transcribed::Transcript(transcript),
            Err(TranscribeError::Failed(why)) => Transcribed::Failed(why),
            Err(TranscribeError::Unavailable(why)) => Transcribed::Retry(why),
        }
    }
}

/// The transcription stage: a clean clip's transcript, or why there is none.
pub struct TranscriptWork {
    transcribing: Transcribing,
}

impl TranscriptWork {
    /// Transcribing with `engine`, decoding under `sandbox`'s limits.
    pub fn new(
        engine: Arc<dyn Transcriber>,
        sandbox: SandboxSettings,
        settings: TranscribeSettings,
    ) -> Self {
        TranscriptWork {
            transcribing: Transcribing::new(engine, sandbox, settings),
        }
    }

    fn engine(&self) -> &str {
        self.transcribing.engine.engine()
    }
}

#[async_trait]
impl StageWork for TranscriptWork {
    fn stage(&self) -> Stage {
        Stage::Transcript
    }

    async fn run(
        &self,
        service: &ClipService,
        id: &ClipId,
        _view: &ClipView,
        source: &Path,
    ) -> Result<(), String> {
        match self.transcribing.file(source).await {
            Transcribed::Transcript(transcript) => {
                let segments = transcript.segments().len();
                service
                    .complete_transcript(id, transcript, self.engine(), COMPONENT)
                    .await
                    .map_err(|e| format!("could not record the transcript: {e}"))?;
                tracing::info!(segments, "transcript recorded");
                Ok(())
            }
            Transcribed::Failed(reason) => {
                tracing::info!(%reason, "this clip cannot be transcribed");
                service
                    .fail_transcript(id, &reason, self.engine(), COMPONENT)
                    .await
                    .map_err(|e| format!("could not record the failure: {e}"))
            }
            Transcribed::Retry(why) => Err(why),
        }
    }

    async fn give_up(
        &self,
        service: &ClipService,
        id: &ClipId,
        reason: &str,
    ) -> Result<(), CommandError> {
        service
            .fail_transcript(
                id,
                &format!("transcription kept failing: {reason}"),
                self.engine(),
                COMPONENT,
            )
            .await
    }
}

/// `90 minutes`, `1 minute`, `45 seconds`.
fn human_duration(ms: u64) -> String {
    let (n, unit) = if ms >= 60_000 && ms.is_multiple_of(60_000) {
        (ms / 60_000, "minute")
    } else {
        (ms.div_ceil(1000), "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::human_duration;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(human_duration(7_200_000), "120 minutes");
        assert_eq!(human_duration(60_000), "1 minute");
        assert_eq!(human_duration(1_000), "1 second");
        assert_eq!(human_duration(90_500), "91 seconds");
    }
}
