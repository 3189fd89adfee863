//! The rendition stage: a clean clip that browsers cannot play as uploaded (AIFF, ALAC, CAF, WAV
//! that is not 8/16/24-bit PCM, …: `voicebin_domain::playback`) gets a FLAC rendition (or Ogg
//! Opus, when the operator chooses it: [`RenditionFormat`]), which players are served instead
//! (`docs/adr/0016-playback-renditions.md`).
//!
//! Decoding untrusted bytes happens in a child process, as scans do (`crate::scan::sandbox`):
//! `voicebin render-sandboxed` ([`child`]) lowers its resource limits (`RLIMIT_AS`,
//! `RLIMIT_CPU`, no files, few descriptors) and writes the rendition to its stdout. The
//! parent ([`RenditionWork`]) streams that stdout into the blob store under
//! `renditions/<id>` while hashing and counting it, so the rendition is never held whole in
//! memory, and the store's `put` only succeeds once the child has exited cleanly: the stream
//! ends with the child's exit, and an error in its place makes the put leave nothing behind.
//!
//! How a run ends:
//!
//! * the child exits 0: `RenditionCompleted` (content type, size, SHA-256, key);
//! * the file is refused (a packet does not decode, more channels than FLAC holds), the child
//!   hits a limit it set itself (CPU, memory) or crashes, or the output passes
//!   [`RenditionSettings::max_bytes`]: `RenditionFailed` with the reason, at once: the same
//!   file does the same every time. The clip stays clean, its original served;
//! * the wall-clock timeout, a child killed from outside or that could not start, a blob store
//!   or database failure: a transient error, retried, and `RenditionFailed` after the last
//!   attempt.

pub mod child;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::process::{Child, ChildStdout};
use tokio::sync::{watch, Notify};
use tokio_util::io::ReaderStream;
use voicebin_commands::{rendition_key, ByteStream, ClipService, CommandError};
use voicebin_domain::{ClipId, ContentType, Sha256Digest, Stage};
use voicebin_projections::ClipView;

use super::StageWork;
use crate::scan::sandbox::{read_capped, signal_reason, tail, SandboxSettings};

/// The hidden `voicebin` subcommand that runs [`child::run`].
pub const SUBCOMMAND: &str = "render-sandboxed";
/// The child's exit code when the file cannot be rendered (the reason is on stderr).
pub const EXIT_REFUSED: u8 = 4;
/// The child's exit code when reading the file or writing its output failed.
pub const EXIT_IO: u8 = 5;
/// The media type of FLAC renditions.
pub const FLAC: &str = "audio/flac";
/// The media type of Opus renditions (Ogg Opus, RFC 7845).
pub const OGG: &str = "audio/ogg";

/// What renditions are encoded as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenditionFormat {
    /// Lossless FLAC: every sample of a lossless source kept (the default).
    Flac,
    /// Ogg Opus at this many bits per second: smaller, lossy, mono or stereo only.
    Opus {
        /// The encoder's target bitrate.
        bitrate_bps: u32,
    },
}

impl RenditionFormat {
    /// The default Opus bitrate: 96 kbit/s, transparent for speech and near it for music.
    pub const DEFAULT_OPUS_BITRATE_BPS: u32 = 96_000;

    /// The media type the rendition is served as.
    pub fn content_type(self) -> &'static str {
        match self {
            RenditionFormat::Flac => FLAC,
            RenditionFormat::Opus { .. } => OGG,
        }
    }
}

/// How far one rendition may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenditionSettings {
    /// What renditions are encoded as.
    pub format: RenditionFormat,
    /// The largest rendition stored, in bytes; a clip whose rendition would be larger keeps its
    /// original only.
    pub max_bytes: u64,
    /// CPU time the child may use (`RLIMIT_CPU`), in seconds.
    pub max_cpu_secs: u64,
    /// Wall-clock time after which the child is killed (a transient failure).
    pub timeout: Duration,
}

impl RenditionSettings {
    /// Default `max_bytes`: 512 MiB. A FLAC rendition of a lossless source is smaller than the
    /// source (at most a 100 MiB upload by default); of a 4-bit ADPCM or µ-law WAV, up to four
    /// times larger.
    pub const DEFAULT_MAX_BYTES: u64 = 512 * 1024 * 1024;
    /// Default `max_cpu_secs`: 300. Encoding runs at well over 50× real time in release builds.
    pub const DEFAULT_MAX_CPU_SECS: u64 = 300;
    /// Default `timeout`: 600 s, twice the CPU limit, for a loaded machine.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
}

impl Default for RenditionSettings {
    fn default() -> Self {
        RenditionSettings {
            format: RenditionFormat::Flac,
            max_bytes: Self::DEFAULT_MAX_BYTES,
            max_cpu_secs: Self::DEFAULT_MAX_CPU_SECS,
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }
}

/// Makes renditions in a sandboxed child and stores them.
#[derive(Debug, Clone)]
pub struct RenditionWork {
    /// The executable (`<program> render-sandboxed …`) and the memory limit, shared with the
    /// scan's analyser.
    sandbox: SandboxSettings,
    settings: RenditionSettings,
}

impl RenditionWork {
    /// Renditions run by `sandbox.program`, within `sandbox.max_memory_bytes` and `settings`.
    pub fn new(sandbox: SandboxSettings, settings: RenditionSettings) -> Self {
        RenditionWork { sandbox, settings }
    }
}

/// Why a run made no rendition.
enum Failure {
    /// The clip causes it: recorded as `RenditionFailed` at once.
    Permanent(String),
    /// Something else: retried.
    Transient(String),
}

/// How the child ended.
#[derive(Debug, Clone)]
enum End {
    Exited(ExitStatus),
    TimedOut,
    /// Waiting for it failed.
    Lost(String),
}

/// What the parent learned from the child's output as it streamed by.
#[derive(Default)]
struct Tally {
    size: u64,
    sha256: Sha256,
    too_large: bool,
}

#[async_trait]
impl StageWork for RenditionWork {
    fn stage(&self) -> Stage {
        Stage::Rendition
    }

    async fn run(
        &self,
        service: &ClipService,
        id: &ClipId,
        _view: &ClipView,
        source: &Path,
    ) -> Result<(), String> {
        let key = rendition_key(id);
        match self.render(service, &key, source).await {
            Ok((size, sha256)) => {
                let recorded = service
                    .complete_rendition(
                        id,
                        key.clone(),
                        ContentType::from_sniffed(self.settings.format.content_type()),
                        size,
                        sha256,
                    )
                    .await;
                match recorded {
                    Ok(()) => {
                        tracing::info!(size, "rendition recorded");
                        Ok(())
                    }
                    // Deleted, removed or no longer clean meanwhile: its rendition must not
                    // outlive it.
                    Err(CommandError::Rule(rule)) => {
                        tracing::info!(%rule, "rendition not recorded; removing it");
                        let _ = service.blobs().delete(&key).await;
                        Ok(())
                    }
                    Err(e) => Err(format!("could not record the rendition: {e}")),
                }
            }
            Err(Failure::Permanent(reason)) => {
                tracing::info!(%reason, "no rendition for this clip");
                match service.fail_rendition(id, reason).await {
                    Ok(()) | Err(CommandError::Rule(_)) => Ok(()),
                    Err(e) => Err(format!("could not record the failure: {e}")),
                }
            }
            Err(Failure::Transient(why)) => Err(why),
        }
    }

    async fn give_up(
        &self,
        service: &ClipService,
        id: &ClipId,
        reason: &str,
    ) -> Result<(), CommandError> {
        service
            .fail_rendition(id, format!("making a rendition kept failing: {reason}"))
            .await
    }
}

impl RenditionWork {
    /// Runs the child on `source` and stores its output under `key`; the size and digest of
    /// what was stored.
    async fn render(
        &self,
        service: &ClipService,
        key: &str,
        source: &Path,
    ) -> Result<(u64, Sha256Digest), Failure> {
        let mut command = tokio::process::Command::new(&self.sandbox.program);
        command
            .arg(SUBCOMMAND)
            .arg("--max-memory-bytes")
            .arg(self.sandbox.max_memory_bytes.to_string())
            .arg("--max-cpu-secs")
            .arg(self.settings.max_cpu_secs.to_string());
        if let RenditionFormat::Opus { bitrate_bps } = self.settings.format {
            command.arg("--opus-bitrate").arg(bitrate_bps.to_string());
        }
        command
            .arg("--")
            .arg(source)
            // Nothing of ours for the decoder: no secrets, no stdin.
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| {
            Failure::Transient(format!(
                "could not start {}: {e}",
                self.sandbox.program.display()
            ))
        })?;
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(Failure::Transient(
                "the renderer's output is not piped".into(),
            ));
        };
        let (ended_tx, ended) = watch::channel(None::<End>);
        let kill = Arc::new(Notify::new());
        let waiter = tokio::spawn(watch_child(
            child,
            self.settings.timeout,
            kill.clone(),
            ended_tx,
        ));
        let stderr = tokio::spawn(read_capped(stderr, 16 * 1024));
        let tally = Arc::new(Mutex::new(Tally::default()));
        let body = output(
            stdout,
            self.settings.max_bytes,
            tally.clone(),
            kill.clone(),
            ended.clone(),
        );
        let stored = service.blobs().put(key, body).await;
        // Whatever happened to the put, the child ends (killed if need be) before we judge.
        kill.notify_one();
        let end = ended_value(ended).await;
        let _ = waiter.await;
        let stderr = stderr.await.unwrap_or_default();
        let tally = std::mem::take(&mut *tally.lock().unwrap_or_else(|e| e.into_inner()));
        let judged = self.judge(&end, &stderr, &tally);
        match (stored, judged) {
            (Ok(size), Ok(())) if size == tally.size => {
                let digest: [u8; 32] = tally.sha256.finalize().into();
                Ok((size, Sha256Digest::from_bytes(digest)))
            }
            (Ok(size), Ok(())) => {
                let _ = service.blobs().delete(key).await;
                Err(Failure::Transient(format!(
                    "the blob store kept {size} bytes of {}",
                    tally.size
                )))
            }
            (Ok(_), Err(failure)) => {
                // Cannot happen (the stream fails unless the child exited cleanly), but a
                // stored rendition that is not recorded must not stay.
                let _ = service.blobs().delete(key).await;
                Err(failure)
            }
            (Err(e), Ok(())) => Err(Failure::Transient(format!(
                "storing the rendition failed: {e}"
            ))),
            (Err(_), Err(failure)) => Err(failure),
        }
    }

    /// What the child's end says about the run.
    fn judge(&self, end: &End, stderr: &[u8], tally: &Tally) -> Result<(), Failure> {
        let status = match end {
            _ if tally.too_large => {
                return Err(Failure::Permanent(format!(
                    "the rendition would be larger than {} MiB, the limit for one clip",
                    self.settings.max_bytes / (1024 * 1024)
                )))
            }
            End::TimedOut => {
                return Err(Failure::Transient(format!(
                    "no rendition within {} s; the renderer was killed",
                    self.settings.timeout.as_secs()
                )))
            }
            End::Lost(why) => return Err(Failure::Transient(why.clone())),
            End::Exited(status) => *status,
        };
        if status.success() {
            return Ok(());
        }
        if status.code() == Some(i32::from(EXIT_REFUSED)) {
            return Err(Failure::Permanent(last_line(stderr)));
        }
        if let Some(signal) = status.signal() {
            return match signal_reason(
                signal,
                stderr,
                self.settings.max_cpu_secs,
                self.sandbox.max_memory_bytes,
            ) {
                Some(reason) => Err(Failure::Permanent(reason)),
                None => Err(Failure::Transient(format!(
                    "the renderer was killed by signal {signal}"
                ))),
            };
        }
        Err(Failure::Transient(format!(
            "the renderer exited with {status}: {}",
            tail(stderr)
        )))
    }
}

/// Waits for `child` until it exits, `timeout` passes or `kill` is notified (killing it in
/// the last two cases), and publishes how it ended.
async fn watch_child(
    mut child: Child,
    timeout: Duration,
    kill: Arc<Notify>,
    ended: watch::Sender<Option<End>>,
) {
    let end = tokio::select! {
        status = child.wait() => match status {
            Ok(status) => End::Exited(status),
            Err(e) => End::Lost(format!("waiting for the renderer: {e}")),
        },
        () = tokio::time::sleep(timeout) => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            End::TimedOut
        }
        () = kill.notified() => {
            // Asked to stop: it may have exited meanwhile, which is how it ended.
            match child.try_wait() {
                Ok(Some(status)) => End::Exited(status),
                _ => {
                    let _ = child.start_kill();
                    match child.wait().await {
                        Ok(status) => End::Exited(status),
                        Err(e) => End::Lost(format!("waiting for the renderer: {e}")),
                    }
                }
            }
        }
    };
    let _ = ended.send(Some(end));
}

/// How the child ended, once it has.
async fn ended_value(mut ended: watch::Receiver<Option<End>>) -> End {
    match ended.wait_for(Option::is_some).await {
        Ok(end) => end
            .clone()
            .unwrap_or(End::Lost("the renderer's watcher stopped".into())),
        Err(_) => End::Lost("the renderer's watcher stopped".into()),
    }
}

/// The child's stdout as the body to store: counted and hashed into `tally`, cut off (and the
/// child killed) past `max_bytes`, and ended by an error unless the child exits cleanly, so an
/// incomplete rendition is never stored.
fn output(
    stdout: ChildStdout,
    max_bytes: u64,
    tally: Arc<Mutex<Tally>>,
    kill: Arc<Notify>,
    ended: watch::Receiver<Option<End>>,
) -> ByteStream {
    let chunks = ReaderStream::with_capacity(stdout, 64 * 1024).map(move |chunk| {
        let chunk: Bytes = chunk?;
        let mut tally = tally.lock().unwrap_or_else(|e| e.into_inner());
        tally.size += chunk.len() as u64;
        if tally.size > max_bytes {
            tally.too_large = true;
            kill.notify_one();
            return Err(std::io::Error::other("the rendition is too large"));
        }
        tally.sha256.update(&chunk);
        Ok(chunk)
    });
    // After the last byte: wait for the child, and fail the body unless it exited cleanly.
    let end = futures::stream::once(async move {
        match ended_value(ended).await {
            End::Exited(status) if status.success() => None,
            end => Some(Err(std::io::Error::other(format!(
                "the renderer did not finish: {end:?}"
            )))),
        }
    })
    .filter_map(std::future::ready);
    // Stop at the first error: a too-large body must not read on.
    Box::pin(chunks.chain(end).scan(false, |failed, item| {
        if *failed {
            return std::future::ready(None);
        }
        *failed = item.is_err();
        std::future::ready(Some(item))
    }))
}

/// The last line of the child's stderr: its reason for refusing the file.
fn last_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let line = text.trim().lines().last().unwrap_or("").trim();
    if line.is_empty() {
        "the clip could not be decoded".to_owned()
    } else {
        line.chars().take(500).collect()
    }
}
