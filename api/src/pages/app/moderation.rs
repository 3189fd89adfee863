//! `/moderation`: the report queue, for moderators (scope `voice:moderate`).

use poem::web::Data;
use poem::{handler, Response};

use super::{html_escape, render, Page};
use crate::state::AppState;

/// `GET /moderation`.
#[handler]
pub async fn moderation_page(Data(state): Data<&AppState>) -> Response {
    let main = format!(
        r#"<h1>Moderation</h1>
<p id="moderation-status" role="status"></p>
<div id="moderation-signed-out" class="panel" hidden><p>Sign in with a moderator's account to review reports.</p>
<p><a id="moderation-sign-in" class="button" href="{signin}">Sign in</a></p></div>
<section id="queue" aria-labelledby="queue-heading" hidden>
<h2 id="queue-heading">Reported clips</h2>
<form id="queue-filter" class="search">
<label for="queue-state">Show reports</label>
<div class="search-row"><select id="queue-state" name="state">
<option value="open" selected>Open</option>
<option value="resolved">Resolved</option>
<option value="all">All</option>
</select>
<button type="submit">Show</button></div>
</form>
<ul id="queue-list" class="clip-list"></ul>
<p><button id="queue-more" type="button" class="secondary" hidden>Show more reported clips</button></p>
</section>
<section id="lookup" aria-labelledby="lookup-heading" hidden>
<h2 id="lookup-heading">Any clip</h2>
<form id="lookup-form" class="search">
<label for="lookup-clip">Clip address or id</label>
<div class="search-row"><input id="lookup-clip" name="clip" type="text" autocomplete="off" spellcheck="false" required aria-describedby="lookup-hint">
<button type="submit">Open</button></div>
<p class="hint" id="lookup-hint">To block, restore or remove a clip nobody reported, or one already decided (a blocked clip leaves the queue once its reports are resolved).</p>
</form>
<p id="lookup-status" role="status"></p>
<ul id="lookup-list" class="clip-list"></ul>
</section>"#,
        signin = html_escape(&state.urls.path("/signin")),
    );
    render(
        state,
        Page {
            name: "moderation",
            title: "Moderation",
            main: &main,
            data: Vec::new(),
            connect: Vec::new(),
        },
    )
}
