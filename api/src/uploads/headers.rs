//! The header fields of the two resumable-upload protocols, parsed and written: tus 1.0's
//! (`Upload-Offset`, `Upload-Length`, `Upload-Metadata`, `Upload-Checksum`, ...) and the IETF
//! draft's structured fields (`Upload-Complete: ?1`, `Upload-Limit: max-size=…`).

use base64::Engine;

use crate::error::{ApiError, Code};
use crate::usecases::clips::RawMeta;
use crate::usecases::resumable::{Checksum, ChecksumAlgorithm};

/// The tus version spoken.
pub const TUS_VERSION: &str = "1.0.0";

/// The tus extensions offered.
pub const TUS_EXTENSIONS: &str =
    "creation,creation-with-upload,creation-defer-length,expiration,termination,checksum";

/// The draft's interop version spoken (draft-ietf-httpbis-resumable-upload-09 to -11).
pub const INTEROP_VERSION: &str = "8";

/// The body type of a tus append.
pub const TUS_BODY: &str = "application/offset+octet-stream";

/// The body type of a draft append.
pub const DRAFT_BODY: &str = "application/partial-upload";

fn bad(field: &str, detail: impl Into<String>) -> ApiError {
    ApiError::new(Code::BadRequest, detail).with_field(field)
}

/// A header's one value as text; 400 when sent twice or not visible ASCII.
pub fn one<'a>(req: &'a poem::Request, name: &str) -> Result<Option<&'a str>, ApiError> {
    let mut values = req.headers().get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(bad(name, format!("`{name}` is sent more than once")));
    }
    value
        .to_str()
        .map(|v| Some(v.trim()))
        .map_err(|_| bad(name, format!("`{name}` is not ASCII")))
}

/// A non-negative integer field (tus's, and the draft's sf-integer: at most 15 digits).
pub fn integer(req: &poem::Request, name: &str) -> Result<Option<u64>, ApiError> {
    let Some(value) = one(req, name)? else {
        return Ok(None);
    };
    if value.is_empty() || value.len() > 15 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(
            name,
            format!("`{name}` must be a non-negative whole number, not {value:?}"),
        ));
    }
    value
        .parse()
        .map(Some)
        .map_err(|_| bad(name, format!("`{name}` is out of range")))
}

/// The draft's `Upload-Complete`: `?1` or `?0`; any other value is ignored, as the draft says.
pub fn upload_complete(req: &poem::Request) -> Result<Option<bool>, ApiError> {
    Ok(match one(req, "upload-complete")? {
        Some("?1") => Some(true),
        Some("?0") => Some(false),
        _ => None,
    })
}

/// tus's `Upload-Metadata`: `key base64,key base64`, as the clip's metadata. The keys taken:
/// `filename` (or `name`), `title`, `description`, `download_limit` and `expires_in`; others
/// (`filetype`, ...) are ignored.
pub fn tus_metadata(value: Option<&str>) -> Result<RawMeta, ApiError> {
    let mut meta = RawMeta::default();
    let Some(value) = value else {
        return Ok(meta);
    };
    let mut seen = std::collections::HashSet::new();
    for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, encoded) = pair.split_once(' ').unwrap_or((pair, ""));
        if !seen.insert(key) {
            return Err(bad(
                "upload-metadata",
                format!("`Upload-Metadata` names {key:?} twice"),
            ));
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| {
                bad(
                    "upload-metadata",
                    format!("the value of {key:?} in `Upload-Metadata` is not base64 of UTF-8"),
                )
            })?;
        let slot = match key {
            "filename" | "name" => &mut meta.filename,
            "title" => &mut meta.title,
            "description" => &mut meta.description,
            "download_limit" => &mut meta.download_limit,
            "expires_in" => &mut meta.expires_in,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(decoded).filter(|v| !v.is_empty());
        }
    }
    Ok(meta)
}

/// The clip's metadata as tus's `Upload-Metadata` (what `HEAD` echoes).
pub fn render_tus_metadata(meta: &RawMeta) -> String {
    let encode = |v: &str| base64::engine::general_purpose::STANDARD.encode(v);
    [
        ("filename", &meta.filename),
        ("title", &meta.title),
        ("description", &meta.description),
        ("download_limit", &meta.download_limit),
        ("expires_in", &meta.expires_in),
    ]
    .into_iter()
    .filter_map(|(key, value)| value.as_deref().map(|v| format!("{key} {}", encode(v))))
    .collect::<Vec<_>>()
    .join(",")
}

/// tus's `Upload-Checksum: <algorithm> <base64 digest>`.
pub fn checksum(req: &poem::Request) -> Result<Option<Checksum>, ApiError> {
    let Some(value) = one(req, "upload-checksum")? else {
        return Ok(None);
    };
    let (name, digest) = value.split_once(' ').ok_or_else(|| {
        bad(
            "upload-checksum",
            "`Upload-Checksum` is `<algorithm> <base64>`",
        )
    })?;
    let algorithm = ChecksumAlgorithm::ALL
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, a)| *a)
        .ok_or_else(|| {
            bad(
                "upload-checksum",
                format!("checksum algorithm {name:?} is not supported (sha1, sha256)"),
            )
        })?;
    let digest = base64::engine::general_purpose::STANDARD
        .decode(digest.trim())
        .map_err(|_| bad("upload-checksum", "the checksum is not base64"))?;
    Ok(Some(Checksum { algorithm, digest }))
}

/// The draft's `Upload-Limit` for a size limit and an upload's remaining lifetime.
pub fn upload_limit(max_size: u64, max_age: Option<i64>) -> String {
    match max_age {
        Some(age) => format!("max-size={max_size}, max-age={}", age.max(0)),
        None => format!("max-size={max_size}"),
    }
}

/// A `Content-Type`'s media type, lower-cased, without parameters.
pub fn media_type(req: &poem::Request) -> Option<String> {
    req.headers()
        .get(poem::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> poem::Request {
        let mut builder = poem::Request::builder();
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.finish()
    }

    #[test]
    fn integers_are_whole_non_negative_and_sent_once() {
        assert_eq!(integer(&req(&[]), "upload-offset").unwrap(), None);
        assert_eq!(
            integer(&req(&[("upload-offset", "42")]), "upload-offset").unwrap(),
            Some(42)
        );
        for bad in ["-1", "1.0", "", "0x10", "1234567890123456", " "] {
            assert!(
                integer(&req(&[("upload-offset", bad)]), "upload-offset").is_err(),
                "{bad:?}"
            );
        }
        assert!(integer(
            &req(&[("upload-offset", "1"), ("upload-offset", "1")]),
            "upload-offset"
        )
        .is_err());
    }

    #[test]
    fn upload_complete_is_a_structured_boolean_and_anything_else_is_ignored() {
        assert_eq!(
            upload_complete(&req(&[("upload-complete", "?1")])).unwrap(),
            Some(true)
        );
        assert_eq!(
            upload_complete(&req(&[("upload-complete", "?0")])).unwrap(),
            Some(false)
        );
        assert_eq!(
            upload_complete(&req(&[("upload-complete", "true")])).unwrap(),
            None
        );
        assert_eq!(upload_complete(&req(&[])).unwrap(), None);
    }

    #[test]
    fn tus_metadata_maps_known_keys_and_round_trips() {
        // As tus-js-client sends it: `filename` and `filetype`, base64 with padding.
        let meta = tus_metadata(Some(
            "filename bWVldGluZy5tcDM=,filetype YXVkaW8vbXBlZw==,title w6l0w6k=,is_confidential",
        ))
        .unwrap();
        assert_eq!(meta.filename.as_deref(), Some("meeting.mp3"));
        assert_eq!(meta.title.as_deref(), Some("été"));
        assert_eq!(meta.description, None);
        let again = tus_metadata(Some(&render_tus_metadata(&meta))).unwrap();
        assert_eq!(again.filename, meta.filename);
        assert_eq!(again.title, meta.title);

        assert!(tus_metadata(Some("title !!!")).is_err());
        assert!(tus_metadata(Some("title YQ==,title Yg==")).is_err());
        // Not UTF-8.
        assert!(tus_metadata(Some("title /w==")).is_err());
    }

    #[test]
    fn upload_limit_is_a_structured_dictionary_without_a_minimum() {
        // No `min-size`: the draft lets a server refuse uploads whose length cannot be
        // deduced below it, and deferred lengths are taken.
        assert_eq!(upload_limit(100, Some(5)), "max-size=100, max-age=5");
        assert_eq!(upload_limit(100, Some(-3)), "max-size=100, max-age=0");
        assert_eq!(upload_limit(7, None), "max-size=7");
    }

    #[test]
    fn checksums_name_a_supported_algorithm_and_a_base64_digest() {
        let sum = checksum(&req(&[(
            "upload-checksum",
            "sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=",
        )]))
        .unwrap()
        .unwrap();
        assert_eq!(sum.algorithm, ChecksumAlgorithm::Sha1);
        assert_eq!(sum.digest.len(), 20);
        assert!(checksum(&req(&[("upload-checksum", "md5 AAAA")])).is_err());
        assert!(checksum(&req(&[("upload-checksum", "sha1")])).is_err());
        assert!(checksum(&req(&[("upload-checksum", "sha1 !!")])).is_err());
    }
}
