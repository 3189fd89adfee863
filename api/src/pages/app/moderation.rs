//! `/moderation`: the report queue, for moderators (scope `voice:moderate`).

use poem::web::Data;
use poem::{handler, Response};

use super::{render, Page};
use crate::state::AppState;

/// `GET /moderation`.
#[handler]
pub async fn moderation_page(Data(state): Data<&AppState>) -> Response {
    render(
        state,
        Page {
            name: "moderation",
            title: "Moderation",
            main: r#"<h1>Moderation</h1>
<p id="moderation-status" role="status"></p>"#,
            data: Vec::new(),
            connect: Vec::new(),
        },
    )
}
