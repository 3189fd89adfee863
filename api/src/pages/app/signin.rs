//! `/signin`: sign in with the OAuth issuer (authorization code + PKCE, DPoP when the issuer
//! offers it), a one-time link (embedded issuer), or an API key. Everything happens in the
//! page's script (`static/app/signin.js`); the shell says which ways this deployment offers.

use poem::web::Data;
use poem::{handler, Response};

use super::{origin_of, render, Page};
use crate::state::AppState;

const MAIN: &str = r#"<h1>Sign in</h1>
<p id="signin-notice" class="panel" role="status" hidden></p>
<section id="oauth" aria-labelledby="oauth-title" hidden>
<h2 id="oauth-title">With your account</h2>
<p class="hint" id="oauth-hint">You sign in on your account provider's page, then come back here.</p>
<button id="oauth-start" type="button" aria-describedby="oauth-hint">Sign in with your account</button>
<p id="oauth-status" role="status"></p>
<p id="oauth-error" class="error" role="alert"></p>
</section>
<section id="link" aria-labelledby="link-title" hidden>
<h2 id="link-title">With a sign-in link</h2>
<p class="hint">Open the one-time link you were sent in this browser (an operator makes one with <code>voicebin keys login-link --account NAME</code>). It works once, for a few minutes.</p>
<div id="link-switch" class="panel" hidden>
<p id="link-switch-text"></p>
<button id="link-switch-use" type="button" aria-describedby="link-switch-text">Sign in with the link</button>
<button id="link-switch-keep" type="button" class="secondary">Stay signed in as <span id="link-switch-current"></span></button>
</div>
<p id="link-status" role="status"></p>
<p id="link-error" class="error" role="alert"></p>
</section>
<section aria-labelledby="key-title">
<h2 id="key-title">With an API key</h2>
<form id="key-form">
<label for="api-key">API key</label>
<input id="api-key" name="key" type="password" autocomplete="off" spellcheck="false" required aria-describedby="api-key-hint">
<p class="hint" id="api-key-hint">A key from <code>voicebin keys mint</code> or your account's issuer. It stays in this tab and is forgotten when you sign out or close it.</p>
<button type="submit">Sign in with this key</button>
<p id="key-error" class="error" role="alert"></p>
</form>
</section>"#;

/// `GET /signin`.
#[handler]
pub async fn signin_page(Data(state): Data<&AppState>) -> Response {
    let d = &state.discovery;
    let mut data = Vec::new();
    let mut connect = Vec::new();
    if state.login_links.is_some() {
        data.push(("links", "on".to_owned()));
    }
    if let Some(client) = &d.browser_client {
        data.push(("oauth-client", client.client_id.clone()));
        data.push(("oauth-scope", client.scope.clone()));
        data.push(("oauth-issuer", d.issuer.clone()));
        // The page reads the metadata and calls the token endpoint (CORS at the issuer).
        for (name, url) in [
            ("oauth-metadata", client.metadata_url.as_ref()),
            ("oauth-authorize", d.authorization_endpoint.as_ref()),
            ("oauth-token", d.token_endpoint.as_ref()),
        ] {
            if let Some(url) = url {
                data.push((name, url.clone()));
            }
        }
        for url in [&client.metadata_url, &d.token_endpoint]
            .into_iter()
            .flatten()
        {
            if let Some(origin) = origin_of(url).filter(|o| !connect.contains(o)) {
                connect.push(origin);
            }
        }
    }
    render(
        state,
        Page {
            name: "signin",
            title: "Sign in",
            main: MAIN,
            data,
            connect,
        },
    )
}
