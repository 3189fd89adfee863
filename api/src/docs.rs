//! `GET /docs`: the developer guide, rendered with this deployment's public URL and limits.

use poem::http::header;
use poem::web::Data;
use poem::{handler, Response};

use crate::pages::html_escape;
use crate::state::AppState;

const CSP: &str = "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'";

/// The guide (REST with curl examples, errors, downloads and limits, tokens).
#[handler]
pub async fn docs(Data(state): Data<&AppState>) -> Response {
    let url = html_escape(&state.public_url);
    let max = state.service.max_upload_bytes();
    let body = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Developer guide · voicebin</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/static/view.css"></head>
<body><main>
<h1>voicebin developer guide</h1>
<p>The REST API is described by the OpenAPI 3.1 document at <a href="{url}/api/v1/openapi.json">{url}/api/v1/openapi.json</a>.
Send <code>Authorization: Bearer &lt;key&gt;</code> with an API key (<code>pbca_live_…</code>) or an OAuth access token
whose audience is <code>{url}</code>. Scopes: <code>voice:read</code>, <code>voice:create</code>, <code>voice:delete</code>.</p>
<h2 id="upload">Upload</h2>
<pre>curl -X POST {url}/api/v1/audio -H "Authorization: Bearer $KEY" \
  -H 'x-filename: hello.ogg' -H 'x-title: Hello' --data-binary @hello.ogg</pre>
<p>Raw body or <code>multipart/form-data</code> with a <code>file</code> part (metadata fields before it). The type is
decided from the bytes; non-audio is refused with 415. Uploads are limited to {max} bytes (413).
The answer is 201 with <code>Location</code> and the owner view; <code>scan_state</code> is <code>pending</code> until the clip
is validated (and scanned for malware where configured), then <code>clean</code>, <code>rejected</code>, <code>infected</code> or
<code>failed</code>. Only clean clips are served to others.</p>
<h2 id="read">Read, list, edit, delete</h2>
<pre>curl {url}/api/v1/items/$ID
curl -G {url}/api/v1/account/items --data-urlencode q=hello -H "Authorization: Bearer $KEY"
curl -X PATCH {url}/api/v1/items/$ID -H "Authorization: Bearer $KEY" \
  -H 'content-type: application/json' -d '{{"title": "New", "download_limit": 10}}'
curl -X DELETE {url}/api/v1/items/$ID -H "Authorization: Bearer $KEY"</pre>
<h2 id="downloads">Downloads and limits</h2>
<p><code>{url}/ID/download</code> (attachment) and <code>{url}/ID/audio</code> (inline) support <code>Range</code>,
<code>If-Range</code>, <code>If-None-Match</code> and <code>HEAD</code>. With a <code>download_limit</code> of N, exactly N downloads
succeed, then the clip answers 410 to everyone but its owner.</p>
<ul>
<li>A <code>GET</code> that sends bytes (200 or 206) counts, unless it is the owner's own authenticated fetch.</li>
<li><code>HEAD</code>, 304 and 416 answers, and showing the view page, never count.</li>
<li>One playback with seeking counts once: the first counted answer sets a <code>vb_grant</code> cookie valid for
10 minutes, and requests that carry it are not counted again. Clients that keep no cookies are counted on every request.</li>
</ul>
<h2 id="errors">Errors</h2>
<p>Errors are RFC 9457 <code>application/problem+json</code> documents with a stable <code>type</code>
(<code>urn:voicebin:problem:not-audio</code>, <code>…:too-large</code>, <code>…:invalid-field</code>, <code>…:unauthorized</code>,
<code>…:insufficient-scope</code>, <code>…:not-found</code>, <code>…:gone</code>, <code>…:unavailable</code>). 401 answers carry a
<code>WWW-Authenticate: Bearer</code> challenge; 503 answers carry <code>Retry-After</code>.</p>
</main></body></html>
"#
    );
    Response::builder()
        .content_type("text/html; charset=utf-8")
        .header(header::CONTENT_SECURITY_POLICY, CSP)
        .body(body)
}
