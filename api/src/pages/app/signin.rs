//! `/signin`: sign in with the OAuth issuer, a one-time link, or an API key.

use poem::web::Data;
use poem::{handler, Response};

use super::{origin_of, render, Page};
use crate::state::AppState;

/// `GET /signin`.
#[handler]
pub async fn signin_page(Data(state): Data<&AppState>) -> Response {
    render(
        state,
        Page {
            name: "signin",
            title: "Sign in",
            main: r#"<h1>Sign in</h1>
<form id="key-form">
<label for="api-key">API key</label>
<input id="api-key" name="key" type="password" autocomplete="off" spellcheck="false" required>
<p class="hint" id="api-key-hint">A key from <code>voicebin keys mint</code> or your account's issuer. It stays in this tab and is forgotten when you sign out or close it.</p>
<button type="submit">Sign in with this key</button>
<p id="key-error" class="error" role="alert"></p>
</form>"#,
            data: Vec::new(),
            // The token endpoint is called from the page (authorization code + PKCE).
            connect: state
                .discovery
                .token_endpoint
                .as_deref()
                .and_then(origin_of)
                .into_iter()
                .collect(),
        },
    )
}
