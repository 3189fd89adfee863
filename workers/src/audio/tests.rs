//! The analysis over real files: the fixtures in `tests/fixtures/audio` (`facts.json` holds
//! ffprobe's facts for them) and files generated here. Each test runs the whole pass, drawing
//! the waveform as the scanner does.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::*;
use crate::scan::scanner::PEAK_COUNT;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/audio")
}

fn fixture(name: &str) -> PathBuf {
    fixture_dir().join(name)
}

#[derive(Debug, serde::Deserialize)]
struct Fact {
    file: String,
    #[serde(default)]
    bad: bool,
    container: Option<String>,
    codec: Option<String>,
    sample_rate: Option<u32>,
    channels: Option<u16>,
    duration_ms: Option<u64>,
}

fn facts() -> Vec<Fact> {
    let text = std::fs::read_to_string(fixture_dir().join("facts.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The facts one pass finds in `path`.
fn probe_file(path: &Path) -> Result<ProbedAudio, ProbeError> {
    probe_file_with(path, DEFAULT_LIMITS)
}

fn probe_file_with(path: &Path, limits: Limits) -> Result<ProbedAudio, ProbeError> {
    analyse_with(path, limits, PEAK_COUNT).map(|analysis| analysis.facts)
}

/// The `count` peaks one pass draws of `path`, which must be accepted and drawn.
fn peaks_at(path: &Path, count: usize) -> Vec<u8> {
    let analysis = analyse(path, count).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    analysis
        .peaks
        .unwrap_or_else(|e| panic!("{}: no peaks: {e}", path.display()))
}

fn peaks_of(name: &str, count: usize) -> Vec<u8> {
    peaks_at(&fixture(name), count)
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

/// `frames` of a 440 Hz tone at about a third of full scale, the same on every channel.
fn tone(sample_rate: u32, channels: u16, frames: u32) -> Vec<i16> {
    (0..frames)
        .flat_map(|i| {
            let t = f64::from(i) / f64::from(sample_rate);
            let s = ((t * 440.0 * std::f64::consts::TAU).sin() * 12_000.0) as i16;
            std::iter::repeat_n(s, usize::from(channels))
        })
        .collect()
}

/// A 16-bit PCM WAV of `frames` of [`tone`].
fn tone_wav(sample_rate: u32, channels: u16, frames: u32) -> Vec<u8> {
    wav_bytes(sample_rate, channels, &tone(sample_rate, channels, frames))
}

fn temp_file(bytes: &[u8], suffix: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(suffix).tempfile().unwrap();
    f.write_all(bytes).unwrap();
    f.flush().unwrap();
    f
}

fn wav_peaks(sample_rate: u32, channels: u16, samples: &[i16], count: usize) -> Vec<u8> {
    let f = temp_file(&wav_bytes(sample_rate, channels, samples), ".wav");
    peaks_at(f.path(), count)
}

/// Tolerance against ffprobe's duration. ffprobe reports MP3 durations including the LAME
/// encoder delay and padding (Xing frame count × samples per frame); we report the gapless
/// duration, so for MP3 the difference may be up to delay + padding (< 2 MPEG frames plus
/// the 529-sample decoder delay: ≈ 105 ms at 22.05 kHz).
fn tolerance_ms(codec: &str) -> u64 {
    match codec {
        "mp3" | "mp2" | "mp1" => 110,
        _ => 60,
    }
}

#[test]
fn good_fixtures_match_ffprobe_facts() {
    let facts = facts();
    let wav_ms = facts
        .iter()
        .find(|f| f.file == "hello.wav")
        .unwrap()
        .duration_ms
        .unwrap();
    let mut seen = 0;
    for fact in facts.iter().filter(|f| !f.bad) {
        let path = fixture_dir().join(&fact.file);
        let probed =
            probe_file(&path).unwrap_or_else(|e| panic!("{}: unexpected error {e}", fact.file));
        assert_eq!(
            Some(&probed.container),
            fact.container.as_ref(),
            "{}",
            fact.file
        );
        assert_eq!(Some(&probed.codec), fact.codec.as_ref(), "{}", fact.file);
        assert_eq!(Some(probed.sample_rate), fact.sample_rate, "{}", fact.file);
        assert_eq!(Some(probed.channels), fact.channels, "{}", fact.file);
        let expected = fact.duration_ms.unwrap();
        let tol = tolerance_ms(&probed.codec);
        eprintln!("{}: probed {probed:?}, ffprobe {expected} ms", fact.file);
        assert!(
            probed.duration_ms.abs_diff(expected) <= tol,
            "{}: probed {} ms, ffprobe {} ms (tolerance {} ms)",
            fact.file,
            probed.duration_ms,
            expected,
            tol
        );
        // Every full-length fixture is the same sentence: the honest duration matches the
        // WAV's to within 60 ms whatever the codec (MP3 included, since we trim its padding).
        if fact.file.starts_with("hello") && fact.file != "hello-stereo-44k.wav"
            || fact.file == "unicode-tags.mp3"
        {
            assert!(
                probed.duration_ms.abs_diff(wav_ms) <= 60,
                "{}: probed {} ms, the source WAV is {} ms",
                fact.file,
                probed.duration_ms,
                wav_ms
            );
        }
        seen += 1;
    }
    assert!(seen >= 12, "only {seen} good fixtures in facts.json");
}

#[test]
fn bad_fixtures_are_errors() {
    let facts = facts();
    let mut seen = 0;
    for fact in facts.iter().filter(|f| f.bad) {
        let path = fixture_dir().join(&fact.file);
        match probe_file(&path) {
            Ok(p) => panic!("{}: accepted as {p:?}", fact.file),
            Err(ProbeError::Io(e)) => panic!("{}: i/o error {e}", fact.file),
            Err(_) => {}
        }
        seen += 1;
    }
    assert_eq!(seen, 5);
}

#[test]
fn specific_errors_for_bad_fixtures() {
    let dir = fixture_dir();
    for name in [
        "not-audio.mp3",
        "elf-binary.mp3",
        "html-disguised.mp3",
        "empty.wav",
    ] {
        let err = probe_file(&dir.join(name)).unwrap_err();
        assert!(matches!(err, ProbeError::NotAudio(_)), "{name}: {err}");
    }
    let err = probe_file(&dir.join("truncated.mp3")).unwrap_err();
    assert!(
        matches!(err, ProbeError::Damaged(_)),
        "truncated.mp3: {err}"
    );
}

#[test]
fn missing_file_is_io_error() {
    let err = probe_file(Path::new("/nonexistent/voicebin/clip.wav")).unwrap_err();
    assert!(matches!(err, ProbeError::Io(_)), "{err}");
}

#[test]
fn generated_one_second_wav() {
    let f = temp_file(&tone_wav(16_000, 1, 16_000), ".wav");
    let probed = probe_file(f.path()).unwrap();
    assert_eq!(
        probed,
        ProbedAudio {
            container: "wav".into(),
            codec: "pcm_s16le".into(),
            sample_rate: 16_000,
            channels: 1,
            duration_ms: 1000,
        }
    );
    // Serialises as plain JSON for the API.
    let json = serde_json::to_value(&probed).unwrap();
    assert_eq!(json["duration_ms"], 1000);
    assert_eq!(json["container"], "wav");
}

#[test]
fn wav_that_claims_more_than_it_holds_reports_what_it_holds() {
    // Header says 10 s, data holds 0.5 s.
    let mut bytes = tone_wav(8_000, 1, 4_000);
    let claimed: u32 = 8_000 * 2 * 10;
    bytes[40..44].copy_from_slice(&claimed.to_le_bytes());
    bytes[4..8].copy_from_slice(&(36 + claimed).to_le_bytes());
    let f = temp_file(&bytes, ".wav");
    match probe_file(f.path()) {
        Ok(p) => assert!(p.duration_ms.abs_diff(500) <= 5, "{p:?}"),
        Err(ProbeError::Damaged(_)) => {}
        Err(e) => panic!("unexpected error {e}"),
    }
}

#[test]
fn truncated_copies_of_good_fixtures_are_never_full_length() {
    // Cut every good fixture in half: either rejected, or at most ~60% of the full length.
    for fact in facts().iter().filter(|f| !f.bad) {
        let bytes = std::fs::read(fixture_dir().join(&fact.file)).unwrap();
        let half = &bytes[..bytes.len() / 2];
        let f = temp_file(half, "");
        let full = fact.duration_ms.unwrap();
        let result = probe_file(f.path());
        eprintln!("{} cut in half: {result:?}", fact.file);
        match result {
            Ok(p) => assert!(
                p.duration_ms <= full * 6 / 10,
                "{} cut in half probed as {} ms of {} ms",
                fact.file,
                p.duration_ms,
                full
            ),
            Err(ProbeError::Io(e)) => panic!("{}: i/o error {e}", fact.file),
            Err(_) => {}
        }
    }
}

#[test]
fn garbage_after_a_valid_header_is_damaged() {
    // A WAV header followed by an MP3 header claiming to be PCM is still PCM and decodes, so
    // use a FLAC signature followed by garbage instead: the container cannot be read.
    let mut bytes = b"fLaC".to_vec();
    bytes.extend(std::iter::repeat_n(0x5Au8, 4096));
    let f = temp_file(&bytes, ".flac");
    let err = probe_file(f.path()).unwrap_err();
    assert!(
        matches!(err, ProbeError::Damaged(_) | ProbeError::NotAudio(_)),
        "{err}"
    );

    // An MP3 whose frames after the first few are overwritten with noise.
    let mut mp3 = std::fs::read(fixture_dir().join("hello.mp3")).unwrap();
    let mut x: u32 = 12345;
    for b in mp3.iter_mut().skip(1000) {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        *b = (x >> 16) as u8;
    }
    let f = temp_file(&mp3, ".mp3");
    match probe_file(f.path()) {
        Ok(p) => assert!(p.duration_ms < 1000, "noisy mp3 probed as {p:?}"),
        Err(ProbeError::Io(e)) => panic!("i/o error {e}"),
        Err(_) => {}
    }
}

/// Write a WAV of `seconds` of 44.1 kHz stereo s16 to `w` without holding it in memory.
fn write_big_wav(w: &mut impl Write, seconds: u32) {
    let rate = 44_100u32;
    let data_len = rate * 4 * seconds;
    let header = tone_wav(rate, 2, 0);
    let mut header = header[..44].to_vec();
    header[4..8].copy_from_slice(&(36 + data_len).to_le_bytes());
    header[40..44].copy_from_slice(&data_len.to_le_bytes());
    w.write_all(&header).unwrap();
    // One second of a 441 Hz tone, repeated.
    let second = tone_wav(rate, 2, rate);
    for _ in 0..seconds {
        w.write_all(&second[44..]).unwrap();
    }
}

#[test]
fn large_generated_wav_is_streamed() {
    // 120 MB: ~11 minutes of CD-quality stereo, written by the test rather than stored.
    let seconds = 680;
    let mut f = tempfile::Builder::new().suffix(".wav").tempfile().unwrap();
    {
        let mut w = std::io::BufWriter::new(f.as_file_mut());
        write_big_wav(&mut w, seconds);
        w.flush().unwrap();
    }
    let start = std::time::Instant::now();
    let probed = probe_file(f.path()).unwrap();
    eprintln!(
        "{} MB probed in {:?}",
        176_400 * seconds / 1_000_000,
        start.elapsed()
    );
    assert_eq!(probed.duration_ms, u64::from(seconds) * 1000);
    assert_eq!((probed.sample_rate, probed.channels), (44_100, 2));
}

#[test]
fn concatenated_mp3s_count_every_copy() {
    // `cat a.mp3 b.mp3 c.mp3`: the first Xing/LAME header describes only the first copy.
    let one = std::fs::read(fixture_dir().join("hello.mp3")).unwrap();
    let three = [one.as_slice(), one.as_slice(), one.as_slice()].concat();
    let f = temp_file(&three, ".mp3");
    let probed = probe_file(f.path()).unwrap();
    let single = probe_file(&fixture_dir().join("hello.mp3"))
        .unwrap()
        .duration_ms;
    // Each later copy brings its own encoder delay/padding frames (real, silent frames).
    assert!(
        probed.duration_ms >= 3 * single && probed.duration_ms <= 3 * single + 300,
        "three copies of {single} ms probed as {} ms",
        probed.duration_ms
    );
}

#[test]
fn chained_ogg_counts_every_link() {
    // `cat a.ogg b.ogg` is a valid chained Ogg stream; players play both links.
    for name in ["hello.ogg", "hello.opus"] {
        let one = std::fs::read(fixture_dir().join(name)).unwrap();
        let single = probe_file(&fixture_dir().join(name)).unwrap();
        let f = temp_file(&[one.as_slice(), one.as_slice()].concat(), ".ogg");
        let probed = probe_file(f.path()).unwrap();
        assert_eq!(probed.codec, single.codec);
        assert!(
            probed.duration_ms.abs_diff(2 * single.duration_ms) <= 2,
            "{name} twice: {} ms, once: {} ms",
            probed.duration_ms,
            single.duration_ms
        );
    }
}

#[test]
fn packet_cap_is_enforced() {
    let f = temp_file(&tone_wav(8_000, 1, 8_000), ".wav");
    let limits = Limits {
        max_packets: 3,
        ..DEFAULT_LIMITS
    };
    let err = probe_file_with(f.path(), limits).unwrap_err();
    assert!(matches!(err, ProbeError::Damaged(_)), "{err}");
}

#[test]
fn spot_checks_still_measure_the_whole_file() {
    // Decode only 2 packets contiguously, then bursts of 2 every 5 packets: the duration must
    // still cover every packet.
    for name in [
        "hello.mp3",
        "hello.ogg",
        "hello.flac",
        "hello.m4a",
        "hello.wav",
    ] {
        let limits = Limits {
            max_packets: 1_000_000,
            contiguous_decode: 2,
            spot_interval: 5,
            spot_burst: 2,
            ..DEFAULT_LIMITS
        };
        let capped = probe_file_with(&fixture_dir().join(name), limits).unwrap();
        let full = probe_file(&fixture_dir().join(name)).unwrap();
        assert_eq!(capped, full, "{name}");
    }
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
    let (_, envelope) = one_pass(&fixture(name), DEFAULT_LIMITS, 1 << 16).unwrap();
    let env = envelope.unwrap();
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
        .map(|i| envelope::level(f32::from(samples[i * 10 / 25]) / 32768.0))
        .collect();
    assert_eq!(peaks, expected);
}

#[test]
fn count_zero_is_empty() {
    // No waveform asked for: no peaks, and the same facts.
    for name in ["hello.wav", "hello.opus"] {
        let analysis = analyse(&fixture(name), 0).unwrap();
        assert_eq!(analysis.peaks.unwrap(), Vec::<u8>::new(), "{name}");
        assert_eq!(
            analysis.facts,
            probe_file(&fixture(name)).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn chained_ogg_opus_is_one_timeline() {
    let one = std::fs::read(fixture("hello.opus")).unwrap();
    let f = temp_file(&[one.as_slice(), one.as_slice()].concat(), ".opus");
    let twice = peaks_at(f.path(), 128);
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
    let quiet = peaks_at(f.path(), 64);
    let loud = peaks_of("hello.webm", 64);
    for (q, l) in quiet.iter().zip(&loud) {
        assert!(q.abs_diff(l / 2) <= 2, "{quiet:?} vs {loud:?}");
    }
}

/// hello.webm with the Opus packet of every block for which `edit(i, packet)` is true
/// rewritten in place, the container left intact; also how many blocks, and how many edited.
fn edited_webm(edit: impl Fn(usize, &mut [u8]) -> bool) -> (tempfile::NamedTempFile, usize, usize) {
    let mut bytes = std::fs::read(fixture("hello.webm")).unwrap();
    let (mut blocks, mut edited) = (0, 0);
    let mut i = 0;
    // SimpleBlock (0xA3), size as a 1-byte vint, track 0x81, 2-byte timecode, flags.
    while i + 8 < bytes.len() {
        if bytes[i] == 0xA3 && bytes[i + 1] & 0x80 != 0 && bytes[i + 2] == 0x81 {
            let len = usize::from(bytes[i + 1] & 0x7F);
            if len > 5 && i + 2 + len <= bytes.len() {
                if edit(blocks, &mut bytes[i + 6..i + 2 + len]) {
                    edited += 1;
                }
                blocks += 1;
                i += 2 + len;
                continue;
            }
        }
        i += 1;
    }
    (temp_file(&bytes, ".webm"), blocks, edited)
}

/// hello.webm with the Opus payload of `keep(i)`-false blocks made invalid (TOC "code 3"
/// with zero frames, which no Opus decoder accepts), the container left intact.
fn garbled_webm(keep: impl Fn(usize) -> bool) -> (tempfile::NamedTempFile, usize, usize) {
    edited_webm(|i, packet| {
        if keep(i) {
            return false;
        }
        packet[0] = 0xFF; // TOC: config 31, code 3
        packet[1] = 0x00; // frame count 0: invalid
        true
    })
}

#[test]
fn undecodable_packets_are_skipped_unless_most_fail() {
    // One block in three broken: skipped, and the envelope still follows the sentence.
    let (f, blocks, garbled) = garbled_webm(|i| i % 3 != 1);
    assert!(blocks > 150 && garbled > 50, "{garbled} of {blocks}");
    let peaks = peaks_at(f.path(), 64);
    let r = pearson(&peaks, &peaks_of("hello.webm", 64));
    assert!(r >= MIN_CORRELATION, "r = {r:.3}");
    // Two in three broken: an error, though a third decodes. The probe's TOC check finds the
    // same packets broken, so the file is rejected before the waveform could be.
    let (f, _, _) = garbled_webm(|i| i % 3 == 1);
    let err = analyse(f.path(), 64).unwrap_err();
    assert!(matches!(err, ProbeError::Damaged(_)), "{err}");
}

#[test]
fn a_file_that_validates_but_cannot_be_drawn_keeps_its_facts() {
    // Two in three blocks of hello.webm turned into code 2 packets whose first frame claims 251
    // bytes: the TOC is valid (the probe accepts them, at 40 ms each), but the frames overrun
    // the packet, so the decoder cannot split them.
    let (f, blocks, broken) = edited_webm(|i, packet| {
        if i % 3 == 1 {
            return false;
        }
        packet[0] = packet[0] & !3 | 2; // TOC: the same configuration, code 2
        packet[1] = 251; // the first frame's length, longer than the packet
        true
    });
    assert!(blocks > 150 && broken > 100, "{broken} of {blocks}");
    let analysis = analyse(f.path(), 64).unwrap();
    assert_eq!(
        (
            analysis.facts.container.as_str(),
            analysis.facts.codec.as_str()
        ),
        ("webm", "opus")
    );
    assert!(
        matches!(analysis.peaks, Err(PeaksError::Decode(_))),
        "{:?}",
        analysis.peaks
    );
}

#[test]
fn opus_past_the_cap_gets_no_peaks_and_the_same_facts() {
    // A one-second cap: the 3.6 s Opus clips stop drawing past it; the facts do not change.
    let capped = Limits {
        max_opus_peaks_ms: 1000,
        ..DEFAULT_LIMITS
    };
    for name in ["hello.opus", "hello.webm"] {
        let full = analyse(&fixture(name), 64).unwrap();
        let analysis = analyse_with(&fixture(name), capped, 64).unwrap();
        assert!(full.peaks.is_ok(), "{name}");
        assert!(
            matches!(analysis.peaks, Err(PeaksError::OpusTooLong)),
            "{name}: {:?}",
            analysis.peaks
        );
        assert_eq!(analysis.facts, full.facts, "{name}");
    }
    // Other codecs are drawn whatever their length.
    let vorbis = analyse_with(&fixture("hello.ogg"), capped, 64).unwrap();
    assert_eq!(vorbis.peaks.unwrap(), peaks_of("hello.ogg", 64));
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
    let err = analyse(f.path(), 64).unwrap_err();
    assert!(matches!(err, ProbeError::NotAudio(_)), "{err}");
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
    let peaks = peaks_at(f.path(), 20);
    eprintln!("20 min WAV: {:?}", start.elapsed());
    let mut want = vec![0u8; 20];
    want[15] = envelope::level(20_000.0 / 32_768.0);
    assert_eq!(peaks, want);
}
