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
