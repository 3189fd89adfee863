//! `/`: upload a file or record from the microphone.
//!
//! The markup is the page's whole structure (so it reads without script and axe sees it); the
//! behaviour is `static/app/upload.js` with `recorder.js` (the microphone), `sniff.js` (what the
//! API would refuse, checked before sending) and `drafts.js` (a recording kept across sign-in).

use poem::web::Data;
use poem::{handler, Response};

use super::{render, Page};
use crate::state::AppState;

/// The page's markup inside `<main>`. Every control has a label; the status lines are live
/// regions. `{signin}` is the sign-in path.
const MAIN: &str = r##"<h1>Upload or record a clip</h1>
<p id="signed-out" class="panel" hidden>You can record here and listen back, but you must <a id="signin-link" href="{signin}">sign in</a> to upload. A recording you made is kept while you sign in.</p>
<p id="restored" class="panel" role="status" hidden></p>
<section class="panel" aria-labelledby="choose-heading">
<h2 id="choose-heading">Choose a file</h2>
<div id="drop" class="drop">
<p class="hint">Drop an audio file here, or choose one.</p>
<label for="file">Audio file</label>
<input id="file" type="file" accept="audio/*,.webm,.opus,.m4a,.caf,.aiff,.flac">
</div>
</section>
<section class="panel" aria-labelledby="record-heading">
<h2 id="record-heading">Or record</h2>
<div class="actions">
<button id="record" type="button">Record</button>
<button id="stop" type="button" class="danger" disabled>Stop</button>
</div>
<div class="meter-row">
<label for="level">Microphone level</label>
<meter id="level" min="0" max="1" low="0.6" high="0.9" optimum="0.3" value="0">0</meter>
<span id="timer" class="timer" role="timer" aria-label="Recording time">0:00</span>
</div>
<p id="record-status" class="hint" role="status"></p>
</section>
<section id="chosen" class="panel" aria-labelledby="chosen-heading" hidden>
<h2 id="chosen-heading">Your clip</h2>
<p id="chosen-name"></p>
<audio id="preview" controls preload="metadata"></audio>
<div class="actions"><button id="discard" type="button" class="secondary">Discard</button></div>
</section>
<p id="refusal" class="error" role="alert"></p>
<form id="details" class="panel" novalidate>
<h2>Details</h2>
<label for="title">Title <span class="hint">(optional, at most 200 characters)</span></label>
<input id="title" name="title" type="text" maxlength="200" autocomplete="off">
<label for="description">Description <span class="hint">(optional)</span></label>
<textarea id="description" name="description" maxlength="5000"></textarea>
<label for="download-limit">Download limit <span class="hint">(optional; empty means unlimited)</span></label>
<input id="download-limit" name="download_limit" type="number" min="1" max="1000000000" step="1" inputmode="numeric">
<label for="expires-in">Expires <span class="hint">(after that the clip is gone for everyone and its audio deleted)</span></label>
<select id="expires-in" name="expires_in">
<option value="" selected>Never (or this server's default)</option>
<option value="PT1H">In 1 hour</option>
<option value="P1D">In 1 day</option>
<option value="P7D">In 1 week</option>
<option value="P30D">In 30 days</option>
</select>
<div class="actions"><button id="send" type="submit" disabled>Upload</button></div>
</form>
<section id="sending" class="panel" aria-labelledby="sending-heading" hidden>
<h2 id="sending-heading">Uploading</h2>
<label for="progress">Upload progress</label>
<progress id="progress" max="100" value="0"></progress>
<p id="progress-text"></p>
<p id="progress-live" class="visually-hidden" aria-live="polite"></p>
<div class="actions"><button id="cancel" type="button" class="secondary">Cancel upload</button></div>
</section>
<section id="done" class="panel" aria-labelledby="done-heading" hidden>
<h2 id="done-heading" tabindex="-1">Uploaded</h2>
<p id="share">Share link: <a id="share-link" href="#"></a> <span id="copy-slot"></span></p>
<p id="scan" role="status" aria-live="polite"></p>
<div class="actions"><a id="view-link" class="button" href="#">Open the clip's page</a> <button id="another" type="button" class="secondary">Upload another</button></div>
</section>"##;

/// `GET /`.
#[handler]
pub async fn upload_page(Data(state): Data<&AppState>) -> Response {
    let max = state.service.max_upload_bytes();
    let main = MAIN.replace(
        "{signin}",
        &super::super::html_escape(&state.urls.path("/signin")),
    );
    render(
        state,
        Page {
            name: "upload",
            title: "Upload or record",
            main: &main,
            data: vec![("max-upload-bytes", max.to_string())],
            connect: Vec::new(),
        },
    )
}
