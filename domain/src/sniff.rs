//! Magic-number sniffing of uploaded audio.
//!
//! [`sniff_audio`] looks only at the first bytes of an upload and decides which audio container it
//! claims to be. It never trusts a file name or a client-supplied `Content-Type`. It is a cheap
//! first gate: the scan worker's probe still demuxes (and where possible decodes) the whole
//! file before anything is accepted.

/// How many leading bytes callers should pass to [`sniff_audio`] (or the whole file if shorter).
pub const SNIFF_LEN: usize = 64 * 1024;

/// Decide the audio media type of an upload from its first bytes (callers pass at least the first
/// [`SNIFF_LEN`] bytes, or the whole file if it is shorter).
///
/// Returns one of `"audio/wav"`, `"audio/mpeg"`, `"audio/ogg"`, `"audio/flac"`, `"audio/mp4"`,
/// `"audio/webm"`, `"audio/aiff"` or `"audio/x-caf"`, or `None` if the bytes are not one of these
/// containers (empty input, images, executables, HTML, text, ...).
///
/// Only magic numbers are used; the decision is deliberately strict:
/// * An MPEG audio stream must start (after any ID3v2 tags) with a frame header whose version,
///   layer, bitrate and sample-rate fields are all valid, and when the prefix is long enough the
///   next frame must start exactly where the first one ends.
/// * An ISO BMFF (`ftyp`) file must carry an audio-capable brand and no image brand (HEIF/AVIF
///   files are ISO BMFF too).
/// * Ogg is `audio/ogg` whatever its codec (Opus, Vorbis, FLAC); which codec it really holds is
///   the probe's business.
pub fn sniff_audio(prefix: &[u8]) -> Option<&'static str> {
    sniff(prefix).map(|s| s.media_type)
}

/// The result of sniffing, with a little more detail than the public function returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sniffed {
    /// The media type, as returned by [`sniff_audio`].
    pub media_type: &'static str,
    /// True if the decision rests only on an ID3v2 tag that runs past the end of the prefix, so
    /// what follows the tag (usually MPEG audio, sometimes FLAC or ADTS) could not be checked.
    pub unverified_id3: bool,
}

/// Maximum number of consecutive ID3v2 tags that are skipped.
const MAX_ID3_TAGS: usize = 4;

/// Sniffs `prefix`, keeping the detail of how sure the decision is.
pub fn sniff(prefix: &[u8]) -> Option<Sniffed> {
    let mut pos = 0usize;
    let mut tags = 0usize;

    loop {
        let rest = &prefix[pos..];
        match id3v2_len(rest) {
            Some(len) => {
                tags += 1;
                if tags > MAX_ID3_TAGS {
                    return None;
                }
                if len >= rest.len() {
                    // The tag runs to (or past) the end of the prefix. An ID3v2 tag at the start
                    // of a file is, by convention, an MP3 file; the probe verifies the rest.
                    return Some(Sniffed {
                        media_type: "audio/mpeg",
                        unverified_id3: true,
                    });
                }
                pos += len;
                // Some taggers leave zero padding after the declared tag size.
                let zeros = prefix[pos..]
                    .iter()
                    .take(4096)
                    .take_while(|b| **b == 0)
                    .count();
                pos += zeros;
                if pos >= prefix.len() {
                    return Some(Sniffed {
                        media_type: "audio/mpeg",
                        unverified_id3: true,
                    });
                }
            }
            None => break,
        }
    }

    let data = &prefix[pos..];
    let after_id3 = tags > 0;

    let media_type = if after_id3 {
        // After an ID3v2 tag only MPEG audio or FLAC (and nothing else we accept) may follow.
        if data.starts_with(b"fLaC") {
            "audio/flac"
        } else if is_mpeg_audio(data) {
            "audio/mpeg"
        } else {
            return None;
        }
    } else if data.len() >= 12 && &data[0..4] == b"RIFF" && &data[8..12] == b"WAVE" {
        "audio/wav"
    } else if data.len() >= 5 && &data[0..4] == b"OggS" && data[4] == 0 {
        // Byte 4 is the Ogg stream structure version, which is always 0.
        "audio/ogg"
    } else if data.starts_with(b"fLaC") {
        "audio/flac"
    } else if data.len() >= 12
        && &data[0..4] == b"FORM"
        && (&data[8..12] == b"AIFF" || &data[8..12] == b"AIFC")
    {
        "audio/aiff"
    } else if data.len() >= 8 && &data[0..4] == b"caff" && data[4..6] == [0x00, 0x01] {
        // "caff", then the 16-bit file version (always 1) and 16-bit flags.
        "audio/x-caf"
    } else if data.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        // EBML header: Matroska or WebM.
        "audio/webm"
    } else if is_audio_ftyp(data) {
        "audio/mp4"
    } else if is_mpeg_audio(data) {
        "audio/mpeg"
    } else {
        return None;
    };

    Some(Sniffed {
        media_type,
        unverified_id3: false,
    })
}

/// If `buf` starts with a plausible ID3v2 tag header, return the full tag length (header, body
/// and optional footer).
fn id3v2_len(buf: &[u8]) -> Option<usize> {
    if buf.len() < 10 || &buf[0..3] != b"ID3" {
        return None;
    }
    let major = buf[3];
    let revision = buf[4];
    let flags = buf[5];
    if !(2..=4).contains(&major) || revision == 0xFF {
        return None;
    }
    // The size is a 28-bit "syncsafe" integer: the top bit of every byte is zero.
    if buf[6..10].iter().any(|b| b & 0x80 != 0) {
        return None;
    }
    let size = buf[6..10]
        .iter()
        .fold(0usize, |acc, b| (acc << 7) | usize::from(*b));
    let footer = if major == 4 && flags & 0x10 != 0 {
        10
    } else {
        0
    };
    Some(10 + size + footer)
}

/// A parsed MPEG audio frame header (MPEG-1, MPEG-2 and MPEG-2.5, layers I-III).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MpegHeader {
    /// 1 = MPEG-1, 2 = MPEG-2, 25 = MPEG-2.5.
    version: u8,
    /// 1, 2 or 3.
    layer: u8,
    sample_rate: u32,
    /// Total frame length in bytes, header included.
    frame_len: usize,
}

/// Bitrates in kbit/s, indexed by `[table][bitrate_index]`.
/// Tables: 0 = MPEG-1 layer I, 1 = MPEG-1 layer II, 2 = MPEG-1 layer III,
/// 3 = MPEG-2/2.5 layer I, 4 = MPEG-2/2.5 layers II and III.
const BITRATES_KBPS: [[u32; 16]; 5] = [
    [
        0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448, 0,
    ],
    [
        0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 0,
    ],
    [
        0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0,
    ],
    [
        0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256, 0,
    ],
    [
        0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0,
    ],
];

/// Parse and validate a 4-byte MPEG audio frame header. Free-format (bitrate index 0) frames are
/// rejected because their length cannot be known from the header.
fn parse_mpeg_header(h: &[u8]) -> Option<MpegHeader> {
    if h.len() < 4 || h[0] != 0xFF || h[1] & 0xE0 != 0xE0 {
        return None;
    }
    let version = match (h[1] >> 3) & 0b11 {
        0b00 => 25,
        0b10 => 2,
        0b11 => 1,
        _ => return None, // reserved
    };
    let layer = match (h[1] >> 1) & 0b11 {
        0b01 => 3,
        0b10 => 2,
        0b11 => 1,
        _ => return None, // reserved (0b00 is what ADTS AAC uses)
    };
    let bitrate_index = usize::from(h[2] >> 4);
    if bitrate_index == 0 || bitrate_index == 0xF {
        return None; // free format or bad
    }
    let base_rate = match (h[2] >> 2) & 0b11 {
        0 => 44_100,
        1 => 48_000,
        2 => 32_000,
        _ => return None, // reserved
    };
    if h[3] & 0b11 == 0b10 {
        return None; // reserved emphasis
    }
    let sample_rate = match version {
        1 => base_rate,
        2 => base_rate / 2,
        _ => base_rate / 4,
    };
    let table = match (version, layer) {
        (1, 1) => 0,
        (1, 2) => 1,
        (1, _) => 2,
        (_, 1) => 3,
        _ => 4,
    };
    let bitrate = BITRATES_KBPS[table][bitrate_index] * 1000;
    let padding = usize::from((h[2] >> 1) & 1);
    let frame_len = match (version, layer) {
        (_, 1) => (12 * bitrate / sample_rate) as usize * 4 + padding * 4,
        (1, _) | (_, 2) => (144 * bitrate / sample_rate) as usize + padding,
        _ => (72 * bitrate / sample_rate) as usize + padding,
    };
    if frame_len < 4 {
        return None;
    }
    Some(MpegHeader {
        version,
        layer,
        sample_rate,
        frame_len,
    })
}

/// True if `data` starts with a valid MPEG audio frame header and, when the prefix is long enough,
/// the next frame starts right after the first one with the same version, layer and sample rate.
fn is_mpeg_audio(data: &[u8]) -> bool {
    let Some(first) = parse_mpeg_header(data) else {
        return false;
    };
    let next = &data[first.frame_len.min(data.len())..];
    if next.len() < 4 {
        // The whole prefix is (at most) one frame: a single valid header is all we can check.
        return true;
    }
    match parse_mpeg_header(next) {
        Some(second) => {
            second.version == first.version
                && second.layer == first.layer
                && second.sample_rate == first.sample_rate
        }
        None => false,
    }
}

/// Brands of ISO BMFF files that can hold plain audio.
const AUDIO_BRANDS: &[&[u8; 4]] = &[
    b"M4A ", b"M4B ", b"M4P ", b"mp41", b"mp42", b"isom", b"iso2", b"iso3", b"iso4", b"iso5",
    b"iso6", b"iso7", b"iso8", b"iso9", b"dash", b"3gp4", b"3gp5", b"3gp6", b"3gp7", b"3g2a",
    b"3g2b", b"3g2c", b"MSNV", b"f4a ", b"caqv",
];

/// Brands that mark an ISO BMFF file as a still image or image sequence (HEIF, AVIF, ...).
const IMAGE_BRANDS: &[&[u8; 4]] = &[
    b"mif1", b"mif2", b"msf1", b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"avif",
    b"avis", b"avio", b"jpeg", b"jpgs", b"crx ",
];

/// True for an ISO BMFF `ftyp` box that names an audio-capable brand and no image brand.
fn is_audio_ftyp(data: &[u8]) -> bool {
    if data.len() < 16 || &data[4..8] != b"ftyp" {
        return false;
    }
    let size = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
    // ftyp = size, type, major brand, minor version, then whole compatible brands.
    if !(16..=4096).contains(&size) || !(size - 16).is_multiple_of(4) {
        return false;
    }
    let end = size.min(data.len());
    let major = &data[8..12];
    let compatible = data[16..end].chunks_exact(4);
    let brands = std::iter::once(major).chain(compatible);

    let mut audio = false;
    for brand in brands {
        if IMAGE_BRANDS.iter().any(|b| &b[..] == brand) {
            return false;
        }
        if AUDIO_BRANDS.iter().any(|b| &b[..] == brand) {
            audio = true;
        }
    }
    audio
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../tests/fixtures/audio/{}",
            env!("CARGO_MANIFEST_DIR"),
            name
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
    }

    fn sniff_fixture(name: &str) -> Option<&'static str> {
        let bytes = fixture(name);
        let prefix = &bytes[..bytes.len().min(SNIFF_LEN)];
        sniff_audio(prefix)
    }

    #[test]
    fn good_fixtures_are_recognised() {
        let cases = [
            ("hello.wav", "audio/wav"),
            ("hello-stereo-44k.wav", "audio/wav"),
            ("hello.mp3", "audio/mpeg"),
            ("unicode-tags.mp3", "audio/mpeg"),
            ("hello.ogg", "audio/ogg"),
            ("hello.opus", "audio/ogg"),
            ("hello.flac", "audio/flac"),
            ("hello.m4a", "audio/mp4"),
            ("hello-alac.m4a", "audio/mp4"),
            ("hello.webm", "audio/webm"),
            ("hello-live.webm", "audio/webm"),
            ("hello.aiff", "audio/aiff"),
            ("hello.caf", "audio/x-caf"),
        ];
        for (name, expected) in cases {
            assert_eq!(sniff_fixture(name), Some(expected), "{name}");
        }
    }

    #[test]
    fn disguised_fixtures_are_refused() {
        for name in [
            "not-audio.mp3",
            "elf-binary.mp3",
            "html-disguised.mp3",
            "empty.wav",
        ] {
            assert_eq!(sniff_fixture(name), None, "{name}");
        }
    }

    #[test]
    fn truncated_mp3_still_looks_like_mp3() {
        // Sniffing only looks at the magic; the probe is what rejects the truncated stream.
        assert_eq!(sniff_fixture("truncated.mp3"), Some("audio/mpeg"));
    }

    #[test]
    fn id3_tag_is_skipped_and_what_follows_is_checked() {
        let mp3 = fixture("hello.mp3");
        let flac = fixture("hello.flac");
        let tag = |body_len: usize| {
            let mut t = b"ID3\x04\x00\x00".to_vec();
            let s = body_len as u32;
            t.extend([
                (s >> 21) as u8 & 0x7F,
                (s >> 14) as u8 & 0x7F,
                (s >> 7) as u8 & 0x7F,
            ]);
            t.push(s as u8 & 0x7F);
            t.extend(std::iter::repeat_n(0u8, body_len));
            t
        };

        let mut tagged_mp3 = tag(100);
        tagged_mp3.extend_from_slice(&mp3);
        assert_eq!(sniff_audio(&tagged_mp3), Some("audio/mpeg"));

        let mut tagged_flac = tag(100);
        tagged_flac.extend_from_slice(&flac);
        assert_eq!(sniff_audio(&tagged_flac), Some("audio/flac"));

        let mut tagged_html = tag(100);
        tagged_html.extend_from_slice(b"<html><script>alert(1)</script></html>");
        assert_eq!(sniff_audio(&tagged_html), None);

        // A tag larger than the prefix cannot be skipped: by convention it is MP3.
        let big = tag(SNIFF_LEN + 10);
        assert_eq!(sniff_audio(&big[..SNIFF_LEN]), Some("audio/mpeg"));
        assert_eq!(
            sniff(&big[..SNIFF_LEN]),
            Some(Sniffed {
                media_type: "audio/mpeg",
                unverified_id3: true
            })
        );

        // Not a syncsafe size.
        assert_eq!(sniff_audio(b"ID3\x04\x00\x00\x80\x00\x00\x00rest"), None);
    }

    #[test]
    fn text_starting_with_ff_is_not_mpeg() {
        // 0xFF followed by text: no frame sync.
        assert_eq!(sniff_audio(b"\xFFhello world, this is text"), None);
        // Frame sync but reserved version.
        assert_eq!(sniff_audio(&[0xFF, 0xE9, 0x90, 0x00, 0, 0, 0, 0]), None);
        // Frame sync but reserved layer (this is what ADTS AAC looks like).
        assert_eq!(sniff_audio(&[0xFF, 0xF1, 0x50, 0x80, 0, 0, 0, 0]), None);
        // Bad bitrate index.
        assert_eq!(sniff_audio(&[0xFF, 0xFB, 0xF0, 0x00, 0, 0, 0, 0]), None);
        // Free-format bitrate.
        assert_eq!(sniff_audio(&[0xFF, 0xFB, 0x00, 0x00, 0, 0, 0, 0]), None);
        // Reserved sample-rate index.
        assert_eq!(sniff_audio(&[0xFF, 0xFB, 0x9C, 0x00, 0, 0, 0, 0]), None);
        // A valid MPEG-1 layer III header (128 kbit/s, 44.1 kHz: 417-byte frames) followed by
        // text where the next frame should begin.
        let mut fake = vec![0xFF, 0xFB, 0x90, 0x00];
        fake.extend(std::iter::repeat_n(b'a', 600));
        assert_eq!(sniff_audio(&fake), None);
        // The same header followed by a second valid header at the right offset.
        let mut two = vec![0xFF, 0xFB, 0x90, 0x00];
        two.extend(std::iter::repeat_n(0u8, 413));
        two.extend([0xFF, 0xFB, 0x90, 0x00]);
        two.extend(std::iter::repeat_n(0u8, 413));
        assert_eq!(sniff_audio(&two), Some("audio/mpeg"));
        // A lone valid header (a file shorter than one frame) is accepted by the sniffer.
        assert_eq!(
            sniff_audio(&[0xFF, 0xFB, 0x90, 0x00, 0, 0]),
            Some("audio/mpeg")
        );
    }

    #[test]
    fn mpeg_frame_lengths() {
        // MPEG-1 layer III, 128 kbit/s, 44.1 kHz, no padding: 417 bytes.
        let h = parse_mpeg_header(&[0xFF, 0xFB, 0x90, 0x00]).unwrap();
        assert_eq!(
            (h.version, h.layer, h.sample_rate, h.frame_len),
            (1, 3, 44_100, 417)
        );
        // MPEG-2 layer III, 64 kbit/s, 22.05 kHz, no padding: 208 bytes (the fixtures).
        let h = parse_mpeg_header(&[0xFF, 0xF3, 0x80, 0xC0]).unwrap();
        assert_eq!(
            (h.version, h.layer, h.sample_rate, h.frame_len),
            (2, 3, 22_050, 208)
        );
        // MPEG-1 layer I, 32 kbit/s, 48 kHz: 32 bytes.
        let h = parse_mpeg_header(&[0xFF, 0xFF, 0x14, 0x00]).unwrap();
        assert_eq!(
            (h.version, h.layer, h.sample_rate, h.frame_len),
            (1, 1, 48_000, 32)
        );
    }

    #[test]
    fn other_magic_numbers() {
        assert_eq!(sniff_audio(b""), None);
        assert_eq!(
            sniff_audio(b"RIFF\x24\x00\x00\x00WAVEfmt "),
            Some("audio/wav")
        );
        assert_eq!(sniff_audio(b"RIFF\x24\x00\x00\x00AVI LIST"), None);
        assert_eq!(sniff_audio(b"OggS\x00\x02"), Some("audio/ogg"));
        assert_eq!(sniff_audio(b"OggS\x01\x02"), None);
        assert_eq!(
            sniff_audio(b"FORM\x00\x00\x00\x10AIFCFVER"),
            Some("audio/aiff")
        );
        assert_eq!(sniff_audio(b"FORM\x00\x00\x00\x10ILBMBMHD"), None);
        assert_eq!(
            sniff_audio(b"caff\x00\x01\x00\x00desc"),
            Some("audio/x-caf")
        );
        assert_eq!(sniff_audio(b"caff\x00\x02\x00\x00desc"), None);
        assert_eq!(
            sniff_audio(b"\x1A\x45\xDF\xA3\x9F\x42\x86\x81"),
            Some("audio/webm")
        );
        assert_eq!(sniff_audio(b"\x7FELF\x02\x01\x01\x00"), None);
        assert_eq!(sniff_audio(b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"), None);
        assert_eq!(sniff_audio(b"GIF89a"), None);
        assert_eq!(sniff_audio(b"\xFF\xD8\xFF\xE0\x00\x10JFIF"), None);
        assert_eq!(sniff_audio(b"%PDF-1.7"), None);
        assert_eq!(sniff_audio(b"<!DOCTYPE html><html>"), None);
        assert_eq!(sniff_audio(b"just some plain text\n"), None);
    }

    #[test]
    fn ftyp_brands() {
        fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
            let size = 16 + 4 * compatible.len();
            let mut v = (size as u32).to_be_bytes().to_vec();
            v.extend_from_slice(b"ftyp");
            v.extend_from_slice(major);
            v.extend_from_slice(&[0, 0, 2, 0]);
            for c in compatible {
                v.extend_from_slice(*c);
            }
            v.extend_from_slice(b"\x00\x00\x00\x08free");
            v
        }
        assert_eq!(
            sniff_audio(&ftyp(b"M4A ", &[b"M4A ", b"mp42", b"isom"])),
            Some("audio/mp4")
        );
        assert_eq!(
            sniff_audio(&ftyp(b"iso5", &[b"iso5", b"dash", b"mp41"])),
            Some("audio/mp4")
        );
        assert_eq!(
            sniff_audio(&ftyp(b"3gp4", &[b"isom", b"3gp4"])),
            Some("audio/mp4")
        );
        // HEIC and AVIF images are ISO BMFF too.
        assert_eq!(sniff_audio(&ftyp(b"heic", &[b"mif1", b"heic"])), None);
        assert_eq!(
            sniff_audio(&ftyp(b"avif", &[b"avif", b"mif1", b"miaf", b"isom"])),
            None
        );
        // Unknown brand only.
        assert_eq!(sniff_audio(&ftyp(b"zzzz", &[b"zzzz"])), None);
        // Box size not a whole number of brands.
        let mut bad = ftyp(b"M4A ", &[b"M4A "]);
        bad[3] = 19;
        assert_eq!(sniff_audio(&bad), None);
    }
}
