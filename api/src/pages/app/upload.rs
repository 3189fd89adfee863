//! `/`: upload a file or record from the microphone.

use poem::web::Data;
use poem::{handler, Response};

use super::{render, Page};
use crate::state::AppState;

/// `GET /`.
#[handler]
pub async fn upload_page(Data(state): Data<&AppState>) -> Response {
    let max = state.service.max_upload_bytes();
    render(
        state,
        Page {
            name: "upload",
            title: "Upload or record",
            main: r#"<h1>Upload or record a clip</h1>
<p id="upload-status" role="status"></p>"#,
            data: vec![("max-upload-bytes", max.to_string())],
            connect: Vec::new(),
        },
    )
}
