//! Audio analysis: one pass over an uploaded file validates it as real audio, measures it
//! honestly and draws its waveform.
//!
//! [`analyse`] is blocking: call it from `tokio::task::spawn_blocking` (or a worker thread).
//!
//! # What it does
//!
//! 1. Sniffs the first 64 KiB with [`voicebin_domain::sniff`]: anything without an audio
//!    container's magic number (images, executables, HTML, text, empty files) is
//!    [`ProbeError::NotAudio`] before symphonia ever sees it. (symphonia's probe scans up to
//!    1 MB for an MPEG frame sync, and happily finds "MPEG layer I" frames inside an ELF binary.)
//! 2. Opens the container with symphonia 0.6 and requires that it is the container the magic
//!    number announced.
//! 3. Demuxes *every* packet of the default audio track, once, streaming through the file
//!    (memory stays bounded: one packet and its decoded buffers at a time). Each packet goes to
//!    two consumers, each with its own decoder:
//!    * the **probe** validates and measures. It decodes packets when symphonia has a decoder
//!      for the codec: the first [`MAX_CONTIGUOUS_DECODE`] packets, then short bursts spread
//!      over the rest of the file. Opus has no decoder in symphonia 0.6, so its packets are
//!      checked by parsing their TOC byte (RFC 6716 §3.1) instead. If no checked packet is
//!      valid, or most are not, the file is [`ProbeError::Damaged`]. The duration is computed
//!      from the packets actually present, never from a header's claim: a file cut short
//!      reports only what it still holds (or is rejected if nothing is left). See `probe.rs`.
//!    * the **waveform** decodes *every* packet: with symphonia's own decoder (PCM, MP3,
//!      Vorbis, FLAC, AAC, ALAC, ...), or, for Opus (which symphonia 0.6 demuxes from Ogg,
//!      Matroska/WebM and MP4 but cannot decode), with the pure-Rust `opus-decoder` crate at
//!      48 kHz. It folds each decoded packet into a bounded envelope and forgets it, then
//!      resamples the envelope to `peak_count` equal-duration buckets. A peak is the largest
//!      absolute sample of the bucket over all channels, scaled so that 255 is full scale
//!      (`|x| = 1.0`, i.e. ±32767 in 16-bit PCM) and rounded. See `peaks.rs`.
//! 4. The probe's verdict is the file's. The waveform is a nicety: a file that validates but
//!    cannot be drawn is accepted all the same, and [`Analysis::peaks`] says why it has no
//!    peaks ([`PeaksError`]). A panic inside the waveform's decoders only costs the peaks.
//!
//! The two consumers never share a decoder because they need different things from one: the
//! probe decodes *without* gapless trimming, to compare each packet's whole block with what the
//! container promised, and resets its decoder before every spot-check burst; the waveform
//! decodes gaplessly, packet after packet, to get the timeline a listener hears. Sharing one
//! would change either the verdicts or the peaks.
//!
//! # Bounds
//!
//! At most [`MAX_PACKETS`] packets (all tracks) are demuxed; a file with more is rejected as
//! damaged (20 million packets is > 100 hours of 20 ms Opus packets, far beyond any voice clip).
//! The probe decodes at most [`MAX_CONTIGUOUS_DECODE`] packets from the start, then a burst of
//! [`SPOT_CHECK_BURST`] packets every [`SPOT_CHECK_INTERVAL`] packets, so its decoding work for
//! a 1 GiB file stays around a hundred thousand packets. The waveform's envelope keeps at most
//! `clamp(64 × peak_count, 65 536, 4 Mi)` one-byte buckets, so memory is independent of the
//! file's length.
//!
//! Opus is decoded in pure Rust at about 15× real time (see `peaks.rs`), so Opus clips longer
//! than [`MAX_OPUS_PEAKS_MS`] get no waveform ([`PeaksError::OpusTooLong`]) rather than minutes
//! of decoding. The duration is only known as the pass goes: the waveform stops once the
//! duration measured so far passes the cap, and the probe carries on alone. A file that
//! declares a duration past the cap is not drawn at all: believing that claim can only cost the
//! file its own waveform, and it spares decoding fifteen minutes of audio (about a minute of
//! CPU) to learn what the header already said.
//!
//! Measured in release mode for the probe alone (before the waveform shared its pass): a 1 GiB
//! WAV in ~0.3 s and an 880 MB MP3 (4 million frames) in ~0.8 s, with ~4 MB peak RSS. Drawing
//! the waveform adds the decoding of every packet and the envelope (at most 4 MiB).

mod envelope;
mod open;
mod opus;
mod pcm;
mod peaks;
mod probe;
pub mod render;

#[cfg(test)]
mod tests;

use std::path::Path;

use symphonia::core::errors::Error as SymphoniaError;

use envelope::Envelope;
pub use pcm::{decode_pcm16k, PcmSummary, PCM_RATE};
use peaks::Waveform;
use probe::Probe;

/// Facts about a file that passed validation.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProbedAudio {
    /// The container: `"wav"`, `"mp3"` (any MPEG audio elementary stream), `"ogg"`, `"flac"`,
    /// `"mp4"`, `"webm"` (Matroska or WebM), `"aiff"` or `"caf"`.
    pub container: String,
    /// The codec, named as ffprobe names it: `"pcm_s16le"`, `"mp3"`, `"vorbis"`, `"opus"`,
    /// `"flac"`, `"aac"`, `"alac"`, ...
    pub codec: String,
    /// Sample rate in Hz (Opus is always 48000).
    pub sample_rate: u32,
    /// Number of channels.
    pub channels: u16,
    /// Duration in milliseconds of the audio really present (see `probe.rs`).
    pub duration_ms: u64,
}

/// Why a file is not accepted as audio.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Not an audio container we accept (wrong magic number, unsupported container or codec).
    #[error("not a recognised audio container: {0}")]
    NotAudio(String),
    /// The container is recognised but its contents are broken, truncated or implausible.
    #[error("audio stream is damaged: {0}")]
    Damaged(String),
    /// The container holds no audio track.
    #[error("no audio track")]
    NoAudioTrack,
    /// The file could not be read.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// Why a file that passed validation has no waveform.
#[derive(Debug, thiserror::Error)]
pub enum PeaksError {
    /// The audio is in a codec, or a setup of one, that cannot be decoded here.
    #[error("the audio cannot be decoded for a waveform: {0}")]
    Unsupported(String),
    /// The audio could not be decoded: no packet, or most packets, failed.
    #[error("audio could not be decoded: {0}")]
    Decode(String),
    /// An Opus clip longer than [`MAX_OPUS_PEAKS_MS`].
    #[error("Opus clips longer than {} minutes get no waveform", MAX_OPUS_PEAKS_MS / 60_000)]
    OpusTooLong,
}

/// What one pass over a file found.
#[derive(Debug)]
pub struct Analysis {
    /// The file's facts.
    pub facts: ProbedAudio,
    /// `peak_count` peak levels (0..=255), or why the waveform could not be drawn.
    pub peaks: Result<Vec<u8>, PeaksError>,
}

/// Maximum number of packets (of all tracks) demuxed before a file is rejected.
pub const MAX_PACKETS: u64 = 20_000_000;
/// Number of packets the probe decodes from the start of the audio track.
pub const MAX_CONTIGUOUS_DECODE: u64 = 20_000;
/// After the first [`MAX_CONTIGUOUS_DECODE`] packets, the probe decodes a burst every this many
/// packets.
pub const SPOT_CHECK_INTERVAL: u64 = 2_000;
/// Number of consecutive packets decoded in each spot-check burst.
pub const SPOT_CHECK_BURST: u64 = 8;
/// Opus clips longer than this get no waveform: decoding Opus in pure Rust runs at about 15×
/// real time.
pub const MAX_OPUS_PEAKS_MS: u64 = 15 * 60 * 1000;

/// The bounds of one pass (tests shrink them).
#[derive(Debug, Clone, Copy)]
struct Limits {
    max_packets: u64,
    contiguous_decode: u64,
    spot_interval: u64,
    spot_burst: u64,
    max_opus_peaks_ms: u64,
}

const DEFAULT_LIMITS: Limits = Limits {
    max_packets: MAX_PACKETS,
    contiguous_decode: MAX_CONTIGUOUS_DECODE,
    spot_interval: SPOT_CHECK_INTERVAL,
    spot_burst: SPOT_CHECK_BURST,
    max_opus_peaks_ms: MAX_OPUS_PEAKS_MS,
};

/// Validates and measures `path` and draws `peak_count` waveform peaks (none for 0), in one
/// pass. Blocking; see the module docs.
pub fn analyse(path: &Path, peak_count: usize) -> Result<Analysis, ProbeError> {
    analyse_with(path, DEFAULT_LIMITS, peak_count)
}

fn analyse_with(path: &Path, limits: Limits, peak_count: usize) -> Result<Analysis, ProbeError> {
    let (facts, envelope) = one_pass(path, limits, peak_count)?;
    Ok(Analysis {
        facts,
        peaks: envelope.map(|envelope| envelope.peaks(peak_count)),
    })
}

/// The pass itself: the facts, and the waveform's envelope before resampling.
fn one_pass(
    path: &Path,
    limits: Limits,
    peak_count: usize,
) -> Result<(ProbedAudio, Result<Envelope, PeaksError>), ProbeError> {
    open::open_audio(path, |mut reader, container| {
        let mut probe = Probe::start(reader.as_ref(), limits)?;
        let mut waveform = Waveform::start(reader.as_ref(), peak_count);
        if waveform.is_drawing()
            && probe.is_opus()
            && probe
                .declared_ms(reader.as_ref())
                .is_some_and(|ms| ms > limits.max_opus_peaks_ms)
        {
            waveform.give_up(PeaksError::OpusTooLong);
        }
        let mut demuxed: u64 = 0;
        loop {
            let packet = match reader.next_packet() {
                Ok(Some(packet)) => packet,
                Ok(None) => break,
                Err(SymphoniaError::ResetRequired) => {
                    // A chained Ogg stream (e.g. `cat a.ogg b.ogg`) starts a new logical
                    // stream. Players play every link, so every link counts, and the waveform
                    // runs on through it. A link the probe cannot use ends the pass.
                    if !probe.next_link(reader.as_ref()) {
                        break;
                    }
                    waveform.next_link(reader.as_ref());
                    continue;
                }
                Err(SymphoniaError::IoError(e))
                    if e.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    // The file ends inside an element or packet: it was cut short, or it is a
                    // "live" WebM (MediaRecorder) whose unknown-size cluster simply runs to the
                    // end of the file. Either way, keep the packets that were complete.
                    probe.stop_early("the file ends inside an element or packet");
                    break;
                }
                Err(SymphoniaError::IoError(e)) => return Err(ProbeError::Io(e)),
                Err(e) => {
                    return Err(ProbeError::Damaged(format!(
                        "demuxing failed after {} audio packets: {e}",
                        probe.packets()
                    )))
                }
            };

            // Metadata revisions can queue up while demuxing (e.g. Ogg/Matroska tags): drop
            // them to keep memory bounded.
            while !reader.metadata().is_latest() {
                reader.metadata().pop();
            }

            demuxed += 1;
            if demuxed > limits.max_packets {
                return Err(ProbeError::Damaged(format!(
                    "more than {} packets; refusing to scan further",
                    limits.max_packets
                )));
            }
            if packet.track_id != probe.track_id() {
                continue;
            }
            probe.packet(&packet);
            if waveform.is_drawing()
                && probe.is_opus()
                && probe.duration_so_far_ms() > limits.max_opus_peaks_ms
            {
                waveform.give_up(PeaksError::OpusTooLong);
            }
            waveform.packet(&packet);
        }
        let facts = probe.finish(reader.as_ref(), container)?;
        Ok((facts, waveform.finish()))
    })
}
