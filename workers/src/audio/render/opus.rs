//! Opus renditions (the operator's choice, `VOICEBIN_RENDITIONS=opus`): the clip decoded as for
//! FLAC ([`decode_all`]), brought to a rate Opus codes (8, 12, 16, 24 or 48 kHz; anything else
//! is resampled to 48 kHz with the windowed-sinc [`Resampler`]) and encoded by the pure-Rust
//! `opus-pure` encoder in 20 ms packets, muxed into Ogg (RFC 7845) as they come.
//!
//! One pass: Ogg needs no length up front. The file is gapless: the encoder's delay is the
//! header's pre-skip, silence flushes the last samples out of the encoder, and the last packet's
//! granule ends the stream where the audio ends (RFC 7845 §4.4), so a player reports the
//! source's duration. To know which packet is the last, one encoded packet is held back.
//!
//! Memory is bounded by one decoded packet, one 20 ms frame and one Ogg page.

use std::io::Write;
use std::path::Path;

use opus_pure::{Application, OggOpusWriter, OpusEncoder, OpusHead, MAX_PACKET_BYTES};

use super::{decode_all, Format, RenderError, Rendered};
use crate::audio::pcm::Resampler;

/// The rates the Opus encoder takes as they are.
const OPUS_RATES: [u32; 5] = [8_000, 12_000, 16_000, 24_000, 48_000];
/// Opus's own rate, which granule positions count in.
const GRANULE_RATE: u32 = 48_000;
/// Channels a mapping-family-0 Ogg Opus stream holds (what every browser plays).
const MAX_CHANNELS: usize = 2;

/// Decodes `path` and writes it to `out` as Ogg Opus at `bitrate_bps`. Blocking.
/// [`Rendered::bits`] is 0: Opus has no bit depth.
pub fn render_opus(
    path: &Path,
    out: &mut impl Write,
    bitrate_bps: u32,
) -> Result<Rendered, RenderError> {
    let mut encoding: Option<Encoding<&mut _>> = None;
    let mut out = Some(out);
    let format = decode_all(path, |format, samples| {
        if encoding.is_none() {
            let sink = out
                .take()
                .ok_or_else(|| RenderError::Refused("the output was taken twice".into()))?;
            encoding = Some(Encoding::start(format, bitrate_bps, sink)?);
        }
        match &mut encoding {
            Some(encoding) if encoding.source == *format => encoding.push(samples),
            _ => Err(RenderError::Refused(
                "the audio changes format part way".into(),
            )),
        }
    })?;
    match (format, encoding) {
        (Some(_), Some(encoding)) => encoding.finish(),
        _ => Err(RenderError::Refused(
            "the audio track holds no audio".into(),
        )),
    }
}

/// One rendition under way.
struct Encoding<W: Write> {
    source: Format,
    channels: usize,
    /// The encoder's rate: the source's, or 48 kHz when Opus does not code the source's.
    rate: u32,
    /// Samples per channel in one 20 ms packet, at `rate`.
    frame: usize,
    encoder: OpusEncoder,
    writer: OggOpusWriter<W>,
    pre_skip: u16,
    /// One per channel when the source is resampled.
    resamplers: Vec<Resampler>,
    /// Scratch: one channel's samples, before and after resampling.
    channel_in: Vec<f32>,
    channel_out: Vec<Vec<f32>>,
    /// Interleaved samples at `rate` not yet encoded (less than one frame).
    pending: Vec<f32>,
    /// Samples per channel at `rate` handed to the encoder, padding excluded.
    frames: u64,
    /// Samples per channel of the source.
    source_frames: u64,
    /// Packets encoded, padding included.
    packets: u64,
    /// The last packet encoded, not yet written: the end trim goes on it.
    held: Option<Vec<u8>>,
    packet: Vec<u8>,
    /// `1 / 2^(bits - 1)`: the decoded integers to floats in [-1, 1].
    scale: f32,
}

impl<W: Write> Encoding<W> {
    fn start(source: &Format, bitrate_bps: u32, sink: W) -> Result<Self, RenderError> {
        let channels = source.channels;
        if channels == 0 || channels > MAX_CHANNELS {
            return Err(RenderError::Refused(format!(
                "an Opus rendition holds at most {MAX_CHANNELS} channels; the clip has {channels}"
            )));
        }
        if source.sample_rate == 0 {
            return Err(RenderError::Refused("the audio has no sample rate".into()));
        }
        let native = OPUS_RATES.contains(&source.sample_rate);
        let rate = if native {
            source.sample_rate
        } else {
            GRANULE_RATE
        };
        let refused = |e: opus_pure::Error| RenderError::Refused(format!("Opus encoder: {e}"));
        let mut encoder =
            OpusEncoder::new(rate as i32, channels, Application::Audio).map_err(refused)?;
        encoder.bitrate_bps = i32::try_from(bitrate_bps).unwrap_or(i32::MAX);
        let head = OpusHead::for_encoder(&encoder, source.sample_rate);
        let pre_skip = head.pre_skip;
        let writer = OggOpusWriter::new(sink, head).map_err(|e| opus_error(e, "Ogg output"))?;
        let resamplers = if native {
            Vec::new()
        } else {
            (0..channels)
                .map(|_| Resampler::new(source.sample_rate, rate))
                .collect()
        };
        let frame = (rate / 50) as usize;
        Ok(Encoding {
            source: *source,
            channels,
            rate,
            frame,
            encoder,
            writer,
            pre_skip,
            resamplers,
            channel_in: Vec::new(),
            channel_out: vec![Vec::new(); channels],
            pending: Vec::with_capacity(frame * channels),
            frames: 0,
            source_frames: 0,
            packets: 0,
            held: None,
            packet: vec![0; MAX_PACKET_BYTES],
            scale: 1.0 / (1u64 << (source.bits.clamp(1, 32) - 1)) as f32,
        })
    }

    /// Adds decoded samples (interleaved, at the source's bit depth).
    fn push(&mut self, samples: &[i32]) -> Result<(), RenderError> {
        self.source_frames += (samples.len() / self.channels) as u64;
        let scale = self.scale;
        if self.resamplers.is_empty() {
            for chunk in samples.chunks(self.frame * self.channels) {
                let floats: Vec<f32> = chunk.iter().map(|&s| s as f32 * scale).collect();
                self.add(&floats)?;
            }
            return Ok(());
        }
        for (channel, resampler) in self.resamplers.iter_mut().enumerate() {
            self.channel_in.clear();
            self.channel_in.extend(
                samples
                    .iter()
                    .skip(channel)
                    .step_by(self.channels)
                    .map(|&s| s as f32 * scale),
            );
            self.channel_out[channel].clear();
            resampler.push(&self.channel_in, &mut self.channel_out[channel]);
        }
        self.add_resampled()
    }

    /// Interleaves what the resamplers produced and adds it.
    fn add_resampled(&mut self) -> Result<(), RenderError> {
        // Every channel's resampler has seen as many samples, so each made as many.
        let made = self.channel_out.iter().map(Vec::len).min().unwrap_or(0);
        let mut interleaved = Vec::with_capacity(made * self.channels);
        for i in 0..made {
            for channel in &self.channel_out {
                interleaved.push(channel[i]);
            }
        }
        self.add(&interleaved)
    }

    /// Adds interleaved samples at the encoder's rate, encoding every full frame.
    fn add(&mut self, mut samples: &[f32]) -> Result<(), RenderError> {
        self.frames += (samples.len() / self.channels) as u64;
        let frame_len = self.frame * self.channels;
        while !samples.is_empty() {
            let take = (frame_len - self.pending.len()).min(samples.len());
            self.pending.extend(samples[..take].iter().map(|s| {
                if s.is_finite() {
                    s.clamp(-1.0, 1.0)
                } else {
                    0.0
                }
            }));
            samples = &samples[take..];
            if self.pending.len() == frame_len {
                self.encode_pending()?;
            }
        }
        Ok(())
    }

    /// Encodes the pending frame (zero-padded) and writes the packet held before it.
    fn encode_pending(&mut self) -> Result<(), RenderError> {
        let frame_len = self.frame * self.channels;
        self.pending.resize(frame_len, 0.0);
        let n = self
            .encoder
            .encode(&self.pending, self.frame, &mut self.packet)
            .map_err(|e| RenderError::Refused(format!("Opus encoder: {e}")))?;
        self.pending.clear();
        self.packets += 1;
        if let Some(held) = self.held.take() {
            self.writer
                .write_packet(&held)
                .map_err(|e| opus_error(e, "Ogg output"))?;
        }
        self.held = Some(self.packet[..n].to_vec());
        Ok(())
    }

    /// Flushes the resamplers and the encoder and ends the stream where the audio ends.
    fn finish(mut self) -> Result<Rendered, RenderError> {
        if !self.resamplers.is_empty() {
            for (channel, resampler) in self.resamplers.iter_mut().enumerate() {
                self.channel_out[channel].clear();
                resampler.finish(&mut self.channel_out[channel]);
            }
            self.add_resampled()?;
        }
        if self.frames == 0 {
            return Err(RenderError::Refused(
                "the audio track holds no audio".into(),
            ));
        }
        // The encoder runs `pre_skip` (48 kHz) samples behind its input: feed that much
        // silence more, in whole frames, so the audio's end leaves it.
        let ticks = u64::from(GRANULE_RATE / self.rate);
        let owed = u64::from(self.pre_skip).div_ceil(ticks);
        let packets = (self.frames + owed).div_ceil(self.frame as u64);
        while self.packets < packets {
            self.encode_pending()?;
        }
        let Some(last) = self.held.take() else {
            return Err(RenderError::Refused(
                "the audio track holds no audio".into(),
            ));
        };
        // The audio's length at the encoder's rate: the resampler may make one sample more.
        let audio = if self.resamplers.is_empty() {
            self.frames
        } else {
            let source_rate = u64::from(self.source.sample_rate);
            ((self.source_frames * u64::from(self.rate) + source_rate / 2) / source_rate)
                .min(self.frames)
        };
        let end = u64::from(self.pre_skip) + audio * ticks;
        let duration = end
            .checked_sub(u64::try_from(self.writer.granule()).unwrap_or(0))
            .and_then(|d| u32::try_from(d).ok())
            .filter(|&d| d > 0)
            .ok_or_else(|| RenderError::Refused("the Opus stream's end is out of place".into()))?;
        self.writer
            .write_packet_with_duration(&last, duration)
            .map_err(|e| opus_error(e, "Ogg output"))?;
        let out = self
            .writer
            .finish()
            .map_err(|e| opus_error(e, "Ogg output"))?;
        drop(out);
        Ok(Rendered {
            sample_rate: self.rate,
            channels: self.channels,
            bits: 0,
            frames: self.source_frames,
        })
    }
}

/// An `opus-pure` error: writing the output failed (I/O), or the stream is not what it takes.
fn opus_error(e: opus_pure::Error, what: &str) -> RenderError {
    match e {
        opus_pure::Error::Io(io) => RenderError::Io(io),
        e => RenderError::Refused(format!("{what}: {e}")),
    }
}
