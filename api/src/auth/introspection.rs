//! Optional RFC 7662 token introspection: after a token verifies locally, ask the issuer whether
//! it is still active, so a revoked API key stops working within the cache time.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{AuthError, Principal, TokenVerifier};

const TIMEOUT: Duration = Duration::from_secs(5);
// Bounds the cache whatever the traffic; when full, expired answers go first, then everything.
const MAX_CACHED: usize = 10_000;

/// Where and how to introspect tokens.
#[derive(Clone)]
pub struct IntrospectionSettings {
    /// The issuer's introspection endpoint (RFC 7662 §2).
    pub endpoint: String,
    /// This resource server's client id at the issuer (HTTP Basic user).
    pub client_id: String,
    /// Its client secret (HTTP Basic password).
    pub client_secret: SecretString,
    /// How long an answer is reused: a revoked token keeps working at most this long.
    pub cache_ttl: Duration,
}

impl fmt::Debug for IntrospectionSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionSettings")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("cache_ttl", &self.cache_ttl)
            .finish_non_exhaustive()
    }
}

/// A [`TokenVerifier`] that verifies locally first, then asks the issuer (cached).
pub struct Introspection {
    inner: Arc<dyn TokenVerifier>,
    settings: IntrospectionSettings,
    http: reqwest::Client,
    cache: Mutex<HashMap<[u8; 32], (bool, Instant)>>,
}

#[derive(Deserialize)]
struct Answer {
    active: bool,
    sub: Option<String>,
}

impl Introspection {
    /// Wraps `inner` (which checks signatures and claims) with introspection at the issuer.
    pub fn new(
        inner: Arc<dyn TokenVerifier>,
        settings: IntrospectionSettings,
    ) -> Result<Self, String> {
        let url = url::Url::parse(&settings.endpoint)
            .map_err(|e| format!("invalid introspection endpoint: {e}"))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err("the introspection endpoint must be an http(s) URL".into());
        }
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Introspection {
            inner,
            settings,
            http,
            cache: Mutex::new(HashMap::new()),
        })
    }

    fn cached(&self, key: &[u8; 32]) -> Option<bool> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(key)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(active, _)| *active)
    }

    fn remember(&self, key: [u8; 32], active: bool) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if cache.len() >= MAX_CACHED {
            cache.retain(|_, (_, until)| *until > now);
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
        }
        cache.insert(key, (active, now + self.settings.cache_ttl));
    }

    async fn ask(&self, token: &str) -> Result<Answer, AuthError> {
        let unavailable = |what: &str| AuthError::IntrospectionFailed(what.to_owned());
        let response = self
            .http
            .post(&self.settings.endpoint)
            .basic_auth(
                &self.settings.client_id,
                Some(self.settings.client_secret.expose_secret()),
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(|_| unavailable("the issuer's introspection endpoint is unreachable"))?;
        if !response.status().is_success() {
            tracing::warn!(status = %response.status(), "token introspection refused");
            return Err(unavailable(
                "the issuer's introspection endpoint refused us",
            ));
        }
        response
            .json::<Answer>()
            .await
            .map_err(|_| unavailable("the issuer's introspection answer is not RFC 7662 JSON"))
    }
}

#[async_trait::async_trait]
impl TokenVerifier for Introspection {
    async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        // Forgeries and expired tokens never reach the issuer.
        let principal = self.inner.verify(token).await?;
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let active = match self.cached(&key) {
            Some(active) => active,
            None => {
                let answer = self.ask(token).await?;
                // An issuer that names someone else for this token is not to be believed.
                let active = answer.active
                    && answer
                        .sub
                        .as_deref()
                        .is_none_or(|sub| sub == principal.account);
                self.remember(key, active);
                active
            }
        };
        if active {
            Ok(principal)
        } else {
            Err(AuthError::Revoked)
        }
    }
}
