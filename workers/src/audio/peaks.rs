//! The waveform's side of the pass: decodes *every* packet of the audio track and folds it into
//! a bounded [`Envelope`], which is resampled to the requested number of peaks.
//!
//! Opus is decoded with the pure-Rust `opus-decoder` crate at 48 kHz: mono, stereo and
//! multistream (surround, mapping families 1 and 255), whose packets are split into streams
//! and frames with the parser in `opus.rs`. Every other codec uses symphonia's own decoder.
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
//! the probe's duration); if more than half of the packets fail, there is no waveform
//! ([`PeaksError::Decode`]). A chained Ogg stream (`cat a.ogg b.ogg`) is one timeline, link after
//! link (counted in frames: links at different sample rates are not rescaled); a link that
//! cannot be decoded ends it.
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
//! fine bucket (under 1/32 of an output bucket for `count` ≤ 65 536).

use std::panic::{catch_unwind, AssertUnwindSafe};

use opus_decoder::OpusDecoder;
use symphonia::core::codecs::audio::well_known::CODEC_ID_OPUS;
use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions, CODEC_ID_NULL_AUDIO};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatReader, TrackType};
use symphonia::core::packet::Packet;

use super::envelope::Envelope;
use super::opus::{OpusHead, OpusPacket, MAX_FRAME_BYTES, MAX_PACKET_SAMPLES};
use super::PeaksError;

/// Longest Opus packet: 120 ms at 48 kHz.
const OPUS_MAX_FRAMES: usize = MAX_PACKET_SAMPLES;

/// Where decoded samples go: the waveform's envelope, or the PCM written for transcription
/// (`pcm.rs`).
pub(super) trait SampleSink {
    /// Takes the frames of `samples` (interleaved, `channels` per frame, `rate` frames a
    /// second).
    fn push(&mut self, samples: &[f32], channels: usize, rate: u32);
}

impl SampleSink for Envelope {
    fn push(&mut self, samples: &[f32], channels: usize, _rate: u32) {
        self.push_interleaved(samples, channels);
    }
}

/// The drawing side of the pass: fed every packet of the audio track, it decodes each into the
/// envelope until it is done or gives up.
pub(super) struct Waveform {
    state: State,
    /// Packets decoded, and packets that failed to.
    decoded: u64,
    failed: u64,
}

enum State {
    /// No waveform was asked for.
    Off,
    /// Decoding packets into the envelope.
    Drawing {
        track: TrackDecoder,
        envelope: Envelope,
    },
    /// A chained stream's next link cannot be decoded: the timeline ends before it.
    Ended { codec: String, envelope: Envelope },
    /// There will be no waveform, for this reason.
    Failed(PeaksError),
}

impl Waveform {
    /// Starts on the reader's default audio track, for `count` peaks (none: `Off`).
    pub(super) fn start(reader: &dyn FormatReader, count: usize) -> Waveform {
        let state = if count == 0 {
            State::Off
        } else {
            match open_guarded(reader) {
                Ok(track) => State::Drawing {
                    track,
                    envelope: Envelope::new(count),
                },
                Err(e) => State::Failed(e),
            }
        };
        Waveform {
            state,
            decoded: 0,
            failed: 0,
        }
    }

    /// Whether packets are still being decoded.
    pub(super) fn is_drawing(&self) -> bool {
        matches!(self.state, State::Drawing { .. })
    }

    /// The next link of a chained stream continues the timeline; one that cannot be decoded
    /// ends it.
    pub(super) fn next_link(&mut self, reader: &dyn FormatReader) {
        let State::Drawing { track, .. } = &mut self.state else {
            return;
        };
        match open_guarded(reader) {
            Ok(next) => *track = next,
            Err(e) => {
                tracing::debug!("peaks stop at an unusable chained stream: {e}");
                if let State::Drawing { track, envelope } =
                    std::mem::replace(&mut self.state, State::Off)
                {
                    self.state = State::Ended {
                        codec: track.codec,
                        envelope,
                    };
                }
            }
        }
    }

    /// Decodes one packet of the audio track into the envelope.
    pub(super) fn packet(&mut self, packet: &Packet) {
        let State::Drawing { track, envelope } = &mut self.state else {
            return;
        };
        if packet.track_id != track.track_id {
            return;
        }
        // A decoder that panics costs the waveform, never the verdict: the probe carries on.
        match catch_unwind(AssertUnwindSafe(|| track.decode(packet, envelope))) {
            Ok(Ok(())) => self.decoded += 1,
            Ok(Err(why)) => {
                self.failed += 1;
                tracing::trace!(%why, "skipping a packet that does not decode");
            }
            Err(_) => self.give_up(PeaksError::Decode("the decoder panicked".into())),
        }
    }

    /// Stops drawing: there will be no waveform, for `why`.
    pub(super) fn give_up(&mut self, why: PeaksError) {
        self.state = State::Failed(why);
    }

    /// The envelope once every packet was seen, or why there is none. Nothing asked for is an
    /// empty envelope.
    pub(super) fn finish(self) -> Result<Envelope, PeaksError> {
        let (codec, envelope) = match self.state {
            State::Off => return Ok(Envelope::new(0)),
            State::Drawing { track, envelope } => (track.codec, envelope),
            State::Ended { codec, envelope } => (codec, envelope),
            State::Failed(why) => return Err(why),
        };
        verdict(self.decoded, self.failed, &codec)?;
        if envelope.frames() == 0 {
            return Err(PeaksError::Decode(format!(
                "no {codec} audio could be decoded"
            )));
        }
        Ok(envelope)
    }
}

/// Opens the decoder for the reader's default audio track; a panic is a decoding failure.
fn open_guarded(reader: &dyn FormatReader) -> Result<TrackDecoder, PeaksError> {
    catch_unwind(AssertUnwindSafe(|| TrackDecoder::open(reader)))
        .unwrap_or_else(|_| Err(PeaksError::Decode("the decoder panicked".into())))
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
pub(super) struct TrackDecoder {
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
    /// The id of the track whose packets this decodes.
    pub(super) fn track_id(&self) -> u32 {
        self.track_id
    }

    /// The decoder for the reader's default audio track.
    pub(super) fn open(reader: &dyn FormatReader) -> Result<TrackDecoder, PeaksError> {
        let track = reader
            .default_track(TrackType::Audio)
            .ok_or_else(|| PeaksError::Unsupported("the file has no audio track".into()))?;
        let params = track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .ok_or_else(|| PeaksError::Unsupported("the file has no audio track".into()))?;
        if params.codec == CODEC_ID_NULL_AUDIO {
            return Err(PeaksError::Unsupported(
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
            return Err(PeaksError::Unsupported(format!(
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
    pub(super) fn decode(
        &mut self,
        packet: &Packet,
        envelope: &mut dyn SampleSink,
    ) -> Result<(), String> {
        match &mut self.inner {
            Inner::Symphonia { decoder, scratch } => match decoder.decode(packet) {
                Ok(buf) => {
                    let channels = buf.num_planes();
                    let rate = buf.spec().rate();
                    buf.copy_to_vec_interleaved::<f32>(scratch);
                    envelope.push(scratch, channels, rate);
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

    fn decode(&mut self, packet: &Packet, envelope: &mut dyn SampleSink) -> Result<(), String> {
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
        envelope.push(
            &self.out[start * channels..end * channels],
            channels,
            48_000,
        );
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
mod tests;
