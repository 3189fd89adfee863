//! `/oembed`: oEmbed discovery of a clip's view page (a rich response with an iframe of the
//! embed page).

use poem::web::{Data, Query};
use poem::{handler, IntoResponse, Request, Response};
use serde::Deserialize;

use super::html_escape;
use super::view::{title_of, visible};
use crate::access::Reader;
use crate::error::{ApiError, Code};
use crate::state::AppState;

/// oEmbed query parameters.
#[derive(Deserialize)]
pub struct OEmbedQuery {
    url: String,
    format: Option<String>,
    maxwidth: Option<u32>,
    maxheight: Option<u32>,
}

/// `GET /oembed?url=…`: a rich oEmbed response with an iframe of the embed page.
#[handler]
pub async fn oembed(
    req: &Request,
    Query(q): Query<OEmbedQuery>,
    Data(state): Data<&AppState>,
) -> Response {
    if q.format
        .as_deref()
        .is_some_and(|f| !f.is_empty() && !f.eq_ignore_ascii_case("json"))
    {
        return ApiError::new(Code::NotImplemented, "only format=json is supported")
            .into_response();
    }
    let Some(id) = state.urls.clip_of(&q.url) else {
        return ApiError::new(Code::NotFound, "the url is not a clip of this site").into_response();
    };
    let (view, reader) = match visible(state, req, id).await {
        Ok(found) => (found.view, found.reader),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let width = q.maxwidth.unwrap_or(480).clamp(200, 1200);
    let height = q.maxheight.unwrap_or(140).clamp(80, 400);
    let embed_url = state.urls.embed(&view.id);
    let body = serde_json::json!({
        "version": "1.0",
        "type": "rich",
        "provider_name": "voicebin",
        "provider_url": state.urls.base(),
        "title": title_of(&view),
        "width": width,
        "height": height,
        "html": format!(
            "<iframe src=\"{}\" width=\"{width}\" height=\"{height}\" frameborder=\"0\" \
             allow=\"autoplay\" title=\"{}\"></iframe>",
            html_escape(&embed_url),
            html_escape(&title_of(&view))
        ),
    });
    // Consumers may cache what anyone may see; an owner's or moderator's view of a clip the
    // public cannot see is not to be kept.
    let mut body = body;
    if reader == Reader::Public {
        // Not past the clip's expiry: it is gone from then on.
        let left = view
            .expires_at
            .map(|at| (at / 1_000_000 - chrono::Utc::now().timestamp()).max(0));
        let age = left.map_or(3600, |left| left.min(3600));
        body["cache_age"] = serde_json::json!(age);
    }
    Response::builder()
        .content_type("application/json")
        .body(body.to_string())
}
