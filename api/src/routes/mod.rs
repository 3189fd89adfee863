//! One `#[OpenApi]` struct per resource.

pub mod account;
pub mod audio;
pub mod history;
pub mod items;
pub mod moderation;

pub use account::AccountApi;
pub use audio::AudioApi;
pub use history::HistoryApi;
pub use items::ItemsApi;
pub use moderation::{ModerationApi, ReportsApi};

use poem_openapi::Tags;

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
}

/// Request id from `X-Request-Id`, if the client or a proxy set one (bounded and printable).
pub fn request_id(req: &poem::Request) -> Option<String> {
    request_id_header(req.headers())
}

/// [`request_id`] from a header map (the MCP tools see the request as `http` parts).
pub fn request_id_header(headers: &poem::http::HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
}
