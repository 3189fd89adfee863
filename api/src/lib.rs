//! The HTTP side of voicebin: the REST API (poem-openapi, described as OpenAPI 3.1), the HTML
//! pages, media serving with byte ranges, the well-known documents and the MCP endpoint.
//!
//! Handlers change state only through `voicebin_commands::ClipService` and answer reads only
//! from `voicebin_projections` (the clip history is the one read of the event store). Errors
//! leave as RFC 9457 problem documents built by [`error::ApiError`].
//!
//! # Layout
//!
//! Three layers; each imports only the layers below it, and files never import each other in
//! a circle.
//!
//! - **Foundations**: `auth/` (tokens, DPoP, the embedded issuer, reading a request's
//!   credentials), `error/` (the one table of error kinds and `ApiError`), `access/` (the
//!   scopes and the one rule of who may have what of a clip), `urls.rs` (every URL the site
//!   hands out), `http.rs` (request ids, client addresses, conditional requests), `methods.rs`
//!   (a route's methods, named by `Allow` when another one is asked for), `site.rs` (what the
//!   deployment says about itself), `model.rs` (the JSON shapes), `state.rs` (`AppState`,
//!   built by the binary).
//! - **Use cases** several edges share, in `usecases/`: `clips.rs` (finding a clip through the
//!   access rule, listing, upload, edit, delete), `moderation.rs` (reports and decisions),
//!   `reporters.rs` (naming and limiting reporters), `grants.rs` (playback grants).
//! - **Edges**, one folder each: `rest/` (the REST API and its OpenAPI document), `pages/`
//!   (HTML), `media/` (`/{id}/download` and `/{id}/audio`, where downloads are counted),
//!   `wellknown/` (discovery documents and health checks), `mcp/` (the MCP endpoint),
//!   `metrics.rs` (`/metrics` and the layers that count every request). An edge
//!   imports the use cases and the foundations, never another edge; what two edges both need
//!   moves down a layer. The foundations and use cases import no edge, and the foundations no
//!   use case, except that `state.rs` holds the keys and settings of `usecases/grants.rs` and
//!   `usecases/reporters.rs` (which themselves import only `http.rs`).
//!
//! [`app`] below is where the edges meet: it routes each path to its edge and wraps them all in
//! the same error rendering and response headers. `throttle.rs` belongs with it: the rate
//! limiter `app` puts in front of the REST API, media serving and MCP (it imports the
//! foundations and `usecases/limits.rs`, and no edge).
#![forbid(unsafe_code)]
// `ApiError` carries a whole problem document; it is built once per failed request, so its
// size does not matter.
#![allow(clippy::result_large_err)]

pub mod access;
pub mod auth;
pub mod error;
pub mod http;
pub mod mcp;
pub mod media;
pub mod methods;
pub mod metrics;
pub mod model;
pub mod pages;
pub mod rest;
pub mod site;
pub mod state;
pub mod throttle;
pub mod uploads;
pub mod urls;
pub mod usecases;
pub mod wellknown;

use methods::{get, post};
use poem::endpoint::make_sync;
use poem::{Endpoint, EndpointExt, Response, Route};
use tracing::Instrument;

pub use rest::openapi_document;
pub use state::{AppState, ReadinessCheck, State};

/// Builds the whole HTTP application.
pub fn app(state: State) -> impl Endpoint<Output = Response> {
    let state = AppState::new(state);
    let spec = std::sync::Arc::new(openapi_document(&state));
    let document = spec.to_string();
    let api = rest::api_service(&state);
    let metrics_here = state.metrics_here;
    let templates = metrics::Templates::of(&spec);
    let route = Route::new()
        .at(
            "/api/v1/openapi.json",
            get(make_sync(move |_| {
                Response::builder()
                    .content_type("application/json")
                    .body(document.clone())
            })),
        )
        .at(
            uploads::COLLECTION,
            throttle::limited(
                post(uploads::create).options(uploads::options),
                throttle::api_class,
            )
            .around(uploads::versioned),
        )
        .at(
            "/api/v1/uploads/:id",
            throttle::limited(
                methods::Methods::default()
                    .head(uploads::head)
                    .patch(uploads::patch)
                    .delete(uploads::delete),
                throttle::api_class,
            )
            .around(uploads::versioned),
        )
        .nest_no_strip("/api", throttle::limited(api, throttle::api_class))
        .at("/.well-known/jwks.json", get(wellknown::jwks::jwks))
        .at(
            "/.well-known/oauth-protected-resource",
            get(wellknown::oauth::resource_metadata),
        )
        .at(
            "/.well-known/oauth-protected-resource/mcp",
            get(wellknown::oauth::mcp_resource_metadata),
        )
        .at("/.well-known/agent.json", get(wellknown::agent::agent))
        .at("/llms.txt", get(wellknown::llms::llms_txt))
        .at("/healthz", get(wellknown::health::healthz))
        .at("/readyz", get(wellknown::health::readyz))
        .at("/privacy", get(pages::policy::privacy))
        .at(
            "/abuse",
            get(pages::policy::abuse).post(pages::policy::abuse_report),
        )
        .at("/docs", get(pages::docs::docs))
        .at(
            "/mcp",
            throttle::limited(post(mcp::endpoint(&state, &spec)), |_| {
                Some(usecases::limits::Class::Mcp)
            }),
        )
        .at("/oembed", get(pages::oembed::oembed))
        .at("/", get(pages::app::upload_page))
        .at("/clips", get(pages::app::clips_page))
        .at("/moderation", get(pages::app::moderation_page))
        .at("/signin", get(pages::app::signin_page))
        .at("/static/*name", get(pages::assets::static_file))
        .at("/:id", get(pages::view::view_page))
        .at("/:id/embed", get(pages::view::embed_page))
        .at("/:id/manage", get(pages::app::manage_page))
        .at("/:id/transcript.vtt", get(pages::view::transcript_vtt))
        .at(
            "/:id/download",
            throttle::limited(get(media::download).head(media::download), downloads),
        )
        .at(
            "/:id/audio",
            throttle::limited(get(media::audio).head(media::audio), downloads),
        );
    // With a listener of its own (`VOICEBIN_METRICS_LISTEN`), `/metrics` is served only there.
    let route = if metrics_here {
        route.at("/metrics", get(metrics::scrape))
    } else {
        route
    };
    route
        .around(move |ep, req| metrics::record_route(ep, req, templates.clone()))
        .around(move |ep, req| {
            let spec = spec.clone();
            async move {
                // Kept for a 405's `Allow` (a clone of the URI shares its bytes).
                let uri = req.uri().clone();
                // With nonces on, any answer to a DPoP request (and any 401) carries a fresh one.
                let nonce = req
                    .headers()
                    .contains_key("dpop")
                    .then(|| req.data::<AppState>().and_then(|s| s.dpop.fresh_nonce()))
                    .flatten();
                // Every error leaves as problem+json, and every response says nosniff.
                let mut response = match ep.call(req).await {
                    Ok(response) => response,
                    Err(e) => error::problem_response(e),
                };
                // RFC 9110 §15.5.6: a 405 lists the methods the resource supports. Routes
                // outside the REST API name theirs (`methods.rs`); the REST API's come from
                // its OpenAPI document.
                let allow = (response.status() == poem::http::StatusCode::METHOD_NOT_ALLOWED
                    && !response.headers().contains_key(poem::http::header::ALLOW))
                .then(|| rest::contract::allowed_methods(&spec, uri.path()))
                .flatten()
                .and_then(|a| poem::http::HeaderValue::from_str(&a).ok());
                let headers = response.headers_mut();
                headers.insert(
                    "x-content-type-options",
                    poem::http::HeaderValue::from_static("nosniff"),
                );
                if let Some(value) = allow {
                    headers.insert(poem::http::header::ALLOW, value);
                }
                if let Some(value) = nonce.and_then(|n| poem::http::HeaderValue::from_str(&n).ok())
                {
                    headers.insert("dpop-nonce", value);
                }
                Ok(response)
            }
        })
        .around(|ep, req| async move {
            // poem's `Tracing`, except that a playback grant or pass in the query is not written down.
            let span = tracing::info_span!(
                "request",
                remote_addr = %req.remote_addr(),
                version = ?req.version(),
                method = %req.method(),
                uri = %logged_uri(req.original_uri()),
            );
            async move {
                let started = std::time::Instant::now();
                let response = ep.call(req).await;
                match &response {
                    Ok(r) => tracing::info!(status = %r.status(), duration = ?started.elapsed(), "response"),
                    Err(e) => tracing::info!(status = %e.status(), error = %e, duration = ?started.elapsed(), "error"),
                }
                response
            }
            .instrument(span)
            .await
        })
        .around(metrics::count)
        .data(state)
        .map_to_response()
}

/// Requests to the media routes are downloads, whatever their method (the routes answer 405
/// to all but `GET` and `HEAD`).
fn downloads(_: &poem::Request) -> Option<usecases::limits::Class> {
    Some(usecases::limits::Class::Downloads)
}

/// `uri` as the access log shows it: a playback grant or pass (capabilities) is replaced by `…`.
fn logged_uri(uri: &poem::http::Uri) -> String {
    let Some(query) = uri.query() else {
        return uri.path().to_owned();
    };
    let query: Vec<&str> = query
        .split('&')
        .map(|pair| {
            if pair.starts_with("grant=") {
                "grant=…"
            } else if pair.starts_with("playback=") {
                "playback=…"
            } else {
                pair
            }
        })
        .collect();
    format!("{}?{}", uri.path(), query.join("&"))
}

#[cfg(test)]
mod access_log_tests {
    #[test]
    fn grants_are_not_logged() {
        let uri: poem::http::Uri = "/abc/audio?x=1&grant=secret.tag".parse().unwrap();
        assert_eq!(super::logged_uri(&uri), "/abc/audio?x=1&grant=…");
        let uri: poem::http::Uri = "/abc/audio?playback=1.m.tag".parse().unwrap();
        assert_eq!(super::logged_uri(&uri), "/abc/audio?playback=…");
        let uri: poem::http::Uri = "/abc".parse().unwrap();
        assert_eq!(super::logged_uri(&uri), "/abc");
    }
}
