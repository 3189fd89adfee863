//! The public pages of a clip: the view page `/{id}` (player, waveform, details, download
//! button, link-preview tags) and the embeddable player `/{id}/embed`.

use poem::http::{header, HeaderValue};
use poem::web::{Data, Path};
use poem::{handler, Request, Response};
use voicebin_projections::ClipView;

use super::{error_page, html, html_escape, view_error_page, PAGE_CSP};
use crate::access::FindError;
use crate::access::Want;
use crate::state::AppState;
use crate::usecases::clips::{self, Found};
use crate::usecases::grants::Listener;
use crate::usecases::transcripts;
use voicebin_domain::Transcript;

const EMBED_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    media-src 'self'; img-src data:; base-uri 'none'; form-action 'none'";

/// The clip as a page may show it (its audio is what the page is for). Pages are opened by
/// browsers, which send no bearer token: one that does not verify counts as none, and an owner
/// or moderator who sends a valid one sees a pending clip too.
pub(super) async fn visible(state: &AppState, req: &Request, id: &str) -> Result<Found, FindError> {
    let caller = state.caller(req).await.ok().flatten();
    clips::find(state, id, caller.as_ref(), Want::Audio).await
}

fn duration_text(ms: Option<i64>) -> String {
    match ms {
        Some(ms) => format!("{}:{:02}", ms / 60_000, (ms / 1000) % 60),
        None => String::new(),
    }
}

/// The clip's size in decimal units, as the web app and quota messages word sizes.
fn size_text(bytes: i64) -> String {
    voicebin_domain::quota::format_bytes(u64::try_from(bytes).unwrap_or(0))
}

fn peaks_json(view: &ClipView) -> String {
    view.peaks_levels()
        .map(|p| serde_json::to_string(&p).unwrap_or_else(|_| "[]".into()))
        .unwrap_or_else(|| "[]".into())
}

pub(super) fn title_of(view: &ClipView) -> String {
    view.title.clone().unwrap_or_else(|| view.served_filename())
}

/// `GET /{id}`: the view page. Showing it never counts as a download: the player does not
/// preload (the duration and waveform come from the scan), so bytes flow only on play. The
/// page is the same for everyone; when the tab holds a session of the clip's owner,
/// `static/app/owner.js` fills in the hidden owner panel (scan state, downloads, edit, delete).
#[handler]
pub async fn view_page(
    req: &Request,
    Path(id): Path<String>,
    Data(state): Data<&AppState>,
) -> Response {
    let view = match visible(state, req, &id).await {
        Ok(found) => found.view,
        Err(e) => return view_error_page(&state.urls, e, &id),
    };
    // A transcript that cannot be read now is left out; the page still plays.
    let transcript = transcripts::stored(state, &view).await.ok().flatten();
    let e = html_escape;
    let player_url = player_url(state, req, &view);
    let title = title_of(&view);
    let description = view.description.clone().unwrap_or_default();
    let page_url = state.urls.view(&view.id);
    let audio_url = state.urls.audio(&view.id);
    let embed_url = state.urls.embed(&view.id);
    let oembed_url = state.urls.at(&format!(
        "/oembed?format=json&url={}",
        percent_encode(&page_url)
    ));
    let summary = if description.is_empty() {
        format!("{} audio clip on voicebin", duration_text(view.duration_ms))
    } else {
        description.chars().take(200).collect()
    };
    let body = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · voicebin</title>
<link rel="stylesheet" href="{css_url}">
<link rel="icon" href="data:,">
<link rel="canonical" href="{page_url}">
<link rel="alternate" type="application/json+oembed" href="{oembed_url}" title="{title}">
<meta name="description" content="{summary}">
<meta property="og:type" content="music.song">
<meta property="og:site_name" content="voicebin">
<meta property="og:title" content="{title}">
<meta property="og:description" content="{summary}">
<meta property="og:url" content="{page_url}">
<meta property="og:audio" content="{audio_url}">
<meta property="og:audio:type" content="{content_type}">
<meta name="twitter:card" content="player">
<meta name="twitter:title" content="{title}">
<meta name="twitter:description" content="{summary}">
<meta name="twitter:player" content="{embed_url}">
<meta name="twitter:player:width" content="480">
<meta name="twitter:player:height" content="140">
<meta name="twitter:player:stream" content="{audio_url}">
<meta name="twitter:player:stream:content_type" content="{content_type}">
</head>
<body>
<main>
<h1 id="title">{title}</h1>
<p class="facts"><span id="duration">{duration}</span> · {size} · uploaded <time datetime="{created}">{created_day}</time>{expiry}</p>
<canvas id="waveform" data-peaks="{peaks}" data-duration-ms="{duration_ms}" aria-label="Waveform"></canvas>
<audio id="player" controls preload="none" src="{player_url}">{track}</audio>
<p class="description">{description}</p>
<a class="download" href="{download_url}" download>Download {filename}</a>
{transcript_section}</main>
<section id="owner-panel" class="owner-panel" aria-labelledby="owner-heading" data-clip="{id}" data-base="{base}" hidden></section>
<footer><a href="{home_url}">voicebin</a> · <a href="{report_url}">Report this clip</a></footer>
<script src="{js_url}"></script>
<script type="module" src="{owner_js_url}"></script>
{transcript_js}</body>
</html>
"#,
        title = e(&title),
        summary = e(&summary),
        page_url = e(&page_url),
        oembed_url = e(&oembed_url),
        audio_url = e(&audio_url),
        embed_url = e(&embed_url),
        content_type = e(&playback_type(&view)),
        duration = e(&duration_text(view.duration_ms)),
        size = e(&size_text(view.size_bytes)),
        created = e(&view.created_at().to_rfc3339()),
        created_day = e(&view.created_at().format("%Y-%m-%d").to_string()),
        expiry = view
            .expires()
            .map(|at| expiry_fact(at, chrono::Utc::now()))
            .unwrap_or_default(),
        peaks = e(&peaks_json(&view)),
        duration_ms = view.duration_ms.unwrap_or(0),
        description = e(&description),
        player_url = e(&player_url),
        download_url = e(&state.urls.path(&format!("/{}/download", view.id))),
        home_url = e(&state.urls.path("/")),
        report_url = e(&state.urls.path(&format!("/abuse?clip={}", view.id))),
        css_url = e(&state.urls.path("/static/view.css")),
        js_url = e(&state.urls.path("/static/view.js")),
        owner_js_url = e(&state.urls.path("/static/app/owner.js")),
        id = e(&view.id),
        base = e(&state.urls.path("")),
        filename = e(&view.served_filename()),
        track = track(state, &view, transcript.as_ref()),
        transcript_section = transcript
            .as_ref()
            .map(transcript_section)
            .unwrap_or_default(),
        transcript_js = match transcript {
            Some(_) => format!(
                "<script src=\"{}\"></script>\n",
                e(&state.urls.path("/static/transcript.js"))
            ),
            None => String::new(),
        },
    );
    personal(html(body, PAGE_CSP))
}

/// `GET /{id}/embed`: a compact player for iframes (oEmbed, Twitter player cards).
#[handler]
pub async fn embed_page(
    req: &Request,
    Path(id): Path<String>,
    Data(state): Data<&AppState>,
) -> Response {
    let view = match visible(state, req, &id).await {
        Ok(found) => found.view,
        Err(e) => return error_page(&state.urls, e),
    };
    let transcript = transcripts::stored(state, &view).await.ok().flatten();
    let e = html_escape;
    let body = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · voicebin</title><link rel="icon" href="data:,"><link rel="stylesheet" href="{css_url}"></head>
<body class="embed"><h1><a href="{page_url}" target="_blank" rel="noopener">{title}</a></h1>
<canvas id="waveform" data-peaks="{peaks}" data-duration-ms="{duration_ms}" aria-label="Waveform"></canvas>
<audio id="player" controls preload="none" src="{player_url}">{track}</audio>
<script src="{js_url}"></script></body></html>
"#,
        track = track(state, &view, transcript.as_ref()),
        title = e(&title_of(&view)),
        page_url = e(&state.urls.view(&view.id)),
        peaks = e(&peaks_json(&view)),
        duration_ms = view.duration_ms.unwrap_or(0),
        player_url = e(&player_url(state, req, &view)),
        css_url = e(&state.urls.path("/static/view.css")),
        js_url = e(&state.urls.path("/static/view.js")),
    );
    personal(html(body, EMBED_CSP))
}

/// The media type the player is served: the rendition's when the clip has one.
fn playback_type(view: &ClipView) -> String {
    view.playback()
        .map_or_else(|| view.content_type.clone(), |r| r.content_type)
}

/// The captions track of a clip with a transcript (empty without one).
fn track(state: &AppState, view: &ClipView, transcript: Option<&Transcript>) -> String {
    let Some(transcript) = transcript else {
        return String::new();
    };
    let e = html_escape;
    let lang = transcript.language().map_or("", |l| l.as_str());
    format!(
        r#"<track kind="captions" src="{src}" srclang="{lang}" label="Transcript" default>"#,
        src = e(&state.urls.path(&format!("/{}/transcript.vtt", view.id))),
        lang = e(if lang.is_empty() { "und" } else { lang }),
    )
}

/// The transcript under the player: one button per segment, which `static/transcript.js`
/// makes seek the player and highlights while its words play. Readable without script.
fn transcript_section(transcript: &Transcript) -> String {
    let e = html_escape;
    let mut items = String::new();
    for segment in transcript.segments() {
        let start = segment.start_ms;
        items.push_str(&format!(
            "<li><button type=\"button\" data-start-ms=\"{start}\" data-end-ms=\"{end}\">\
             <span class=\"at\">{at}</span> <span class=\"said\">{text}</span></button></li>\n",
            end = segment.end_ms,
            at = e(&clock(start)),
            text = e(&segment.text),
        ));
    }
    format!(
        "<section id=\"transcript\" class=\"transcript\" aria-labelledby=\"transcript-heading\">\n\
         <h2 id=\"transcript-heading\">Transcript</h2>\n<ol>\n{items}</ol>\n</section>\n"
    )
}

/// ` · expires <time>in 3 days</time>` for a clip that expires at `at` (seen at `now`): the
/// machine-readable instant in `datetime`, the exact UTC time in `title`, and the time left in
/// words (rounded down; the page is rendered per request).
fn expiry_fact(at: chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>) -> String {
    let left = (at - now).num_seconds().max(0);
    let (n, unit) = match left {
        s if s >= 2 * 86_400 => (s / 86_400, "day"),
        s if s >= 2 * 3600 => (s / 3600, "hour"),
        s if s >= 2 * 60 => (s / 60, "minute"),
        _ => (0, ""),
    };
    let words = match n {
        0 => "in a moment".to_owned(),
        n => format!("in {n} {unit}s"),
    };
    format!(
        " · expires <time datetime=\"{iso}\" title=\"{exact}\">{words}</time>",
        iso = html_escape(&at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        exact = html_escape(&at.format("%Y-%m-%d %H:%M UTC").to_string()),
    )
}

/// `m:ss` (or `h:mm:ss`) of a time in milliseconds.
fn clock(ms: u64) -> String {
    let s = ms / 1000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// `GET /{id}/transcript.vtt`: the transcript as WebVTT captions, with the clip's own
/// visibility (404 while it has none).
#[handler]
pub async fn transcript_vtt(
    req: &Request,
    Path(id): Path<String>,
    Data(state): Data<&AppState>,
) -> Result<Response, crate::error::ApiError> {
    let caller = state.caller(req).await.ok().flatten();
    let vtt = transcripts::webvtt(state, &id, caller.as_ref()).await?;
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "text/vtt; charset=utf-8")
        .header(header::CACHE_CONTROL, "private, no-cache")
        .header("X-Content-Type-Options", "nosniff")
        .body(vtt))
}

/// The player's source: the clip's audio with a playback grant for this listener in the URL,
/// so seeking counts once even inside another site's iframe, where cookies are blocked.
fn player_url(state: &AppState, req: &Request, view: &ClipView) -> String {
    let listener = Listener::of(req, state.moderation.trust_forwarded_for);
    let token = state.grants.issue(&view.id, &listener);
    format!("{}?grant={}", state.urls.audio(&view.id), token.as_str())
}

/// A page made for one listener (its player URL holds their grant): no shared cache may keep it.
fn personal(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    response
}

/// Percent-encodes a URL for use as a query parameter value.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};

    use super::expiry_fact;

    #[test]
    fn the_expiry_reads_as_time_left_with_the_instant_in_datetime() {
        let now = Utc.with_ymd_and_hms(2026, 12, 5, 12, 0, 0).unwrap();
        let fact = expiry_fact(now + Duration::days(3) + Duration::hours(5), now);
        assert_eq!(
            fact,
            " · expires <time datetime=\"2026-12-08T17:00:00Z\" \
             title=\"2026-12-08 17:00 UTC\">in 3 days</time>"
        );
        assert!(expiry_fact(now + Duration::hours(30), now).contains(">in 30 hours<"));
        assert!(expiry_fact(now + Duration::minutes(90), now).contains(">in 90 minutes<"));
        assert!(expiry_fact(now + Duration::seconds(30), now).contains(">in a moment<"));
        assert!(expiry_fact(now - Duration::seconds(30), now).contains(">in a moment<"));
    }
}
