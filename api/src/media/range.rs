//! Byte ranges (RFC 9110 §14) and the headers that describe what is served.

/// What a `Range` header asks for, given the representation's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// No usable range: the whole representation.
    Full,
    /// `start..end` (end exclusive).
    Partial(u64, u64),
    /// A syntactically valid range that selects nothing: 416.
    Unsatisfiable,
}

/// Parses a single `bytes=` range (RFC 9110 §14); invalid or multi-range headers are ignored.
pub fn parse_range(header: Option<&str>, len: u64) -> ByteRange {
    // The range unit is case-insensitive (RFC 9110 §14.1).
    let Some(spec) = header.map(str::trim).and_then(|h| {
        h.get(..6)
            .filter(|unit| unit.eq_ignore_ascii_case("bytes="))
            .map(|_| &h[6..])
    }) else {
        return ByteRange::Full;
    };
    if spec.contains(',') {
        return ByteRange::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return ByteRange::Full;
    };
    let parse = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => match parse(suffix) {
            Some(0) => ByteRange::Unsatisfiable,
            Some(n) => ByteRange::Partial(len.saturating_sub(n), len),
            None => ByteRange::Full,
        },
        (first, "") => match parse(first) {
            Some(a) if a < len => ByteRange::Partial(a, len),
            Some(_) => ByteRange::Unsatisfiable,
            None => ByteRange::Full,
        },
        (first, last) => match (parse(first), parse(last)) {
            (Some(a), Some(b)) if a <= b => {
                if a >= len {
                    ByteRange::Unsatisfiable
                } else {
                    ByteRange::Partial(a, b.saturating_add(1).min(len))
                }
            }
            _ => ByteRange::Full,
        },
    }
}

/// Whether `If-Range` still matches (strong ETag, or the exact Last-Modified date).
pub fn if_range_matches(value: &str, etag: &str, last_modified: &str) -> bool {
    let value = value.trim();
    if value.starts_with('"') {
        value == etag
    } else {
        value == last_modified
    }
}

/// Whether `If-Match` lets the request go on: `*`, or the current strong ETag in its list
/// (strong comparison, RFC 9110 §13.1.1).
pub fn if_match(value: &str, etag: &str) -> bool {
    let value = value.trim();
    value == "*" || value.split(',').any(|candidate| candidate.trim() == etag)
}

/// `Content-Disposition` per RFC 6266 / RFC 8187: an ASCII fallback plus the exact UTF-8 name.
pub fn content_disposition(kind: &str, filename: &str) -> String {
    let fallback: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' && c != '%' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in filename.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        use ByteRange::*;
        assert_eq!(parse_range(None, 100), Full);
        assert_eq!(parse_range(Some("bytes=0-9"), 100), Partial(0, 10));
        assert_eq!(parse_range(Some("bytes=90-200"), 100), Partial(90, 100));
        assert_eq!(parse_range(Some("bytes=50-"), 100), Partial(50, 100));
        assert_eq!(parse_range(Some("bytes=-10"), 100), Partial(90, 100));
        assert_eq!(parse_range(Some("bytes=-500"), 100), Partial(0, 100));
        assert_eq!(parse_range(Some("bytes=100-"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=100-200"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=9-1"), 100), Full);
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), Full);
        assert_eq!(parse_range(Some("items=0-1"), 100), Full);
        assert_eq!(parse_range(Some("bytes=x-1"), 100), Full);
        assert_eq!(parse_range(Some("BYTES=0-9"), 100), Partial(0, 10));
        assert_eq!(parse_range(Some(" Bytes=-10"), 100), Partial(90, 100));
        assert_eq!(parse_range(Some("bytes"), 100), Full);
        assert_eq!(parse_range(Some("é=0-1"), 100), Full);
        assert_eq!(
            parse_range(Some("bytes=18446744073709551615-"), 100),
            Unsatisfiable
        );
    }

    #[test]
    fn if_match_compares_strongly() {
        let etag = "\"abc\"";
        assert!(if_match("*", etag));
        assert!(if_match("\"abc\"", etag));
        assert!(if_match("\"x\", \"abc\"", etag));
        assert!(!if_match("W/\"abc\"", etag));
        assert!(!if_match("\"abd\"", etag));
        assert!(!if_match("", etag));
    }
}
