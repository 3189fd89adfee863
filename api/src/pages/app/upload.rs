//! `/`: upload a file or record from the microphone.
//!
//! The markup is the page's whole structure (so it reads without script and axe sees it); the
//! behaviour is `static/app/upload.js` with `recorder.js` (the microphone), `sniff.js` (what the
//! API would refuse, checked before sending), `drafts.js` (a recording kept across sign-in) and
//! `tus.js` (the vendored tus client, for resumable uploads).

use poem::web::Data;
use poem::{handler, Response};

use super::{render, Page};
use crate::state::AppState;
use crate::usecases::anonymous;

/// The page's markup inside `<main>`. Every control has a label; the status lines are live
/// regions. `{signin}` is the sign-in path.
const MAIN: &str = r##"<h1>Upload or record a clip</h1>
<p id="signed-out" class="panel" hidden>You can record here and listen back, but you must <a id="signin-link" href="{signin}">sign in</a> to upload. A recording you made is kept while you sign in.</p>
<p id="signed-out-anonymous" class="panel" hidden>You are not signed in, so your clip is uploaded anonymously: it is deleted {lifetime} after upload at the latest and may be at most {max}. You get a link to delete it yourself. <a id="signin-link-anonymous" href="{signin}">Sign in</a> to keep clips longer.</p>
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
{anonymous}<div class="actions"><button id="send" type="submit" disabled>Upload</button></div>
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
<div id="manage" class="manage" hidden>
<p><strong>Keep this link: it is the only way to delete this clip, and it is not shown again.</strong></p>
<p><a id="manage-link" href="#"></a> <span id="manage-copy-slot"></span></p>
</div>
<div class="actions"><a id="view-link" class="button" href="#">Open the clip's page</a> <button id="another" type="button" class="secondary">Upload another</button></div>
</section>"##;

/// The anonymous uploader's proof of work, in the form when anonymous uploads are on: the
/// vendored ALTCHA widget (`static/vendor/altcha`, loaded by `static/app/altcha.js`), which
/// fetches `{challenge}` and solves it in a worker.
const ANONYMOUS: &str = r##"<div id="anonymous" class="anonymous" hidden>
<p class="hint" id="altcha-hint">Before an anonymous upload your browser solves a small puzzle (a second or two of work) that makes flooding this site costly.</p>
<altcha-widget id="altcha" challenge="{challenge}" aria-describedby="altcha-hint"></altcha-widget>
</div>
"##;

/// `GET /`.
#[handler]
pub async fn upload_page(Data(state): Data<&AppState>) -> Response {
    let e = super::super::html_escape;
    let max = state.service.max_upload_bytes();
    let anonymous_on = state.anonymous.settings.enabled;
    let anonymous_max = anonymous::max_bytes(state);
    let lifetime = anonymous::lifetime(state);
    let main = MAIN
        .replace("{signin}", &e(&state.urls.path("/signin")))
        .replace("{lifetime}", &e(&in_words(lifetime.secs())))
        .replace("{max}", &e(&decimal_size(anonymous_max)))
        .replace(
            "{anonymous}",
            &if anonymous_on {
                ANONYMOUS.replace("{challenge}", &e(&state.urls.path("/api/v1/challenge")))
            } else {
                String::new()
            },
        );
    let mut data = vec![("max-upload-bytes", max.to_string())];
    if anonymous_on {
        data.extend([
            ("anonymous-uploads", "on".to_owned()),
            ("anonymous-max-upload-bytes", anonymous_max.to_string()),
            ("anonymous-lifetime-secs", lifetime.secs().to_string()),
        ]);
    }
    render(
        state,
        Page {
            name: "upload",
            title: "Upload or record",
            main: &main,
            data,
            connect: Vec::new(),
        },
    )
}

/// A lifetime in the largest whole unit it is a number of (`1 day`, `36 hours`, `90 seconds`).
fn in_words(secs: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (86_400, "day"),
        (3_600, "hour"),
        (60, "minute"),
        (1, "second"),
    ];
    let (unit, name) = UNITS
        .into_iter()
        .find(|(unit, _)| secs.is_multiple_of(*unit) && secs >= *unit)
        .unwrap_or((1, "second"));
    let n = secs / unit;
    if n == 1 {
        format!("1 {name}")
    } else {
        format!("{n} {name}s")
    }
}

/// A size in decimal units, as the page shows sizes (`10 MB`, `2.5 GB`).
fn decimal_size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1_000_000_000, "GB"), (1_000_000, "MB"), (1_000, "kB")];
    for (unit, name) in UNITS {
        if bytes >= unit {
            let whole = bytes / unit;
            let tenth = (bytes % unit) * 10 / unit;
            return if tenth == 0 {
                format!("{whole} {name}")
            } else {
                format!("{whole}.{tenth} {name}")
            };
        }
    }
    format!("{bytes} bytes")
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_in_decimal_units() {
        assert_eq!(super::decimal_size(10_000_000), "10 MB");
        assert_eq!(super::decimal_size(2_500_000_000), "2.5 GB");
        assert_eq!(super::decimal_size(999), "999 bytes");
        assert_eq!(super::decimal_size(1_500), "1.5 kB");
    }

    #[test]
    fn lifetimes_read_in_their_largest_whole_unit() {
        assert_eq!(super::in_words(86_400), "1 day");
        assert_eq!(super::in_words(129_600), "36 hours");
        assert_eq!(super::in_words(90), "90 seconds");
        assert_eq!(super::in_words(3_600), "1 hour");
    }
}
