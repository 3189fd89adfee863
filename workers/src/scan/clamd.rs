//! Malware scanning with ClamAV: a client for clamd's TCP protocol ([`ClamdClient`]) and the
//! [`ClamdScanner`] that runs it after the audio probe.
//!
//! # Protocol
//!
//! One connection per request, NUL-terminated commands (`z` prefix) and replies:
//!
//! * `zPING\0` → `PONG\0`.
//! * `zINSTREAM\0`, then the file as chunks (a 4-byte big-endian length, then that many bytes),
//!   then a zero-length chunk → `stream: OK\0`, `stream: <signature> FOUND\0`, or
//!   `<message> ERROR\0` (e.g. `INSTREAM size limit exceeded. ERROR` once the stream passes
//!   clamd's `StreamMaxLength`).
//!
//! The file is streamed from disk one chunk at a time; it is never held in memory whole.
//!
//! # Failing closed
//!
//! Only a complete `stream: OK` reply to a completely sent file is [`ClamdVerdict::Clean`].
//! Everything else — no connection, a timeout, a connection closed before the reply ends, an
//! `ERROR` or unrecognised reply, a file over the stream limit — is a [`ClamdError`], which
//! [`ClamdScanner`] turns into a retryable [`ScanError`] or, for a file that can never be
//! scanned, a `failed` verdict. An error is never `clean`.

use std::future::Future;
use std::io;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use tokio::fs::File;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use voicebin_commands::{ScanError, Scanner};
use voicebin_domain::{ScanOutcome, ScanVerdict};

use super::scanner::AudioProbeScanner;

/// The scanner name recorded when both the audio probe and clamd ran.
pub const AUDIO_PROBE_CLAMD: &str = "audio-probe+clamd";
/// Default bytes per INSTREAM chunk.
pub const DEFAULT_CHUNK_SIZE: usize = 64 * 1024;
/// Default stream limit: clamd's own `StreamMaxLength` default (100 MiB).
pub const DEFAULT_MAX_STREAM_BYTES: u64 = 100 * 1024 * 1024;
/// Default bound on each I/O step, including waiting for clamd to finish scanning.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest reply accepted: clamd's replies are one short line, so more is not clamd talking.
const MAX_REPLY_BYTES: usize = 4096;
/// How much of an unexpected reply goes into an error message.
const MAX_REPLY_IN_ERROR: usize = 200;

/// A client for one clamd daemon, speaking its TCP protocol.
#[derive(Debug, Clone)]
pub struct ClamdClient {
    addr: String,
    timeout: Duration,
    chunk_size: usize,
    max_stream_bytes: u64,
}

/// What clamd found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClamdVerdict {
    /// No signature matched.
    Clean,
    /// A signature matched; this is its name (e.g. `Win.Test.EICAR_HDB-1`).
    Found(String),
}

/// Why clamd gave no verdict. Never a reason to treat a file as clean.
#[derive(Debug, thiserror::Error)]
pub enum ClamdError {
    /// The TCP connection could not be opened.
    #[error("could not connect to clamd at {addr}: {source}")]
    Connect {
        /// The daemon's address.
        addr: String,
        /// The connect error.
        source: io::Error,
    },
    /// An I/O step took longer than the client's timeout.
    #[error("clamd at {addr} timed out after {timeout:?} while {step}")]
    Timeout {
        /// The daemon's address.
        addr: String,
        /// What was being done.
        step: &'static str,
        /// The bound that was exceeded.
        timeout: Duration,
    },
    /// The connection failed mid-request.
    #[error("connection to clamd at {addr} failed while {step}: {source}")]
    Io {
        /// The daemon's address.
        addr: String,
        /// What was being done.
        step: &'static str,
        /// The socket error.
        source: io::Error,
    },
    /// clamd closed the connection before a complete (NUL-terminated) reply.
    #[error("clamd at {addr} closed the connection before a complete reply")]
    ClosedEarly {
        /// The daemon's address.
        addr: String,
    },
    /// clamd answered `... ERROR`.
    #[error("clamd at {addr} reported an error: {message}")]
    Server {
        /// The daemon's address.
        addr: String,
        /// The reply without its ` ERROR` suffix, e.g. `INSTREAM size limit exceeded.`.
        message: String,
    },
    /// clamd (or whatever listens there) answered something this client does not understand.
    #[error("unexpected reply from clamd at {addr}: {reply}")]
    UnexpectedReply {
        /// The daemon's address.
        addr: String,
        /// The reply, escaped and shortened.
        reply: String,
    },
    /// The file is over the stream limit, so it was not sent (clamd would refuse it).
    #[error(
        "the file is at least {size} bytes, over the malware scanner's limit of {limit} bytes"
    )]
    TooLarge {
        /// The file's size (or the bytes read so far, if it grew while being sent).
        size: u64,
        /// The client's `max_stream_bytes`.
        limit: u64,
    },
    /// The file to scan could not be read.
    #[error("could not read the file to scan: {0}")]
    File(#[source] io::Error),
}

impl ClamdClient {
    /// A client for clamd at `addr` (`host:port`) with the default timeout, chunk size and
    /// stream limit.
    pub fn new(addr: impl Into<String>) -> Self {
        Self {
            addr: addr.into(),
            timeout: DEFAULT_TIMEOUT,
            chunk_size: DEFAULT_CHUNK_SIZE,
            max_stream_bytes: DEFAULT_MAX_STREAM_BYTES,
        }
    }

    /// Sets the bound on each I/O step. Waiting for the reply includes clamd's scanning time,
    /// so this must exceed the longest scan of a `max_stream_bytes` file.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the INSTREAM chunk size (clamped to 1 byte ..= `u32::MAX`, the length prefix's range).
    #[must_use]
    pub fn with_chunk_size(mut self, chunk_size: usize) -> Self {
        self.chunk_size = chunk_size.clamp(1, u32::MAX as usize);
        self
    }

    /// Sets the largest file sent to clamd. Must equal clamd's `StreamMaxLength`: above it clamd
    /// refuses the stream, and a smaller value refuses files clamd could scan.
    #[must_use]
    pub fn with_max_stream_bytes(mut self, max_stream_bytes: u64) -> Self {
        self.max_stream_bytes = max_stream_bytes;
        self
    }

    /// The daemon's address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The bound on each I/O step.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Bytes per INSTREAM chunk.
    pub fn chunk_size(&self) -> usize {
        self.chunk_size
    }

    /// The largest file sent to clamd.
    pub fn max_stream_bytes(&self) -> u64 {
        self.max_stream_bytes
    }

    /// Checks that clamd answers (`zPING` → `PONG`).
    pub async fn ping(&self) -> Result<(), ClamdError> {
        let mut stream = self.connect().await?;
        self.send(&mut stream, "sending PING", b"zPING\0").await?;
        let reply = self.read_reply(&mut stream).await?;
        if reply == "PONG" {
            Ok(())
        } else {
            Err(self.unexpected(&reply))
        }
    }

    /// Streams the file at `path` to clamd and returns its verdict.
    pub async fn scan_file(&self, path: &Path) -> Result<ClamdVerdict, ClamdError> {
        let mut file = self
            .bounded("opening the file", File::open(path))
            .await?
            .map_err(ClamdError::File)?;
        let size = self
            .bounded("reading the file's size", file.metadata())
            .await?
            .map_err(ClamdError::File)?
            .len();
        // Checked before connecting: clamd would only answer "size limit exceeded" after
        // receiving 100 MiB, and that answer would be retried as if clamd were unwell.
        if size > self.max_stream_bytes {
            return Err(self.too_large(size));
        }

        let mut stream = self.connect().await?;
        self.send(&mut stream, "sending INSTREAM", b"zINSTREAM\0")
            .await?;

        // One buffer holds the length prefix and the chunk, so each chunk is a single write.
        let mut buf = vec![0u8; 4 + self.chunk_size];
        let mut sent: u64 = 0;
        loop {
            let n = self
                .bounded("reading the file", file.read(&mut buf[4..]))
                .await?
                .map_err(ClamdError::File)?;
            if n == 0 {
                break;
            }
            sent += n as u64;
            // The file grew after its size was checked; never send more than the limit.
            if sent > self.max_stream_bytes {
                return Err(self.too_large(sent));
            }
            let len = u32::try_from(n).expect("chunk_size is clamped to u32::MAX");
            buf[..4].copy_from_slice(&len.to_be_bytes());
            self.send(&mut stream, "sending the file", &buf[..4 + n])
                .await?;
        }
        self.send(&mut stream, "ending the stream", &0u32.to_be_bytes())
            .await?;

        let reply = self.read_reply(&mut stream).await?;
        self.parse_scan_reply(&reply)
    }

    async fn connect(&self) -> Result<TcpStream, ClamdError> {
        let stream = self
            .bounded("connecting", TcpStream::connect(self.addr.as_str()))
            .await?
            .map_err(|source| ClamdError::Connect {
                addr: self.addr.clone(),
                source,
            })?;
        // The final 4-byte chunk would otherwise wait on Nagle + delayed ACK (~40 ms a scan).
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }

    /// Writes `bytes`. When the write fails, clamd may already have explained why (it answers
    /// e.g. "size limit exceeded" and closes), so its reply is read and reported if it is one.
    async fn send(
        &self,
        stream: &mut TcpStream,
        step: &'static str,
        bytes: &[u8],
    ) -> Result<(), ClamdError> {
        let Err(source) = self.bounded(step, stream.write_all(bytes)).await? else {
            return Ok(());
        };
        let io_error = ClamdError::Io {
            addr: self.addr.clone(),
            step,
            source,
        };
        match self.read_reply(stream).await {
            // A reply to a request that was not fully sent is never a verdict, even "OK".
            Ok(reply) => match self.parse_scan_reply(&reply) {
                Err(e @ ClamdError::Server { .. }) => Err(e),
                _ => Err(io_error),
            },
            Err(_) => Err(io_error),
        }
    }

    /// Reads one NUL-terminated reply, the whole read bounded by the timeout (so a server
    /// trickling bytes cannot stretch it).
    async fn read_reply(&self, stream: &mut TcpStream) -> Result<String, ClamdError> {
        let read = async {
            let mut reply = Vec::with_capacity(64);
            let mut buf = [0u8; 512];
            loop {
                let n = stream
                    .read(&mut buf)
                    .await
                    .map_err(|source| ClamdError::Io {
                        addr: self.addr.clone(),
                        step: "reading the reply",
                        source,
                    })?;
                if n == 0 {
                    return Err(ClamdError::ClosedEarly {
                        addr: self.addr.clone(),
                    });
                }
                reply.extend_from_slice(&buf[..n]);
                if let Some(end) = reply.iter().position(|&b| b == 0) {
                    reply.truncate(end);
                    return Ok(String::from_utf8_lossy(&reply).into_owned());
                }
                if reply.len() > MAX_REPLY_BYTES {
                    return Err(self.unexpected(&String::from_utf8_lossy(&reply)));
                }
            }
        };
        tokio::time::timeout(self.timeout, read)
            .await
            .map_err(|_| self.timed_out("waiting for the reply"))?
    }

    fn parse_scan_reply(&self, reply: &str) -> Result<ClamdVerdict, ClamdError> {
        let reply = reply.trim_end();
        if let Some(message) = reply.strip_suffix(" ERROR") {
            return Err(ClamdError::Server {
                addr: self.addr.clone(),
                message: escape(message.trim()),
            });
        }
        let Some(result) = reply.strip_prefix("stream: ") else {
            return Err(self.unexpected(reply));
        };
        if result == "OK" {
            return Ok(ClamdVerdict::Clean);
        }
        match result.strip_suffix(" FOUND").map(str::trim) {
            Some(signature) if !signature.is_empty() => Ok(ClamdVerdict::Found(escape(signature))),
            _ => Err(self.unexpected(reply)),
        }
    }

    async fn bounded<T>(
        &self,
        step: &'static str,
        io: impl Future<Output = T>,
    ) -> Result<T, ClamdError> {
        tokio::time::timeout(self.timeout, io)
            .await
            .map_err(|_| self.timed_out(step))
    }

    fn timed_out(&self, step: &'static str) -> ClamdError {
        ClamdError::Timeout {
            addr: self.addr.clone(),
            step,
            timeout: self.timeout,
        }
    }

    fn unexpected(&self, reply: &str) -> ClamdError {
        ClamdError::UnexpectedReply {
            addr: self.addr.clone(),
            reply: escape(reply),
        }
    }

    fn too_large(&self, size: u64) -> ClamdError {
        ClamdError::TooLarge {
            size,
            limit: self.max_stream_bytes,
        }
    }
}

/// Escapes control characters and shortens `text`, so whatever a peer sent cannot forge log
/// lines or flood them.
fn escape(text: &str) -> String {
    let mut out: String = text.chars().take(MAX_REPLY_IN_ERROR).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out.escape_debug().to_string()
}

/// Validates audio with [`AudioProbeScanner`], then scans what passed with clamd.
#[derive(Debug, Clone)]
pub struct ClamdScanner {
    audio: AudioProbeScanner,
    clamd: ClamdClient,
}

impl ClamdScanner {
    /// Combines the audio probe with a clamd client.
    pub fn new(audio: AudioProbeScanner, clamd: ClamdClient) -> Self {
        Self { audio, clamd }
    }

    /// The clamd client (for readiness checks).
    pub fn clamd(&self) -> &ClamdClient {
        &self.clamd
    }
}

#[async_trait]
impl Scanner for ClamdScanner {
    async fn scan(&self, path: &Path) -> Result<ScanOutcome, ScanError> {
        let probed = self.audio.scan(path).await?;
        // Only valid audio can be clean; anything the probe refused is refused already, and
        // clamd's load is spared.
        if probed.verdict != ScanVerdict::Clean {
            return Ok(probed);
        }
        match self.clamd.scan_file(path).await {
            Ok(ClamdVerdict::Clean) => Ok(ScanOutcome {
                scanner: AUDIO_PROBE_CLAMD.to_owned(),
                ..probed
            }),
            Ok(ClamdVerdict::Found(signature)) => Ok(ScanOutcome {
                verdict: ScanVerdict::Infected,
                audio: probed.audio,
                detail: Some(format!("malware: {signature}")),
                scanner: AUDIO_PROBE_CLAMD.to_owned(),
            }),
            // Retrying cannot make the file smaller: a final `failed`, never `clean`.
            Err(ClamdError::TooLarge { limit, .. }) => Ok(ScanOutcome {
                verdict: ScanVerdict::Failed,
                audio: probed.audio,
                detail: Some(format!(
                    "too large for the malware scanner (limit {limit} bytes)"
                )),
                scanner: AUDIO_PROBE_CLAMD.to_owned(),
            }),
            Err(ClamdError::File(e)) => Err(ScanError::Unreadable(e)),
            Err(e) => {
                if let ClamdError::Server { message, .. } = &e {
                    if message.contains("size limit exceeded") {
                        // Files over our limit are never sent, so clamd's limit is the smaller.
                        tracing::warn!(
                            limit = self.clamd.max_stream_bytes(),
                            "clamd's StreamMaxLength is below the configured max_stream_bytes"
                        );
                    }
                }
                Err(ScanError::MalwareScanner(Box::new(e)))
            }
        }
    }

    fn describe(&self) -> String {
        format!("audio validation + ClamAV at {}", self.clamd.addr())
    }
}

#[cfg(test)]
mod tests;
