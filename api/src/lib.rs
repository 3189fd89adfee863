//! The HTTP edge of voicebin: the REST API (poem-openapi, described as OpenAPI 3.1), the public
//! pages (view page, direct download) and the discovery documents.
//!
//! Handlers change state only through `voicebin_commands::ClipService` and answer reads only
//! from `voicebin_projections`; they never touch the event store. Errors leave as RFC 9457
//! problem documents built by [`error::ApiError`].
#![forbid(unsafe_code)]
// `ApiError` is a poem-openapi response enum carrying a whole problem document; it is built once
// per failed request, so its size does not matter.
#![allow(clippy::result_large_err)]

pub mod auth;
pub mod clips;
pub mod contract;
pub mod discovery;
pub mod docs;
pub mod download;
pub mod error;
pub mod extract;
pub mod mcp;
pub mod model;
pub mod moderation;
pub mod openapi31;
pub mod pages;
pub mod policy;
pub mod routes;
pub mod state;
pub mod view;

use poem::endpoint::make_sync;
use poem::middleware::Tracing;
use poem::{get, Endpoint, EndpointExt, Response, Route};
use poem_openapi::OpenApiService;

pub use state::{AppState, ReadinessCheck};

use crate::routes::{AccountApi, AudioApi, HistoryApi, ItemsApi, ModerationApi, ReportsApi};

/// The OpenAPI service (poem-openapi) for the REST API.
type Apis = (
    AudioApi,
    ItemsApi,
    HistoryApi,
    AccountApi,
    ReportsApi,
    ModerationApi,
);

fn api_service(state: &AppState) -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            AudioApi {
                state: state.clone(),
            },
            ItemsApi {
                state: state.clone(),
            },
            HistoryApi {
                state: state.clone(),
            },
            AccountApi {
                state: state.clone(),
            },
            ReportsApi {
                state: state.clone(),
            },
            ModerationApi {
                state: state.clone(),
            },
        ),
        "voicebin",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Upload, share and manage audio clips. Every clip is validated as audio and scanned \
         before anyone but its owner can fetch it. Errors are RFC 9457 problem documents.",
    )
    .server(state.public_url.clone())
}

/// The OpenAPI 3.1 document of the REST API, as served at `/api/v1/openapi.json`.
pub fn openapi_document(state: &AppState) -> serde_json::Value {
    let spec: serde_json::Value =
        serde_json::from_str(&api_service(state).spec()).expect("poem-openapi emits valid JSON");
    let mut doc = openapi31::upgrade(spec);
    contract::refine(&mut doc);
    doc
}

/// Builds the whole HTTP application.
pub fn app(state: AppState) -> impl Endpoint<Output = Response> {
    let spec = std::sync::Arc::new(openapi_document(&state));
    let document = spec.to_string();
    let api = api_service(&state);
    Route::new()
        .at(
            "/api/v1/openapi.json",
            get(make_sync(move |_| {
                Response::builder()
                    .content_type("application/json")
                    .body(document.clone())
            })),
        )
        .nest_no_strip("/api", api)
        .at("/.well-known/jwks.json", get(pages::jwks))
        .at(
            "/.well-known/oauth-protected-resource",
            get(discovery::resource_metadata),
        )
        .at(
            "/.well-known/oauth-protected-resource/mcp",
            get(discovery::mcp_resource_metadata),
        )
        .at("/.well-known/agent.json", get(discovery::agent))
        .at("/llms.txt", get(discovery::llms_txt))
        .at("/privacy", get(policy::privacy))
        .at("/abuse", get(policy::abuse).post(policy::abuse_report))
        .at("/healthz", get(pages::healthz))
        .at("/readyz", get(pages::readyz))
        .at("/docs", get(docs::docs))
        .at("/mcp", mcp::endpoint(&state))
        .at("/oembed", get(view::oembed))
        .at("/static/:name", get(view::static_file))
        .at("/:id", get(view::view_page))
        .at("/:id/embed", get(view::embed_page))
        .at(
            "/:id/download",
            get(download::download).head(download::download),
        )
        .at("/:id/audio", get(download::audio).head(download::audio))
        .around(move |ep, req| {
            let spec = spec.clone();
            async move {
                let path = req.uri().path().to_owned();
                // With nonces on, any answer to a DPoP request (and any 401) carries a fresh one.
                let nonce = req
                    .data::<AppState>()
                    .and_then(|state| state.dpop.fresh_nonce())
                    .filter(|_| req.headers().contains_key("dpop"));
                // Every error leaves as problem+json, and every response says nosniff.
                let mut response = match ep.call(req).await {
                    Ok(response) => response,
                    Err(e) => error::problem_response(e),
                };
                // RFC 9110 §15.5.6: a 405 lists the methods the resource supports.
                let allow = (response.status() == poem::http::StatusCode::METHOD_NOT_ALLOWED)
                    .then(|| contract::allowed_methods(&spec, &path))
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
        .with(Tracing)
        .data(state)
        .map_to_response()
}
