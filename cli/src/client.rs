//! The HTTP client: the server's base URL, the token, and turning answers that are not 2xx
//! into [`Failure`]s with their problem documents.

use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;

use crate::config::Settings;
use crate::error::{Failure, Problem};

/// A client of one voicebin server.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// A client for the resolved settings; fails when no server is configured.
    pub fn new(settings: &Settings) -> Result<Client, Failure> {
        let base = settings.url.clone().ok_or(Failure::NotSignedIn)?;
        let parsed = reqwest::Url::parse(&base)
            .map_err(|e| Failure::Usage(format!("`{base}` is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Failure::Usage(format!(
                "`{base}` is not an http:// or https:// URL"
            )));
        }
        // A token that cannot be a header value (a line break pasted with it) would fail only
        // when sent, as a network error; it is the command line's mistake.
        if let Some(token) = &settings.token {
            if reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).is_err() {
                return Err(Failure::Usage(
                    "the token holds a line break or another control character; pass it \
                     without them"
                        .into(),
                ));
            }
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("vb/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(15))
            // A server that stops answering mid-way is given up on, never waited for forever.
            .read_timeout(std::time::Duration::from_secs(120))
            .build()
            .map_err(|e| Failure::Other(anyhow::Error::new(e).context("cannot build a client")))?;
        Ok(Client {
            http,
            base,
            token: settings.token.clone(),
        })
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `path` (starting with `/`) on the server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request that sends the token when there is one (public reads work without).
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let builder = self.http.request(method, self.url(path));
        match &self.token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    /// A request to `url`, a URL [`Client::on_server`] gave, with the token when there is one.
    pub fn at(&self, method: Method, url: reqwest::Url) -> RequestBuilder {
        let builder = self.http.request(method, url);
        match &self.token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    /// A URL the server named (`Location`, `Content-Location`), relative to the base or
    /// absolute, as a URL on this server: one on another origin (the server's public URL,
    /// when `vb` reaches it by another name) keeps its path and query but is asked of this
    /// server, so the token never goes anywhere else.
    pub fn on_server(&self, url: &str) -> Result<reqwest::Url, Failure> {
        let base = reqwest::Url::parse(&self.base)
            .map_err(|e| Failure::Usage(format!("`{}` is not a URL: {e}", self.base)))?;
        let named = base.join(url).map_err(|_| {
            Failure::Unexpected(format!(
                "the server at {} named a URL that is not one: {}",
                self.base,
                crate::output::clean(url)
            ))
        })?;
        if named.origin() == base.origin() {
            return Ok(named);
        }
        let mut rebased = base;
        rebased.set_path(named.path());
        rebased.set_query(named.query());
        Ok(rebased)
    }

    /// A request that needs the token.
    pub fn authed(&self, method: Method, path: &str) -> Result<RequestBuilder, Failure> {
        self.signed_in()?;
        Ok(self.request(method, path))
    }

    /// Whether there is a token to send.
    pub fn signed_in(&self) -> Result<(), Failure> {
        match self.token {
            Some(_) => Ok(()),
            None => Err(Failure::NotSignedIn),
        }
    }

    /// Sends the request; a status that is not 2xx becomes [`Failure::Api`].
    pub async fn send(&self, builder: RequestBuilder) -> Result<Response, Failure> {
        let response = builder
            .send()
            .await
            .map_err(|e| Failure::network(&self.base, &e))?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(self.refusal(response).await)
        }
    }

    /// Sends the request and reads the JSON answer; an answer that is not JSON (a login page,
    /// a proxy's error page) is [`Failure::Unexpected`], not taken for success.
    pub async fn json(&self, builder: RequestBuilder) -> Result<Value, Failure> {
        let response = self.send(builder).await?;
        let is_json = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.to_ascii_lowercase().contains("json"));
        let status = response.status();
        if !is_json {
            return Err(self.unexpected(status, "an answer that is not JSON"));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| Failure::network(&self.base, &e))?;
        serde_json::from_slice(&bytes)
            .map_err(|_| self.unexpected(status, "JSON that does not parse"))
    }

    /// Sends the request and checks that the answer is exactly `expected` (a `204` for a
    /// delete): another success status means the URL is not a voicebin server's.
    pub async fn expect(
        &self,
        builder: RequestBuilder,
        expected: reqwest::StatusCode,
    ) -> Result<Response, Failure> {
        let response = self.send(builder).await?;
        if response.status() != expected {
            return Err(self.unexpected(response.status(), "an unexpected status"));
        }
        Ok(response)
    }

    fn unexpected(&self, status: reqwest::StatusCode, what: &str) -> Failure {
        Failure::Unexpected(format!(
            "the server at {} answered {status} with {what}; is it a voicebin server?",
            self.base
        ))
    }

    /// The failure an error answer stands for, with its problem document when it has one.
    pub async fn refusal(&self, response: Response) -> Failure {
        let status = response.status();
        let body: Option<Value> = match response.bytes().await {
            Ok(bytes) => serde_json::from_slice(&bytes).ok(),
            Err(_) => None,
        };
        let problem = body
            .as_ref()
            .and_then(|b| serde_json::from_value::<Problem>(b.clone()).ok())
            .filter(|p| p.title.is_some() || p.detail.is_some())
            .map(Box::new);
        Failure::Api {
            status,
            problem,
            body,
        }
    }
}

/// `id` made safe to put in a URL path (ids are URL-safe; anything else is escaped).
pub fn segment(id: &str) -> String {
    // Dots are escaped too: an id of `.` or `..` must not become a path segment that names
    // another resource.
    const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(id, UNRESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_with_a_line_break_is_a_usage_error() {
        let settings = |token: &str| Settings {
            url: Some("https://voicebin.example".into()),
            token: Some(token.into()),
        };
        for bad in ["abc\r\ndef", "abc\ndef", "abc\u{7f}"] {
            match Client::new(&settings(bad)) {
                Err(Failure::Usage(message)) => assert!(message.contains("token"), "{message}"),
                Err(other) => panic!("{bad:?}: {other}"),
                Ok(_) => panic!("{bad:?} was taken"),
            }
        }
        assert!(Client::new(&settings("vb_abc.DEF-123")).is_ok());
    }

    #[test]
    fn urls_the_server_names_stay_on_the_server() {
        let client = Client::new(&Settings {
            url: Some("http://127.0.0.1:8080".into()),
            token: Some("k".into()),
        })
        .unwrap();
        let on = |url: &str| client.on_server(url).unwrap().to_string();
        assert_eq!(
            on("/api/v1/uploads/abc"),
            "http://127.0.0.1:8080/api/v1/uploads/abc"
        );
        assert_eq!(
            on("http://127.0.0.1:8080/api/v1/items/x"),
            "http://127.0.0.1:8080/api/v1/items/x"
        );
        // Another origin: the same path, asked of the configured server.
        assert_eq!(
            on("https://voicebin.example/api/v1/items/x?a=1"),
            "http://127.0.0.1:8080/api/v1/items/x?a=1"
        );
    }
}
