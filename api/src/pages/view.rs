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

fn size_text(bytes: i64) -> String {
    let bytes = bytes as f64;
    if bytes >= 1024.0 * 1024.0 {
        format!("{:.1} MB", bytes / (1024.0 * 1024.0))
    } else {
        format!("{:.0} KB", (bytes / 1024.0).max(1.0))
    }
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
<p class="facts"><span id="duration">{duration}</span> · {size} · uploaded <time datetime="{created}">{created_day}</time></p>
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
