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
use std::time::{Duration, Instant};

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
use crate::usecases::grants::{budget, lifetime, Claim, Listener, Refund, Token, CLAIM_SECS};

/// The grant cookie's name (scoped by `Path={base path}/{id}`).
const GRANT_COOKIE: &str = "vb_grant";
/// The query parameter that carries a page's grant token.
const GRANT_PARAM: &str = "grant";

/// The query parameter that carries an owner's or moderator's playback pass.
pub const PASS_PARAM: &str = "playback";

/// The values of query parameter `name`, in order (as sent: passes and grants are URL-safe).
fn query_params<'a>(req: &'a Request, name: &'a str) -> impl Iterator<Item = &'a str> {
    req.uri()
        .query()
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|pair| pair.split_once('='))
        .filter(move |(n, _)| *n == name)
        .map(|(_, value)| value)
}

/// The grant tokens `req` presents: the one in its URL (a page's player), then its cookie.
fn presented(req: &Request) -> impl Iterator<Item = (&str, bool)> {
    let in_url = query_params(req, GRANT_PARAM).map(|value| (value, true));
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
    // An owner's playback pass plays as the owner: the view must be as fresh as theirs.
    let (clip, view) = if query_params(req, PASS_PARAM).next().is_some() {
        let (clip, view) = clips::view(state, id).await?;
        (clip, std::sync::Arc::new(view))
    } else {
        clips::view_for(state, id, caller.as_ref()).await?
    };
    let now = Utc::now().timestamp();
    let listener = Lazy::new(req, state.moderation.trust_forwarded_for);
    // A playback pass plays as the owner or moderator it was issued to, for its listener only
    // and until it expires; one that does not verify is refused rather than read as the public,
    // so a player learns its URL is stale.
    let reader = match query_params(req, PASS_PARAM).next() {
        Some(raw) => {
            let reader = state
                .grants
                .verify_pass(&view.id, listener.get(), raw, now)
                .ok_or_else(|| {
                    ApiError::new(
                        Code::Forbidden,
                        "this playback URL has expired or was issued to another browser; \
                         ask for a new one",
                    )
                })?;
            access::read_as(&view, reader, Want::Audio)
        }
        None => access::check(&view, caller.as_ref(), Want::Audio),
    };
    // Owners and moderators fetch without counting. A used-up limit still lets a listener whose
    // paid grant is live go on (checked below); everyone else gets 410.
    let (owner, exhausted) = match reader {
        Ok(reader) => (reader.is_privileged(), false),
        Err(Refusal::Exhausted) => (false, true),
        Err(refusal) => return Err(refusal.into()),
    };
    let token = presented(req).find_map(|(raw, in_url)| {
        state
            .grants
            .verify(&view.id, listener.get(), raw)
            .map(|t| (t, in_url))
    });
    if exhausted {
        let live = match &token {
            Some((t, _)) => state
                .grants
                .reserve(t, &view.id, 0, 0, now)
                .await?
                .is_some(),
            None => false,
        };
        if !live {
            return Err(Refusal::Exhausted.into());
        }
    }

    // The player gets the rendition when the clip has one; the download, always the original.
    let chosen = Representation::of(&view, inline);
    let len = chosen.len;
    let etag = format!("\"{}\"", chosen.sha256);
    let last_modified = http_date(chosen.modified);
    let disposition = content_disposition(
        if inline { "inline" } else { "attachment" },
        &chosen.filename,
    );
    let headers = |builder: poem::ResponseBuilder| {
        let mut builder = builder
            .header(header::ETAG, etag.as_str())
            .header(header::LAST_MODIFIED, last_modified.as_str())
            // Constant values are not parsed and copied for each request.
            .header(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"))
            .header(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-cache"),
            )
            .header(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; sandbox"),
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
    let requested = match range {
        // A range answer to a listener with a grant comes in pieces (RFC 9110 §15.3.7 lets a
        // 206 hold less than was asked for; players ask for the rest), so what a grant pays for
        // is about what the player read, not what sat in socket buffers when it seeked. A
        // client without one (a download manager keeping no cookies) gets what it asked for.
        ByteRange::Partial(start, end) if !owner && token.is_some() => {
            Some(start..end.min(start + piece(len)))
        }
        ByteRange::Partial(start, end) => Some(start..end),
        _ => None,
    };
    if req.method() == Method::HEAD {
        return Ok(ok_response(headers, &chosen.content_type, requested, len).finish());
    }

    // Who pays for these bytes: nobody (the owner, or a grant that covers them), or a counted
    // download, which pays for the listener's grant (when there is one to pay for).
    let plan = if owner {
        Plan::Free
    } else {
        plan(
            state,
            &view,
            token.clone(),
            &listener,
            requested.clone(),
            len,
            exhausted,
        )
        .await?
    };
    // A grant may cover less of an open-ended range than asked for: a shorter 206, and the
    // player asks for the rest.
    let served = match (&plan, &requested) {
        (Plan::Covered(refund), Some(r)) => Some(r.start..r.start + refund.bytes()),
        _ => requested,
    };
    // Counted or not, nothing counts until the bytes can be served.
    let stream = match state
        .service
        .blobs()
        .download(&chosen.blob_key, served.clone())
        .await
    {
        Ok(stream) => stream,
        Err(voicebin_commands::BlobError::NotFound) => return Err(ApiError::gone()),
        Err(e) => return Err(ApiError::unavailable(&e)),
    };
    let mut builder = ok_response(headers, &chosen.content_type, served.clone(), len);
    let reserved = match plan {
        Plan::Free => None,
        Plan::Covered(refund) => Some(refund),
        Plan::Count(payer) => {
            count(state, &clip, &view).await?;
            match payer {
                None => None,
                Some((token, in_url, claim)) => {
                    let bytes = served.map_or(len, |r| r.end - r.start);
                    let expires_at = now + lifetime(view.duration_ms);
                    match claim.pay(budget(len), bytes, expires_at).await {
                        Ok(refund) => {
                            // Players given the bare URL keep their grant as a cookie (a page's
                            // player has it in its URL, which also works in iframes).
                            if !in_url {
                                builder = builder
                                    .header(header::SET_COOKIE, grant_cookie(state, &view, &token));
                            }
                            Some(refund)
                        }
                        Err(e) => {
                            // Counted all the same; the listener's next range counts again.
                            tracing::warn!(clip.id = %view.id, error = %e, "recording a playback grant's payment failed");
                            None
                        }
                    }
                }
            }
        }
    };
    let body = match reserved {
        Some(refund) => Body::from_bytes_stream(metered(stream, refund)),
        None => Body::from_bytes_stream(stream),
    };
    Ok(builder.body(body))
}

/// The most one range answer to a listener holds: 1 MiB, or a 32nd of a longer clip.
fn piece(len: u64) -> u64 {
    (len / 32).max(1024 * 1024)
}

/// The bytes a request for a clip is served: the original, or for the player the clip's
/// playback rendition when it has one (`docs/adr/0016-playback-renditions.md`). Each has its own
/// validators, so a range or a cache of one never mixes with the other.
struct Representation {
    blob_key: String,
    content_type: String,
    len: u64,
    sha256: String,
    modified: chrono::DateTime<Utc>,
    filename: String,
}

impl Representation {
    fn of(view: &voicebin_projections::ClipView, inline: bool) -> Self {
        match view.playback().filter(|_| inline) {
            Some(rendition) => Representation {
                filename: voicebin_domain::values::truthful_filename(
                    &view.filename,
                    &rendition.content_type,
                ),
                modified: rendition.recorded_at(),
                len: u64::try_from(rendition.size_bytes).unwrap_or_default(),
                blob_key: rendition.blob_key,
                content_type: rendition.content_type,
                sha256: rendition.sha256,
            },
            None => Representation {
                blob_key: view.blob_key.clone(),
                content_type: view.content_type.clone(),
                len: u64::try_from(view.size_bytes).unwrap_or_default(),
                sha256: view.sha256.clone(),
                modified: view.created_at(),
                filename: view.served_filename(),
            },
        }
    }
}

/// The 200 or 206 answer's status and length headers for `served` (`None`: the whole clip).
fn ok_response(
    headers: impl Fn(poem::ResponseBuilder) -> poem::ResponseBuilder,
    content_type: &str,
    served: Option<std::ops::Range<u64>>,
    len: u64,
) -> poem::ResponseBuilder {
    let builder = headers(Response::builder()).content_type(content_type);
    match served {
        Some(r) => builder
            .status(StatusCode::PARTIAL_CONTENT)
            .header(
                header::CONTENT_RANGE,
                format!("bytes {}-{}/{len}", r.start, r.end - 1),
            )
            .header(header::CONTENT_LENGTH, r.end - r.start),
        None => builder
            .status(StatusCode::OK)
            .header(header::CONTENT_LENGTH, len),
    }
}

/// The `Set-Cookie` value that keeps `token` for this clip's player.
fn grant_cookie(state: &AppState, view: &voicebin_projections::ClipView, token: &Token) -> String {
    let secure = if state.urls.is_https() {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{GRANT_COOKIE}={}; Path={}; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
        token.as_str(),
        state.urls.path(&format!("/{}", view.id)),
        lifetime(view.duration_ms),
    )
}

/// How a listener's request for bytes is paid for.
enum Plan {
    /// The owner's or a moderator's fetch.
    Free,
    /// The listener's paid grant covers these bytes (or the first part of an open-ended range).
    Covered(Refund),
    /// A counted download, paying for the listener's grant when there is one: the token,
    /// whether it came in the URL, and the claim to pay for it.
    Count(Option<(Token, bool, Claim)>),
}

/// How long a request waits for another that is paying for the same grant right now.
const PAYMENT_WAIT: Duration = Duration::from_secs(CLAIM_SECS as u64 + 2);
const PAYMENT_POLL: Duration = Duration::from_millis(50);

/// The listener sending a request, worked out (a hash of its address and agent) only when a
/// pass, a grant or a new grant needs it: a plain download needs none.
struct Lazy<'a> {
    req: &'a Request,
    trust_forwarded_for: bool,
    listener: std::sync::OnceLock<Listener>,
}

impl<'a> Lazy<'a> {
    fn new(req: &'a Request, trust_forwarded_for: bool) -> Self {
        Lazy {
            req,
            trust_forwarded_for,
            listener: std::sync::OnceLock::new(),
        }
    }

    fn get(&self) -> &Listener {
        self.listener
            .get_or_init(|| Listener::of(self.req, self.trust_forwarded_for))
    }
}

/// Decides who pays for `requested` (`None`: the whole clip). A listener's grant covers what it
/// can; otherwise the request counts, and pays for the grant it presented, or for a new one if
/// it asks for a range (players do; a plain download keeps no grant). Only one request pays for
/// a grant at a time: the others wait for it and then use what it paid for.
async fn plan(
    state: &AppState,
    view: &voicebin_projections::ClipView,
    token: Option<(Token, bool)>,
    listener: &Lazy<'_>,
    requested: Option<std::ops::Range<u64>>,
    len: u64,
    exhausted: bool,
) -> Result<Plan, ApiError> {
    let grants = &state.grants;
    let want = requested.as_ref().map_or(len, |r| r.end - r.start);
    // A range may be shortened; a whole-clip answer may not.
    let min = if requested.is_some() { 1 } else { want };
    let (payer, presented) = match token {
        Some((token, in_url)) => ((token, in_url), true),
        None if requested.is_some() => ((grants.issue(&view.id, listener.get()), false), false),
        None if exhausted => return Err(Refusal::Exhausted.into()),
        None => return Ok(Plan::Count(None)),
    };
    let deadline = Instant::now() + PAYMENT_WAIT;
    loop {
        let now = Utc::now().timestamp();
        if presented {
            if let Some(refund) = grants.reserve(&payer.0, &view.id, want, min, now).await? {
                return Ok(Plan::Covered(refund));
            }
        }
        // The limit is used up and the grant does not cover this: nothing left to pay with.
        if exhausted {
            return Err(Refusal::Exhausted.into());
        }
        if let Some(claim) = grants.claim(&payer.0, &view.id, now).await? {
            // Another request may have paid for it since this one looked.
            if presented {
                if let Some(refund) = grants.reserve(&payer.0, &view.id, want, min, now).await? {
                    return Ok(Plan::Covered(refund));
                }
            }
            return Ok(Plan::Count(Some((payer.0, payer.1, claim))));
        }
        if Instant::now() >= deadline {
            return Err(ApiError::new(
                Code::Unavailable,
                "another request is paying for this playback grant; retry shortly",
            )
            .with_header("1"));
        }
        tokio::time::sleep(PAYMENT_POLL).await;
    }
}

/// Counts one download of `view` (through the aggregate when it has a limit).
async fn count(
    state: &AppState,
    clip: &voicebin_domain::ClipId,
    view: &voicebin_projections::ClipView,
) -> Result<(), ApiError> {
    if view.download_limit.is_none() {
        state.service.downloads().count_unlimited(clip);
        state.metrics.download_counted();
        return Ok(());
    }
    match state.service.downloads().count_limited(clip).await {
        Ok(()) => {
            state.metrics.download_counted();
            Ok(())
        }
        Err(CommandError::Rule(ClipError::LimitReached)) => Err(Refusal::Exhausted.into()),
        Err(e) => Err(ApiError::from(e)),
    }
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
