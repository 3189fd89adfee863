//! The audio-validation scanner: decodes the clip with symphonia and decides `clean` or
//! `rejected`. (clamd joins it in production mode.)

use std::path::Path;

use async_trait::async_trait;
use voicebin_commands::{ScanError, Scanner};
use voicebin_domain::{AudioFacts, ScanOutcome, ScanVerdict};

use crate::probe::{probe_file, ProbeError};

/// Validates that a file is real audio and reads its facts.
#[derive(Debug, Clone, Default)]
pub struct AudioProbeScanner;

/// The scanner name recorded in `ScanCompleted`.
pub const AUDIO_PROBE: &str = "audio-probe";

#[async_trait]
impl Scanner for AudioProbeScanner {
    async fn scan(&self, path: &Path) -> Result<ScanOutcome, ScanError> {
        let path = path.to_owned();
        let probed = tokio::task::spawn_blocking(move || probe_file(&path))
            .await
            .map_err(|e| ScanError(format!("probe task failed: {e}")))?;
        let rejected = |detail: String| ScanOutcome {
            verdict: ScanVerdict::Rejected,
            audio: None,
            detail: Some(detail),
            scanner: AUDIO_PROBE.to_owned(),
        };
        match probed {
            Ok(audio) => Ok(ScanOutcome {
                verdict: ScanVerdict::Clean,
                audio: Some(AudioFacts {
                    container: audio.container,
                    codec: audio.codec,
                    duration_ms: audio.duration_ms,
                    sample_rate: audio.sample_rate,
                    channels: audio.channels,
                    peaks: None,
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
