//! `/{id}/manage`: an anonymous upload's management page. Its link, given once in the upload's
//! answer, carries the management token in the fragment, which browsers never send to the
//! server; `static/app/manage.js` reads it and sends it as `x-management-token` to show the
//! clip as its owner sees it and to delete it.

use poem::web::{Data, Path};
use poem::{handler, Response};

use super::{render, Page};
use crate::state::AppState;

/// The page's markup inside `<main>`; `{view}` is the clip's view page.
const MAIN: &str = r##"<h1>Your anonymous clip</h1>
<p id="manage-status" role="status">Reading the clip…</p>
<section id="manage-clip" class="panel" aria-labelledby="manage-title" hidden>
<h2 id="manage-title"></h2>
<div id="manage-facts"></div>
<p><a id="manage-view" href="{view}">Open the clip's page</a></p>
<div id="manage-delete"></div>
</section>
<p class="hint">This page's link is the only key to this clip: whoever has it can delete the clip, and it cannot be shown again. It works until the clip expires.</p>"##;

/// `GET /{id}/manage`. The page is the same for every id (nothing about the clip is read here,
/// so it says nothing about whether the id exists); its script does the rest.
#[handler]
pub async fn manage_page(Path(id): Path<String>, Data(state): Data<&AppState>) -> Response {
    let view = super::super::html_escape(&state.urls.path(&format!("/{id}")));
    let main = MAIN.replace("{view}", &view);
    render(
        state,
        Page {
            name: "manage",
            title: "Your anonymous clip",
            main: &main,
            data: vec![("clip", id)],
            connect: Vec::new(),
        },
    )
}
