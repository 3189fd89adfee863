//! The file name in a `Content-Disposition` header (RFC 6266, with RFC 8187's `filename*`),
//! made safe to create in the current directory.

/// The name a download should be saved under, from a `Content-Disposition` value: `filename*`
/// (UTF-8) when present and decodable, else `filename`; only its last path component, never
/// empty, `.` or `..`.
pub fn filename(header: &str) -> Option<String> {
    let mut plain = None;
    let mut extended = None;
    for (name, value) in params(header) {
        match name.to_ascii_lowercase().as_str() {
            "filename*" => extended = extended.or_else(|| decode_ext_value(&value)),
            "filename" => plain = plain.or(Some(value)),
            _ => {}
        }
    }
    extended
        .and_then(|name| safe_name(&name))
        .or_else(|| plain.and_then(|name| safe_name(&name)))
}

/// The last path component of `name`, if it is a usable file name.
pub fn safe_name(name: &str) -> Option<String> {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    let ok =
        !last.is_empty() && last != "." && last != ".." && !last.chars().any(|c| c.is_control());
    ok.then(|| last.to_owned())
}

/// The `name=value` parameters after the disposition type, values unquoted.
fn params(header: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = match header.split_once(';') {
        Some((_, rest)) => rest,
        None => return out,
    };
    loop {
        rest = rest.trim_start_matches([';', ' ', '\t']);
        let Some((name, after)) = rest.split_once('=') else {
            break;
        };
        let name = name.trim().to_owned();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end.min(quoted.len())..])
        } else {
            let end = after.find(';').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        out.push((name, value));
        rest = remaining;
    }
    out
}

/// An RFC 8187 `ext-value` (`UTF-8'lang'percent-encoded`); other charsets are not decoded.
fn decode_ext_value(value: &str) -> Option<String> {
    let mut parts = value.splitn(3, '\'');
    let charset = parts.next()?;
    let _language = parts.next()?;
    let encoded = parts.next()?;
    if !charset.eq_ignore_ascii_case("utf-8") {
        return None;
    }
    percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_utf8_name_wins_over_the_ascii_fallback() {
        assert_eq!(
            filename("attachment; filename=\"caf_ r_sum_.ogg\"; filename*=UTF-8''caf%C3%A9%20r%C3%A9sum%C3%A9.ogg")
                .as_deref(),
            Some("café résumé.ogg")
        );
    }

    #[test]
    fn a_plain_name_is_read_quoted_or_not() {
        assert_eq!(
            filename("attachment; filename=\"a \\\"quoted\\\" name.wav\"").as_deref(),
            Some("a \"quoted\" name.wav")
        );
        assert_eq!(
            filename("attachment; filename=hello.wav").as_deref(),
            Some("hello.wav")
        );
        assert_eq!(
            filename("Attachment; FileName*=utf-8'en'hello.flac").as_deref(),
            Some("hello.flac")
        );
    }

    #[test]
    fn paths_and_unusable_names_are_refused() {
        assert_eq!(
            filename("attachment; filename=\"../../etc/passwd\"").as_deref(),
            Some("passwd")
        );
        assert_eq!(
            filename("attachment; filename*=UTF-8''..%2F..%2Fx.mp3").as_deref(),
            Some("x.mp3")
        );
        assert_eq!(filename("attachment; filename=\"..\""), None);
        assert_eq!(filename("attachment; filename=\"\""), None);
        assert_eq!(filename("attachment"), None);
        assert_eq!(filename("attachment; filename*=UTF-8''a%0Ab.wav"), None);
    }

    #[test]
    fn an_undecodable_extended_name_falls_back_to_the_plain_one() {
        assert_eq!(
            filename("attachment; filename=\"x.wav\"; filename*=ISO-8859-1''%E9.wav").as_deref(),
            Some("x.wav")
        );
        assert_eq!(
            filename("attachment; filename=\"x.wav\"; filename*=UTF-8''%FF.wav").as_deref(),
            Some("x.wav")
        );
    }
}
