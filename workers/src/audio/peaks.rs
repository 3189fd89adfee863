//! Waveform peaks computed from the decoded audio of a whole file.
//!
//! [`compute_peaks`] is blocking: call it from `tokio::task::spawn_blocking` (or a worker thread).
//!
//! # What it does
//!
//! 1. Sniffs the first 64 KiB exactly as [`crate::audio::probe`] does: anything without an audio
//!    container's magic number is [`PeaksError::NotAudio`] before symphonia sees it, and the
//!    container symphonia opens must be the one the magic number announced.
//! 2. Demuxes the default audio track with symphonia 0.6 and decodes *every* packet: with
//!    symphonia's own decoder (PCM, MP3, Vorbis, FLAC, AAC, ALAC, ...), or, for Opus (which
//!    symphonia 0.6 demuxes from Ogg, Matroska/WebM and MP4 but cannot decode), with the
//!    pure-Rust `opus-decoder` crate at 48 kHz: mono, stereo and multistream (surround, mapping
//!    families 1 and 255), whose packets are split into streams and frames here.
//! 3. Folds each decoded packet into a bounded envelope and forgets it: only one
//!    packet of samples is held at a time, whatever the file's length.
//! 4. Resamples the envelope to `count` equal-duration buckets. A peak is the largest absolute
//!    sample of the bucket over all channels, scaled so that 255 is full scale (`|x| = 1.0`,
//!    i.e. ±32767 in 16-bit PCM) and rounded.
//!
//! # Timeline
//!
//! The timeline is the decoded audio, with encoder delay and padding removed where the file says
//! how much there is:
//!
//! * MP3 and Vorbis: symphonia's decoders trim them (gapless mode).
//! * Opus, in every container: the `OpusHead` pre-skip is dropped from the start (symphonia 0.6
//!   reports it as the Ogg track's delay, but no demuxer trims it), and Ogg's end padding (the
//!   demuxer's end trim, from the last granule position) from the end. Matroska's
//!   `DiscardPadding` is not exposed by symphonia 0.6, so a WebM keeps its last packet's padding
//!   (≤ 120 ms, typically < 20 ms); the `OpusHead` output gain is applied.
//! * AAC in MP4 keeps its encoder priming (1024 or 2112 frames) at the start: symphonia 0.6
//!   ignores MP4 edit lists.
//!
//! A packet that fails to decode is skipped (the audio after it moves up by its duration, as in
//! [`crate::audio::probe`]'s duration); if more than half of the packets fail, the file is
//! [`PeaksError::Decode`]. A chained Ogg stream (`cat a.ogg b.ogg`) is one timeline, link after
//! link (counted in frames: links at different sample rates are not rescaled).
//!
//! # Build
//!
//! Every decoder is Rust (`opus-decoder` is `#![forbid(unsafe_code)]`, with no FFI): building
//! needs no C library, `pkg-config` or CMake.
//!
//! `opus-decoder` 0.1.1 is slow: its CELT inverse MDCT computes a naive O(N²) DFT (with a
//! `sin_cos` per term). Optimised, a second of Opus takes about 65 ms to decode (libopus: under
//! 2 ms); in an unoptimised (debug) build, 0.13 to 0.25 s.
//!
//! # Bounds
//!
//! The envelope keeps at most `clamp(64 × count, 65 536, 4 Mi)` one-byte buckets and merges
//! neighbouring pairs when full, so memory is independent of the file's length; each output
//! peak is exact except that a peak may leak into the neighbouring output bucket by less than one
//! fine bucket (under 1/32 of an output bucket for `count` ≤ 65 536). At most
//! [`crate::audio::probe::MAX_PACKETS`] packets are demuxed.

use std::io::ErrorKind;
use std::path::Path;

use opus_decoder::OpusDecoder;
use symphonia::core::codecs::audio::well_known::CODEC_ID_OPUS;
use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions, CODEC_ID_NULL_AUDIO};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatReader, TrackType};
use symphonia::core::packet::Packet;

use super::envelope::Envelope;
use super::open::open_audio;
use super::opus::{OpusHead, OpusPacket, MAX_FRAME_BYTES, MAX_PACKET_SAMPLES};
use super::probe::{ProbeError, MAX_PACKETS};

/// Why peaks could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum PeaksError {
    /// Not an audio container we accept, or a codec we cannot decode.
    #[error("not a recognised audio file: {0}")]
    NotAudio(String),
    /// The container is recognised but its audio could not be demuxed or decoded.
    #[error("audio could not be decoded: {0}")]
    Decode(String),
    /// The file could not be read.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// Longest Opus packet: 120 ms at 48 kHz.
const OPUS_MAX_FRAMES: usize = MAX_PACKET_SAMPLES;

/// `count` peak levels (0..=255, the max absolute sample of each equal-duration bucket across channels, scaled to 255 = full scale), computed by decoding the whole file; blocking.
///
/// `count == 0` returns an empty vector without reading the file. See the module docs.
pub fn compute_peaks(path: &Path, count: usize) -> Result<Vec<u8>, PeaksError> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let envelope = open_audio(path, |reader, _| Ok(decode_envelope(reader, count)))??;
    Ok(envelope.peaks(count))
}

impl From<ProbeError> for PeaksError {
    fn from(e: ProbeError) -> Self {
        match e {
            ProbeError::NotAudio(why) => PeaksError::NotAudio(why),
            ProbeError::NoAudioTrack => PeaksError::NotAudio("the file has no audio track".into()),
            ProbeError::Damaged(why) => PeaksError::Decode(why),
            ProbeError::Io(e) => PeaksError::Io(e),
        }
    }
}

/// Demux and decode the whole default audio track into an [`Envelope`].
fn decode_envelope(
    mut reader: Box<dyn FormatReader>,
    count: usize,
) -> Result<Envelope, PeaksError> {
    let mut track = TrackDecoder::open(reader.as_ref())?;
    let mut envelope = Envelope::new(count);
    let mut decoded: u64 = 0;
    let mut failed: u64 = 0;
    let mut demuxed: u64 = 0;

    loop {
        let packet = match reader.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(SymphoniaError::ResetRequired) => {
                // A chained Ogg stream: the next link continues the timeline. An unusable link
                // ends it (as in the probe, which measures only the links before it).
                match TrackDecoder::open(reader.as_ref()) {
                    Ok(next) => track = next,
                    Err(e) => {
                        tracing::debug!("peaks stop at an unusable chained stream: {e}");
                        break;
                    }
                }
                continue;
            }
            // A file cut short, or a "live" WebM whose unknown-size cluster runs to the end of
            // the file: keep what was complete.
            Err(SymphoniaError::IoError(e)) if e.kind() == ErrorKind::UnexpectedEof => break,
            Err(SymphoniaError::IoError(e)) => return Err(PeaksError::Io(e)),
            Err(e) => {
                return Err(PeaksError::Decode(format!(
                    "demuxing failed after {demuxed} packets: {e}"
                )))
            }
        };
        // Metadata revisions can queue up while demuxing: drop them to keep memory bounded.
        while !reader.metadata().is_latest() {
            reader.metadata().pop();
        }
        demuxed += 1;
        if demuxed > MAX_PACKETS {
            return Err(PeaksError::Decode(format!(
                "more than {MAX_PACKETS} packets; refusing to decode further"
            )));
        }
        if packet.track_id != track.track_id {
            continue;
        }
        match track.decode(&packet, &mut envelope) {
            Ok(()) => decoded += 1,
            Err(why) => {
                failed += 1;
                tracing::trace!(%why, "skipping a packet that does not decode");
            }
        }
    }

    verdict(decoded, failed, &track.codec)?;
    if envelope.frames() == 0 {
        return Err(PeaksError::Decode(format!(
            "no {} audio could be decoded",
            track.codec
        )));
    }
    Ok(envelope)
}

/// Fail if no packet, or most packets, failed to decode.
fn verdict(decoded: u64, failed: u64, codec: &str) -> Result<(), PeaksError> {
    let total = decoded + failed;
    if total == 0 {
        return Err(PeaksError::Decode("the audio track has no packets".into()));
    }
    if decoded == 0 || failed * 2 > total {
        return Err(PeaksError::Decode(format!(
            "{failed} of {total} {codec} packets failed to decode"
        )));
    }
    Ok(())
}

/// The audio track being decoded (one per link of a chained Ogg stream).
struct TrackDecoder {
    track_id: u32,
    /// The codec's short name, for error messages.
    codec: String,
    inner: Inner,
}

enum Inner {
    Symphonia {
        decoder: Box<dyn AudioDecoder>,
        /// One packet's samples, interleaved.
        scratch: Vec<f32>,
    },
    Opus(OpusTrack),
}

impl TrackDecoder {
    fn open(reader: &dyn FormatReader) -> Result<TrackDecoder, PeaksError> {
        let track = reader
            .default_track(TrackType::Audio)
            .ok_or_else(|| PeaksError::NotAudio("the file has no audio track".into()))?;
        let params = track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .ok_or_else(|| PeaksError::NotAudio("the file has no audio track".into()))?;
        if params.codec == CODEC_ID_NULL_AUDIO {
            return Err(PeaksError::NotAudio(
                "the audio track's codec is not supported".into(),
            ));
        }

        if params.codec == CODEC_ID_OPUS {
            let head = match params.extra_data.as_deref() {
                Some(data) => OpusHead::parse(data).ok_or_else(|| {
                    PeaksError::Decode("the Opus identification header is invalid".into())
                })?,
                // No identification header (not valid, but decodable): assume one stream with
                // the container's channel count and no pre-skip.
                None => {
                    let channels = params.channels.as_ref().map_or(1, |c| c.count());
                    OpusHead::single_stream(channels).ok_or_else(|| {
                        PeaksError::Decode(format!(
                            "Opus track with {channels} channels and no identification header"
                        ))
                    })?
                }
            };
            // symphonia 0.6 reports the pre-skip as the track's delay (Ogg) or not at all
            // (Matroska/WebM, MP4), but no demuxer trims it from the first packets: the decoder
            // must. The header's value is the authority; the track's delay is a fallback.
            let pre_skip = if params.extra_data.is_some() {
                head.pre_skip
            } else {
                track.delay.and_then(|d| u16::try_from(d).ok()).unwrap_or(0)
            };
            return Ok(TrackDecoder {
                track_id: track.id,
                codec: "opus".into(),
                inner: Inner::Opus(OpusTrack::new(&head, pre_skip)?),
            });
        }

        let registry = symphonia::default::get_codecs();
        if registry.get_audio_decoder(params.codec).is_none() {
            return Err(PeaksError::NotAudio(format!(
                "no decoder for the audio codec ({})",
                params.codec
            )));
        }
        let decoder = registry
            .make_audio_decoder(params, &AudioDecoderOptions::default().gapless(true))
            .map_err(|e| PeaksError::Decode(format!("cannot set up the decoder: {e}")))?;
        Ok(TrackDecoder {
            track_id: track.id,
            codec: decoder.codec_info().short_name.to_string(),
            inner: Inner::Symphonia {
                decoder,
                scratch: Vec::new(),
            },
        })
    }

    /// Decode one packet into `envelope`; `Err` (with the reason) if it does not decode.
    fn decode(&mut self, packet: &Packet, envelope: &mut Envelope) -> Result<(), String> {
        match &mut self.inner {
            Inner::Symphonia { decoder, scratch } => match decoder.decode(packet) {
                Ok(buf) => {
                    let channels = buf.num_planes();
                    buf.copy_to_vec_interleaved::<f32>(scratch);
                    envelope.push_interleaved(scratch, channels);
                    Ok(())
                }
                Err(SymphoniaError::ResetRequired) => {
                    decoder.reset();
                    Err("the decoder needed a reset".into())
                }
                Err(e) => Err(e.to_string()),
            },
            Inner::Opus(opus) => opus.decode(packet, envelope),
        }
    }
}

/// An Opus track decoded at 48 kHz by the pure-Rust `opus-decoder` crate.
///
/// Multistream packets (RFC 7845 mapping families 1 and 255) are split here, following RFC 6716
/// Appendix B, and each elementary stream goes to its own [`OpusDecoder`]: opus-decoder 0.1's
/// `OpusMultistreamDecoder` reads a length prefix *before* each self-delimited sub-packet
/// rather than the size field after its TOC, so it rejects every packet libopus encodes.
/// Packets are decoded one frame at a time (each frame repacked as a one-frame packet):
/// opus-decoder 0.1 refuses packets over 1500 bytes, which long high-bitrate packets exceed
/// while each of their frames stays under the 1275-byte frame limit.
struct OpusTrack {
    /// One decoder per elementary stream: the first `coupled` are stereo, the others mono.
    streams: Vec<OpusStream>,
    coupled: usize,
    /// Output channel → decoded channel (the coupled streams' pairs, then the mono streams);
    /// 255 is a silent channel.
    mapping: Vec<u8>,
    /// The `OpusHead` output gain, as a factor.
    gain: f32,
    /// One packet's samples, interleaved (room for the longest packet).
    out: Vec<f32>,
    /// The frame being decoded, repacked as a one-frame packet.
    frame: Vec<u8>,
    /// Pre-skip frames still to drop from the start.
    skip: usize,
}

/// One elementary stream of an Opus track.
struct OpusStream {
    decoder: OpusDecoder,
    channels: usize,
    /// This stream's samples of the packet, interleaved (room for the longest packet).
    pcm: Vec<f32>,
}

impl OpusTrack {
    fn new(head: &OpusHead, pre_skip: u16) -> Result<OpusTrack, PeaksError> {
        let setup =
            |why: String| PeaksError::Decode(format!("cannot set up the Opus decoder: {why}"));
        let channels = head.mapping.len();
        let (streams, coupled) = (usize::from(head.streams), usize::from(head.coupled));
        // As libopus checks: every output channel maps to a decoded channel or to silence.
        let decoded = streams + coupled;
        if channels == 0 || streams == 0 || coupled > streams || decoded > 255 {
            return Err(setup(format!(
                "{channels} channels in {streams} streams ({coupled} coupled)"
            )));
        }
        if let Some(slot) = head
            .mapping
            .iter()
            .find(|&&slot| slot != 255 && usize::from(slot) >= decoded)
        {
            return Err(setup(format!(
                "the channel mapping refers to channel {slot} of {decoded}"
            )));
        }
        let streams = (0..streams)
            .map(|i| {
                let channels = if i < coupled { 2 } else { 1 };
                Ok(OpusStream {
                    decoder: OpusDecoder::new(48_000, channels)
                        .map_err(|e| setup(e.to_string()))?,
                    channels,
                    pcm: vec![0.0; OPUS_MAX_FRAMES * channels],
                })
            })
            .collect::<Result<Vec<_>, PeaksError>>()?;
        Ok(OpusTrack {
            streams,
            coupled,
            mapping: head.mapping.clone(),
            // Q7.8 dB: 10^(gain / (20 × 256)), as libopus applies it.
            gain: 10f32.powf(f32::from(head.output_gain) / 5120.0),
            out: vec![0.0; OPUS_MAX_FRAMES * channels],
            frame: Vec::with_capacity(MAX_FRAME_BYTES + 1),
            skip: usize::from(pre_skip),
        })
    }

    fn decode(&mut self, packet: &Packet, envelope: &mut Envelope) -> Result<(), String> {
        if packet.data.is_empty() {
            // A zero-length packet means "no data" (a gap); there is nothing to decode.
            return Ok(());
        }
        let frames = self.decode_streams(&packet.data)?;
        let channels = self.mapping.len();
        for (c, &slot) in self.mapping.iter().enumerate() {
            let dst = self.out[..frames * channels]
                .iter_mut()
                .skip(c)
                .step_by(channels);
            if slot == 255 {
                dst.for_each(|s| *s = 0.0);
                continue;
            }
            let slot = usize::from(slot);
            let (index, channel) = if slot < 2 * self.coupled {
                (slot / 2, slot % 2)
            } else {
                (slot - self.coupled, 0)
            };
            let stream = &self.streams[index];
            let src = stream.pcm[..frames * stream.channels]
                .iter()
                .skip(channel)
                .step_by(stream.channels);
            for (d, s) in dst.zip(src) {
                *d = s * self.gain;
            }
        }
        // The demuxer's trims, in 48 kHz frames: Ogg's end trim (padding) from the last granule
        // position. A start trim, should a demuxer ever apply the pre-skip itself, counts
        // towards the pre-skip rather than adding to it.
        let trim_start = usize::try_from(packet.trim_start.get()).unwrap_or(usize::MAX);
        let trim_end = usize::try_from(packet.trim_end.get()).unwrap_or(usize::MAX);
        self.skip = self.skip.saturating_sub(trim_start);
        let mut start = trim_start.min(frames);
        let end = frames - trim_end.min(frames - start);
        let skipped = self.skip.min(end - start);
        self.skip -= skipped;
        start += skipped;
        envelope.push_interleaved(&self.out[start * channels..end * channels], channels);
        Ok(())
    }

    /// Decode every elementary stream of `data` into its `pcm`; the frames each one holds.
    fn decode_streams(&mut self, data: &[u8]) -> Result<usize, String> {
        let mut rest = data;
        let mut frames = None;
        let last = self.streams.len() - 1;
        for (i, stream) in self.streams.iter_mut().enumerate() {
            // Every stream but the last is self-delimited (RFC 6716 Appendix B).
            let parsed =
                OpusPacket::parse(rest, i < last).map_err(|why| format!("stream {i}: {why}"))?;
            let mut done = 0;
            for range in &parsed.frames {
                self.frame.clear();
                self.frame.push(parsed.toc & !3); // code 0: one frame
                self.frame.extend_from_slice(&rest[range.clone()]);
                done += stream
                    .decoder
                    .decode_float(
                        &self.frame,
                        &mut stream.pcm[done * stream.channels..],
                        false,
                    )
                    .map_err(|e| format!("stream {i}: {e}"))?;
            }
            if *frames.get_or_insert(done) != done {
                return Err("the streams of a packet differ in duration".into());
            }
            rest = &rest[parsed.len..];
        }
        Ok(frames.unwrap_or(0).min(OPUS_MAX_FRAMES))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::envelope::level;
    use std::io::Write;
    use std::path::PathBuf;

    use symphonia::core::units::{Duration, Timestamp};

    fn fixture(name: &str) -> PathBuf {
        Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/audio"
        ))
        .join(name)
    }

    #[derive(Debug, serde::Deserialize)]
    struct Fact {
        file: String,
        #[serde(default)]
        bad: bool,
    }

    fn facts() -> Vec<Fact> {
        let text = std::fs::read_to_string(fixture("facts.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn peaks_of(name: &str, count: usize) -> Vec<u8> {
        compute_peaks(&fixture(name), count).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// Pearson correlation of two equally long envelopes.
    fn pearson(a: &[u8], b: &[u8]) -> f64 {
        assert_eq!(a.len(), b.len());
        let n = a.len() as f64;
        let mean = |v: &[u8]| v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let (ma, mb) = (mean(a), mean(b));
        let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
        for (&x, &y) in a.iter().zip(b) {
            let (dx, dy) = (f64::from(x) - ma, f64::from(y) - mb);
            cov += dx * dy;
            va += dx * dx;
            vb += dy * dy;
        }
        cov / (va * vb).sqrt()
    }

    /// A 16-bit PCM WAV holding `frames` (interleaved, `channels` samples each).
    fn wav_bytes(sample_rate: u32, channels: u16, samples: &[i16]) -> Vec<u8> {
        let data_len = u32::try_from(samples.len() * 2).unwrap();
        let mut v = Vec::with_capacity(44 + samples.len() * 2);
        v.extend_from_slice(b"RIFF");
        v.extend_from_slice(&(36 + data_len).to_le_bytes());
        v.extend_from_slice(b"WAVEfmt ");
        v.extend_from_slice(&16u32.to_le_bytes());
        v.extend_from_slice(&1u16.to_le_bytes()); // PCM
        v.extend_from_slice(&channels.to_le_bytes());
        v.extend_from_slice(&sample_rate.to_le_bytes());
        v.extend_from_slice(&(sample_rate * u32::from(channels) * 2).to_le_bytes());
        v.extend_from_slice(&(channels * 2).to_le_bytes());
        v.extend_from_slice(&16u16.to_le_bytes());
        v.extend_from_slice(b"data");
        v.extend_from_slice(&data_len.to_le_bytes());
        for s in samples {
            v.extend_from_slice(&s.to_le_bytes());
        }
        v
    }

    fn temp_file(bytes: &[u8], suffix: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::Builder::new().suffix(suffix).tempfile().unwrap();
        f.write_all(bytes).unwrap();
        f.flush().unwrap();
        f
    }

    fn wav_peaks(sample_rate: u32, channels: u16, samples: &[i16], count: usize) -> Vec<u8> {
        let f = temp_file(&wav_bytes(sample_rate, channels, samples), ".wav");
        compute_peaks(f.path(), count).unwrap()
    }

    /// Lossless containers of hello.wav decode to the same samples.
    const LOSSLESS: [&str; 4] = ["hello.flac", "hello-alac.m4a", "hello.aiff", "hello.caf"];
    /// Lossy encodings of hello.wav with sample-exact delay/padding handling.
    const LOSSY: [&str; 6] = [
        "hello.mp3",
        "unicode-tags.mp3",
        "hello.ogg",
        "hello.opus",
        "hello.webm",
        "hello-live.webm",
    ];
    /// Every same-sentence envelope correlates with hello.wav's at least this much at count=64.
    /// Measured: lossless 1.000, MP3 1.000, Vorbis 0.999, Ogg Opus 0.996, WebM Opus 0.987,
    /// MP4 AAC 0.867 (its 1024-frame encoder priming is not trimmed: symphonia 0.6 ignores MP4
    /// edit lists, so the envelope is 46 ms late). hello.wav against itself shifted by one bucket
    /// (56 ms) gives 0.617, by two 0.197, reversed −0.448: 0.8 separates "same timeline" from
    /// "off by a bucket".
    const MIN_CORRELATION: f64 = 0.8;
    /// Lossy codecs whose delay and padding are trimmed stay much closer.
    const MIN_CORRELATION_TRIMMED: f64 = 0.95;

    #[test]
    fn every_good_fixture_gives_count_loud_peaks() {
        let mut seen = 0;
        for fact in facts().iter().filter(|f| !f.bad) {
            for count in [1, 7, 64, 1000] {
                let start = std::time::Instant::now();
                let peaks = peaks_of(&fact.file, count);
                if count == 64 {
                    eprintln!("{}: {:?} {peaks:?}", fact.file, start.elapsed());
                }
                assert_eq!(peaks.len(), count, "{}", fact.file);
                let max = peaks.iter().copied().max().unwrap();
                assert!(max >= 64, "{} at {count}: max {max}", fact.file);
                if count >= 7 {
                    // Speech has pauses: the envelope is not flat.
                    let min = peaks.iter().copied().min().unwrap();
                    assert!(max - min >= 64, "{} at {count}: {peaks:?}", fact.file);
                }
            }
            seen += 1;
        }
        assert_eq!(seen, 13);
    }

    #[test]
    fn same_sentence_envelopes_correlate_across_containers() {
        let wav = peaks_of("hello.wav", 64);
        for name in LOSSLESS {
            assert_eq!(peaks_of(name, 64), wav, "{name}");
        }
        for name in LOSSY {
            let r = pearson(&wav, &peaks_of(name, 64));
            eprintln!("hello.wav vs {name}: r = {r:.3}");
            assert!(r >= MIN_CORRELATION_TRIMMED, "{name}: r = {r:.3}");
        }
        let r = pearson(&wav, &peaks_of("hello.m4a", 64));
        eprintln!("hello.wav vs hello.m4a: r = {r:.3}");
        assert!(r >= MIN_CORRELATION, "hello.m4a: r = {r:.3}");

        // The thresholds mean something: a one-bucket misalignment, or another recording, fails.
        let shifted = pearson(&wav[1..], &wav[..63]);
        assert!(shifted < MIN_CORRELATION, "shifted: r = {shifted:.3}");
        let other = pearson(&wav, &peaks_of("hello-stereo-44k.wav", 64));
        assert!(other < MIN_CORRELATION, "another recording: r = {other:.3}");
    }

    /// The fine envelope of a fixture (one frame per bucket for files under 4 Mi frames).
    fn fine_envelope(name: &str) -> Envelope {
        let env = open_audio(&fixture(name), |reader, _| {
            Ok(decode_envelope(reader, 1 << 16))
        })
        .unwrap()
        .unwrap();
        assert_eq!(env.frames_per_bucket, 1, "{name}");
        env
    }

    #[test]
    fn opus_is_trimmed_to_the_source_timeline() {
        // hello.wav holds 78 666 frames at 22.05 kHz: 171 246.5 at 48 kHz. Ogg Opus, with the
        // pre-skip (312) and end padding (282) trimmed, is exactly that long.
        let ogg = fine_envelope("hello.opus");
        assert_eq!(ogg.frames(), 171_246);
        // The WebMs hold the same packets: the same samples once the pre-skip is dropped, plus
        // the end padding (symphonia 0.6 does not expose Matroska's DiscardPadding).
        for name in ["hello.webm", "hello-live.webm"] {
            let webm = fine_envelope(name);
            assert_eq!(webm.frames(), ogg.frames() + 282, "{name}");
            assert!(
                webm.buckets[..ogg.buckets.len()] == ogg.buckets[..],
                "{name}"
            );
        }
        // 1 ms buckets: the decoded Opus lines up with the WAV it was encoded from; keeping the
        // 6.5 ms pre-skip would cost most of the correlation.
        let n = 3568;
        let wav = peaks_of("hello.wav", n);
        let opus = peaks_of("hello.opus", n);
        let r = pearson(&wav, &opus);
        let late = pearson(&wav[..n - 6], &opus[6..]);
        eprintln!("hello.opus at 1 ms: r = {r:.3}, r(6 ms late) = {late:.3}");
        assert!(r >= 0.95, "r = {r:.3}");
        assert!(late < 0.5, "r(6 ms late) = {late:.3}");
    }

    #[test]
    fn silence_is_all_zeros() {
        let samples = vec![0i16; 16_000];
        assert_eq!(wav_peaks(16_000, 1, &samples, 64), vec![0; 64]);
        assert_eq!(wav_peaks(16_000, 1, &samples, 1000), vec![0; 1000]);
    }

    #[test]
    fn full_scale_square_wave_is_255_everywhere() {
        let square: Vec<i16> = (0..16_000)
            .map(|i| {
                if (i / 20) % 2 == 0 {
                    i16::MAX
                } else {
                    -i16::MAX
                }
            })
            .collect();
        assert_eq!(wav_peaks(16_000, 1, &square, 64), vec![255; 64]);
        // Half scale is half way: 16384 / 32768 × 255 = 127.5, rounded.
        let half: Vec<i16> = square.iter().map(|s| s / 2 + s.signum()).collect();
        assert_eq!(wav_peaks(16_000, 1, &half, 50), vec![128; 50]);
    }

    #[test]
    fn peaks_are_the_max_over_channels_at_the_right_place() {
        // Stereo, 2 s at 8 kHz: silence, then a full-scale click on the right channel only in the
        // second half, at 1.5 s.
        let rate = 8_000usize;
        let mut samples = vec![0i16; 2 * 2 * rate];
        samples[2 * (rate * 3 / 2) + 1] = i16::MIN;
        let peaks = wav_peaks(8_000, 2, &samples, 4);
        assert_eq!(peaks, vec![0, 0, 0, 255]);
        // A quiet second half (−6 dB tone), a loud first half.
        let tone: Vec<i16> = (0..2 * rate)
            .map(|i| {
                let amp = if i < rate { 32_000.0 } else { 16_000.0 };
                ((i as f64 * 0.3).sin() * amp) as i16
            })
            .collect();
        let peaks = wav_peaks(8_000, 1, &tone, 2);
        assert!(
            peaks[0].abs_diff(249) <= 1 && peaks[1].abs_diff(125) <= 1,
            "{peaks:?}"
        );
    }

    #[test]
    fn more_peaks_than_frames() {
        let samples: Vec<i16> = (0..10).map(|i| i * 3000).collect();
        let peaks = wav_peaks(8_000, 1, &samples, 25);
        assert_eq!(peaks.len(), 25);
        // Each peak is one frame's level, in order.
        let expected: Vec<u8> = (0..25)
            .map(|i| level(f32::from(samples[i * 10 / 25]) / 32768.0))
            .collect();
        assert_eq!(peaks, expected);
    }

    #[test]
    fn count_zero_is_empty() {
        assert_eq!(peaks_of("hello.wav", 0), Vec::<u8>::new());
        assert_eq!(peaks_of("hello.opus", 0), Vec::<u8>::new());
        // Without reading the file at all.
        let nothing = compute_peaks(Path::new("/nonexistent/voicebin/clip.wav"), 0).unwrap();
        assert!(nothing.is_empty());
    }

    #[test]
    fn bad_fixtures_are_errors() {
        let mut seen = 0;
        for fact in facts().iter().filter(|f| f.bad) {
            match compute_peaks(&fixture(&fact.file), 64) {
                Ok(p) => panic!("{}: peaks {p:?}", fact.file),
                Err(PeaksError::Io(e)) => panic!("{}: i/o error {e}", fact.file),
                Err(e) => eprintln!("{}: {e}", fact.file),
            }
            seen += 1;
        }
        assert_eq!(seen, 5);
        for name in [
            "not-audio.mp3",
            "elf-binary.mp3",
            "html-disguised.mp3",
            "empty.wav",
        ] {
            let err = compute_peaks(&fixture(name), 64).unwrap_err();
            assert!(matches!(err, PeaksError::NotAudio(_)), "{name}: {err}");
        }
        let err = compute_peaks(&fixture("truncated.mp3"), 64).unwrap_err();
        assert!(matches!(err, PeaksError::Decode(_)), "truncated.mp3: {err}");
        let err = compute_peaks(Path::new("/nonexistent/voicebin/clip.wav"), 64).unwrap_err();
        assert!(matches!(err, PeaksError::Io(_)), "{err}");
    }

    #[test]
    fn chained_ogg_opus_is_one_timeline() {
        let one = std::fs::read(fixture("hello.opus")).unwrap();
        let f = temp_file(&[one.as_slice(), one.as_slice()].concat(), ".opus");
        let twice = compute_peaks(f.path(), 128).unwrap();
        let once = peaks_of("hello.opus", 64);
        assert!(pearson(&twice[..64], &once) >= MIN_CORRELATION_TRIMMED);
        assert!(pearson(&twice[64..], &once) >= MIN_CORRELATION_TRIMMED);
    }

    #[test]
    fn webm_opus_output_gain_is_applied() {
        // Patch the OpusHead output gain (Q7.8 dB, little-endian) in the WebM's CodecPrivate to
        // −6.02 dB: every peak halves.
        let mut bytes = std::fs::read(fixture("hello.webm")).unwrap();
        let at = bytes.windows(8).position(|w| w == b"OpusHead").unwrap();
        bytes[at + 16..at + 18].copy_from_slice(&(-1541i16).to_le_bytes());
        let f = temp_file(&bytes, ".webm");
        let quiet = compute_peaks(f.path(), 64).unwrap();
        let loud = peaks_of("hello.webm", 64);
        for (q, l) in quiet.iter().zip(&loud) {
            assert!(q.abs_diff(l / 2) <= 2, "{quiet:?} vs {loud:?}");
        }
    }

    /// hello.webm with the Opus payload of `keep(i)`-false blocks made invalid (TOC "code 3"
    /// with zero frames, which no Opus decoder accepts), the container left intact.
    fn garbled_webm(keep: impl Fn(usize) -> bool) -> (tempfile::NamedTempFile, usize, usize) {
        let mut bytes = std::fs::read(fixture("hello.webm")).unwrap();
        let (mut blocks, mut garbled) = (0, 0);
        let mut i = 0;
        // SimpleBlock (0xA3), size as a 1-byte vint, track 0x81, 2-byte timecode, flags.
        while i + 8 < bytes.len() {
            if bytes[i] == 0xA3 && bytes[i + 1] & 0x80 != 0 && bytes[i + 2] == 0x81 {
                let len = usize::from(bytes[i + 1] & 0x7F);
                if len > 5 && i + 2 + len <= bytes.len() {
                    if !keep(blocks) {
                        bytes[i + 6] = 0xFF; // TOC: config 31, code 3
                        bytes[i + 7] = 0x00; // frame count 0: invalid
                        garbled += 1;
                    }
                    blocks += 1;
                    i += 2 + len;
                    continue;
                }
            }
            i += 1;
        }
        (temp_file(&bytes, ".webm"), blocks, garbled)
    }

    #[test]
    fn undecodable_packets_are_skipped_unless_most_fail() {
        // One block in three broken: skipped, and the envelope still follows the sentence.
        let (f, blocks, garbled) = garbled_webm(|i| i % 3 != 1);
        assert!(blocks > 150 && garbled > 50, "{garbled} of {blocks}");
        let peaks = compute_peaks(f.path(), 64).unwrap();
        let r = pearson(&peaks, &peaks_of("hello.webm", 64));
        assert!(r >= MIN_CORRELATION, "r = {r:.3}");
        // Two in three broken: an error, though a third decodes.
        let (f, _, _) = garbled_webm(|i| i % 3 == 1);
        let err = compute_peaks(f.path(), 64).unwrap_err();
        assert!(matches!(err, PeaksError::Decode(_)), "{err}");
    }

    #[test]
    fn failure_verdict() {
        assert!(verdict(0, 0, "x").is_err());
        assert!(verdict(0, 1, "x").is_err());
        assert!(verdict(10, 11, "x").is_err());
        assert!(verdict(10, 10, "x").is_ok());
        assert!(verdict(1, 0, "x").is_ok());
    }

    /// Eight packets of libopus 1.3.1's multistream encoder (48 kHz, three channels in two
    /// streams, the first coupled, mapping [0, 1, 2], `OPUS_APPLICATION_AUDIO`, 96 kb/s), in hex:
    /// silence on the first two channels and, on the third, a 440 Hz tone at half scale during the
    /// first half of every 20 ms. Packets of 20, 20, 60, 40, 10, 20, 60 and 20 ms: the coupled
    /// stream's self-delimited packets use TOC codes 0, 1 and 3.
    const LIBOPUS_MULTISTREAM: [&str; 8] = [
        "fc02fffe7882e280824417e724da227325a8ec7675984e8c4d3b127b0bb07c5e223dd5b9bdf39cd8\
         5a46e2b687277725ec95b142488a4d837b8fc4401985c39c4fed62d2728e83e0df7555575ee24ce6\
         b1fe26c0e1b6a35674d16711584d895a53fc707cbf7bcf39",
        "fc02fffe78b727afef3cfcaefa8dcfd0604bfb95ddc8802af3145912b640f8d973636c82cddd1870\
         22b47672ba6357dca3fae84d69df4372366e9eacdd3d6f3c1e9dabcf07a768f8d74f8d754b",
        "ff0302fffefffefffe7b834e4fb4def94f1801a702c2e3ee7fe2d5c7d8d43d36a31a1b8f2e98ded1\
         977c9833be2abd92320944be83cdfda50ea8c6400be6329019ec8e55dafe82a1b51a2ce2acea8ac2\
         6a00e33e4a343096aeae7db46bac3763e559d01f680d88ed78cd3ec28c2b510b5c65eb948f0fdbe5\
         16c0efa4b8a32128846c174036a4c0dc62f2ab883f2944ce547a3a4ceaa122f4ad00292937b53c69\
         c0274ca262b42bdcaabab6b3bfea32bdeccbead451d1505e1c5c7688b1a95c42a5cddc9bca278f58\
         318e30233cb9c03ab990db3d908525580bfcea0cabe866eb4e7cac14df66c94d",
        "fd02fffefffe7a50bef45c3101610353c130377b7de04ad3b290eb67e0a03758c42d5306138ea597\
         27ea583e2d0074d71c4279f927452d6e42a0de65b309772a62c84d184b4da8cd9d88fd90784d895a\
         53fc707cb19bcd4fb7276c40b3249c1106d18516adc39c87037f08899879322486f0db6c20b7b914\
         22a4db8b7879ae33f04cc6ddcf38184014a436b0fa66e9eb0cdd3d6f3c1e9dabcf07a768f8d74f8d\
         754b",
        "f402fffe70bf7dfd029c9a8fb4b6c112d5bc1fa57b708fd00816634d090f2ba7061c15bdd779e0f4\
         ed1dcafb3f",
        "fc02fffe78bf0ffab2ea5d522f7d2ace60a3d5b3af977a178d01e43ac3cc75fbafdcac4c245c5ffd\
         97dc6de842962ee6f0b60c4c24feb48338b07ee2b507f85a8a93b3385f4db750f4a793a6185ce40a\
         f5d47e73",
        "ff0302fffefffefffe7b834851b727afef3cfcaea6bb776ddc94e3b3d3a8bc1572dac60628f0628a\
         ed20cb0aa1c7e665548cf6f69a383526dff8b65a596abbc62b45e4768bc8d1f1af5d547c6bd7551e\
         0a91e0a94bb4df1136a99296d006d35c001f19c4a32092a46ca59992251c6b514a94a25ee0e16d01\
         b4e02ef38d3089bbcafd73c8bff637f64f1424112f33bde2f221ec8413f6a510b9a087b2087a29a9\
         6613f347ce7db46bac3763e559df4a3b5e99c4a3cf564ae15ac2c686ca40e94a2b1f61314940ebc3\
         bbad1e49127678b9f84f674569489222c97cbe5b4971421ce442955b1b2a004a8437b794e5977397\
         9b98ce35d384872eba",
        "fc02fffe78b72540360d379fdc6653b23ed8c0202e9601b64172c4cbf9d743d4ce2b9478d46e9f15\
         a3040241e07277198d3e4e1419306c9521b800c5408c84b784b576828140dd68024d7175e423d7dd\
         4d",
    ];
    /// The frames of each packet of [`LIBOPUS_MULTISTREAM`].
    const LIBOPUS_MULTISTREAM_FRAMES: [i64; 8] = [960, 960, 2880, 1920, 480, 960, 2880, 960];
    /// libopus's own decoding of [`LIBOPUS_MULTISTREAM`], pre-skip dropped: the level of each
    /// 20 ms of tone (frames 120..360) and of silence (frames 600..840).
    const LIBOPUS_TONE: [u8; 12] = [120, 129, 128, 128, 141, 127, 133, 132, 132, 128, 132, 130];
    const LIBOPUS_SILENCE: [u8; 12] = [10, 8, 5, 6, 7, 8, 10, 6, 11, 7, 12, 11];

    fn unhex(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn multistream_opus_decodes() {
        // What libopus's multistream encoder wrote, decoded as libopus decodes it.
        let head = OpusHead {
            pre_skip: 312,
            output_gain: 0,
            streams: 2,
            coupled: 1,
            mapping: vec![0, 1, 2],
        };
        let mut track = OpusTrack::new(&head, head.pre_skip).unwrap();
        let mut envelope = Envelope::with_capacity(1 << 20);
        let mut ts = 0;
        for (hex, frames) in LIBOPUS_MULTISTREAM.iter().zip(LIBOPUS_MULTISTREAM_FRAMES) {
            let data = unhex(hex);
            let packet = Packet::new(0, Timestamp::new(ts), Duration::new(frames as u64), data);
            track.decode(&packet, &mut envelope).unwrap();
            ts += frames;
        }
        // The pre-skip realigns the output with the input (the encoder's look-ahead).
        assert_eq!(envelope.frames(), 12_000 - 312);
        assert_eq!(envelope.frames_per_bucket, 1);
        for p in 0..12 {
            let at = |from: usize, to: usize| {
                let frames = &envelope.buckets[p * 960 + from..p * 960 + to];
                *frames.iter().max().unwrap()
            };
            let (tone, silence) = (at(120, 360), at(600, 840));
            assert!(tone.abs_diff(128) <= 20, "20 ms #{p}: tone {tone}");
            assert!(silence <= 20, "20 ms #{p}: silence {silence}");
            assert!(
                tone.abs_diff(LIBOPUS_TONE[p]) <= 2 && silence.abs_diff(LIBOPUS_SILENCE[p]) <= 2,
                "20 ms #{p}: tone {tone}, silence {silence}; libopus {} and {}",
                LIBOPUS_TONE[p],
                LIBOPUS_SILENCE[p]
            );
        }
    }

    /// The packets of a fixture's audio track, as demuxed.
    fn opus_packets(name: &str) -> Vec<Vec<u8>> {
        open_audio(&fixture(name), |mut reader, _| {
            let mut packets = Vec::new();
            while let Some(packet) = reader.next_packet().unwrap() {
                packets.push(packet.data.to_vec());
            }
            Ok(packets)
        })
        .unwrap()
    }

    /// A frame length as RFC 6716 §3.2.1 writes it.
    fn size_bytes(size: usize) -> Vec<u8> {
        if size < 252 {
            vec![size as u8]
        } else {
            vec![(252 + (size - 252) % 4) as u8, ((size - 252) / 4) as u8]
        }
    }

    /// A one-frame (code 0) packet in the self-delimiting framing of RFC 6716 Appendix B.
    fn self_delimited(packet: &[u8]) -> Vec<u8> {
        assert_eq!(packet[0] & 3, 0);
        [&packet[..1], &size_bytes(packet.len() - 1), &packet[1..]].concat()
    }

    fn packet(data: &[u8]) -> Packet {
        Packet::new(0, Timestamp::new(0), Duration::new(960), data)
    }

    #[test]
    fn multistream_channels_follow_the_mapping() {
        // Three output channels from a coupled stream and a mono stream, built from hello.opus's
        // (mono, one-frame) packets: output 0 is the mono stream, output 1 the coupled stream's
        // left channel (its stereo decoder upmixes the mono packets), output 2 is silent. Each is
        // exactly what a lone decoder makes of its stream.
        let packets = opus_packets("hello.opus");
        let n = packets.len();
        assert_eq!(n, 179);
        let head = OpusHead {
            pre_skip: 0,
            output_gain: 0,
            streams: 2,
            coupled: 1,
            mapping: vec![2, 0, 255],
        };
        let mut track = OpusTrack::new(&head, 0).unwrap();
        let mut envelope = Envelope::with_capacity(1 << 20);
        let mut stereo = OpusDecoder::new(48_000, 2).unwrap();
        let mut mono = OpusDecoder::new(48_000, 1).unwrap();
        let (mut left, mut single) = (vec![0.0f32; 2 * 960], vec![0.0f32; 960]);
        let (mut loudest, mut differ) = ([0.0f32; 3], false);
        for (i, coupled) in packets.iter().enumerate() {
            // The mono stream runs 1.2 s ahead (cyclically), so the two channels differ.
            let ahead = &packets[(i + 60) % n];
            track
                .decode(
                    &packet(&[self_delimited(coupled), ahead.clone()].concat()),
                    &mut envelope,
                )
                .unwrap();
            assert_eq!(stereo.decode_float(coupled, &mut left, false).unwrap(), 960);
            assert_eq!(mono.decode_float(ahead, &mut single, false).unwrap(), 960);
            for f in 0..960 {
                let frame = &track.out[3 * f..3 * f + 3];
                assert_eq!(
                    frame,
                    [single[f], left[2 * f], 0.0],
                    "packet {i}, frame {f}"
                );
                differ |= frame[0] != frame[1];
                for (l, s) in loudest.iter_mut().zip(frame) {
                    *l = l.max(s.abs());
                }
            }
        }
        assert_eq!(envelope.frames(), n as u64 * 960);
        assert!(
            differ && loudest[0] > 0.5 && loudest[1] > 0.5,
            "{loudest:?}"
        );

        // Streams of different durations, or a truncated self-delimited packet, do not decode.
        let first = &packets[100];
        let mut two_frames = vec![first[0] | 3, 0x82];
        two_frames.extend(size_bytes(first.len() - 1));
        two_frames.extend_from_slice(&first[1..]);
        two_frames.extend_from_slice(&packets[101][1..]);
        let data = [self_delimited(first), two_frames].concat();
        let err = track.decode(&packet(&data), &mut envelope).unwrap_err();
        assert!(err.contains("duration"), "{err}");
        let cut = &self_delimited(first)[..first.len() - 10];
        assert!(track.decode(&packet(cut), &mut envelope).is_err());

        // The mapping may only name decoded channels (three here) or 255.
        let bad = OpusHead {
            mapping: vec![0, 3],
            ..head.clone()
        };
        assert!(OpusTrack::new(&bad, 0).is_err());
        let bad = OpusHead { coupled: 3, ..head };
        assert!(OpusTrack::new(&bad, 0).is_err());
    }

    #[test]
    fn long_packets_decode_frame_by_frame() {
        // Three 20 ms packets of hello.opus as one 60 ms packet (code 3, VBR), padded past the
        // 1500 bytes opus-decoder decodes in one piece: the same samples as the three packets.
        let packets = opus_packets("hello.opus");
        let at = (60..packets.len() - 3)
            .find(|&i| packets[i..i + 3].iter().all(|p| p[0] == packets[i][0]))
            .unwrap();
        let run = &packets[at..at + 3];
        let mut long = vec![run[0][0] | 3, 0xC3, 255, 255, 255, 255, 255, 255, 0];
        for p in &run[..2] {
            long.extend(size_bytes(p.len() - 1));
        }
        for p in run {
            long.extend_from_slice(&p[1..]);
        }
        long.resize(long.len() + 6 * 254, 0);
        assert!(long.len() > 1500, "{}", long.len());

        let head = OpusHead::single_stream(1).unwrap();
        let mut envelopes = Vec::new();
        for joined in [false, true] {
            let mut track = OpusTrack::new(&head, 0).unwrap();
            let mut envelope = Envelope::with_capacity(1 << 20);
            for p in &packets[..at] {
                track.decode(&packet(p), &mut envelope).unwrap();
            }
            if joined {
                track.decode(&packet(&long), &mut envelope).unwrap();
            } else {
                for p in run {
                    track.decode(&packet(p), &mut envelope).unwrap();
                }
            }
            envelopes.push(envelope);
        }
        assert_eq!(envelopes[0].frames(), (at as u64 + 3) * 960);
        assert_eq!(envelopes[0].frames(), envelopes[1].frames());
        assert!(envelopes[0].buckets == envelopes[1].buckets);
        assert!(envelopes[0].buckets[at * 960..].iter().any(|&l| l > 16));
    }

    #[test]
    fn demuxer_trims_count_towards_the_pre_skip() {
        // Should a demuxer trim the pre-skip itself (start trim on the first packet), it is not
        // dropped twice; an end trim drops the padding from the last packet.
        let head = OpusHead::single_stream(1).unwrap();
        let mut track = OpusTrack::new(&head, 312).unwrap();
        let mut envelope = Envelope::with_capacity(1 << 20);
        for (p, data) in (0..10i64).zip(opus_packets("hello.opus")) {
            let mut packet = Packet::new(0, Timestamp::new(p * 960), Duration::new(960), data);
            if p == 0 {
                packet.trim_start = Duration::new(200);
            }
            if p == 9 {
                packet.trim_end = Duration::new(100);
            }
            track.decode(&packet, &mut envelope).unwrap();
        }
        assert_eq!(envelope.frames(), 10 * 960 - 312 - 100);
    }

    #[test]
    fn container_must_be_the_one_the_magic_number_announced() {
        // A 70 KiB ID3v2 tag (too long for the sniffer to look past: "MP3, unverified") in front
        // of an Ogg Opus stream, which symphonia finds behind the tag.
        let size = 70 * 1024u32;
        let mut bytes = b"ID3\x04\x00\x00".to_vec();
        bytes.extend([21, 14, 7, 0].map(|shift| ((size >> shift) & 0x7F) as u8));
        bytes.resize(10 + size as usize, 0);
        bytes.extend(std::fs::read(fixture("hello.opus")).unwrap());
        let f = temp_file(&bytes, ".mp3");
        let err = compute_peaks(f.path(), 64).unwrap_err();
        assert!(matches!(err, PeaksError::NotAudio(_)), "{err}");
    }

    #[test]
    fn long_file_is_streamed_with_bounded_envelope() {
        // 20 minutes of 8 kHz mono (19 MB), written in pieces: silence except a loud second at
        // 15:00. The envelope merges many times and still places the burst in the right peak.
        let rate = 8_000u32;
        let seconds = 20 * 60;
        let data_len = rate * 2 * seconds;
        let mut header = wav_bytes(rate, 1, &[]);
        header[4..8].copy_from_slice(&(36 + data_len).to_le_bytes());
        header[40..44].copy_from_slice(&data_len.to_le_bytes());
        let mut f = tempfile::Builder::new().suffix(".wav").tempfile().unwrap();
        {
            let mut w = std::io::BufWriter::new(f.as_file_mut());
            w.write_all(&header).unwrap();
            let silent = vec![0u8; rate as usize * 2];
            let loud: Vec<u8> = (0..rate)
                .flat_map(|i| (if i % 16 < 8 { 20_000i16 } else { -20_000 }).to_le_bytes())
                .collect();
            for s in 0..seconds {
                w.write_all(if s == 15 * 60 { &loud } else { &silent })
                    .unwrap();
            }
            w.flush().unwrap();
        }
        let start = std::time::Instant::now();
        let peaks = compute_peaks(f.path(), 20).unwrap();
        eprintln!("20 min WAV: {:?}", start.elapsed());
        let mut want = vec![0u8; 20];
        want[15] = level(20_000.0 / 32_768.0);
        assert_eq!(peaks, want);
    }
}
