//! The audio analysis in a child process with resource limits, the way pict-rs and Discourse run
//! their media tools: a crafted file that makes a decoder overflow its stack, abort or eat
//! memory ends that child, never `voicebin serve` (whose embedded worker scans in process) or
//! `voicebin worker`.
//!
//! The child is the `voicebin` binary itself, run as `voicebin analyse-sandboxed` (a hidden
//! subcommand; `unsafe_code` is forbidden, so no `pre_exec`). It lowers its own limits first
//! ([`child`]: `RLIMIT_AS`, `RLIMIT_CPU`, `RLIMIT_CORE` 0, `RLIMIT_FSIZE` 0, `RLIMIT_NOFILE`),
//! then analyses the file and writes a [`Report`] as JSON on stdout. It gets no environment (no
//! secrets) and no stdin. The parent ([`Sandbox::analyse`]) waits for it with a wall-clock
//! timeout, kills it past that, and reads how it ended ([`classify`]):
//!
//! * a report: its outcome (`clean` or `rejected`), or an unreadable file (transient);
//! * killed by a limit it set itself, or crashed (`SIGXCPU`, `SIGABRT` from an allocation over
//!   `RLIMIT_AS` or a stack overflow, `SIGSEGV`, `SIGBUS`, …): `rejected`, with the reason. The
//!   file did it, and the same file does it again every time;
//! * anything else (could not start, killed from outside, timed out, exited with an error,
//!   answered nonsense): a transient [`ScanError::Analyser`], retried like any scanner error and
//!   recorded `failed` after the last attempt.
//!
//! Why a crash is `rejected` and not `failed`: `docs/adr/0010-sandboxed-scans-and-bounded-attempts.md`.

pub mod child;
mod pcm;

pub use pcm::{DecodeError, PcmReport};

#[cfg(test)]
mod tests;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt};
use voicebin_commands::ScanError;
use voicebin_domain::{ScanOutcome, ScanVerdict};

use super::scanner::AUDIO_PROBE;

/// The hidden `voicebin` subcommand that runs [`child::run`].
pub const SUBCOMMAND: &str = "analyse-sandboxed";

/// The child's exit code when it could not set itself up (bad arguments, limits refused).
pub const EXIT_SETUP: u8 = 3;

/// Where the analyser is and how far it may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxSettings {
    /// The executable run as `<program> analyse-sandboxed …`: the `voicebin` binary.
    pub program: PathBuf,
    /// Address space the analyser may map (`RLIMIT_AS`), in bytes, its own code included.
    pub max_memory_bytes: u64,
    /// CPU time the analyser may use (`RLIMIT_CPU`), in seconds.
    pub max_cpu_secs: u64,
    /// Wall-clock time after which the analyser is killed (a transient failure).
    pub timeout: Duration,
}

impl SandboxSettings {
    /// Default `max_memory_bytes`: 1 GiB. Analysing a clip takes a few MiB beyond the binary's
    /// own mappings; tags and cover art are read whole, and an upload is at most 100 MiB.
    pub const DEFAULT_MAX_MEMORY_BYTES: u64 = 1024 * 1024 * 1024;
    /// Default `max_cpu_secs`: 300. The slowest legitimate case, a 15-minute Opus clip's
    /// waveform decoded in pure Rust, takes about a minute.
    pub const DEFAULT_MAX_CPU_SECS: u64 = 300;
    /// Default `timeout`: 600 s, twice the CPU limit, for a loaded machine.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

    /// The default limits, running `program`.
    pub fn new(program: PathBuf) -> Self {
        SandboxSettings {
            program,
            max_memory_bytes: Self::DEFAULT_MAX_MEMORY_BYTES,
            max_cpu_secs: Self::DEFAULT_MAX_CPU_SECS,
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    /// The default limits, running the executable of this process (the `voicebin` binary).
    pub fn this_binary() -> Self {
        let program = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("voicebin"));
        Self::new(program)
    }
}

/// What the child writes on stdout when it could analyse the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Report {
    /// The probe's outcome: `clean` with the facts, or `rejected` with the reason.
    Outcome(ScanOutcome),
    /// The file could not be read (an I/O error, not the file's contents).
    Unreadable(String),
}

/// The most the parent reads of the child's stdout (a report with 400 peaks is ~3 KB).
const MAX_REPORT_BYTES: usize = 256 * 1024;
/// The most the parent keeps of the child's stderr.
const MAX_STDERR_BYTES: usize = 16 * 1024;

/// Runs analyses in child processes with [`SandboxSettings`].
#[derive(Debug, Clone)]
pub(crate) struct Sandbox {
    settings: Arc<SandboxSettings>,
}

impl Sandbox {
    pub(crate) fn new(settings: SandboxSettings) -> Self {
        Sandbox {
            settings: Arc::new(settings),
        }
    }

    /// Analyses the file at `path` in a child process; see the module docs for the answers.
    pub(crate) async fn analyse(&self, path: &Path) -> Result<ScanOutcome, ScanError> {
        let settings = &self.settings;
        let mut command = tokio::process::Command::new(&settings.program);
        command
            .arg(SUBCOMMAND)
            .arg("--max-memory-bytes")
            .arg(settings.max_memory_bytes.to_string())
            .arg("--max-cpu-secs")
            .arg(settings.max_cpu_secs.to_string())
            .arg("--")
            .arg(path)
            // Nothing of ours for the decoder: no secrets, no stdin.
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| {
            ScanError::Analyser(format!(
                "could not start {}: {e}",
                settings.program.display()
            ))
        })?;
        let pid = child.id();
        tracing::debug!(pid, "sandboxed analyser started");
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(ScanError::Analyser(
                "the analyser's output is not piped".into(),
            ));
        };
        let ended = tokio::time::timeout(settings.timeout, async {
            tokio::join!(
                child.wait(),
                read_capped(stdout, MAX_REPORT_BYTES),
                read_capped(stderr, MAX_STDERR_BYTES),
            )
        })
        .await;
        let (status, stdout, stderr) = match ended {
            Ok((Ok(status), stdout, stderr)) => (status, stdout, stderr),
            Ok((Err(e), _, _)) => {
                return Err(ScanError::Analyser(format!(
                    "waiting for the analyser: {e}"
                )))
            }
            Err(_) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                return Err(ScanError::Analyser(format!(
                    "no answer within {} s; the analyser was killed",
                    settings.timeout.as_secs()
                )));
            }
        };
        let answer = classify(status, &stdout, &stderr, settings);
        match &answer {
            Ok(outcome) if outcome.verdict == ScanVerdict::Clean => {}
            Ok(outcome) => tracing::info!(
                pid,
                ?status,
                detail = outcome.detail.as_deref(),
                stderr = %tail(&stderr),
                "sandboxed analyser rejected the clip"
            ),
            Err(e) => tracing::warn!(
                pid,
                ?status,
                error = %e,
                stderr = %tail(&stderr),
                "sandboxed analyser gave no answer"
            ),
        }
        answer
    }
}

/// Reads `from` to its end, keeping at most `cap` bytes (the rest is drained, so the child
/// never blocks on a full pipe).
pub(crate) async fn read_capped(mut from: impl AsyncRead + Unpin, cap: usize) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => return kept,
            Ok(n) => {
                let room = cap.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
}

/// The last lines of the child's stderr, for logs and reasons.
pub(crate) fn tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim();
    let start = text.len().saturating_sub(400);
    let start = (start..text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(text.len());
    text[start..].escape_debug().to_string()
}

/// `rejected`, because analysing the file broke a limit or crashed the analyser.
fn refused(reason: String) -> ScanOutcome {
    ScanOutcome {
        verdict: ScanVerdict::Rejected,
        audio: None,
        detail: Some(format!("the file was refused: {reason}")),
        scanner: AUDIO_PROBE.to_owned(),
    }
}

/// `rejected`, because analysing the file needed more memory than `max_memory_bytes`.
pub(crate) fn memory_rejection(max_memory_bytes: u64) -> ScanOutcome {
    refused(memory_reason(max_memory_bytes))
}

/// Why a file was refused for needing more memory than `max_memory_bytes`.
pub(crate) fn memory_reason(max_memory_bytes: u64) -> String {
    format!(
        "decoding it needed more than {} MiB of memory, the limit for one clip",
        max_memory_bytes / (1024 * 1024)
    )
}

/// Why a sandboxed child that died of `signal` was ended by the file it worked on: a limit it
/// set itself, or a crash of its decoder. `None` when someone else ended it (SIGKILL, SIGTERM:
/// the kernel's OOM killer, an operator), which says nothing about the file.
pub(crate) fn signal_reason(
    signal: i32,
    stderr: &[u8],
    max_cpu_secs: u64,
    max_memory_bytes: u64,
) -> Option<String> {
    let err = String::from_utf8_lossy(stderr);
    Some(match signal {
        libc::SIGXCPU => format!(
            "decoding it needed more than {max_cpu_secs} s of CPU time, the limit for one clip"
        ),
        libc::SIGABRT if err.contains("memory allocation of") => memory_reason(max_memory_bytes),
        libc::SIGABRT | libc::SIGSEGV if err.contains("overflowed its stack") => {
            "it made the audio decoder overflow its stack".to_owned()
        }
        libc::SIGABRT
        | libc::SIGSEGV
        | libc::SIGBUS
        | libc::SIGILL
        | libc::SIGFPE
        | libc::SIGSYS
        | libc::SIGTRAP => format!("it crashed the audio decoder (signal {signal})"),
        libc::SIGXFSZ => "it made the audio decoder try to write a file".to_owned(),
        _ => return None,
    })
}

/// How the child ended, as a scan answer (see the module docs).
pub(crate) fn classify(
    status: ExitStatus,
    stdout: &[u8],
    stderr: &[u8],
    settings: &SandboxSettings,
) -> Result<ScanOutcome, ScanError> {
    if status.success() {
        return match serde_json::from_slice::<Report>(stdout) {
            Ok(Report::Outcome(outcome)) => Ok(outcome),
            Ok(Report::Unreadable(why)) => Err(ScanError::Unreadable(std::io::Error::other(why))),
            Err(_) => Err(ScanError::Analyser(
                "the analyser's answer is not a report".into(),
            )),
        };
    }
    if let Some(signal) = status.signal() {
        return match signal_reason(
            signal,
            stderr,
            settings.max_cpu_secs,
            settings.max_memory_bytes,
        ) {
            Some(reason) => Ok(refused(reason)),
            None => Err(ScanError::Analyser(format!(
                "the analyser was killed by signal {signal}"
            ))),
        };
    }
    Err(ScanError::Analyser(format!(
        "the analyser exited with {status}: {}",
        tail(stderr)
    )))
}
