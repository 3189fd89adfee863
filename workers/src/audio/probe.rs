//! The probe's side of the pass: validates the audio track and measures it honestly (see the
//! parent module for what is decoded when, and why the probe has a decoder of its own).
//!
//! A decoded packet is valid if the decoder accepts it; an Opus packet (no decoder in symphonia
//! 0.6) if its TOC byte is well formed. Packets outside the decode plan are not checked but
//! still count towards the duration; broken ones do not.
//!
//! # Duration details
//!
//! * The duration is the sum of the *valid* (non-delay, non-padding) duration of each packet that
//!   was not found broken, converted from the track's time base.
//! * Decoders run *without* gapless trimming, so a decoded packet yields its whole block; if that
//!   is shorter than the block the container promised (a packet cut off by the end of the file,
//!   e.g. a WAV whose header claims more data than follows), the shortfall is not counted.
//! * End trimming (encoder padding) is honoured only on the final packet. Headers that declare
//!   fewer frames than follow (MP3s joined with `cat`: the first Xing/LAME header describes only
//!   the first file, and symphonia then marks every later packet as "padding") cannot hide audio.
//! * Chained Ogg (`cat a.ogg b.ogg`) is measured link by link and summed, as players play every
//!   link. The codec, rate and channels reported are the first link's.
//! * symphonia 0.6.1's `PacketBuilder::trimmed_dur` (used by the MP3 demuxer) sets `trim_start` /
//!   `trim_end` but forgets to subtract them from `dur`. For MPEG audio the trims are subtracted
//!   here when `dur + trims` exceeds the codec's frame length (so a fixed symphonia is still
//!   handled correctly). MP3 durations are therefore gapless (LAME delay and padding removed);
//!   ffprobe reports MP3 durations *including* them, which is why MP3 facts differ by ~60 ms.
//! * Matroska/WebM blocks usually carry no duration (symphonia reports 0). For Opus the duration
//!   of each packet is read from its TOC byte, and the pre-skip from the `OpusHead` in the codec
//!   private data is subtracted once (symphonia's Matroska and MP4 demuxers do not apply it). Matroska's `DiscardPadding` (end trimming) is not exposed by
//!   symphonia 0.6, so up to one Opus frame (≤ 20 ms normally, ≤ 120 ms at most) of encoder
//!   padding at the end may be included. For other codecs without block durations the decoded
//!   frame count is used, or else the timestamp gap to the next packet (capped at 1 s per packet).
//! * Ogg Opus: symphonia's Ogg demuxer applies the end trimming from the granule positions but
//!   not the pre-skip (its packets start at 0, and it only records the pre-skip as the track's
//!   delay), so the pre-skip is subtracted here too, as for Matroska and MP4.
//! * MP4: symphonia 0.6 ignores edit lists, so AAC packets include the encoder priming (1024
//!   samples for ffmpeg/FDK, 2112 for Apple). When the container declares a duration that is
//!   *shorter* than the packets add up to by at most two packets' worth, the declared value is
//!   used (that is what the edit list describes). A declared duration that is longer, or much
//!   shorter, than the packets is ignored.

use symphonia::core::codecs::audio::well_known as codec;
use symphonia::core::codecs::audio::{
    AudioCodecId, AudioCodecParameters, AudioDecoder, AudioDecoderOptions, CODEC_ID_NULL_AUDIO,
};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatReader, TrackType};
use symphonia::core::packet::Packet;
use symphonia::core::units::TimeBase;

use super::opus::{self, OpusHead};
use super::{Limits, ProbeError, ProbedAudio};

/// Leading packets of a burst whose failures are ignored: the decoder was just reset, and codecs
/// such as MP3 (bit reservoir) legitimately fail on the first packet after a discontinuity.
const SPOT_CHECK_WARMUP: u64 = 2;
/// Largest gap between timestamps credited to a packet whose duration is unknown, in seconds.
const MAX_GAP_SECONDS: u64 = 1;

/// The validating, measuring side of the pass: fed every packet of the audio track, it checks
/// those its decode plan picks and adds up the duration of those present.
pub(super) struct Probe {
    limits: Limits,
    /// The link being read (a chained Ogg stream has several).
    chain: Chain,
    /// The first link's codec, which the file is reported as.
    codec_name: String,
    sample_rate: Option<u32>,
    channels: Option<usize>,
    stats: ScanStats,
    track_packets: u64,
    chains: u64,
    finished_chains_ns: u128,
    stopped_early: Option<String>,
}

impl Probe {
    /// Starts on the reader's default audio track.
    pub(super) fn start(reader: &dyn FormatReader, limits: Limits) -> Result<Probe, ProbeError> {
        let chain = Chain::open(reader)?;
        Ok(Probe {
            limits,
            codec_name: chain.codec_name.clone(),
            sample_rate: chain.sample_rate,
            channels: chain.channels,
            chain,
            stats: ScanStats::default(),
            track_packets: 0,
            chains: 1,
            finished_chains_ns: 0,
            stopped_early: None,
        })
    }

    /// The track whose packets are audio.
    pub(super) fn track_id(&self) -> u32 {
        self.chain.track_id
    }

    /// Audio packets seen so far.
    pub(super) fn packets(&self) -> u64 {
        self.track_packets
    }

    /// Whether the file is Opus (its first link is).
    pub(super) fn is_opus(&self) -> bool {
        self.codec_name == "opus"
    }

    /// Moves on to the next link of a chained stream. `false` (the reason noted) when that link
    /// is unusable: the pass ends there, and the duration counts the links before it.
    pub(super) fn next_link(&mut self, reader: &dyn FormatReader) -> bool {
        self.finished_chains_ns += self.chain.timing.total_ns();
        match Chain::open(reader) {
            Ok(next) => {
                self.chain = next;
                self.chains += 1;
                true
            }
            Err(e) => {
                self.stopped_early = Some(format!("an unusable chained stream follows: {e}"));
                false
            }
        }
    }

    /// Notes why the pass ended before the end of the file.
    pub(super) fn stop_early(&mut self, why: &str) {
        self.stopped_early = Some(why.to_owned());
    }

    /// Checks (as the decode plan says) and measures one packet of the audio track.
    pub(super) fn packet(&mut self, packet: &Packet) {
        let plan = decode_plan(self.track_packets, self.limits);
        self.track_packets += 1;

        let chain = &mut self.chain;
        let check = chain.check(packet, plan);
        if let Some((rate, count)) = chain.decoded_spec {
            self.sample_rate = self.sample_rate.or(Some(rate).filter(|r| *r > 0));
            self.channels = self.channels.or(Some(count).filter(|c| *c > 0));
        }
        match check {
            Check::Valid { .. } => self.stats.valid += 1,
            Check::Broken => self.stats.broken += 1,
            Check::Unchecked => {}
        }
        match check {
            Check::Valid { decoded_frames } => chain.timing.add(packet, decoded_frames),
            Check::Unchecked => chain.timing.add(packet, None),
            Check::Broken => chain.timing.skip(packet),
        }
    }

    /// The longest duration the file declares (its track or its container), in milliseconds,
    /// if it declares one. A claim, not a measurement: only good for deciding what work to skip.
    pub(super) fn declared_ms(&self, reader: &dyn FormatReader) -> Option<u64> {
        [
            (self.chain.declared_duration, self.chain.declared_time_base),
            (reader.media_info().duration, reader.media_info().time_base),
        ]
        .into_iter()
        .filter_map(|(dur, tb)| Some(units_to_ms(dur?.get(), tb?)))
        .max()
    }

    /// The duration measured so far, in milliseconds. It never decreases as packets come; the
    /// final duration may still be a little shorter (see [`Probe::finish`]).
    pub(super) fn duration_so_far_ms(&self) -> u64 {
        ns_to_ms(self.finished_chains_ns + self.chain.timing.total_ns())
    }

    /// The verdict once every packet was seen: the facts, or why the file is not accepted.
    pub(super) fn finish(
        self,
        reader: &dyn FormatReader,
        container: &'static str,
    ) -> Result<ProbedAudio, ProbeError> {
        let Probe {
            chain,
            codec_name,
            stats,
            track_packets,
            stopped_early,
            ..
        } = &self;
        if *track_packets == 0 {
            return Err(ProbeError::Damaged(match stopped_early {
                Some(why) => format!("no complete audio packet ({why})"),
                None => "the audio track has no packets".into(),
            }));
        }
        let checked = stats.valid + stats.broken;
        if checked > 0 && stats.valid == 0 {
            return Err(ProbeError::Damaged(format!(
                "none of the {checked} checked {codec_name} packets is valid"
            )));
        }
        if stats.broken * 2 > checked {
            return Err(ProbeError::Damaged(format!(
                "{} of {checked} checked {codec_name} packets are invalid",
                stats.broken
            )));
        }

        let sample_rate = self
            .sample_rate
            .ok_or_else(|| ProbeError::Damaged("the audio track has no sample rate".into()))?;
        let channels = self
            .channels
            .and_then(|c| u16::try_from(c).ok())
            .ok_or_else(|| ProbeError::Damaged("the audio track has no channel count".into()))?;

        let mut duration_ms = self.duration_so_far_ms();

        // Believe a slightly shorter declared duration (edit lists / priming that symphonia
        // ignores).
        if self.chains == 1 {
            let slack_ms = chain.timing.slack_ms();
            let declared = [
                (chain.declared_duration, chain.declared_time_base),
                (reader.media_info().duration, reader.media_info().time_base),
            ];
            for (dur, tb) in declared {
                if let (Some(dur), Some(tb)) = (dur, tb) {
                    let declared_ms = units_to_ms(dur.get(), tb);
                    if declared_ms < duration_ms && duration_ms - declared_ms <= slack_ms {
                        duration_ms = declared_ms;
                    }
                }
            }
        }

        if duration_ms == 0 {
            return Err(ProbeError::Damaged(
                "the audio track holds no audible frames".into(),
            ));
        }
        if let Some(why) = stopped_early {
            tracing::debug!(container, codec = %codec_name, duration_ms, "probe stopped early: {why}");
        }

        Ok(ProbedAudio {
            container: container.to_string(),
            codec: self.codec_name,
            sample_rate,
            channels,
            duration_ms,
        })
    }
}

/// The audio track being measured (one per link of a chained Ogg stream), its decoder and timing.
struct Chain {
    track_id: u32,
    codec_name: String,
    is_opus: bool,
    decoder: Option<Box<dyn AudioDecoder>>,
    sample_rate: Option<u32>,
    channels: Option<usize>,
    /// Rate and channel count of the last decoded buffer.
    decoded_spec: Option<(u32, usize)>,
    declared_duration: Option<symphonia::core::units::Duration>,
    declared_time_base: Option<TimeBase>,
    timing: Timing,
}

impl Chain {
    fn open(reader: &dyn FormatReader) -> Result<Chain, ProbeError> {
        let track = reader
            .default_track(TrackType::Audio)
            .ok_or(ProbeError::NoAudioTrack)?;
        let params = track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .cloned()
            .ok_or(ProbeError::NoAudioTrack)?;
        if params.codec == CODEC_ID_NULL_AUDIO {
            return Err(ProbeError::NotAudio(
                "the audio track's codec is not supported".into(),
            ));
        }
        let codec_name = codec_name(params.codec);

        let registry = symphonia::default::get_codecs();
        let decoder = match registry.get_audio_decoder(params.codec) {
            Some(_) => Some(
                registry
                    // No gapless trimming: the decoder outputs each packet's whole block, which
                    // is compared with what the container promised (see `Timing::add`).
                    .make_audio_decoder(&params, &AudioDecoderOptions::default().gapless(false))
                    .map_err(|e| {
                        ProbeError::Damaged(format!("cannot set up the {codec_name} decoder: {e}"))
                    })?,
            ),
            None => None,
        };
        let is_opus = params.codec == codec::CODEC_ID_OPUS;

        // Opus always decodes at 48 kHz; Matroska's SamplingFrequency (and symphonia's report of
        // it) may be the encoder's input rate instead.
        let mut sample_rate = if is_opus {
            Some(48_000)
        } else {
            params.sample_rate.filter(|r| *r > 0)
        };
        let mut channels = params
            .channels
            .as_ref()
            .map(|c| c.count())
            .filter(|c| *c > 0);
        if let Some(dec) = &decoder {
            let p = dec.codec_params();
            sample_rate = sample_rate.or(p.sample_rate.filter(|r| *r > 0));
            channels = channels.or(p.channels.as_ref().map(|c| c.count()).filter(|c| *c > 0));
        }
        let time_base = track
            .time_base
            .or_else(|| sample_rate.and_then(TimeBase::try_from_recip))
            .ok_or_else(|| {
                ProbeError::Damaged("the audio track has neither time base nor rate".into())
            })?;

        Ok(Chain {
            track_id: track.id,
            codec_name,
            is_opus,
            decoder,
            sample_rate,
            channels,
            decoded_spec: None,
            declared_duration: track.duration,
            declared_time_base: track.time_base,
            timing: Timing::new(&params, time_base, sample_rate),
        })
    }

    /// Decode (or, for Opus, parse) a packet of this track as the plan says.
    fn check(&mut self, packet: &Packet, plan: DecodePlan) -> Check {
        let Some(dec) = self.decoder.as_mut() else {
            if self.is_opus {
                return match opus::packet_samples(&packet.data) {
                    Some(_) => Check::Valid {
                        decoded_frames: None,
                    },
                    None => Check::Broken,
                };
            }
            return Check::Unchecked;
        };
        if plan.reset {
            dec.reset();
        }
        if !plan.decode {
            return Check::Unchecked;
        }
        match dec.decode(packet) {
            Ok(buf) => {
                let frames = buf.frames() as u64;
                let spec = buf.spec();
                let (rate, count) = (spec.rate(), spec.channels().count());
                self.decoded_spec = Some((rate, count));
                if self.timing.sample_rate.is_none() && rate > 0 {
                    self.timing.sample_rate = Some(rate);
                }
                // Right after a reset some codecs (Vorbis: overlap-add) output fewer frames
                // than the packet holds: do not use that count.
                Check::Valid {
                    decoded_frames: if plan.warmup { None } else { Some(frames) },
                }
            }
            Err(_) if plan.warmup => Check::Unchecked,
            Err(SymphoniaError::ResetRequired) => {
                dec.reset();
                Check::Broken
            }
            Err(_) => Check::Broken,
        }
    }
}

#[derive(Debug, Default)]
struct ScanStats {
    valid: u64,
    broken: u64,
}

#[derive(Debug, Clone, Copy)]
enum Check {
    /// Decoded (with the number of frames produced) or structurally valid (Opus TOC).
    Valid { decoded_frames: Option<u64> },
    /// Failed to decode or structurally invalid.
    Broken,
    /// Not checked (no decoder, outside the decode plan, or a spot-check warm-up failure).
    Unchecked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DecodePlan {
    decode: bool,
    reset: bool,
    warmup: bool,
}

/// Which packets are decoded: the first `contiguous_decode`, then bursts.
fn decode_plan(index: u64, limits: Limits) -> DecodePlan {
    if index < limits.contiguous_decode {
        return DecodePlan {
            decode: true,
            reset: false,
            warmup: false,
        };
    }
    let pos = (index - limits.contiguous_decode) % limits.spot_interval.max(1);
    DecodePlan {
        decode: pos < limits.spot_burst,
        reset: pos == 0,
        warmup: pos < SPOT_CHECK_WARMUP,
    }
}

/// Accumulates the duration of the packets actually present, in nanoseconds.
struct Timing {
    /// Sum of the valid duration of counted packets.
    ns: u128,
    /// Pre-skip from the `OpusHead` (48 kHz samples), subtracted once at the end: no demuxer of
    /// symphonia 0.6.1 trims it from the packets' durations.
    opus_pre_skip: u64,
    /// Largest single packet duration seen.
    max_packet_ns: u128,
    /// Frames per MPEG audio frame, to work around symphonia 0.6.1's untrimmed MP3 durations.
    mpeg_frame_len: Option<u64>,
    is_opus: bool,
    time_base: TimeBase,
    sample_rate: Option<u32>,
    /// Timestamp of a previous packet whose duration was unknown, to be credited with the gap.
    pending_gap_from: Option<i64>,
    /// End trim (padding) of the most recent packet, subtracted if it turns out to be the last.
    last_end_trim_ns: u128,
}

impl Timing {
    fn new(params: &AudioCodecParameters, time_base: TimeBase, sample_rate: Option<u32>) -> Self {
        let mpeg_frame_len = match params.codec {
            codec::CODEC_ID_MP1 => Some(384),
            codec::CODEC_ID_MP2 => Some(1152),
            codec::CODEC_ID_MP3 => Some(if sample_rate.unwrap_or(44_100) >= 32_000 {
                1152
            } else {
                576
            }),
            _ => None,
        };
        let is_opus = params.codec == codec::CODEC_ID_OPUS;
        let opus_pre_skip = if is_opus {
            params
                .extra_data
                .as_deref()
                .and_then(OpusHead::pre_skip)
                .unwrap_or(0)
        } else {
            0
        };
        Timing {
            ns: 0,
            opus_pre_skip: u64::from(opus_pre_skip),
            max_packet_ns: 0,
            mpeg_frame_len,
            is_opus,
            time_base,
            sample_rate,
            pending_gap_from: None,
            last_end_trim_ns: 0,
        }
    }

    /// A broken packet: its duration is not counted, but it ends any pending gap.
    fn skip(&mut self, _packet: &Packet) {
        self.pending_gap_from = None;
        self.last_end_trim_ns = 0;
    }

    /// Count a packet that was not found broken. `decoded_frames` is what the decoder produced
    /// for it (its whole block: gapless trimming is off), if it was decoded.
    fn add(&mut self, packet: &Packet, decoded_frames: Option<u64>) {
        let pts = packet.pts.get();
        if let Some(from) = self.pending_gap_from.take() {
            // The previous packet had no duration: credit it with the timestamp gap.
            let gap = u64::try_from(pts.saturating_sub(from)).unwrap_or(0);
            let gap_ns = self
                .units_to_ns(gap)
                .min(u128::from(MAX_GAP_SECONDS) * NS_PER_S);
            self.count(gap_ns);
        }

        let decoded_ns = match (decoded_frames, self.sample_rate) {
            (Some(frames), Some(rate)) if rate > 0 => {
                Some(u128::from(frames) * NS_PER_S / u128::from(rate))
            }
            _ => None,
        };

        // A packet followed by this one was not the last: any end trim it carried is not padding.
        self.last_end_trim_ns = 0;

        let dur = packet.dur.get();
        let trim_start = packet.trim_start.get();
        let trim_end = packet.trim_end.get();
        if dur > 0 || trim_start > 0 || trim_end > 0 {
            // The packet's valid duration *before* end trimming, and its whole block.
            let (valid_untrimmed_end, block) = match self.mpeg_frame_len {
                // symphonia 0.6.1 bug: MPEG audio packets report the whole block in `dur`.
                Some(frame_len)
                    if dur.saturating_add(trim_start).saturating_add(trim_end) > frame_len =>
                {
                    (dur.saturating_sub(trim_start), dur)
                }
                _ => (
                    dur.saturating_add(trim_end),
                    dur.saturating_add(trim_start).saturating_add(trim_end),
                ),
            };
            let mut ns = self.units_to_ns(valid_untrimmed_end);
            // A packet cut short by the end of the file decodes to fewer frames than the
            // container promised (the decoder runs without gapless trimming, so it outputs the
            // whole block): take the shortfall off.
            if let Some(decoded) = decoded_ns {
                let block_ns = self.units_to_ns(block);
                if decoded < block_ns {
                    ns = ns.saturating_sub(block_ns - decoded);
                }
            }
            self.count(ns);
            // End trimming (encoder padding) is believed only for the stream's final packet: a
            // header that declares fewer frames than follow (e.g. MP3s joined with `cat`, whose
            // first Xing header describes only the first file) must not hide the rest.
            self.last_end_trim_ns = self.units_to_ns(trim_end).min(ns);
            return;
        }

        // No duration from the container (typical of Matroska/WebM blocks).
        if let Some(ns) = decoded_ns {
            self.count(ns);
        } else if self.is_opus {
            if let Some(samples) = opus::packet_samples(&packet.data) {
                self.count(u128::from(samples) * NS_PER_S / 48_000);
            }
        } else {
            self.pending_gap_from = Some(pts);
        }
    }

    fn count(&mut self, ns: u128) {
        self.ns += ns;
        self.max_packet_ns = self.max_packet_ns.max(ns);
    }

    fn units_to_ns(&self, units: u64) -> u128 {
        let tb = self.time_base;
        u128::from(units) * u128::from(tb.numer.get()) * NS_PER_S / u128::from(tb.denom.get())
    }

    /// Total duration in nanoseconds.
    fn total_ns(&self) -> u128 {
        let ns = self.ns.saturating_sub(self.last_end_trim_ns);
        ns.saturating_sub(u128::from(self.opus_pre_skip) * NS_PER_S / 48_000)
    }

    /// Twice the longest packet, in milliseconds.
    fn slack_ms(&self) -> u64 {
        ns_to_ms(self.max_packet_ns.saturating_mul(2))
    }
}

const NS_PER_S: u128 = 1_000_000_000;

fn ns_to_ms(ns: u128) -> u64 {
    u64::try_from((ns + 500_000) / 1_000_000).unwrap_or(u64::MAX)
}

/// Convert a duration in time-base units to milliseconds (rounded to nearest).
fn units_to_ms(units: u64, tb: TimeBase) -> u64 {
    let ns =
        u128::from(units) * u128::from(tb.numer.get()) * 1_000_000_000 / u128::from(tb.denom.get());
    u64::try_from((ns + 500_000) / 1_000_000).unwrap_or(u64::MAX)
}

/// Name a codec the way ffprobe does.
fn codec_name(id: AudioCodecId) -> String {
    use codec::*;
    let name = match id {
        CODEC_ID_PCM_S32LE => "pcm_s32le",
        CODEC_ID_PCM_S32LE_PLANAR => "pcm_s32le_planar",
        CODEC_ID_PCM_S32BE => "pcm_s32be",
        CODEC_ID_PCM_S32BE_PLANAR => "pcm_s32be_planar",
        CODEC_ID_PCM_S24LE => "pcm_s24le",
        CODEC_ID_PCM_S24LE_PLANAR => "pcm_s24le_planar",
        CODEC_ID_PCM_S24BE => "pcm_s24be",
        CODEC_ID_PCM_S24BE_PLANAR => "pcm_s24be_planar",
        CODEC_ID_PCM_S16LE => "pcm_s16le",
        CODEC_ID_PCM_S16LE_PLANAR => "pcm_s16le_planar",
        CODEC_ID_PCM_S16BE => "pcm_s16be",
        CODEC_ID_PCM_S16BE_PLANAR => "pcm_s16be_planar",
        CODEC_ID_PCM_S8 => "pcm_s8",
        CODEC_ID_PCM_S8_PLANAR => "pcm_s8_planar",
        CODEC_ID_PCM_U32LE => "pcm_u32le",
        CODEC_ID_PCM_U32LE_PLANAR => "pcm_u32le_planar",
        CODEC_ID_PCM_U32BE => "pcm_u32be",
        CODEC_ID_PCM_U32BE_PLANAR => "pcm_u32be_planar",
        CODEC_ID_PCM_U24LE => "pcm_u24le",
        CODEC_ID_PCM_U24LE_PLANAR => "pcm_u24le_planar",
        CODEC_ID_PCM_U24BE => "pcm_u24be",
        CODEC_ID_PCM_U24BE_PLANAR => "pcm_u24be_planar",
        CODEC_ID_PCM_U16LE => "pcm_u16le",
        CODEC_ID_PCM_U16LE_PLANAR => "pcm_u16le_planar",
        CODEC_ID_PCM_U16BE => "pcm_u16be",
        CODEC_ID_PCM_U16BE_PLANAR => "pcm_u16be_planar",
        CODEC_ID_PCM_U8 => "pcm_u8",
        CODEC_ID_PCM_U8_PLANAR => "pcm_u8_planar",
        CODEC_ID_PCM_F32LE => "pcm_f32le",
        CODEC_ID_PCM_F32LE_PLANAR => "pcm_f32le_planar",
        CODEC_ID_PCM_F32BE => "pcm_f32be",
        CODEC_ID_PCM_F32BE_PLANAR => "pcm_f32be_planar",
        CODEC_ID_PCM_F64LE => "pcm_f64le",
        CODEC_ID_PCM_F64LE_PLANAR => "pcm_f64le_planar",
        CODEC_ID_PCM_F64BE => "pcm_f64be",
        CODEC_ID_PCM_F64BE_PLANAR => "pcm_f64be_planar",
        CODEC_ID_PCM_ALAW => "pcm_alaw",
        CODEC_ID_PCM_MULAW => "pcm_mulaw",
        CODEC_ID_ADPCM_G722 => "adpcm_g722",
        CODEC_ID_ADPCM_G726 => "adpcm_g726",
        CODEC_ID_ADPCM_G726LE => "adpcm_g726le",
        CODEC_ID_ADPCM_MS => "adpcm_ms",
        CODEC_ID_ADPCM_IMA_WAV => "adpcm_ima_wav",
        CODEC_ID_ADPCM_IMA_QT => "adpcm_ima_qt",
        CODEC_ID_VORBIS => "vorbis",
        CODEC_ID_OPUS => "opus",
        CODEC_ID_SPEEX => "speex",
        CODEC_ID_MUSEPACK => "musepack",
        CODEC_ID_MP1 => "mp1",
        CODEC_ID_MP2 => "mp2",
        CODEC_ID_MP3 => "mp3",
        CODEC_ID_AAC => "aac",
        CODEC_ID_AC3 => "ac3",
        CODEC_ID_EAC3 => "eac3",
        CODEC_ID_AC4 => "ac4",
        CODEC_ID_DCA => "dts",
        CODEC_ID_WMA => "wma",
        CODEC_ID_FLAC => "flac",
        CODEC_ID_WAVPACK => "wavpack",
        CODEC_ID_MONKEYS_AUDIO => "ape",
        CODEC_ID_ALAC => "alac",
        CODEC_ID_TTA => "tta",
        CODEC_ID_TRUEHD => "truehd",
        other => return format!("unknown({other})"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_plan_shape() {
        let l = Limits {
            max_packets: 100,
            contiguous_decode: 3,
            spot_interval: 10,
            spot_burst: 4,
            ..crate::audio::DEFAULT_LIMITS
        };
        let decoded: Vec<u64> = (0..30).filter(|i| decode_plan(*i, l).decode).collect();
        assert_eq!(
            decoded,
            vec![0, 1, 2, 3, 4, 5, 6, 13, 14, 15, 16, 23, 24, 25, 26]
        );
        assert!(decode_plan(3, l).reset && decode_plan(13, l).reset && !decode_plan(14, l).reset);
        assert!(decode_plan(14, l).warmup && !decode_plan(15, l).warmup);
    }

    #[test]
    fn codec_names() {
        assert_eq!(codec_name(codec::CODEC_ID_PCM_S16BE), "pcm_s16be");
        assert_eq!(codec_name(codec::CODEC_ID_ALAC), "alac");
    }
}
