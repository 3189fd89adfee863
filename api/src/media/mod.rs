//! The direct download and the player source: `GET|HEAD /{id}/download` (attachment) and
//! `GET|HEAD /{id}/audio` (inline). Byte ranges, validators, and the counting rules:
//! HEAD never counts, a 304 or 416 never counts, the owner's authenticated fetches never count,
//! and one playback with seeking counts once — the first counted request hands out a signed
//! grant cookie, and range requests that carry it within its lifetime are not counted again.
//! See `docs/adr/0005-download-counting.md`.

mod range;

use chrono::Utc;
use poem::http::{header, HeaderValue, Method, StatusCode};
use poem::web::{Data, Path};
use poem::{handler, Body, IntoResponse, Request, Response};
use voicebin_commands::CommandError;
use voicebin_domain::ClipError;

pub use range::{content_disposition, parse_range, ByteRange};

use self::range::if_range_matches;
use crate::access::{Refusal, Want};
use crate::error::ApiError;
use crate::http::{http_date, none_match};
use crate::state::AppState;
use crate::usecases::clips;
use crate::usecases::grants::GRANT_TTL_SECS;

/// The grant cookie's name (scoped by `Path=/{id}`).
const GRANT_COOKIE: &str = "vb_grant";

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

/// Serves the clip's bytes; `inline` for the player, attachment for the download button.
async fn serve(
    req: &Request,
    id: &str,
    state: &AppState,
    inline: bool,
) -> Result<Response, ApiError> {
    // Credentials first: a token that is sent must be valid, even for a clip that is gone.
    let caller = state.caller(req).await?;
    let found = clips::find(state, id, caller.as_ref(), Want::Audio).await?;
    // Owners and moderators fetch without counting.
    let (clip, view, owner) = (found.id, found.view, found.reader.is_privileged());
    let len = u64::try_from(view.size_bytes).unwrap_or_default();
    let etag = format!("\"{}\"", view.sha256);
    let last_modified = http_date(view.created_at());
    let disposition = content_disposition(
        if inline { "inline" } else { "attachment" },
        &view.served_filename(),
    );
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
        // The problem, with the validators a client needs to retry with a better range.
        let mut response = ApiError::range_not_satisfiable(len).into_response();
        let validators = headers(Response::builder()).finish();
        for (name, value) in validators.headers() {
            response.headers_mut().insert(name, value.clone());
        }
        return Ok(response);
    }

    let now = Utc::now().timestamp();
    let granted = grant_cookie(req).is_some_and(|token| state.grants.valid(&view.id, &token, now));
    let mut set_cookie = None;
    if !owner && !granted {
        if view.download_limit.is_some() {
            match state.service.downloads().count_limited(&clip).await {
                Ok(()) => {}
                Err(CommandError::Rule(ClipError::LimitReached)) => {
                    return Err(Refusal::Exhausted.into())
                }
                Err(e) => return Err(e.into()),
            }
        } else {
            state.service.downloads().count_unlimited(&clip);
        }
        let expires = now + GRANT_TTL_SECS;
        let secure = if state.urls.is_https() {
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
