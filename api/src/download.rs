//! The direct download and the player source: `GET|HEAD /{id}/download` (attachment) and
//! `GET|HEAD /{id}/audio` (inline). Byte ranges, validators, and the counting rules:
//! HEAD never counts, a 304 or 416 never counts, the owner's authenticated fetches never count,
//! and one playback with seeking counts once — the first counted request hands out a signed
//! grant cookie, and range requests that carry it within its lifetime are not counted again.
//! See `docs/adr/0005-download-counting.md`.

use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use poem::http::{header, HeaderValue, Method, StatusCode};
use poem::web::{Data, Path};
use poem::{handler, Body, IntoResponse, Request, Response};
use voicebin_commands::CommandError;
use voicebin_domain::{ClipError, ClipId};
use voicebin_projections::ClipView;

use crate::error::{ApiError, AuthRejection, Code};
use crate::pages::content_disposition;
use crate::state::AppState;

/// How long a playback grant lasts.
pub const GRANT_TTL_SECS: i64 = 600;
/// The grant cookie's name (scoped by `Path=/{id}`).
const GRANT_COOKIE: &str = "vb_grant";

/// Signs and checks playback grants with a key every replica shares.
pub struct Grants {
    key: hmac::Key,
}

impl Grants {
    /// Grants signed with `secret`.
    pub fn new(secret: &[u8]) -> Self {
        Grants {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    fn mac(&self, clip: &str, expires: i64) -> String {
        let tag = hmac::sign(&self.key, format!("{clip}.{expires}").as_bytes());
        URL_SAFE_NO_PAD.encode(tag.as_ref())
    }

    /// A grant for `clip` valid until `expires` (Unix seconds).
    pub fn issue(&self, clip: &str, expires: i64) -> String {
        format!("{expires}.{}", self.mac(clip, expires))
    }

    /// Whether `token` is an unexpired grant for `clip`.
    pub fn valid(&self, clip: &str, token: &str, now: i64) -> bool {
        let Some((expires, tag)) = token.split_once('.') else {
            return false;
        };
        let Ok(expires) = expires.parse::<i64>() else {
            return false;
        };
        let Ok(tag) = URL_SAFE_NO_PAD.decode(tag) else {
            return false;
        };
        expires > now
            && expires <= now + GRANT_TTL_SECS
            && hmac::verify(&self.key, format!("{clip}.{expires}").as_bytes(), &tag).is_ok()
    }
}

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
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
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

/// Whether an `If-None-Match` list matches `etag` (weak comparison, RFC 9110 §13.1.2).
pub fn none_match(header: &str, etag: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    header.trim() == "*" || header.split(',').any(|t| strip(t) == strip(etag))
}

fn http_date(at: DateTime<Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Whether `If-Range` still matches (strong ETag, or the exact Last-Modified date).
fn if_range_matches(value: &str, etag: &str, last_modified: &str) -> bool {
    let value = value.trim();
    if value.starts_with('"') {
        value == etag
    } else {
        value == last_modified
    }
}

fn grant_cookie(req: &Request) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == GRANT_COOKIE)
        .map(|(_, value)| value.to_owned())
}

async fn find(state: &AppState, req: &Request, id: &str) -> Result<(ClipView, bool), ApiError> {
    let (_, view) = crate::clips::view(state, id).await?;
    if view.is_deleted() {
        return Err(ApiError::gone());
    }
    // Owners and moderators fetch without counting.
    let owner = match crate::extract::optional_principal(req).await {
        Ok(p) => crate::clips::privileged(&view, p.as_ref()),
        Err(e) => {
            return Err(e
                .downcast_ref::<AuthRejection>()
                .map(|r| r.0.clone())
                .unwrap_or_else(|| ApiError::invalid_token("the token is invalid")))
        }
    };
    // A takedown purged the bytes: nobody can fetch them any more.
    if view.is_removed() {
        return Err(ApiError::removed());
    }
    if !owner && !view.is_public() {
        return Err(ApiError::not_found());
    }
    Ok((view, owner))
}

fn limit_reached() -> ApiError {
    ApiError::new(Code::Gone, "this clip's download limit has been reached")
}

/// Serves the clip's bytes; `inline` for the player, attachment for the download button.
async fn serve(
    req: &Request,
    id: &str,
    state: &AppState,
    inline: bool,
) -> Result<Response, ApiError> {
    let (view, owner) = find(state, req, id).await?;
    let len = u64::try_from(view.size_bytes).unwrap_or_default();
    let etag = format!("\"{}\"", view.sha256);
    let last_modified = http_date(view.created_at());
    let disposition =
        content_disposition(if inline { "inline" } else { "attachment" }, &view.filename);
    let headers = |builder: poem::ResponseBuilder| {
        let mut builder = builder
            .header(header::ETAG, etag.as_str())
            .header(header::LAST_MODIFIED, last_modified.as_str())
            .header(header::ACCEPT_RANGES, "bytes")
            .header(header::CACHE_CONTROL, "private, no-cache")
            .header(
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; sandbox",
            );
        if let Ok(value) = HeaderValue::from_str(&disposition) {
            builder = builder.header(header::CONTENT_DISPOSITION, value);
        }
        builder
    };
    let exhausted = view.downloads_remaining() == Some(0);
    if !owner && exhausted {
        return Err(limit_reached());
    }
    let header_str = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    if header_str(header::IF_NONE_MATCH).is_some_and(|h| none_match(h, &etag)) {
        return Ok(headers(Response::builder().status(StatusCode::NOT_MODIFIED)).finish());
    }
    let mut range = parse_range(header_str(header::RANGE), len);
    if let Some(if_range) = header_str(header::IF_RANGE) {
        if !if_range_matches(if_range, &etag, &last_modified) {
            range = ByteRange::Full;
        }
    }
    let ok = |b: poem::ResponseBuilder| headers(b.content_type(view.content_type.as_str()));
    if req.method() == Method::HEAD {
        return Ok(ok(Response::builder().status(StatusCode::OK))
            .header(header::CONTENT_LENGTH, len)
            .finish());
    }
    if range == ByteRange::Unsatisfiable {
        return Ok(
            headers(Response::builder().status(StatusCode::RANGE_NOT_SATISFIABLE))
                .header(header::CONTENT_RANGE, format!("bytes */{len}"))
                .content_type("application/problem+json")
                .body(
                    serde_json::json!({
                        "type": "urn:voicebin:problem:range-not-satisfiable",
                        "title": "Range not satisfiable",
                        "status": 416,
                        "detail": format!("the clip is {len} bytes long"),
                    })
                    .to_string(),
                ),
        );
    }

    let now = Utc::now().timestamp();
    let granted = grant_cookie(req).is_some_and(|token| state.grants.valid(&view.id, &token, now));
    let mut set_cookie = None;
    if !owner && !granted {
        let clip = ClipId::parse(&view.id).map_err(|_| ApiError::not_found())?;
        if view.download_limit.is_some() {
            match state.service.downloads().count_limited(&clip).await {
                Ok(()) => {}
                Err(CommandError::Rule(ClipError::LimitReached)) => return Err(limit_reached()),
                Err(e) => return Err(e.into()),
            }
        } else {
            state.service.downloads().count_unlimited(&clip);
        }
        let expires = now + GRANT_TTL_SECS;
        let secure = if state.public_url.starts_with("https://") {
            "; Secure"
        } else {
            ""
        };
        set_cookie = Some(format!(
            "{GRANT_COOKIE}={}; Path=/{}; Max-Age={GRANT_TTL_SECS}; HttpOnly; SameSite=Lax{secure}",
            state.grants.issue(&view.id, expires),
            view.id
        ));
    }

    let (status, byte_range) = match range {
        ByteRange::Partial(start, end) => (StatusCode::PARTIAL_CONTENT, Some(start..end)),
        _ => (StatusCode::OK, None),
    };
    let stream = match state
        .service
        .blobs()
        .get(&view.blob_key, byte_range.clone())
        .await
    {
        Ok(stream) => stream,
        Err(voicebin_commands::BlobError::NotFound) => return Err(ApiError::gone()),
        Err(e) => return Err(ApiError::unavailable(&e)),
    };
    let mut builder = ok(Response::builder().status(status));
    if let Some(cookie) = set_cookie {
        builder = builder.header(header::SET_COOKIE, cookie);
    }
    match byte_range {
        Some(r) => {
            builder = builder
                .header(
                    header::CONTENT_RANGE,
                    format!("bytes {}-{}/{len}", r.start, r.end - 1),
                )
                .header(header::CONTENT_LENGTH, r.end - r.start);
        }
        None => builder = builder.header(header::CONTENT_LENGTH, len),
    }
    Ok(builder.body(Body::from_bytes_stream(stream)))
}

/// `GET|HEAD /{id}/download`: the bytes as an attachment.
#[handler]
pub async fn download(
    req: &Request,
    Path(id): Path<String>,
    Data(state): Data<&AppState>,
) -> Response {
    serve(req, &id, state, false)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// `GET|HEAD /{id}/audio`: the bytes inline, for the player.
#[handler]
pub async fn audio(
    req: &Request,
    Path(id): Path<String>,
    Data(state): Data<&AppState>,
) -> Response {
    serve(req, &id, state, true)
        .await
        .unwrap_or_else(IntoResponse::into_response)
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
        assert_eq!(
            parse_range(Some("bytes=18446744073709551615-"), 100),
            Unsatisfiable
        );
    }

    #[test]
    fn if_none_match_uses_weak_comparison() {
        assert!(none_match("\"abc\"", "\"abc\""));
        assert!(none_match("W/\"abc\", \"x\"", "\"abc\""));
        assert!(none_match("*", "\"abc\""));
        assert!(!none_match("\"abd\"", "\"abc\""));
    }

    #[test]
    fn grants_are_bound_to_a_clip_and_expire() {
        let grants = Grants::new(b"secret");
        let token = grants.issue("AAAAAAAAAAAAAAAA", 1_000 + GRANT_TTL_SECS);
        assert!(grants.valid("AAAAAAAAAAAAAAAA", &token, 1_000));
        assert!(!grants.valid("BBBBBBBBBBBBBBBB", &token, 1_000));
        assert!(!grants.valid("AAAAAAAAAAAAAAAA", &token, 1_000 + GRANT_TTL_SECS));
        assert!(!Grants::new(b"other").valid("AAAAAAAAAAAAAAAA", &token, 1_000));
        // A forged far-future expiry is refused even with a valid-looking shape.
        let forged = grants.issue("AAAAAAAAAAAAAAAA", 1_000_000);
        assert!(!grants.valid("AAAAAAAAAAAAAAAA", &forged, 1_000));
        assert!(!grants.valid("AAAAAAAAAAAAAAAA", "garbage", 1_000));
    }
}
