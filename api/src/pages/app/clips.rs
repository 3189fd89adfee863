//! `/clips`: the signed-in person's clips.

use poem::web::Data;
use poem::{handler, Response};

use super::{html_escape, render, Page};
use crate::state::AppState;

/// `GET /clips`.
#[handler]
pub async fn clips_page(Data(state): Data<&AppState>) -> Response {
    let main = format!(
        r#"<h1>My clips</h1>
<p id="clips-status" role="status"></p>
<div id="clips-signed-out" class="panel" hidden><p>Sign in to see, play, edit and delete your clips.</p>
<p><a id="clips-sign-in" class="button" href="{signin}">Sign in</a></p></div>
<section id="clips" aria-labelledby="clips-heading" hidden>
<h2 id="clips-heading" class="visually-hidden">Your clips</h2>
<p id="clips-usage" class="usage" hidden></p>
<form id="clips-search" role="search" class="search">
<label for="clips-q">Search your clips</label>
<p class="hint" id="clips-q-hint">Words in the title, description or file name, or said in the clip. “Quotes” keep words together; -word leaves clips out.</p>
<div class="search-row"><input id="clips-q" name="q" type="search" maxlength="200" aria-describedby="clips-q-hint" autocomplete="off">
<button type="submit">Search</button></div>
</form>
<ul id="clip-list" class="clip-list"></ul>
<p><button id="clips-more" type="button" class="secondary" hidden>Show more clips</button></p>
</section>"#,
        signin = html_escape(&state.urls.path("/signin")),
    );
    render(
        state,
        Page {
            name: "clips",
            title: "My clips",
            main: &main,
            data: Vec::new(),
            connect: Vec::new(),
        },
    )
}
