//! The transcription stage's decode in the sandbox: the child (`analyse-sandboxed
//! --pcm16k-max-ms N`) decodes the clip to 16 kHz mono s16le PCM on its stdout, which the
//! parent streams into a file, capped at what `N` milliseconds can take; the child's last line
//! of stderr is a [`PcmReport`].
//!
//! How the child ended reads as in [`super::classify`]: killed by a limit it set itself or
//! crashed is the file's doing ([`DecodeError::Undecodable`], never retried); anything else is
//! [`DecodeError::Transient`].

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{read_capped, signal_reason, tail, Sandbox, EXIT_SETUP, MAX_STDERR_BYTES, SUBCOMMAND};
use crate::audio::{PcmSummary, PCM_RATE};

/// The last line of the decoding child's stderr.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PcmReport {
    /// The PCM on stdout is complete.
    Decoded(PcmSummary),
    /// The file does not decode (damaged, or past a limit).
    Undecodable(String),
    /// The file could not be read.
    Unreadable(String),
}

/// Why a decode produced no PCM.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The clip cannot be decoded, and trying again will not change that.
    #[error("the audio cannot be decoded for transcription: {0}")]
    Undecodable(String),
    /// Something other than the clip went wrong; worth another try.
    #[error("decoding for transcription failed: {0}")]
    Transient(String),
}

impl Sandbox {
    /// Decodes at most `max_ms` of the clip at `path` to 16 kHz mono s16le PCM in `dest`, in a
    /// child process under the sandbox's limits.
    pub(crate) async fn decode_pcm(
        &self,
        path: &Path,
        max_ms: u64,
        dest: &Path,
    ) -> Result<PcmSummary, DecodeError> {
        let settings = &self.settings;
        let cap = max_ms.saturating_mul(u64::from(PCM_RATE)) / 1000 * 2;
        let mut child = tokio::process::Command::new(&settings.program)
            .arg(SUBCOMMAND)
            .arg("--max-memory-bytes")
            .arg(settings.max_memory_bytes.to_string())
            .arg("--max-cpu-secs")
            .arg(settings.max_cpu_secs.to_string())
            .arg("--pcm16k-max-ms")
            .arg(max_ms.to_string())
            .arg("--")
            .arg(path)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                DecodeError::Transient(format!(
                    "could not start {}: {e}",
                    settings.program.display()
                ))
            })?;
        let (Some(mut stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(DecodeError::Transient(
                "the decoder's output is not piped".into(),
            ));
        };
        let mut file = tokio::fs::File::create(dest)
            .await
            .map_err(|e| DecodeError::Transient(format!("creating the PCM file: {e}")))?;
        let copy = async {
            let mut buf = vec![0u8; 64 * 1024];
            let mut total = 0u64;
            loop {
                let n = stdout.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                total += n as u64;
                if total > cap {
                    return Err(std::io::Error::other(format!(
                        "the decoder wrote more than the {cap} bytes asked for"
                    )));
                }
                file.write_all(&buf[..n]).await?;
            }
            file.flush().await?;
            Ok::<u64, std::io::Error>(total)
        };
        let ended = tokio::time::timeout(settings.timeout, async {
            tokio::join!(child.wait(), copy, read_capped(stderr, MAX_STDERR_BYTES))
        })
        .await;
        let (status, copied, stderr) = match ended {
            Ok((Ok(status), copied, stderr)) => (status, copied, stderr),
            Ok((Err(e), _, _)) => {
                return Err(DecodeError::Transient(format!(
                    "waiting for the decoder: {e}"
                )))
            }
            Err(_) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                return Err(DecodeError::Transient(format!(
                    "no answer within {} s; the decoder was killed",
                    settings.timeout.as_secs()
                )));
            }
        };
        let copied = copied.map_err(|e| DecodeError::Transient(format!("storing the PCM: {e}")))?;
        let report = String::from_utf8_lossy(&stderr)
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .and_then(|l| serde_json::from_str::<PcmReport>(l).ok());
        if let Some(signal) = status.signal() {
            // The same reading of a child's death as the scan's (`signal_reason`).
            return Err(
                match signal_reason(
                    signal,
                    &stderr,
                    settings.max_cpu_secs,
                    settings.max_memory_bytes,
                ) {
                    Some(reason) => DecodeError::Undecodable(reason),
                    None => {
                        DecodeError::Transient(format!("the decoder was killed by signal {signal}"))
                    }
                },
            );
        }
        match (status.code(), report) {
            (Some(0), Some(PcmReport::Decoded(summary))) if summary.samples * 2 == copied => {
                Ok(summary)
            }
            (Some(0), _) => Err(DecodeError::Transient(
                "the decoder's answer does not match its output".into(),
            )),
            (_, Some(PcmReport::Undecodable(why))) => Err(DecodeError::Undecodable(why)),
            (_, Some(PcmReport::Unreadable(why))) => Err(DecodeError::Transient(why)),
            (Some(code), _) if code == i32::from(EXIT_SETUP) => Err(DecodeError::Transient(
                format!("the decoder could not start: {}", tail(&stderr)),
            )),
            _ => Err(DecodeError::Transient(format!(
                "the decoder exited with {status}: {}",
                tail(&stderr)
            ))),
        }
    }
}
