//! Decoding a clip to what speech-to-text engines read: 16 kHz mono, signed 16-bit
//! little-endian PCM, written to any [`Write`] as it is decoded.
//!
//! The same decoders as the waveform (`peaks.rs`: symphonia's, and `opus-decoder` for Opus)
//! produce the samples; channels are averaged and a windowed-sinc resampler
//! ([`Resampler`]) brings them to 16 kHz. Memory stays bounded by one packet and the
//! resampler's few hundred samples of history, whatever the clip's length; `max_ms` bounds the
//! output.
//!
//! Blocking: the transcription stage runs it in the sandboxed child (`decode-sandboxed`).

use std::io::Write;
use std::path::Path;

use symphonia::core::errors::Error as SymphoniaError;

use super::open::open_audio;
use super::peaks::{SampleSink, TrackDecoder};
use super::ProbeError;

/// The sample rate speech-to-text engines take.
pub const PCM_RATE: u32 = 16_000;

/// What a decode wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PcmSummary {
    /// 16 kHz samples written.
    pub samples: u64,
    /// Whether decoding stopped at `max_ms` before the end of the audio.
    pub truncated: bool,
}

/// Decodes the audio at `path` to 16 kHz mono s16le on `out`, at most `max_ms` of it.
pub fn decode_pcm16k(
    path: &Path,
    max_ms: u64,
    out: &mut dyn Write,
) -> Result<PcmSummary, ProbeError> {
    let max_samples = max_ms.saturating_mul(u64::from(PCM_RATE)) / 1000;
    open_audio(path, |mut reader, _container| {
        let damaged = |e: super::PeaksError| ProbeError::Damaged(e.to_string());
        let mut track = TrackDecoder::open(reader.as_ref()).map_err(damaged)?;
        let mut sink = PcmWriter::new(out, max_samples);
        let (mut decoded, mut failed) = (0u64, 0u64);
        while !sink.full() {
            let packet = match reader.next_packet() {
                Ok(Some(packet)) => packet,
                Ok(None) => break,
                Err(SymphoniaError::ResetRequired) => {
                    // The next link of a chained Ogg stream: players play on, and so does this.
                    match TrackDecoder::open(reader.as_ref()) {
                        Ok(next) => {
                            track = next;
                            continue;
                        }
                        Err(_) => break,
                    }
                }
                Err(SymphoniaError::IoError(e))
                    if e.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    break
                }
                Err(SymphoniaError::IoError(e)) => return Err(ProbeError::Io(e)),
                Err(e) => return Err(ProbeError::Damaged(e.to_string())),
            };
            while !reader.metadata().is_latest() {
                reader.metadata().pop();
            }
            if packet.track_id != track.track_id() {
                continue;
            }
            match track.decode(&packet, &mut sink) {
                Ok(()) => decoded += 1,
                Err(_) => failed += 1,
            }
            sink.result()?;
        }
        if decoded == 0 || failed > decoded {
            return Err(ProbeError::Damaged(format!(
                "{failed} of {} packets failed to decode",
                decoded + failed
            )));
        }
        let truncated = sink.full();
        sink.finish()?;
        Ok(PcmSummary {
            samples: sink.written,
            truncated,
        })
    })
}

/// Downmixes, resamples and writes s16le, remembering the first write error.
struct PcmWriter<'a> {
    out: &'a mut dyn Write,
    resampler: Resampler,
    mono: Vec<f32>,
    resampled: Vec<f32>,
    bytes: Vec<u8>,
    written: u64,
    max_samples: u64,
    error: Option<std::io::Error>,
}

impl<'a> PcmWriter<'a> {
    fn new(out: &'a mut dyn Write, max_samples: u64) -> Self {
        PcmWriter {
            out,
            resampler: Resampler::new(PCM_RATE, PCM_RATE),
            mono: Vec::new(),
            resampled: Vec::new(),
            bytes: Vec::new(),
            written: 0,
            max_samples,
            error: None,
        }
    }

    fn full(&self) -> bool {
        self.written >= self.max_samples || self.error.is_some()
    }

    fn set_rate(&mut self, rate: u32) {
        if rate != self.resampler.from {
            self.flush_resampler();
            self.resampler = Resampler::new(rate, PCM_RATE);
        }
    }

    fn flush_resampler(&mut self) {
        self.resampled.clear();
        self.resampler.finish(&mut self.resampled);
        self.write_resampled();
    }

    fn write_resampled(&mut self) {
        let room = usize::try_from(self.max_samples - self.written.min(self.max_samples))
            .unwrap_or(usize::MAX);
        let take = self.resampled.len().min(room);
        self.bytes.clear();
        for &s in &self.resampled[..take] {
            let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
            self.bytes.extend_from_slice(&v.to_le_bytes());
        }
        if self.error.is_none() {
            match self.out.write_all(&self.bytes) {
                Ok(()) => self.written += take as u64,
                Err(e) => self.error = Some(e),
            }
        }
    }

    fn result(&mut self) -> Result<(), ProbeError> {
        match self.error.take() {
            Some(e) => Err(ProbeError::Io(e)),
            None => Ok(()),
        }
    }

    fn finish(&mut self) -> Result<(), ProbeError> {
        if !self.full() {
            self.flush_resampler();
        }
        if let Err(e) = self.out.flush() {
            self.error.get_or_insert(e);
        }
        self.result()
    }
}

impl SampleSink for PcmWriter<'_> {
    fn push(&mut self, samples: &[f32], channels: usize, rate: u32) {
        if self.full() {
            return;
        }
        // The rate is the decoded buffer's own (a chained stream's links may differ).
        self.set_rate(rate);
        let channels = channels.max(1);
        let scale = 1.0 / channels as f32;
        self.mono.clear();
        self.mono.extend(
            samples
                .chunks_exact(channels)
                .map(|frame| frame.iter().sum::<f32>() * scale),
        );
        self.resampled.clear();
        self.resampler.push(&self.mono, &mut self.resampled);
        self.write_resampled();
    }
}

/// Zero crossings of the sinc kernel on each side of its centre.
const ZERO_CROSSINGS: f64 = 16.0;
/// Kernel values tabulated per input sample (linear interpolation between them).
const PHASES: usize = 64;

/// A streaming windowed-sinc resampler (Blackman window, cutoff at 95 % of the lower Nyquist
/// frequency) for one channel.
///
/// Each output sample is the kernel-weighted sum of the input samples around its position; the
/// kernel is tabulated once. It keeps only the input it still needs (the kernel's width), so it
/// takes input of any length, packet by packet.
pub(super) struct Resampler {
    from: u32,
    /// Input samples per output sample.
    step: f64,
    /// Kernel half-width, in input samples.
    half: usize,
    /// The kernel at `PHASES` points per input sample over `[-half, half]`.
    table: Vec<f32>,
    /// Input samples not yet consumed; `history[0]` is input sample number `base`.
    history: Vec<f32>,
    base: u64,
    /// Input position (in input samples) of the next output sample.
    next: f64,
}

impl Resampler {
    pub(super) fn new(from: u32, to: u32) -> Resampler {
        let from = from.max(1);
        let ratio = f64::from(to) / f64::from(from);
        let cutoff = ratio.min(1.0) * 0.95;
        let half = (ZERO_CROSSINGS / cutoff).ceil() as usize;
        let points = 2 * half * PHASES + 1;
        let table = (0..points)
            .map(|i| {
                let x = i as f64 / PHASES as f64 - half as f64;
                let u = x / half as f64;
                let window = 0.42
                    + 0.5 * (std::f64::consts::PI * u).cos()
                    + 0.08 * (2.0 * std::f64::consts::PI * u).cos();
                let t = std::f64::consts::PI * cutoff * x;
                let sinc = if t.abs() < 1e-12 { 1.0 } else { t.sin() / t };
                (cutoff * sinc * window) as f32
            })
            .collect();
        Resampler {
            from,
            step: 1.0 / ratio,
            half,
            table,
            history: Vec::new(),
            base: 0,
            next: 0.0,
        }
    }

    /// Adds `input` and appends every output sample it completes to `out`.
    pub(super) fn push(&mut self, input: &[f32], out: &mut Vec<f32>) {
        self.history.extend_from_slice(input);
        self.drain(out, false);
    }

    /// Appends the output samples still owed at the end of the input (zeros beyond it).
    pub(super) fn finish(&mut self, out: &mut Vec<f32>) {
        self.drain(out, true);
    }

    fn drain(&mut self, out: &mut Vec<f32>, end: bool) {
        let available = self.base + self.history.len() as u64;
        loop {
            let centre = self.next.floor() as u64;
            if end {
                if centre >= available {
                    break;
                }
            } else if centre + self.half as u64 >= available {
                break;
            }
            out.push(self.sample_at(self.next));
            self.next += self.step;
        }
        // Keep what the next output still needs: from `half` samples before its centre.
        let keep_from = (self.next.floor() as u64).saturating_sub(self.half as u64);
        let drop = keep_from
            .saturating_sub(self.base)
            .min(self.history.len() as u64);
        self.history.drain(..drop as usize);
        self.base += drop;
    }

    fn sample_at(&self, position: f64) -> f32 {
        let centre = position.floor() as i64;
        let frac = position - centre as f64;
        let half = self.half as i64;
        let mut sum = 0.0f32;
        for k in (centre - half + 1)..=(centre + half) {
            let index = k - self.base as i64;
            let Some(&x) = usize::try_from(index)
                .ok()
                .and_then(|i| self.history.get(i))
            else {
                continue;
            };
            // Distance from the output position to input sample k, in table steps.
            let d = ((k - centre) as f64 - frac + half as f64) * PHASES as f64;
            let i = d.floor() as usize;
            let f = (d - i as f64) as f32;
            let (a, b) = (
                self.table.get(i).copied().unwrap_or(0.0),
                self.table.get(i + 1).copied().unwrap_or(0.0),
            );
            sum += x * (a + (b - a) * f);
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, hz: f64, seconds: f64) -> Vec<f32> {
        let n = (f64::from(rate) * seconds) as usize;
        (0..n)
            .map(|i| {
                (0.5 * (2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(rate)).sin()) as f32
            })
            .collect()
    }

    fn resample_in_chunks(input: &[f32], from: u32, chunk: usize) -> Vec<f32> {
        let mut r = Resampler::new(from, PCM_RATE);
        let mut out = Vec::new();
        for piece in input.chunks(chunk) {
            r.push(piece, &mut out);
        }
        r.finish(&mut out);
        out
    }

    fn rms(x: &[f32]) -> f64 {
        (x.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / x.len() as f64).sqrt()
    }

    #[test]
    fn speech_band_tones_pass_at_every_common_rate_and_length_is_kept() {
        for from in [8_000, 11_025, 16_000, 22_050, 44_100, 48_000, 96_000] {
            let input = tone(from, 1_000.0, 1.0);
            let out = resample_in_chunks(&input, from, 997);
            let expected = input.len() as f64 * f64::from(PCM_RATE) / f64::from(from);
            assert!(
                (out.len() as f64 - expected).abs() <= 2.0,
                "{from} Hz: {} samples, expected {expected}",
                out.len()
            );
            // Away from the edges, a 1 kHz tone keeps its level (0.5 amplitude: rms 0.354).
            let level = rms(&out[1000..out.len() - 1000]);
            assert!((level - 0.3536).abs() < 0.01, "{from} Hz: rms {level}");
        }
    }

    #[test]
    fn tones_above_the_new_nyquist_frequency_are_removed() {
        for (from, hz) in [(48_000, 12_000.0), (44_100, 9_000.0), (96_000, 30_000.0)] {
            let out = resample_in_chunks(&tone(from, hz, 1.0), from, 4096);
            let level = rms(&out[1000..out.len() - 1000]);
            assert!(level < 0.005, "{hz} Hz from {from} Hz leaks: rms {level}");
        }
    }

    #[test]
    fn chunking_does_not_change_the_output() {
        let input = tone(44_100, 440.0, 0.5);
        let whole = resample_in_chunks(&input, 44_100, input.len());
        let pieces = resample_in_chunks(&input, 44_100, 7);
        assert_eq!(whole.len(), pieces.len());
        for (a, b) in whole.iter().zip(&pieces) {
            assert!((a - b).abs() < 1e-5);
        }
    }
}
