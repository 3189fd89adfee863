//! The audio-validation scanner: analyses the clip in one pass ([`crate::audio`]) and decides
//! `clean` (with its facts and, when it can be drawn, its waveform) or `rejected`. (clamd joins
//! it in production mode.)

use std::path::Path;

use async_trait::async_trait;
use voicebin_commands::{ScanError, Scanner};
use voicebin_domain::{AudioFacts, ScanOutcome, ScanVerdict};

use crate::audio::{analyse, Analysis, PeaksError, ProbeError};

/// Peak levels stored per clip for its waveform.
pub const PEAK_COUNT: usize = 400;

/// Validates that a file is real audio and reads its facts.
#[derive(Debug, Clone, Default)]
pub struct AudioProbeScanner;

/// The scanner name recorded in `ScanCompleted`.
pub const AUDIO_PROBE: &str = "audio-probe";

#[async_trait]
impl Scanner for AudioProbeScanner {
    async fn scan(&self, path: &Path) -> Result<ScanOutcome, ScanError> {
        let path = path.to_owned();
        let analysed = tokio::task::spawn_blocking(move || analyse(&path, PEAK_COUNT))
            .await
            .map_err(ScanError::TaskFailed)?;
        let rejected = |detail: String| ScanOutcome {
            verdict: ScanVerdict::Rejected,
            audio: None,
            detail: Some(detail),
            scanner: AUDIO_PROBE.to_owned(),
        };
        match analysed {
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
            Err(ProbeError::Io(e)) => Err(ScanError::Unreadable(e)),
            Err(e) => Ok(rejected(e.to_string())),
        }
    }

    fn describe(&self) -> String {
        "audio validation only (no malware scanner configured)".to_owned()
    }
}
