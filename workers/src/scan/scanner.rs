//! The audio-validation scanner: analyses the clip in one pass ([`crate::audio`]) and decides
//! `clean` (with its facts and, when it can be drawn, its waveform) or `rejected`. (clamd joins
//! it in production mode.)
//!
//! In production the analysis runs in a child process with memory and CPU limits
//! ([`super::sandbox`]), so a crafted file that makes a decoder overflow its stack, abort or eat
//! memory costs that child, never `voicebin serve` or `voicebin worker`.

use std::path::Path;

use async_trait::async_trait;
use voicebin_commands::{ScanError, Scanner};
use voicebin_domain::{AudioFacts, ScanOutcome, ScanVerdict};

use super::sandbox::{Sandbox, SandboxSettings};
use crate::audio::{analyse, Analysis, PeaksError, ProbeError};

/// Peak levels stored per clip for its waveform.
pub const PEAK_COUNT: usize = 400;

/// Validates that a file is real audio and reads its facts.
#[derive(Debug, Clone)]
pub struct AudioProbeScanner {
    analyser: Analyser,
}

#[derive(Debug, Clone)]
enum Analyser {
    InProcess,
    Sandboxed(Sandbox),
}

/// The scanner name recorded in `ScanCompleted`.
pub const AUDIO_PROBE: &str = "audio-probe";

impl AudioProbeScanner {
    /// Analyses every clip in a sandboxed child process: what `serve` and `worker` use.
    pub fn sandboxed(settings: SandboxSettings) -> Self {
        AudioProbeScanner {
            analyser: Analyser::Sandboxed(Sandbox::new(settings)),
        }
    }

    /// Analyses in this process, on a blocking thread: for tests of the layers above, and for
    /// the sandboxed child itself. A file that crashes a decoder crashes the caller.
    pub fn in_process() -> Self {
        AudioProbeScanner {
            analyser: Analyser::InProcess,
        }
    }
}

#[async_trait]
impl Scanner for AudioProbeScanner {
    async fn scan(&self, path: &Path) -> Result<ScanOutcome, ScanError> {
        match &self.analyser {
            Analyser::Sandboxed(sandbox) => sandbox.analyse(path).await,
            Analyser::InProcess => {
                let path = path.to_owned();
                tokio::task::spawn_blocking(move || analyse_file(&path))
                    .await
                    .map_err(ScanError::TaskFailed)?
                    .map_err(ScanError::Unreadable)
            }
        }
    }

    fn describe(&self) -> String {
        "audio validation only (no malware scanner configured)".to_owned()
    }
}

/// The audio probe's outcome for the file at `path`, computed here. Blocking. An error is an
/// I/O failure reading the file (transient); anything wrong with its contents is an outcome.
pub fn analyse_file(path: &Path) -> Result<ScanOutcome, std::io::Error> {
    let rejected = |detail: String| ScanOutcome {
        verdict: ScanVerdict::Rejected,
        audio: None,
        detail: Some(detail),
        scanner: AUDIO_PROBE.to_owned(),
    };
    match analyse(path, PEAK_COUNT) {
        Ok(Analysis { facts, peaks }) => {
            // The waveform is a nicety: a clip that validates but cannot be drawn is still
            // clean, just without peaks.
            let peaks = match peaks {
                Ok(peaks) => Some(peaks),
                Err(PeaksError::OpusTooLong) => None,
                Err(e) => {
                    tracing::warn!(error = %e, "no waveform peaks for this clip");
                    None
                }
            };
            Ok(ScanOutcome {
                verdict: ScanVerdict::Clean,
                audio: Some(AudioFacts {
                    container: facts.container,
                    codec: facts.codec,
                    duration_ms: facts.duration_ms,
                    sample_rate: facts.sample_rate,
                    channels: facts.channels,
                    peaks,
                }),
                detail: None,
                scanner: AUDIO_PROBE.to_owned(),
            })
        }
        Err(ProbeError::Io(e)) => Err(e),
        Err(e) => Ok(rejected(e.to_string())),
    }
}
