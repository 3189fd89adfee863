//! The pages' own scripts and styles, embedded in the binary and served from `/static/`.

use poem::http::header;
use poem::web::Path;
use poem::{handler, IntoResponse, Response};

use crate::error::{ApiError, Code};

const VIEW_JS: &str = include_str!("../../static/view.js");
const VIEW_CSS: &str = include_str!("../../static/view.css");

/// `GET /static/view.js` and `/static/view.css`.
#[handler]
pub async fn static_file(Path(name): Path<String>) -> Response {
    let (body, content_type) = match name.as_str() {
        "view.js" => (VIEW_JS, "text/javascript; charset=utf-8"),
        "view.css" => (VIEW_CSS, "text/css; charset=utf-8"),
        _ => return ApiError::new(Code::NotFound, "no such file").into_response(),
    };
    Response::builder()
        .content_type(content_type)
        .header(header::CACHE_CONTROL, "public, max-age=3600")
        .body(body)
}
