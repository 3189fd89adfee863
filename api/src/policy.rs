//! `/privacy` and `/abuse`: what this deployment keeps about people, and how to report a clip.

use poem::http::header;
use poem::web::Data;
use poem::{handler, Response};

use crate::pages::{html_escape, text_page};
use crate::state::AppState;

/// A policy page: the shared layout, cacheable for an hour.
fn page(title: &str, body: &str) -> Response {
    let mut response = text_page(title, &format!("<h1>{title}</h1>\n{body}"));
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

fn contact(state: &AppState) -> String {
    match state.discovery.abuse_contact.as_deref() {
        Some(c) if c.contains('@') && !c.contains(':') => {
            let c = html_escape(c);
            format!(r#"<a href="mailto:{c}">{c}</a>"#)
        }
        Some(c) if c.starts_with("https://") || c.starts_with("http://") => {
            let c = html_escape(c);
            format!(r#"<a href="{c}">{c}</a>"#)
        }
        Some(c) => html_escape(c),
        None => "the operator of this deployment (no abuse contact is configured here)".into(),
    }
}

/// `GET /privacy`.
#[handler]
pub async fn privacy(Data(state): Data<&AppState>) -> Response {
    let url = html_escape(&state.public_url);
    let issuer = html_escape(&state.discovery.issuer);
    let body = format!(
        r#"<p>This page describes what the voicebin service at <a href="{url}">{url}</a> stores.</p>
<h2>Accounts</h2>
<p>voicebin stores no passwords and no profiles. Accounts, API keys and OAuth tokens are issued by
<code>{issuer}</code>; voicebin only checks the signature of the token you send and uses its account
id (<code>sub</code>) as the owner of your clips.</p>
<h2>Clips</h2>
<p>For each upload voicebin keeps the audio bytes, their SHA-256, size and detected format, the
filename, title and description you give, the scan verdict, the download limit and a count of
downloads. Public clips can be fetched by anyone who has their link.</p>
<p>Deleting a clip stops it being served at once and purges the audio. The clip's history (its
events: metadata, verdicts, counts, the deletion) is kept, because it is the audit record of the
service.</p>
<h2>Requests</h2>
<p>A counted playback sets one functional cookie, <code>vb_grant</code>, for ten minutes, so that
seeking within a clip counts as one download. There are no tracking cookies, no analytics and no
third-party resources on any page. The service's logs record requests (method, path, status and
timing) for operations; tokens and audio bytes are never logged.</p>
<h2>Contact</h2>
<p>Questions and requests: {contact}.</p>"#,
        contact = contact(state)
    );
    page("Privacy", &body)
}

/// `GET /abuse`.
#[handler]
pub async fn abuse(Data(state): Data<&AppState>) -> Response {
    let url = html_escape(&state.public_url);
    let body = format!(
        r#"<p>Every clip on <a href="{url}">{url}</a> is checked to be audio and scanned before it is
served to anyone but its owner. If a clip still breaks the law or the rules (malware, copyright,
harassment, illegal content, spam), report it.</p>
<h2>How to report</h2>
<p>Send the clip's link (<code>{url}/ID</code>), the reason, and anything that helps us judge it to
{contact}. Reports are reviewed by the operators, who can block or remove the clip; its owner sees
that it was blocked or removed and why.</p>"#,
        contact = contact(state)
    );
    page("Report abuse", &body)
}
