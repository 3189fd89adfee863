//! `/privacy` and `/abuse`: what this deployment keeps about people, and how to report a clip.

use futures::StreamExt;
use poem::http::{header, HeaderValue, StatusCode};
use poem::web::{Data, Query};
use poem::{handler, Body, Request, Response};
use serde::Deserialize;
use voicebin_domain::ReportReason;

use crate::error::{ApiError, Code};
use crate::pages::{html_escape, text_page};
use crate::state::AppState;
use crate::urls::Urls;
use crate::usecases::moderation::{self, ReportRequest};

/// Largest accepted report form body.
const MAX_FORM_BYTES: usize = 16 * 1024;
/// The report form posts to this page, so its policy allows exactly that; like every text page
/// it is never framed (a framing site could trick visitors into filing reports).
const FORM_PAGE_CSP: &str =
    "default-src 'none'; style-src 'self'; img-src data:; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

/// A policy page: the shared layout, cacheable for an hour.
fn page(urls: &Urls, title: &str, body: &str) -> Response {
    let mut response = text_page(urls, title, &format!("<h1>{title}</h1>\n{body}"));
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
    let url = html_escape(state.urls.base());
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
<h2>Abuse reports</h2>
<p>A report records the clip, the reason, your note and the time. If you are signed in it records
your account id; if not, a keyed hash of your network address (not the address), which lets us count
repeated reports from one place once and limit how many reports come from it per hour. Moderators see
who reported (account id or hash) and the note; the clip's owner sees neither, only the reason. Reports are part of the clip's history.</p>
<h2>Requests</h2>
<p>A counted playback gives the player a playback grant (in the player's address, and as one
functional cookie, <code>vb_grant</code>, when the player was given the bare address) for about as
long as the clip plays, so that seeking within a clip counts as one download. The grant is tied to
your network address and browser name, which are checked when it is used and not stored. There are
no tracking cookies, no analytics and no
third-party resources on any page. The service's logs record requests (method, path, status and
timing) for operations; tokens and audio bytes are never logged.</p>
<h2>Contact</h2>
<p>Questions and requests: {contact}.</p>"#,
        contact = contact(state)
    );
    page(&state.urls, "Privacy", &body)
}

/// `?clip=` prefills the report form (the view page links here).
#[derive(Debug, Deserialize)]
pub struct AbuseQuery {
    clip: Option<String>,
}

fn reason_label(reason: ReportReason) -> &'static str {
    match reason {
        ReportReason::Malware => "Malware",
        ReportReason::Copyright => "Copyright infringement",
        ReportReason::Harassment => "Harassment",
        ReportReason::IllegalContent => "Illegal content",
        ReportReason::Spam => "Spam",
        ReportReason::Other => "Something else",
    }
}

fn form(urls: &Urls, clip: &str) -> String {
    let options: String = ReportReason::ALL
        .iter()
        .map(|r| {
            format!(
                r#"<option value="{}">{}</option>"#,
                r.as_str(),
                reason_label(*r)
            )
        })
        .collect();
    format!(
        r#"<form method="post" action="{action}">
<p><label for="clip">Clip link or id</label><br>
<input id="clip" name="clip" required maxlength="300" value="{clip}"></p>
<p><label for="reason">Reason</label><br>
<select id="reason" name="reason" required>{options}</select></p>
<p><label for="note">What should a moderator know? (optional)</label><br>
<textarea id="note" name="note" maxlength="1000" rows="5" cols="60"></textarea></p>
<p><button type="submit">Send report</button></p>
</form>"#,
        clip = html_escape(clip),
        action = html_escape(&urls.path("/abuse")),
    )
}

/// The report page with its form: the shared layout, a policy that lets the form post here,
/// and `status`.
fn form_page(urls: &Urls, status: StatusCode, title: &str, body: &str) -> Response {
    let mut response = text_page(urls, title, &format!("<h1>{title}</h1>\n{body}"));
    response.set_status(status);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(FORM_PAGE_CSP),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /abuse`: how reports work, and the form that files one.
#[handler]
pub async fn abuse(Data(state): Data<&AppState>, Query(query): Query<AbuseQuery>) -> Response {
    let url = html_escape(state.urls.base());
    let body = format!(
        r#"<p>Every clip on <a href="{url}">{url}</a> is checked to be audio and scanned before it is
served to anyone but its owner. If a clip still breaks the law or the rules (malware, copyright,
harassment, illegal content, spam), report it here. You do not need an account.</p>
{form}
<h2>What happens next</h2>
<p>Moderators review every report and can block the clip (only its owner still sees it), restore
it, or remove it for good (the same audio can then never be uploaded again). When several people
report the same clip it is hidden until a moderator has looked at it. The owner sees that the clip
was blocked or removed and why, but never who reported it. Anonymous reports are known only by a
keyed hash of the network address they came from, and are rate limited. The owner never sees
who reported the clip, nor the note.</p>
<p>Programs can file the same report with <code>POST {url}/api/v1/items/ID/reports</code>. For
anything else, contact {contact}.</p>"#,
        form = form(&state.urls, query.clip.as_deref().unwrap_or_default()),
        contact = contact(state)
    );
    form_page(&state.urls, StatusCode::OK, "Report abuse", &body)
}

/// Whether a browser says the request comes from another site (`Sec-Fetch-Site`, or an `Origin`
/// that is not the public URL's).
fn cross_site(req: &Request, public_url: &str) -> bool {
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    if header("sec-fetch-site").is_some_and(|site| site == "cross-site") {
        return true;
    }
    let ours = url::Url::parse(public_url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    header("origin").is_some_and(|origin| origin != ours)
}

/// The clip id in what someone pasted: an id, or a link to the clip's page, download or API URL.
fn clip_id_from(input: &str) -> String {
    let path = input.trim().split(['?', '#']).next().unwrap_or_default();
    let mut segments = path.trim_end_matches('/').rsplit('/');
    let last = segments.next().unwrap_or_default();
    match last {
        "download" | "audio" | "embed" => segments.next().unwrap_or_default().to_owned(),
        _ => last.to_owned(),
    }
}

/// `POST /abuse`: the form's report, filed exactly as `POST /api/v1/items/{id}/reports` files
/// it (anonymous, rate limited), answered with a page.
#[handler]
pub async fn abuse_report(req: &Request, body: Body, Data(state): Data<&AppState>) -> Response {
    // Only this site's own form may post here: another site's page must not file reports from
    // its visitors' browsers (each would count as a different reporter).
    if cross_site(req, state.urls.base()) {
        return form_page(
            &state.urls,
            Code::Forbidden.status(),
            "Report not sent",
            "<p>Reports must be sent from this site's report page.</p>",
        );
    }
    let mut bytes = Vec::new();
    let mut stream = body.into_bytes_stream();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return form_page(
                &state.urls,
                Code::BadRequest.status(),
                "Report not sent",
                "<p>The form could not be read.</p>",
            );
        };
        if bytes.len() + chunk.len() > MAX_FORM_BYTES {
            return form_page(
                &state.urls,
                Code::TooLarge.status(),
                "Report not sent",
                "<p>The report is too long.</p>",
            );
        }
        bytes.extend_from_slice(&chunk);
    }
    let (mut clip, mut reason, mut note) = (String::new(), String::new(), None);
    for (name, value) in url::form_urlencoded::parse(&bytes) {
        match name.as_ref() {
            "clip" => clip = clip_id_from(&value),
            "reason" => reason = value.into_owned(),
            "note" => note = Some(value.into_owned()),
            _ => {}
        }
    }
    let ip = crate::http::client_ip(req, state.moderation.trust_forwarded_for);
    let request_id = crate::http::request_id(req);
    let filed = match ReportReason::parse(reason.trim()) {
        Ok(reason) => {
            let report = ReportRequest { reason, note };
            moderation::report(state, &clip, None, ip, report, request_id).await
        }
        Err(e) => Err(ApiError::invalid_field(&e)),
    };
    match filed {
        Ok(()) => form_page(
            &state.urls,
            StatusCode::ACCEPTED,
            "Thank you",
            &format!(
                "<p>Your report was received. A moderator will review it.</p>\n\
                 <p><a href=\"{}\">Report another clip</a></p>",
                html_escape(&state.urls.path("/abuse"))
            ),
        ),
        Err(e) => {
            let status = e.status();
            let detail = e.detail().to_owned();
            let mut response = form_page(
                &state.urls,
                status,
                "Report not sent",
                &format!(
                    "<p>{}</p>\n{}",
                    html_escape(&detail),
                    form(&state.urls, &clip)
                ),
            );
            // The page says in words what the problem says; a 429 still tells when to retry.
            if let Some((name, value)) = e.extra_header().filter(|(n, _)| n == header::RETRY_AFTER)
            {
                if let Ok(v) = HeaderValue::from_str(&value) {
                    response.headers_mut().insert(name, v);
                }
            }
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_links_give_the_clip_id() {
        for input in [
            "AAAAAAAAAAAAAAAA",
            " https://v.example/AAAAAAAAAAAAAAAA ",
            "https://v.example/AAAAAAAAAAAAAAAA/download?x=1",
            "https://v.example/api/v1/items/AAAAAAAAAAAAAAAA/",
            "https://v.example/AAAAAAAAAAAAAAAA#t=3",
        ] {
            assert_eq!(clip_id_from(input), "AAAAAAAAAAAAAAAA", "{input}");
        }
    }
}
