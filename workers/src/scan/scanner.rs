//! The audio-validation scanner: decodes the clip with symphonia and decides `clean` or
//! `rejected`. (clamd joins it in production mode.)

use std::path::Path;

use async_trait::async_trait;
use voicebin_commands::{ScanError, Scanner};
use voicebin_domain::{AudioFacts, ScanOutcome, ScanVerdict};

use crate::audio::peaks::compute_peaks;
use crate::audio::probe::{probe_file, ProbeError};

/// Peak levels stored per clip for its waveform.
pub const PEAK_COUNT: usize = 400;

/// Opus is decoded in pure Rust at about 15× real time; longer Opus clips get no waveform
/// rather than minutes of scanning.
const MAX_OPUS_PEAKS_MS: u64 = 15 * 60 * 1000;

/// Validates that a file is real audio and reads its facts.
#[derive(Debug, Clone, Default)]
pub struct AudioProbeScanner;

/// The scanner name recorded in `ScanCompleted`.
pub const AUDIO_PROBE: &str = "audio-probe";

#[async_trait]
impl Scanner for AudioProbeScanner {
    async fn scan(&self, path: &Path) -> Result<ScanOutcome, ScanError> {
        let path = path.to_owned();
        let probed = tokio::task::spawn_blocking(move || {
            probe_file(&path).map(|audio| {
                // The waveform is a nicety: a clip that validates but cannot be drawn is still
                // clean, just without peaks.
                if audio.codec == "opus" && audio.duration_ms > MAX_OPUS_PEAKS_MS {
                    return (audio, None);
                }
                let peaks = match compute_peaks(&path, PEAK_COUNT) {
                    Ok(peaks) => Some(peaks),
                    Err(e) => {
                        tracing::warn!(error = %e, "no waveform peaks for this clip");
                        None
                    }
                };
                (audio, peaks)
            })
        })
        .await
        .map_err(|e| ScanError(format!("probe task failed: {e}")))?;
        let rejected = |detail: String| ScanOutcome {
            verdict: ScanVerdict::Rejected,
            audio: None,
            detail: Some(detail),
            scanner: AUDIO_PROBE.to_owned(),
        };
        match probed {
            Ok((audio, peaks)) => Ok(ScanOutcome {
                verdict: ScanVerdict::Clean,
                audio: Some(AudioFacts {
                    container: audio.container,
                    codec: audio.codec,
                    duration_ms: audio.duration_ms,
                    sample_rate: audio.sample_rate,
                    channels: audio.channels,
                    peaks,
                }),
                detail: None,
                scanner: AUDIO_PROBE.to_owned(),
            }),
            Err(ProbeError::Io(e)) => Err(ScanError(format!("could not read the clip: {e}"))),
            Err(e) => Ok(rejected(e.to_string())),
        }
    }

    fn describe(&self) -> String {
        "audio validation only (no malware scanner configured)".to_owned()
    }
}
