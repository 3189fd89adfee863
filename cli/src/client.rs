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

    /// A request that needs the token.
    pub fn authed(&self, method: Method, path: &str) -> Result<RequestBuilder, Failure> {
        if self.token.is_none() {
            return Err(Failure::NotSignedIn);
        }
        Ok(self.request(method, path))
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
}
