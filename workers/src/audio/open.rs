//! Opening a file as audio: the magic-number sniff, then symphonia's container, which must be
//! the one the magic number announced, all under a guard that turns a panic deep inside
//! symphonia into a damaged file.

use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::well_known as format;
use symphonia::core::formats::{FormatId, FormatOptions, FormatReader};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use voicebin_domain::sniff::{sniff, Sniffed, SNIFF_LEN};

use super::ProbeError;

/// Opens `path` as audio and hands its container reader, and the container's short name, to
/// `read`. Blocking.
///
/// Anything without an audio container's magic number is [`ProbeError::NotAudio`] before
/// symphonia sees it, and so is a container other than the one the magic number announced. A
/// panic inside `read` (or symphonia) is [`ProbeError::Damaged`].
pub(super) fn open_audio<T>(
    path: &Path,
    read: impl FnOnce(Box<dyn FormatReader>, &'static str) -> Result<T, ProbeError>,
) -> Result<T, ProbeError> {
    let mut file = File::open(path)?;
    let prefix = read_prefix(&mut file, SNIFF_LEN)?;
    if prefix.is_empty() {
        return Err(ProbeError::NotAudio("the file is empty".into()));
    }
    let sniffed = sniff(&prefix).ok_or_else(|| {
        ProbeError::NotAudio("the file does not start with an audio container signature".into())
    })?;
    drop(prefix);
    file.seek(SeekFrom::Start(0))?;

    // symphonia is pure Rust, but a malformed file could still trip a panic (an overflow or an
    // out-of-bounds index) deep inside a demuxer or decoder: treat that as a damaged file rather
    // than taking the worker down.
    let result = catch_unwind(AssertUnwindSafe(|| {
        let (reader, container) = open_container(file, sniffed)?;
        read(reader, container)
    }));
    result.unwrap_or_else(|_| {
        Err(ProbeError::Damaged(
            "the demuxer or decoder panicked".into(),
        ))
    })
}

/// Read up to `len` bytes from the start of `file`.
fn read_prefix(file: &mut File, len: usize) -> std::io::Result<Vec<u8>> {
    let mut prefix = Vec::with_capacity(len);
    file.by_ref().take(len as u64).read_to_end(&mut prefix)?;
    Ok(prefix)
}

/// Opens the container symphonia finds in `file`, which must be the one `sniffed` announced.
fn open_container(
    file: File,
    sniffed: Sniffed,
) -> Result<(Box<dyn FormatReader>, &'static str), ProbeError> {
    // No hint: the file name must not influence the verdict.
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let reader = symphonia::default::get_probe()
        .probe(
            &Hint::new(),
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(open_error)?;
    let info = reader.format_info();
    let container = container_name(info.format).ok_or_else(|| {
        ProbeError::NotAudio(format!("unsupported container {}", info.short_name))
    })?;
    if !sniff_agrees(sniffed, container) {
        return Err(ProbeError::NotAudio(format!(
            "the file starts like {} but contains {container}",
            sniffed.media_type
        )));
    }
    Ok((reader, container))
}

/// Map symphonia's container to the short name the rest of voicebin uses.
pub(super) fn container_name(id: FormatId) -> Option<&'static str> {
    Some(match id {
        format::FORMAT_ID_WAVE => "wav",
        format::FORMAT_ID_AIFF => "aiff",
        format::FORMAT_ID_CAF => "caf",
        format::FORMAT_ID_MP1 | format::FORMAT_ID_MP2 | format::FORMAT_ID_MP3 => "mp3",
        format::FORMAT_ID_OGG => "ogg",
        format::FORMAT_ID_FLAC => "flac",
        format::FORMAT_ID_ISOMP4 => "mp4",
        format::FORMAT_ID_MKV => "webm",
        _ => return None,
    })
}

/// True if the container symphonia found is the one the magic number announced.
pub(super) fn sniff_agrees(sniffed: Sniffed, container: &str) -> bool {
    let expected = match sniffed.media_type {
        "audio/wav" => "wav",
        "audio/mpeg" => "mp3",
        "audio/ogg" => "ogg",
        "audio/flac" => "flac",
        "audio/mp4" => "mp4",
        "audio/webm" => "webm",
        "audio/aiff" => "aiff",
        "audio/x-caf" => "caf",
        _ => return false,
    };
    // An ID3v2 tag too large to look past may front MPEG audio or FLAC.
    expected == container || (sniffed.unverified_id3 && container == "flac")
}

/// Map an error from opening the container.
fn open_error(e: SymphoniaError) -> ProbeError {
    match e {
        // The magic number already matched, so a container whose essential parts are missing
        // (e.g. "isomp4: missing moov atom", "mkv: missing segment element" in a file cut short)
        // is damaged rather than something else.
        SymphoniaError::Unsupported(what) if what.contains("missing") => {
            ProbeError::Damaged(what.to_string())
        }
        SymphoniaError::Unsupported(what) => ProbeError::NotAudio(what.to_string()),
        SymphoniaError::IoError(e) if e.kind() == ErrorKind::UnexpectedEof => {
            ProbeError::Damaged("the file ends before the container's headers or chunks do".into())
        }
        SymphoniaError::IoError(e) => ProbeError::Io(e),
        other => ProbeError::Damaged(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_must_match_the_magic_number() {
        let wav = Sniffed {
            media_type: "audio/wav",
            unverified_id3: false,
        };
        assert!(sniff_agrees(wav, "wav"));
        assert!(!sniff_agrees(wav, "mp3"));
        let id3 = Sniffed {
            media_type: "audio/mpeg",
            unverified_id3: true,
        };
        assert!(sniff_agrees(id3, "mp3") && sniff_agrees(id3, "flac"));
        assert!(!sniff_agrees(id3, "ogg"));
    }

    #[test]
    fn container_names() {
        assert_eq!(container_name(format::FORMAT_ID_MKV), Some("webm"));
        assert_eq!(container_name(format::FORMAT_ID_ADTS), None);
    }
}
