//! `/clips`: the signed-in person's clips.

use poem::web::Data;
use poem::{handler, Response};

use super::{render, Page};
use crate::state::AppState;

/// `GET /clips`.
#[handler]
pub async fn clips_page(Data(state): Data<&AppState>) -> Response {
    render(
        state,
        Page {
            name: "clips",
            title: "My clips",
            main: r#"<h1>My clips</h1>
<p id="clips-status" role="status"></p>"#,
            data: Vec::new(),
            connect: Vec::new(),
        },
    )
}
