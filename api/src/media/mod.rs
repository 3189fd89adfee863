//! The direct download and the player source: `GET|HEAD /{id}/download` (attachment) and
//! `GET|HEAD /{id}/audio` (inline). Byte ranges, validators, and the counting rules:
//! HEAD never counts, a 304, 412 or 416 never counts, the owner's authenticated fetches never
//! count, a download that cannot be served is not counted, and one playback with seeking counts
//! once — a listener's playback grant (a token in the player's URL or a cookie, bound to that
//! listener) covers about one playback's worth of bytes after the download that paid for it,
//! even once that was the last download the limit allowed.
//! See `docs/adr/0005-download-counting.md` and [`crate::usecases::grants`].

mod range;

use std::sync::atomic::Ordering;

use chrono::Utc;
use futures::StreamExt;
use poem::http::{header, HeaderValue, Method, StatusCode};
use poem::web::{Data, Path};
use poem::{handler, Body, IntoResponse, Request, Response};
use voicebin_commands::CommandError;
use voicebin_domain::ClipError;

pub use range::{content_disposition, parse_range, ByteRange};

use self::range::{if_match, if_range_matches};
use crate::access::{self, Refusal, Want};
use crate::error::{ApiError, Code};
use crate::http::{http_date, none_match};
use crate::state::AppState;
use crate::usecases::clips;
use crate::usecases::grants::{budget, lifetime, Listener, Refund, Token};

/// The grant cookie's name (scoped by `Path={base path}/{id}`).
const GRANT_COOKIE: &str = "vb_grant";
/// The query parameter that carries a page's grant token.
const GRANT_PARAM: &str = "grant";

/// The grant tokens `req` presents: the one in its URL (a page's player), then its cookie.
fn presented(req: &Request) -> impl Iterator<Item = (&str, bool)> {
    let in_url = req
        .uri()
        .query()
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|pair| pair.split_once('='))
        .filter(|(name, _)| *name == GRANT_PARAM)
        .map(|(_, value)| (value, true));
    let in_cookie = req
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == GRANT_COOKIE)
        .map(|(_, value)| (value, false));
    in_url.chain(in_cookie)
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
    let (clip, view) = clips::view(state, id).await?;
    // Owners and moderators fetch without counting. A used-up limit still lets a listener whose
    // paid grant is live go on (checked below); everyone else gets 410.
    let (owner, exhausted) = match access::check(&view, caller.as_ref(), Want::Audio) {
        Ok(reader) => (reader.is_privileged(), false),
        Err(Refusal::Exhausted) => (false, true),
        Err(refusal) => return Err(refusal.into()),
    };
    let now = Utc::now().timestamp();
    let listener = Listener::of(req, state.moderation.trust_forwarded_for);
    let token = presented(req).find_map(|(raw, in_url)| {
        state
            .grants
            .verify(&view.id, &listener, raw, now)
            .map(|t| (t, in_url))
    });
    if exhausted {
        let live = match &token {
            Some((t, _)) => state.grants.cover(t, &view.id, 0, now).await?.is_some(),
            None => false,
        };
        if !live {
            return Err(Refusal::Exhausted.into());
        }
    }

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
    let with_validators = |mut response: Response| {
        let validators = headers(Response::builder()).finish();
        for (name, value) in validators.headers() {
            response.headers_mut().insert(name, value.clone());
        }
        response
    };
    let header_str = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    // RFC 9110 §13.2.2: If-Match, then If-None-Match, then Range with If-Range.
    if header_str(header::IF_MATCH).is_some_and(|h| !if_match(h, &etag)) {
        let problem = ApiError::new(
            Code::PreconditionFailed,
            "`If-Match` does not name the clip's current ETag",
        );
        return Ok(with_validators(problem.into_response()));
    }
    if header_str(header::IF_NONE_MATCH).is_some_and(|h| none_match(h, &etag)) {
        return Ok(headers(Response::builder().status(StatusCode::NOT_MODIFIED)).finish());
    }
    let mut range = parse_range(header_str(header::RANGE), len);
    if let Some(if_range) = header_str(header::IF_RANGE) {
        if !if_range_matches(if_range, &etag, &last_modified) {
            range = ByteRange::Full;
        }
    }
    if range == ByteRange::Unsatisfiable {
        // The problem, with the validators a client needs to retry with a better range.
        return Ok(with_validators(
            ApiError::range_not_satisfiable(len).into_response(),
        ));
    }
    let (status, byte_range) = match range {
        ByteRange::Partial(start, end) => (StatusCode::PARTIAL_CONTENT, Some(start..end)),
        _ => (StatusCode::OK, None),
    };
    let mut builder =
        headers(Response::builder().status(status)).content_type(view.content_type.as_str());
    let bytes = match &byte_range {
        Some(r) => {
            builder = builder
                .header(
                    header::CONTENT_RANGE,
                    format!("bytes {}-{}/{len}", r.start, r.end - 1),
                )
                .header(header::CONTENT_LENGTH, r.end - r.start);
            r.end - r.start
        }
        None => {
            builder = builder.header(header::CONTENT_LENGTH, len);
            len
        }
    };
    if req.method() == Method::HEAD {
        return Ok(builder.finish());
    }

    // A live grant of this listener's that covers these bytes: served without counting.
    let mut reserved = match (&token, owner) {
        (Some((t, _)), false) => state.grants.cover(t, &view.id, bytes, now).await?,
        _ => None,
    };
    // Counted or not, nothing counts until the bytes can be served.
    let stream = match state.service.blobs().get(&view.blob_key, byte_range).await {
        Ok(stream) => stream,
        Err(voicebin_commands::BlobError::NotFound) => return Err(ApiError::gone()),
        Err(e) => return Err(ApiError::unavailable(&e)),
    };
    if !owner && reserved.is_none() {
        let (token, in_url) = match token {
            Some(found) => found,
            None => (state.grants.issue(&view.id, &listener, now), false),
        };
        let (paid, refund) = pay(state, &clip, &view, &token, bytes, now).await?;
        reserved = refund;
        // Players given the bare URL keep their grant as a cookie (a page's player has it in
        // its URL, which also works where third-party cookies do not).
        if paid && !in_url {
            let secure = if state.urls.is_https() {
                "; Secure"
            } else {
                ""
            };
            let cookie = format!(
                "{GRANT_COOKIE}={}; Path={}; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
                token.as_str(),
                state.urls.path(&format!("/{}", view.id)),
                lifetime(view.duration_ms),
            );
            builder = builder.header(header::SET_COOKIE, cookie);
        }
    }
    let body = match reserved {
        Some(refund) => Body::from_bytes_stream(metered(stream, refund)),
        None => Body::from_bytes_stream(stream),
    };
    Ok(builder.body(body))
}

/// Counts one download of `view`, paying for `token`'s grant with it: whether the grant is
/// now paid, and this request's reservation from it. If another request is paying for the same
/// grant right now, this one waits and uses the grant instead of counting again.
async fn pay(
    state: &AppState,
    clip: &voicebin_domain::ClipId,
    view: &voicebin_projections::ClipView,
    token: &Token,
    bytes: u64,
    now: i64,
) -> Result<(bool, Option<Refund>), ApiError> {
    let grants = &state.grants;
    let claimed = grants.claim(token, &view.id, now).await?;
    if !claimed {
        if let Some(refund) = grants.cover(token, &view.id, bytes, now).await? {
            return Ok((true, Some(refund)));
        }
    }
    let counted = if view.download_limit.is_some() {
        match state.service.downloads().count_limited(clip).await {
            Ok(()) => Ok(()),
            Err(CommandError::Rule(ClipError::LimitReached)) => Err(Refusal::Exhausted.into()),
            Err(e) => Err(ApiError::from(e)),
        }
    } else {
        state.service.downloads().count_unlimited(clip);
        Ok(())
    };
    if let Err(e) = counted {
        if claimed {
            grants.abandon(token).await;
        }
        return Err(e);
    }
    if !claimed {
        return Ok((false, None));
    }
    let expires_at = now + lifetime(view.duration_ms);
    match grants
        .pay(token, budget(view_len(view)), bytes, expires_at, now)
        .await
    {
        Ok(refund) => Ok((true, Some(refund))),
        Err(e) => {
            // The download is counted; the listener's next range just counts again.
            tracing::warn!(clip.id = %view.id, error = %e, "recording a paid playback grant failed");
            Ok((false, None))
        }
    }
}

fn view_len(view: &voicebin_projections::ClipView) -> u64 {
    u64::try_from(view.size_bytes).unwrap_or_default()
}

/// `stream`, adding each chunk's length to `refund`'s meter; dropping it (the response ended
/// or the listener went away) settles the reservation.
fn metered<S, E>(stream: S, refund: Refund) -> impl futures::Stream<Item = Result<bytes::Bytes, E>>
where
    S: futures::Stream<Item = Result<bytes::Bytes, E>>,
{
    let meter = refund.meter();
    stream.map(move |chunk| {
        let _settles_on_drop = &refund;
        if let Ok(bytes) = &chunk {
            meter.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        }
        chunk
    })
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
