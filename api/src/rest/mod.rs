//! The REST API: one `#[OpenApi]` struct per resource, the extractors they share, and the
//! OpenAPI 3.1 document (poem-openapi emits 3.0; `openapi31` upgrades it and `contract` adds
//! what poem-openapi cannot declare).

pub mod account;
pub mod audio;
pub mod contract;
pub mod extract;
pub mod form;
pub mod history;
pub mod items;
pub mod moderation;
pub mod openapi31;
pub mod session;
pub mod transcripts;

pub use account::AccountApi;
pub use audio::AudioApi;
pub use history::HistoryApi;
pub use items::ItemsApi;
pub use moderation::{ModerationApi, ReportsApi};
pub use session::SessionApi;
pub use transcripts::TranscriptsApi;

use poem_openapi::{OpenApiService, Tags};

use crate::state::AppState;

/// Groups of operations in the OpenAPI document.
#[derive(Tags)]
pub enum ApiTags {
    /// Uploading clips.
    Audio,
    /// Reading, editing and deleting one clip.
    Items,
    /// The caller's own clips.
    Account,
    /// Abuse reports and moderators' decisions.
    Moderation,
    /// Signing in from a browser.
    Session,
}

/// The OpenAPI service (poem-openapi) for the REST API.
pub type Apis = (
    AudioApi,
    ItemsApi,
    HistoryApi,
    TranscriptsApi,
    AccountApi,
    ReportsApi,
    ModerationApi,
    SessionApi,
);

/// The REST API, ready to be nested under `/api`.
pub fn api_service(state: &AppState) -> OpenApiService<Apis, ()> {
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
            TranscriptsApi {
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
            SessionApi {
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
    .server(state.urls.base())
}

/// The OpenAPI 3.1 document of the REST API, as served at `/api/v1/openapi.json`.
pub fn openapi_document(state: &AppState) -> serde_json::Value {
    let spec: serde_json::Value =
        serde_json::from_str(&api_service(state).spec()).expect("poem-openapi emits valid JSON");
    let mut doc = openapi31::upgrade(spec);
    contract::refine(&mut doc);
    doc
}
