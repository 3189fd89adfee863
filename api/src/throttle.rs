//! The rate limiter in front of the limited edges (`app` wraps the REST API, media serving and
//! MCP in it): it verifies the caller once (the handler reuses the answer), counts the request
//! against the caller's quota for its class (`usecases/limits.rs`), refuses it with a 429 when
//! the quota is used up, and writes `RateLimit-Policy` and `RateLimit` on whatever the
//! request is answered with.
//!
//! A store that cannot answer (Redis or PostgreSQL down) lets requests through, unlimited and
//! without the headers, and says so in the log (at most every ten seconds): the limits protect
//! the service, and refusing everything would make the store's outage the service's. The
//! abuse-report and sign-in-link limits fail closed instead (`within_limit`).

use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};

use poem::http::{HeaderValue, Method};
use poem::{Endpoint, EndpointExt, IntoEndpoint, IntoResponse, PathPattern, Request, Response};

use crate::http::client_ip;
use crate::state::{AppState, Verified};
use crate::usecases::limits::{Class, Standing, Subject};

/// The class of a request to the REST API: uploads, reads (`GET`, `HEAD`), or none (the other
/// writes, whose own rules limit them).
pub fn api_class(req: &Request) -> Option<Class> {
    let method = req.method();
    let path = req.uri().path();
    if method == Method::POST && (path == "/api/v1/audio" || path == crate::uploads::COLLECTION) {
        Some(Class::Uploads)
    } else if method == Method::GET
        || method == Method::HEAD
        // Appends to and cancellations of resumable uploads count as requests like reads: a
        // flood of tiny appends costs the store a commit each.
        || ((method == Method::PATCH || method == Method::DELETE)
            && path.starts_with(crate::uploads::COLLECTION))
    {
        Some(Class::Reads)
    } else {
        None
    }
}

/// `ep`, with each request that `classify` puts in a class counted against its caller's quota.
pub fn limited<E>(
    ep: E,
    classify: fn(&Request) -> Option<Class>,
) -> impl Endpoint<Output = Response>
where
    E: IntoEndpoint,
    E::Endpoint: 'static,
{
    ep.into_endpoint().around(move |ep, mut req| async move {
        let state = req.data::<AppState>().cloned();
        let (Some(class), Some(state)) = (classify(&req), state) else {
            return ep.call(req).await.map(IntoResponse::into_response);
        };
        let caller = state.caller(&req).await;
        let account = match &caller {
            Ok(Some(principal)) => Some(principal.account.clone()),
            // No token, or one that is refused (the handler says why): counted by address.
            _ => None,
        };
        req.extensions_mut().insert(Verified(caller));
        let ip = client_ip(&req, state.moderation.trust_forwarded_for);
        let standing = match subject(&state, class, account.as_deref(), ip) {
            Some(subject) => match state.limits.count(class, &subject).await {
                Ok(standing) => standing,
                Err(e) => {
                    store_unavailable(&e);
                    None
                }
            },
            None => None,
        };
        let refusal = standing.as_ref().and_then(Standing::refusal);
        let mut response = match refusal {
            Some(refusal) => {
                let scope = if account.is_some() {
                    "account"
                } else {
                    "address"
                };
                state.metrics.rate_limit_refused(class.name(), scope);
                let mut response = refusal.into_response();
                response.set_data(crate::metrics::RefusedPath(req.uri().path().to_owned()));
                response
            }
            None => match ep.call(req).await {
                Ok(response) => response.into_response(),
                Err(e) => {
                    // The route the router matched rides on the error; the metrics label the
                    // request with it, so it moves to the response made from the error.
                    let pattern = e.data::<PathPattern>().cloned();
                    let mut response = crate::error::problem_response(e);
                    if let Some(pattern) = pattern {
                        response.set_data(pattern);
                    }
                    response
                }
            },
        };
        if let Some(standing) = &standing {
            for (name, value) in standing.headers() {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    response.headers_mut().insert(name, value);
                }
            }
        }
        Ok(response)
    })
}

/// When the limiter last said that its store cannot answer (Unix seconds).
static LAST_WARNED: AtomicI64 = AtomicI64::new(0);

fn store_unavailable(e: &voicebin_projections::StoreError) {
    let now = chrono::Utc::now().timestamp();
    let last = LAST_WARNED.load(Ordering::Relaxed);
    if now - last >= 10
        && LAST_WARNED
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tracing::warn!(error = %e, "the rate-limit store cannot answer: requests are not limited");
    }
}

/// The subject for a caller: its account, or the tag of its address.
fn subject(
    state: &AppState,
    class: Class,
    account: Option<&str>,
    ip: Option<IpAddr>,
) -> Option<Subject> {
    // No quota, nothing to count: the address's tag (an HMAC) is not worth making.
    let limits = state.limits.settings().of(class);
    match (account, ip) {
        (Some(account), _) if limits.per_account.is_some() => {
            Some(Subject::Account(account.to_owned()))
        }
        (None, Some(ip)) if limits.per_address.is_some() => Some(Subject::Address(
            state.reporter_tags.anonymous(ip).as_str().to_owned(),
        )),
        _ => None,
    }
}
