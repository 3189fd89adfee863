//! Renditions of the fixtures that browsers cannot play, checked sample for sample against the
//! source by decoding both.

use std::path::{Path, PathBuf};

use super::*;
use crate::audio::analyse;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/audio")
        .join(name)
}

/// Every sample of `path`'s audio, as the rendition reads it.
fn samples(path: &Path) -> (Format, Vec<i32>) {
    let mut all = Vec::new();
    let format = decode_all(path, |_, samples| {
        all.extend_from_slice(samples);
        Ok(())
    })
    .unwrap()
    .expect("audio");
    (format, all)
}

fn render_to_file(source: &Path) -> (Rendered, tempfile::NamedTempFile) {
    let mut out = Vec::new();
    let rendered = render_flac(source, &mut out).unwrap();
    let mut file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut file, &out).unwrap();
    (rendered, file)
}

#[test]
fn aiff_alac_and_caf_render_to_flac_that_holds_exactly_their_samples() {
    for name in ["hello.aiff", "hello-alac.m4a", "hello.caf"] {
        let source = fixture(name);
        let (rendered, flac) = render_to_file(&source);
        let (format, expected) = samples(&source);
        let (flac_format, got) = samples(flac.path());
        assert_eq!(flac_format, format, "{name}");
        assert_eq!(rendered.bits, 16, "{name}: 16-bit sources stay 16-bit");
        assert_eq!(
            rendered.frames as usize,
            expected.len() / format.channels,
            "{name}"
        );
        assert!(
            got == expected,
            "{name}: the FLAC's samples differ from the source's"
        );
        // The scan's own analysis reads it as FLAC of the same length.
        let facts = analyse(flac.path(), 0).unwrap().facts;
        assert_eq!(
            (facts.container.as_str(), facts.codec.as_str()),
            ("flac", "flac")
        );
        let original = analyse(&source, 0).unwrap().facts;
        assert_eq!(facts.duration_ms, original.duration_ms, "{name}");
        assert_eq!(facts.sample_rate, original.sample_rate, "{name}");
    }
}

#[test]
fn the_stream_info_declares_the_length_and_the_md5_of_the_samples() {
    let (rendered, flac) = render_to_file(&fixture("hello.aiff"));
    let bytes = std::fs::read(flac.path()).unwrap();
    assert_eq!(&bytes[..4], b"fLaC");
    // The STREAMINFO block is the last metadata block, 34 bytes long.
    assert_eq!(bytes[4], 0x80);
    assert_eq!(&bytes[5..8], &[0, 0, 34]);
    let info = &bytes[8..42];
    let total = (u64::from(info[13] & 0x0F) << 32)
        | u64::from(u32::from_be_bytes([info[14], info[15], info[16], info[17]]));
    assert_eq!(total, rendered.frames);
    assert_ne!(&info[18..34], &[0u8; 16], "the MD5 is filled in");
}

#[test]
fn float_pcm_renders_at_24_bits() {
    // A float WAV (format 3) of a quiet tone: browsers do not all play it.
    let rate = 8_000u32;
    let tone: Vec<f32> = (0..rate).map(|i| (i as f32 * 0.05).sin() * 0.5).collect();
    let mut wav = Vec::new();
    let data_len = (tone.len() * 4) as u32;
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&3u16.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&rate.to_le_bytes());
    wav.extend_from_slice(&(rate * 4).to_le_bytes());
    wav.extend_from_slice(&4u16.to_le_bytes());
    wav.extend_from_slice(&32u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for s in &tone {
        wav.extend_from_slice(&s.to_le_bytes());
    }
    let mut file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut file, &wav).unwrap();
    let (rendered, flac) = render_to_file(file.path());
    assert_eq!(rendered.bits, 24);
    assert_eq!(rendered.frames, u64::from(rate));
    let (_, got) = samples(flac.path());
    for (i, (g, s)) in got.iter().zip(&tone).enumerate() {
        let expected = (f64::from(*s) * f64::from(1 << 23)).round();
        assert!(
            (f64::from(*g) - expected).abs() <= 1.0,
            "sample {i}: {g} vs {expected}"
        );
    }
}

#[test]
fn what_is_not_audio_is_refused_and_an_unreadable_file_is_an_io_error() {
    let mut out = Vec::new();
    match render_flac(&fixture("not-audio.mp3"), &mut out) {
        Err(RenderError::Refused(_)) => {}
        other => panic!("{other:?}"),
    }
    match render_flac(Path::new("/nonexistent/voicebin"), &mut out) {
        Err(RenderError::Io(_)) => {}
        other => panic!("{other:?}"),
    }
}

/// A 16-bit PCM WAV of `frames` per channel; `sample(frame, channel)` in [-1, 1].
fn pcm_wav(rate: u32, channels: u16, frames: u32, sample: impl Fn(u32, u16) -> f64) -> Vec<u8> {
    let data_len = frames * u32::from(channels) * 2;
    let mut wav = Vec::new();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&channels.to_le_bytes());
    wav.extend_from_slice(&rate.to_le_bytes());
    wav.extend_from_slice(&(rate * u32::from(channels) * 2).to_le_bytes());
    wav.extend_from_slice(&(channels * 2).to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for frame in 0..frames {
        for channel in 0..channels {
            let s = (sample(frame, channel) * 32767.0).round() as i16;
            wav.extend_from_slice(&s.to_le_bytes());
        }
    }
    wav
}

fn temp_file(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut file, bytes).unwrap();
    file
}

/// An Ogg Opus file decoded at 48 kHz the way a player does (pre-skip and end trim applied):
/// its channel count and interleaved samples.
fn decode_ogg_opus(bytes: &[u8]) -> (usize, Vec<f32>) {
    let mut reader = opus_pure::OggOpusReader::new(bytes).unwrap();
    let channels = usize::from(reader.head().channel_count);
    let mut decoder = reader.head().decoder(48_000).unwrap();
    let mut trim = opus_pure::Trim::new(reader.head(), 48_000, channels).unwrap();
    let mut pcm = vec![0.0f32; opus_pure::MAX_PACKET_SAMPLES * channels];
    let mut all = Vec::new();
    while let Some(packet) = reader.read_packet().unwrap() {
        let n = decoder
            .decode(&packet.data, opus_pure::MAX_PACKET_SAMPLES, &mut pcm)
            .unwrap();
        all.extend_from_slice(trim.keep(&packet, &pcm[..n * channels]));
    }
    (channels, all)
}

/// The best normalised correlation of `got` with `expected` within ±`lag` samples.
fn correlation(got: &[f32], expected: &[f64], lag: usize) -> f64 {
    (0..=2 * lag)
        .map(|shift| {
            let (mut dot, mut a, mut b) = (0.0, 0.0, 0.0);
            for (i, &e) in expected.iter().enumerate() {
                let Some(&g) = (i + shift).checked_sub(lag).and_then(|j| got.get(j)) else {
                    continue;
                };
                dot += f64::from(g) * e;
                a += f64::from(g) * f64::from(g);
                b += e * e;
            }
            dot / (a * b).sqrt().max(f64::MIN_POSITIVE)
        })
        .fold(f64::MIN, f64::max)
}

#[test]
fn aiff_alac_and_caf_render_to_ogg_opus_the_scan_reads_as_long_as_the_source() {
    for name in ["hello.aiff", "hello-alac.m4a", "hello.caf"] {
        let source = fixture(name);
        let mut out = Vec::new();
        let rendered = render_opus(&source, &mut out, 64_000).unwrap();
        let (format, expected) = samples(&source);
        assert_eq!(
            rendered.frames as usize,
            expected.len() / format.channels,
            "{name}"
        );
        let opus = temp_file(&out);
        let facts = analyse(opus.path(), 0).unwrap().facts;
        assert_eq!(
            (facts.container.as_str(), facts.codec.as_str()),
            ("ogg", "opus"),
            "{name}"
        );
        let original = analyse(&source, 0).unwrap().facts;
        assert!(
            facts.duration_ms.abs_diff(original.duration_ms) <= 1,
            "{name}: {} ms from {} ms",
            facts.duration_ms,
            original.duration_ms
        );
        // Decoded as a player does, it is exactly as long as the source at 48 kHz.
        let (channels, decoded) = decode_ogg_opus(&out);
        assert_eq!(channels, format.channels, "{name}");
        let rate = u64::from(format.sample_rate);
        let expected_48k = (rendered.frames * 48_000 + rate / 2) / rate;
        assert!(
            (decoded.len() / channels) as u64 == expected_48k,
            "{name}: {} samples at 48 kHz, expected {expected_48k}",
            decoded.len() / channels
        );
    }
}

#[test]
fn a_tone_comes_back_as_the_same_tone_from_a_resampled_and_a_native_rate() {
    // 44.1 kHz stereo (resampled to 48 kHz) and 16 kHz mono (coded as it is): a 440 Hz tone
    // in the left channel and 660 Hz in the right.
    for (rate, channels) in [(44_100u32, 2u16), (16_000, 1)] {
        let hz = |channel: u16| if channel == 0 { 440.0 } else { 660.0 };
        let tone =
            |t: f64, channel: u16| 0.5 * (2.0 * std::f64::consts::PI * hz(channel) * t).sin();
        let wav = pcm_wav(rate, channels, rate, |frame, channel| {
            tone(f64::from(frame) / f64::from(rate), channel)
        });
        let source = temp_file(&wav);
        let mut out = Vec::new();
        let rendered = render_opus(source.path(), &mut out, 96_000).unwrap();
        assert_eq!(rendered.channels, usize::from(channels));
        let (decoded_channels, decoded) = decode_ogg_opus(&out);
        assert_eq!(decoded_channels, usize::from(channels));
        assert_eq!(
            decoded.len() / decoded_channels,
            48_000,
            "{rate} Hz: one second"
        );
        for channel in 0..channels {
            let got: Vec<f32> = decoded
                .iter()
                .skip(usize::from(channel))
                .step_by(usize::from(channels))
                .copied()
                .collect();
            // Away from the edges, where the encoder starts and stops.
            let expected: Vec<f64> = (2_400..45_600)
                .map(|i| tone(f64::from(i) / 48_000.0, channel))
                .collect();
            let r = correlation(&got[2_400..45_600], &expected, 48);
            assert!(r > 0.98, "{rate} Hz, channel {channel}: correlation {r}");
        }
    }
}

#[test]
fn opus_refuses_more_than_two_channels_and_what_is_not_audio() {
    let wav = pcm_wav(48_000, 3, 4_800, |_, _| 0.0);
    let source = temp_file(&wav);
    let mut out = Vec::new();
    match render_opus(source.path(), &mut out, 96_000) {
        Err(RenderError::Refused(why)) => assert!(why.contains("at most 2 channels"), "{why}"),
        other => panic!("{other:?}"),
    }
    match render_opus(&fixture("not-audio.mp3"), &mut out, 96_000) {
        Err(RenderError::Refused(_)) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn opus_ends_where_the_audio_ends_at_any_length_and_rate() {
    // From a single sample to just past a packet, at native and resampled rates, 8 bits and 16.
    for (rate, frames) in [
        (48_000u32, 1u32),
        (48_000, 960),
        (48_000, 961),
        (8_000, 3),
        (11_025, 1_000),
        (96_000, 5_000),
    ] {
        let wav = pcm_wav(rate, 1, frames, |i, _| ((i % 50) as f64 / 50.0) - 0.5);
        let source = temp_file(&wav);
        let mut out = Vec::new();
        let rendered = render_opus(source.path(), &mut out, 32_000)
            .unwrap_or_else(|e| panic!("{frames} frames at {rate} Hz: {e}"));
        assert_eq!(rendered.frames, u64::from(frames));
        let (_, decoded) = decode_ogg_opus(&out);
        let expected = (u64::from(frames) * 48_000 + u64::from(rate) / 2) / u64::from(rate);
        assert_eq!(
            decoded.len() as u64,
            expected,
            "{frames} frames at {rate} Hz"
        );
    }
}
