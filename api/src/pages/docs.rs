//! `GET /docs`: the developer guide, rendered with this deployment's public URL and limits.

use poem::web::Data;
use poem::{handler, Response};

use crate::pages::{html_escape, text_page};
use crate::state::AppState;
use crate::usecases::limits::{Class, Quota, RateLimitSettings};

/// The guide (REST with curl examples, MCP, OAuth/DPoP, discovery, errors, limits).
#[handler]
pub async fn docs(Data(state): Data<&AppState>) -> Response {
    let url = html_escape(state.urls.base());
    let issuer = html_escape(&state.discovery.issuer);
    let max = state.service.max_upload_bytes();
    let mcp_max = crate::site::mcp_upload_cap(max);
    let mcp_version = crate::site::MCP_PROTOCOL_VERSION;
    let algs = crate::auth::dpop::PROOF_ALGS.join(", ");
    let quota = quota_sentence(state.quotas.defaults);
    let lifetimes = state.service.lifetimes();
    let default = match lifetimes.default {
        Some(d) => format!(" (here <code>{d}</code>)"),
        None => " (here none: the clip never expires)".to_owned(),
    };
    let max_lifetime = match lifetimes.max {
        Some(m) => format!(" (here <code>{m}</code>)"),
        None => " (here none)".to_owned(),
    };
    let rate_limits = rate_limits(state.limits.settings());
    let anonymous = anonymous_sentence(state);
    let window = {
        let secs = state.resumable.settings().window.as_secs();
        if secs % 3600 == 0 {
            format!("{} hours", secs / 3600)
        } else {
            format!("{secs} seconds")
        }
    };
    let main = format!(
        r#"<h1>voicebin developer guide</h1>
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
<h2 id="resumable">Resumable uploads</h2>
<pre>SIZE=$(wc -c &lt; memo.m4a)
UPLOAD={url}$(curl -sS -D - -o /dev/null -X POST {url}/api/v1/uploads \
  -H "Authorization: Bearer $KEY" -H 'Tus-Resumable: 1.0.0' -H "Upload-Length: $SIZE" \
  -H "Upload-Metadata: filename $(printf memo.m4a | base64)" \
  | tr -d '\r' | sed -n 's/^location: //Ip')
# Send it; if the connection breaks, ask where the upload stands, send the rest from there.
OFFSET=$(curl -sS -I $UPLOAD -H "Authorization: Bearer $KEY" -H 'Tus-Resumable: 1.0.0' \
  | tr -d '\r' | sed -n 's/^upload-offset: //Ip')
tail -c +$((OFFSET + 1)) memo.m4a | curl -sS -D - -X PATCH $UPLOAD \
  -H "Authorization: Bearer $KEY" -H 'Tus-Resumable: 1.0.0' -H "Upload-Offset: $OFFSET" \
  -H 'Content-Type: application/offset+octet-stream' --data-binary @-</pre>
<p>For long recordings on bad networks: <code>POST /api/v1/uploads</code> speaks <a href="https://tus.io/protocols/resumable-upload">tus 1.0</a>
(creation, creation-with-upload, creation-defer-length, expiration, termination, checksum) and the IETF resumable-upload
draft (<code>Upload-Complete</code>, interop version 8; create with <code>Upload-Complete: ?0</code>, then append
<code>application/partial-upload</code>). The upload's <code>Location</code> is a path on this site. Bytes that arrived before a
connection broke are kept: <code>HEAD</code> the upload for its <code>Upload-Offset</code> and send the rest. Nothing is a clip
until the last byte is in; the last append names the clip in <code>Content-Location</code> (the draft's answers with it, as
<code>POST /api/v1/audio</code> does). tus-js-client resumes by itself. Once the first 64 KiB are in (or the whole upload, if
shorter), anything that is not audio is refused with 415 and the upload removed; the declared length must fit the size limit
and your quota; an append at the wrong offset is 409 with <code>Upload-Offset</code>. An open upload is removed with its
bytes {window} after it began; <code>DELETE</code> cancels one sooner.</p>
<h2 id="quotas">Quotas</h2>
<pre>curl {url}/api/v1/account -H "Authorization: Bearer $KEY"
{{"account": "alice", "usage": {{"bytes": 34200000, "clips": 12}}, "limits": {{"bytes": 500000000, "clips": null}}}}</pre>
<p>{quota} <code>usage</code> counts your live clips' originals (deleted, removed and expired clips stop counting;
playback renditions never count); a limit of <code>null</code> is none, and the operator may set yours apart from the
default. An upload that would pass a limit is refused with 403 <code>urn:voicebin:problem:quota-exceeded</code> before
its bytes are kept (with a <code>Content-Length</code> that cannot fit, before the body is read); the problem carries
<code>usage</code> and <code>limits</code>. Uploads in progress hold their room until they finish.</p>
<h2 id="expiry">Expiry</h2>
<pre>curl -X POST {url}/api/v1/audio -H "Authorization: Bearer $KEY" -H 'x-expires-in: P7D' --data-binary @hello.ogg
curl -X PATCH {url}/api/v1/items/$ID -H "Authorization: Bearer $KEY" \
  -H 'content-type: application/json' -d '{{"expires_at": null}}'   # never expires</pre>
<p><code>x-expires-in</code> gives a clip a lifetime: whole seconds (<code>3600</code>) or an ISO 8601 duration of weeks, days,
hours, minutes and seconds (<code>PT1H</code>, <code>P7D</code>, <code>P1DT12H</code>; years and months are refused: their length
varies). Without it the server's default lifetime applies{default}. In <code>PATCH</code>, <code>expires_at</code> is an RFC 3339
instant in the future; absent keeps it, <code>null</code> means never. Items show <code>expires_at</code> (<code>null</code>: never).
A malformed value, zero, or one beyond the maximum lifetime{max_lifetime} is a 400
<code>application/problem+json</code> naming the field (<code>expires_in</code> or <code>expires_at</code>) and the rule, an
instant already past a 422; nothing is stored. From its expiry on, a clip answers 410 (problem type <code>gone</code>) to everyone, its owner included, on every
route and over MCP; its bytes are purged and its transcript is no longer served or searched.</p>
<h2 id="anonymous">Anonymous uploads</h2>
<p>{anonymous} When they are on, an upload needs no token if it carries a solved proof-of-work challenge
(<a href="https://altcha.org">ALTCHA</a> v2, PBKDF2/SHA-256) in <code>x-altcha</code>:</p>
<pre>curl {url}/api/v1/challenge
# {{"parameters": {{"algorithm", "cost", "expiresAt", "keyLength",
#                 "keyPrefix", "nonce", "salt"}}, "signature"}}
curl -X POST {url}/api/v1/audio -H "x-altcha: $SOLUTION" \
  --data-binary @hello.ogg
curl -X DELETE {url}/api/v1/items/$ID -H "x-management-token: $TOKEN"</pre>
<p>Find the <code>counter</code> (from 0) for which PBKDF2-HMAC-SHA256 of the nonce's bytes followed by the counter as four
big-endian bytes, salted with the salt's bytes, <code>cost</code> iterations, 32 bytes, starts with <code>keyPrefix</code> in hex;
the solution is base64 of <code>{{"challenge": &lt;the challenge&gt;, "solution": {{"counter": n, "derivedKey": "&lt;hex&gt;"}}}}</code>
(the ALTCHA widget and altcha-lib's <code>solveChallenge</code> make exactly this). A challenge expires after ten minutes and is
taken once. A malformed solution is a 400 (<code>field: "altcha"</code>); a wrong, expired or reused one is 403
<code>…:challenge-failed</code>. An anonymous clip always expires, has a lower size limit, and each network address may make only
a few an hour (429 <code>…:too-many-requests</code>). The upload's answer carries <code>management</code>: a <code>url</code> (the
clip's own page, the token in its fragment) and the <code>token</code>, which works as <code>x-management-token</code> on
<code>GET</code> and <code>DELETE {url}/api/v1/items/ID</code>. It is shown once and never again.</p>
<h2 id="read">Read, list, edit, delete</h2>
<pre>curl {url}/api/v1/items/$ID
curl -G {url}/api/v1/account/items --data-urlencode q=hello -H "Authorization: Bearer $KEY"
curl -X PATCH {url}/api/v1/items/$ID -H "Authorization: Bearer $KEY" \
  -H 'content-type: application/json' -d '{{"title": "New", "download_limit": 10}}'
curl -X DELETE {url}/api/v1/items/$ID -H "Authorization: Bearer $KEY"
curl {url}/api/v1/items/$ID/history -H "Authorization: Bearer $KEY"   # every event, with actor and request id</pre>
<h2 id="downloads">Downloads and limits</h2>
<p><code>{url}/ID/download</code> (attachment) and <code>{url}/ID/audio</code> (inline) support <code>Range</code>,
<code>If-Range</code>, <code>If-None-Match</code>, <code>If-Match</code> and <code>HEAD</code>. With a <code>download_limit</code> of N, exactly N downloads
succeed, then the clip answers 410 to everyone but its owner, its metadata included.</p>
<ul>
<li>A <code>GET</code> that sends bytes (200 or 206) counts, unless it is the owner's own authenticated fetch.</li>
<li><code>HEAD</code>, 304, 412 and 416 answers, showing the pages, and a download the server fails to serve never count.</li>
<li>One playback with seeking counts once: the player on the view and embed pages plays <code>{url}/ID/audio?grant=…</code>,
and a player given the bare URL gets the same grant as a <code>vb_grant</code> cookie with its first counted range answer. A grant
belongs to the listener it was issued to and covers about one playback (the clip's size and half again; a 206 to a listener
presenting a grant holds at most 1 MiB, or a 32nd of a longer clip, and players ask for the rest); beyond that, or presented by anyone else, requests count as usual. A plain
download (no <code>Range</code>) keeps no grant: clients like curl are counted on every request.</li>
<li>An owner's or moderator's own player: <code>POST {url}/api/v1/items/ID/playback</code> with the token answers
<code>{{"url", "expires_at"}}</code>, a URL of the clip's audio for an <code>&lt;audio&gt;</code> element (which cannot send the token).
It plays the clip whatever its state, never counts, and works only for the client that asked, until it expires.</li>
</ul>
<h2 id="moderation">Abuse reports and moderation</h2>
<pre>curl -X POST {url}/api/v1/items/$ID/reports -H 'content-type: application/json' \
  -d '{{"reason": "spam", "note": "links to a scam"}}'        # anyone; 202
curl {url}/api/v1/moderation/reports -H "Authorization: Bearer $MODERATOR_KEY"
curl -X POST {url}/api/v1/moderation/items/$ID/block -H "Authorization: Bearer $MODERATOR_KEY" \
  -H 'content-type: application/json' -d '{{"reason": "under review"}}'   # also restore, remove</pre>
<p>Reasons: <code>malware</code>, <code>copyright</code>, <code>harassment</code>, <code>illegal_content</code>,
<code>spam</code>, <code>other</code>. Reports need no token and are rate limited per network address and per account
(429 with <code>Retry-After</code>); the <a href="{url}/abuse">report page</a> has a form. When several different people
have reported a clip it is hidden from the public until a moderator decides. Moderators (scope
<code>voice:moderate</code>) see the queue, read and download any clip without counting a download, and block,
restore or remove clips with a reason the owner sees. A removed clip answers 451, and the same audio can never be
uploaded again (451).</p>
<h2 id="mcp">MCP (for AI agents)</h2>
<p>The Model Context Protocol endpoint is <code>{url}/mcp</code> (streamable HTTP, protocol revision
<code>{mcp_version}</code>, JSON responses, stateless: any replica answers any request). Every request needs a
token, exactly as for REST. A client configuration:</p>
<pre>{{
  "mcpServers": {{
    "voicebin": {{
      "type": "http",
      "url": "{url}/mcp",
      "headers": {{ "Authorization": "Bearer pbca_live_…" }}
    }}
  }}
}}</pre>
<p>Clients that do OAuth discover the authorization server from the 401 challenge
(<code>WWW-Authenticate: Bearer resource_metadata="{url}/.well-known/oauth-protected-resource/mcp"</code>).
Tools: <code>upload_audio</code> (base64 <code>data</code>, at most {mcp_max} bytes decoded; remote URLs are never
fetched), <code>get_audio</code>, <code>list_audio</code> (<code>q</code>, <code>cursor</code>), <code>update_audio</code>
(title, description, download limit), <code>delete_audio</code> and <code>get_account</code> (your quota); each needs the same scope and ownership as
its REST route. Arguments the REST API would refuse with 400 (missing, unknown, mistyped or out of range) are the
JSON-RPC error <code>-32602</code> with the problem document as <code>data</code>; business errors (not found, not
yours, gone, removed, not audio, too large, quota exceeded) come back as results with <code>isError: true</code>. Clips are also
resources (<code>resources/templates/list</code>, <code>resources/read</code>).</p>
<h2 id="oauth">OAuth and DPoP</h2>
<p>Tokens come from <code>{issuer}</code>: API keys, or OAuth 2.1 access tokens (RFC 9068, <code>typ: at+jwt</code>,
with <code>iss</code>, <code>sub</code>, <code>aud</code>, <code>client_id</code>, <code>scope</code>, <code>exp</code>,
<code>iat</code>, <code>jti</code>). The audience must be <code>{url}</code> or <code>{url}/mcp</code>; tokens for any
other audience are refused. Scopes: <code>voice:read</code>, <code>voice:create</code>, <code>voice:delete</code>, and
<code>voice:moderate</code> for moderators.</p>
<p>A token bound to a key (<code>cnf.jkt</code>, RFC 9449) is sent as <code>Authorization: DPoP &lt;token&gt;</code>
with a <code>DPoP</code> header holding a fresh proof: a JWS with <code>typ: dpop+jwt</code>, an asymmetric
<code>alg</code> ({algs}), the public <code>jwk</code>, and claims <code>jti</code> (unique), <code>htm</code>
(the method), <code>htu</code> (the URL under <code>{url}</code>, without query), <code>iat</code> (within 5 minutes) and
<code>ath</code> (base64url SHA-256 of the token). A proof is accepted once, by any replica. If the server
answers 401 <code>error="use_dpop_nonce"</code>, retry with the <code>DPoP-Nonce</code> it sent in a <code>nonce</code>
claim. A bound token sent as <code>Bearer</code> is refused.</p>
<h2 id="discovery">Discovery</h2>
<ul>
<li><a href="{url}/.well-known/oauth-protected-resource">{url}/.well-known/oauth-protected-resource</a> and
<a href="{url}/.well-known/oauth-protected-resource/mcp">…/mcp</a>: RFC 9728 protected-resource metadata.</li>
<li><a href="{url}/.well-known/agent.json">{url}/.well-known/agent.json</a>: the capabilities card.</li>
<li><a href="{url}/llms.txt">{url}/llms.txt</a>, <a href="{url}/api/v1/openapi.json">the OpenAPI 3.1 document</a>.</li>
</ul>
<h2 id="limits">Limits</h2>
<ul>
<li>Uploads: at most {max} bytes over REST (413 beyond), {mcp_max} bytes through MCP.</li>
<li>Titles at most 200 characters, descriptions 5000, filenames 255; download limits 1 to 10<sup>9</sup>.</li>
<li>Listing pages: 1 to 100 items (<code>limit</code>, default 20).</li>
</ul>
<p>Policies: <a href="{url}/privacy">privacy</a>, <a href="{url}/abuse">report abuse</a>.</p>
<h2 id="rate-limits">Rate limits</h2>
<p>Uploads, API reads (<code>GET</code> and <code>HEAD</code> under <code>/api/v1/</code>), downloads (<code>/ID/download</code>,
<code>/ID/audio</code>) and MCP requests are limited per account when a token is sent, and per network address
otherwise. This deployment allows:</p>
{rate_limits}
<p>A quota of <em>q</em> per window <em>w</em> is a token bucket: <em>q</em> at once, then one every <em>w</em>/<em>q</em>.
Every answer to a limited request carries the IETF fields (draft-ietf-httpapi-ratelimit-headers):</p>
<pre>RateLimit-Policy: "reads-account";q=600;w=60
RateLimit: "reads-account";r=599;t=1</pre>
<p>The policy is <code>&lt;class&gt;-account</code> or <code>&lt;class&gt;-address</code>; <code>q</code> is the quota, <code>w</code> the window in
seconds, <code>r</code> the requests allowed now and <code>t</code> the seconds until one more is. Past the quota the answer is
429 with <code>Retry-After</code> (seconds) and a <code>urn:voicebin:problem:rate-limited</code> problem whose <code>policy</code> names
the policy. A refused request changes nothing; wait <code>Retry-After</code> seconds, or pace requests by
<code>t</code> as <code>r</code> runs low.</p>
<h2 id="errors">Errors</h2>
<p>Errors are RFC 9457 <code>application/problem+json</code> documents with a stable <code>type</code>
(<code>urn:voicebin:problem:not-audio</code>, <code>…:too-large</code>, <code>…:invalid-field</code>, <code>…:unauthorized</code>,
<code>…:insufficient-scope</code>, <code>…:not-found</code>, <code>…:gone</code>, <code>…:removed</code> (451),
<code>…:too-many-requests</code> (429: abuse reports and sign-in links), <code>…:rate-limited</code> (429: see
<a href="{url}/docs#rate-limits">rate limits</a>), <code>…:quota-exceeded</code> (403, with <code>usage</code> and <code>limits</code>),
<code>…:challenge-failed</code> (403: an <a href="{url}/docs#anonymous">anonymous upload</a>'s proof of work),
<code>…:unavailable</code>). 401 answers carry a
<code>WWW-Authenticate</code> challenge (<code>Bearer</code>, or <code>DPoP</code> for DPoP requests); 429 and 503 answers carry <code>Retry-After</code>.</p>
"#
    );
    text_page(&state.urls, "Developer guide", &main)
}

/// Whether this deployment takes anonymous uploads, and within what, in a sentence.
fn anonymous_sentence(state: &AppState) -> String {
    use crate::usecases::anonymous;
    if !state.anonymous.settings.enabled {
        return "This deployment takes no anonymous uploads (they are off unless the operator turns them \
                on)."
            .to_owned();
    }
    format!(
        "This deployment takes anonymous uploads: each lives at most <code>{}</code>, may be at most {} \
         bytes, and each network address may make {} an hour.",
        anonymous::lifetime(state),
        anonymous::max_bytes(state),
        match state.anonymous.settings.per_hour_per_address {
            0 => "any number".to_owned(),
            n => n.to_string(),
        }
    )
}

/// The deployment's default quotas, in a sentence.
fn quota_sentence(defaults: voicebin_domain::Limits) -> String {
    use voicebin_domain::quota::format_bytes;
    let mut limits = Vec::new();
    if let Some(bytes) = defaults.bytes {
        limits.push(format!("{} of audio", format_bytes(bytes)));
    }
    if let Some(clips) = defaults.clips {
        limits.push(format!("{clips} clips"));
    }
    if limits.is_empty() {
        "This deployment sets no default quota.".to_owned()
    } else {
        format!("By default each account may keep {}.", limits.join(" and "))
    }
}

/// The configured rate limits as a list, one line per class.
fn rate_limits(settings: &RateLimitSettings) -> String {
    let quota = |q: Option<Quota>| match q {
        Some(q) => format!("<code>{q}</code>"),
        None => "no limit".to_owned(),
    };
    let items: String = Class::ALL
        .into_iter()
        .map(|class| {
            let limits = settings.of(class);
            format!(
                "<li><code>{}</code>: {} per account, {} per address</li>\n",
                class.name(),
                quota(limits.per_account),
                quota(limits.per_address)
            )
        })
        .collect();
    format!("<ul>\n{items}</ul>")
}
