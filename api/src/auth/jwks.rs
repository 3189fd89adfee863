//! Trusted verification keys: JWKS parsing and the static / remote key sources.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_lc_rs::signature::{self as sig, ParsedPublicKey, RsaPublicKeyComponents};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;

use super::AuthError;

/// Default minimum spacing between two JWKS fetches of a [`RemoteJwks`].
pub const DEFAULT_REFRESH_MIN_INTERVAL: Duration = Duration::from_secs(30);
/// Cached remote keys older than this are refetched, so keys the issuer drops stop being trusted.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(15 * 60);
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
// A JWKS is a handful of public keys; anything bigger is a misconfiguration or an attack.
const MAX_JWKS_BYTES: usize = 256 * 1024;
const MAX_REDIRECTS: usize = 3;
const RSA_MIN_BITS: usize = 2048;
const RSA_MAX_BITS: usize = 8192;

/// JWS algorithms we accept. HMAC and `none` are deliberately unrepresentable,
/// so a public key can never be used as an HMAC secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Alg {
    EdDSA,
    ES256,
    ES384,
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
}

impl Alg {
    /// Parses a JOSE `alg` name from the allow-list; anything else is `None`.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "EdDSA" => Alg::EdDSA,
            "ES256" => Alg::ES256,
            "ES384" => Alg::ES384,
            "RS256" => Alg::RS256,
            "RS384" => Alg::RS384,
            "RS512" => Alg::RS512,
            "PS256" => Alg::PS256,
            "PS384" => Alg::PS384,
            "PS512" => Alg::PS512,
            _ => return None,
        })
    }

    fn rsa_params(self) -> Option<&'static sig::RsaParameters> {
        Some(match self {
            Alg::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
            Alg::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
            Alg::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
            Alg::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
            Alg::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
            Alg::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
            Alg::EdDSA | Alg::ES256 | Alg::ES384 => return None,
        })
    }
}

#[derive(Clone)]
enum Material {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    // The curve fixes the algorithm: P-256 only verifies ES256, P-384 only ES384.
    Ec { alg: Alg, key: ParsedPublicKey },
    Ed25519(ParsedPublicKey),
}

/// One public key trusted for JWS signature verification.
#[derive(Clone)]
pub struct VerificationKey {
    kid: Option<String>,
    alg: Option<Alg>,
    material: Material,
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kty = match self.material {
            Material::Rsa { .. } => "RSA",
            Material::Ec {
                alg: Alg::ES384, ..
            } => "EC P-384",
            Material::Ec { .. } => "EC P-256",
            Material::Ed25519(_) => "OKP Ed25519",
        };
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("kty", &kty)
            .field("alg", &self.alg)
            .finish()
    }
}

impl VerificationKey {
    /// The key's `kid`, if the JWK had one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Whether this key may verify a token whose header says `alg`.
    pub(crate) fn accepts(&self, alg: Alg) -> bool {
        if self.alg.is_some_and(|pinned| pinned != alg) {
            return false;
        }
        match &self.material {
            Material::Rsa { .. } => alg.rsa_params().is_some(),
            Material::Ec { alg: curve_alg, .. } => *curve_alg == alg,
            Material::Ed25519(_) => alg == Alg::EdDSA,
        }
    }

    /// Checks `signature` over `message` with algorithm `alg`.
    pub(crate) fn verify(&self, alg: Alg, message: &[u8], signature: &[u8]) -> bool {
        // Re-checked here so no caller can pair a key with a foreign algorithm.
        if !self.accepts(alg) {
            return false;
        }
        match &self.material {
            Material::Rsa { n, e } => match alg.rsa_params() {
                Some(params) => RsaPublicKeyComponents {
                    n: n.as_slice(),
                    e: e.as_slice(),
                }
                .verify(params, message, signature)
                .is_ok(),
                None => false,
            },
            Material::Ec { key, .. } | Material::Ed25519(key) => {
                key.verify_sig(message, signature).is_ok()
            }
        }
    }

    /// Parses one JWK. `Ok(None)` means "not a signature key we handle" (skipped
    /// quietly); `Err` means it claims to be one but is broken.
    pub(crate) fn from_jwk(jwk: &Value) -> Result<Option<Self>, String> {
        let obj = jwk.as_object().ok_or("JWK is not an object")?;
        let str_field = |name: &str| -> Result<Option<&str>, String> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(format!("JWK field `{name}` is not a string")),
            }
        };
        let kid = str_field("kid")?.map(str::to_owned);
        if str_field("use")?.is_some_and(|u| u != "sig") {
            return Ok(None);
        }
        if let Some(ops) = obj.get("key_ops") {
            let verifies = ops
                .as_array()
                .is_some_and(|ops| ops.iter().any(|op| op == "verify"));
            if !verifies {
                return Ok(None);
            }
        }
        let alg = match str_field("alg")? {
            None => None,
            // e.g. RSA-OAEP or HS256: never usable for verification here.
            Some(name) => match Alg::from_name(name) {
                Some(alg) => Some(alg),
                None => return Ok(None),
            },
        };
        let b64 = |name: &str| -> Result<Vec<u8>, String> {
            let value = str_field(name)?.ok_or(format!("JWK lacks `{name}`"))?;
            URL_SAFE_NO_PAD
                .decode(value)
                .map_err(|_| format!("JWK field `{name}` is not base64url"))
        };
        let material = match str_field("kty")?.ok_or("JWK lacks `kty`")? {
            "RSA" => {
                let mut n = b64("n")?;
                let e = b64("e")?;
                let leading_zeros = n.iter().take_while(|b| **b == 0).count();
                n.drain(..leading_zeros);
                let bits = n
                    .first()
                    .map_or(0, |top| n.len() * 8 - top.leading_zeros() as usize);
                if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
                    return Err(format!("RSA modulus of {bits} bits is outside 2048..=8192"));
                }
                RsaPublicKeyComponents {
                    n: n.as_slice(),
                    e: e.as_slice(),
                }
                .to_parsed_public_key(&sig::RSA_PKCS1_2048_8192_SHA256)
                .map_err(|_| "invalid RSA public key".to_string())?;
                Material::Rsa { n, e }
            }
            "EC" => {
                let (curve_alg, verify_alg, coord_len): (
                    _,
                    &'static sig::EcdsaVerificationAlgorithm,
                    _,
                ) = match str_field("crv")? {
                    Some("P-256") => (Alg::ES256, &sig::ECDSA_P256_SHA256_FIXED, 32),
                    Some("P-384") => (Alg::ES384, &sig::ECDSA_P384_SHA384_FIXED, 48),
                    _ => return Ok(None),
                };
                let (x, y) = (b64("x")?, b64("y")?);
                if x.len() != coord_len || y.len() != coord_len {
                    return Err("EC coordinates have the wrong length".into());
                }
                let mut point = Vec::with_capacity(1 + 2 * coord_len);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                let key = ParsedPublicKey::new(verify_alg, point)
                    .map_err(|_| "invalid EC public key".to_string())?;
                Material::Ec {
                    alg: curve_alg,
                    key,
                }
            }
            "OKP" => {
                if str_field("crv")? != Some("Ed25519") {
                    return Ok(None);
                }
                let x = b64("x")?;
                if x.len() != 32 {
                    return Err("Ed25519 key has the wrong length".into());
                }
                let key = ParsedPublicKey::new(&sig::ED25519, x)
                    .map_err(|_| "invalid Ed25519 public key".to_string())?;
                Material::Ed25519(key)
            }
            // `oct` (HMAC secrets) and unknown key types are never trusted.
            _ => return Ok(None),
        };
        let key = VerificationKey { kid, alg, material };
        if let Some(pinned) = alg {
            if !key.accepts(pinned) {
                return Err("JWK `alg` does not match its key type".into());
            }
        }
        Ok(Some(key))
    }
}

/// Outcome of looking up the key(s) for a token.
pub(crate) enum Selection<'a> {
    /// Keys that may verify the token (usually exactly one).
    Keys(Vec<&'a VerificationKey>),
    /// The `kid` exists but its key cannot be used with the header `alg`.
    AlgMismatch,
    /// No key with this `kid` (or, without `kid`, no key for this `alg`).
    NotFound,
    /// No `kid` and several keys fit the `alg`: refusing to guess.
    Ambiguous,
}

/// The usable signature keys of a JWKS.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<VerificationKey>,
}

impl KeySet {
    /// Parses a JWKS document (`{"keys": [...]}`) from JSON text.
    pub fn from_json(json: &str) -> Result<Self, JwksError> {
        let value: Value =
            serde_json::from_str(json).map_err(|e| JwksError::Invalid(e.to_string()))?;
        Self::from_value(&value)
    }

    /// Parses a JWKS document; keys that are not usable signature keys are skipped.
    pub fn from_value(jwks: &Value) -> Result<Self, JwksError> {
        let entries = jwks
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| JwksError::Invalid("expected an object with a `keys` array".into()))?;
        let mut keys = Vec::new();
        for entry in entries {
            match VerificationKey::from_jwk(entry) {
                Ok(Some(key)) => keys.push(key),
                Ok(None) => {
                    tracing::debug!(kid = ?entry.get("kid"), "skipping non-signature JWK");
                }
                Err(reason) => {
                    tracing::warn!(kid = ?entry.get("kid"), %reason, "skipping invalid JWK");
                }
            }
        }
        Ok(KeySet { keys })
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no usable key is present.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The usable keys.
    pub fn keys(&self) -> &[VerificationKey] {
        &self.keys
    }

    pub(crate) fn select(&self, kid: Option<&str>, alg: Alg) -> Selection<'_> {
        match kid {
            Some(kid) => {
                let mut same_kid = self
                    .keys
                    .iter()
                    .filter(|k| k.kid.as_deref() == Some(kid))
                    .peekable();
                if same_kid.peek().is_none() {
                    return Selection::NotFound;
                }
                let usable: Vec<_> = same_kid.filter(|k| k.accepts(alg)).collect();
                if usable.is_empty() {
                    Selection::AlgMismatch
                } else {
                    Selection::Keys(usable)
                }
            }
            None => {
                let usable: Vec<_> = self.keys.iter().filter(|k| k.accepts(alg)).collect();
                match usable.len() {
                    0 => Selection::NotFound,
                    1 => Selection::Keys(usable),
                    _ => Selection::Ambiguous,
                }
            }
        }
    }
}

/// Why a JWKS could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// The JWKS file could not be read.
    #[error("reading JWKS: {0}")]
    Io(#[from] std::io::Error),
    /// The document (or a setting such as the URL) is invalid.
    #[error("invalid JWKS: {0}")]
    Invalid(String),
    /// The document parsed but holds no key usable for signature verification.
    #[error("JWKS contains no usable signature-verification key")]
    NoUsableKeys,
}

/// Where the verifier gets trusted public keys from.
#[async_trait]
pub trait KeySource: Send + Sync {
    /// The current key set (loaded on first use).
    async fn keys(&self) -> Result<Arc<KeySet>, AuthError>;

    /// Called when a token names a key the current set lacks. Implementations
    /// may refetch (subject to their own rate limit) or return the same set.
    async fn refresh(&self) -> Result<Arc<KeySet>, AuthError>;
}

/// A fixed key set, from configuration or the embedded issuer.
#[derive(Debug, Clone)]
pub struct StaticJwks {
    keys: Arc<KeySet>,
}

impl StaticJwks {
    /// Parses JWKS JSON text; fails if it holds no usable key.
    pub fn from_json(json: &str) -> Result<Self, JwksError> {
        Self::from_key_set(KeySet::from_json(json)?)
    }

    /// Reads and parses a JWKS file; fails if it holds no usable key.
    pub fn from_file(path: &Path) -> Result<Self, JwksError> {
        Self::from_json(&std::fs::read_to_string(path)?)
    }

    /// Parses an in-memory JWKS document; fails if it holds no usable key.
    pub fn from_value(jwks: &Value) -> Result<Self, JwksError> {
        Self::from_key_set(KeySet::from_value(jwks)?)
    }

    /// Wraps an already-parsed key set; fails if it is empty.
    pub fn from_key_set(keys: KeySet) -> Result<Self, JwksError> {
        if keys.is_empty() {
            return Err(JwksError::NoUsableKeys);
        }
        Ok(StaticJwks {
            keys: Arc::new(keys),
        })
    }
}

#[async_trait]
impl KeySource for StaticJwks {
    async fn keys(&self) -> Result<Arc<KeySet>, AuthError> {
        Ok(self.keys.clone())
    }

    async fn refresh(&self) -> Result<Arc<KeySet>, AuthError> {
        Ok(self.keys.clone())
    }
}

struct Cached {
    keys: Arc<KeySet>,
    fetched_at: Instant,
}

/// A JWKS fetched over HTTP(S), cached, refetched on unknown `kid` at most once
/// per `refresh_min_interval`, and after `max_age`.
pub struct RemoteJwks {
    url: reqwest::Url,
    client: reqwest::Client,
    refresh_min_interval: Duration,
    max_age: Duration,
    cache: RwLock<Option<Cached>>,
    // Held across a fetch so concurrent misses coalesce into one request; the
    // value is the time of the last attempt, successful or not.
    last_attempt: tokio::sync::Mutex<Option<Instant>>,
}

impl fmt::Debug for RemoteJwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteJwks")
            .field("url", &self.url.as_str())
            .field("refresh_min_interval", &self.refresh_min_interval)
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

impl RemoteJwks {
    /// Creates a source for the JWKS at `url` (http or https); nothing is fetched yet.
    pub fn new(url: impl AsRef<str>, refresh_min_interval: Duration) -> Result<Self, JwksError> {
        let url = reqwest::Url::parse(url.as_ref())
            .map_err(|e| JwksError::Invalid(format!("JWKS URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(JwksError::Invalid("JWKS URL must be http or https".into()));
        }
        let redirects = reqwest::redirect::Policy::custom(|attempt| {
            let downgrade = attempt.url().scheme() != "https"
                && attempt.previous().iter().any(|u| u.scheme() == "https");
            if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if downgrade {
                attempt.error("refusing https -> http redirect")
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            .redirect(redirects)
            .user_agent(concat!("voicebin/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| JwksError::Invalid(format!("HTTP client: {e}")))?;
        Ok(RemoteJwks {
            url,
            client,
            refresh_min_interval,
            max_age: DEFAULT_MAX_AGE.max(refresh_min_interval),
            cache: RwLock::new(None),
            last_attempt: tokio::sync::Mutex::new(None),
        })
    }

    /// Overrides how long fetched keys are used before a routine refetch (default 15 min).
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// The JWKS URL.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    fn cached(&self) -> Option<(Arc<KeySet>, Instant)> {
        let guard = self.cache.read().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().map(|c| (c.keys.clone(), c.fetched_at))
    }

    async fn fetch_rate_limited(&self) -> Result<Arc<KeySet>, AuthError> {
        let mut last_attempt = self.last_attempt.lock().await;
        if let Some(at) = *last_attempt {
            if at.elapsed() < self.refresh_min_interval {
                return self.cached().map(|(keys, _)| keys).ok_or_else(|| {
                    AuthError::KeysUnavailable("JWKS fetch failed recently".into())
                });
            }
        }
        *last_attempt = Some(Instant::now());
        match self.fetch().await {
            Ok(keys) => {
                if keys.is_empty() {
                    tracing::warn!(url = %self.url, "JWKS has no usable signature key");
                }
                let keys = Arc::new(keys);
                *self.cache.write().unwrap_or_else(|p| p.into_inner()) = Some(Cached {
                    keys: keys.clone(),
                    fetched_at: Instant::now(),
                });
                Ok(keys)
            }
            Err(reason) => {
                tracing::warn!(url = %self.url, %reason, "JWKS fetch failed");
                // Keep serving the last good keys: an issuer hiccup should not log everyone out.
                self.cached()
                    .map(|(keys, _)| keys)
                    .ok_or(AuthError::KeysUnavailable(reason))
            }
        }
    }

    async fn fetch(&self) -> Result<KeySet, String> {
        let mut response = self
            .client
            .get(self.url.clone())
            .header(
                reqwest::header::ACCEPT,
                "application/jwk-set+json, application/json",
            )
            .send()
            .await
            .map_err(|e| format!("fetching JWKS: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("JWKS endpoint answered {}", response.status()));
        }
        if response
            .content_length()
            .is_some_and(|len| len > MAX_JWKS_BYTES as u64)
        {
            return Err("JWKS response too large".into());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("reading JWKS: {e}"))?
        {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err("JWKS response too large".into());
            }
            body.extend_from_slice(&chunk);
        }
        let value: Value =
            serde_json::from_slice(&body).map_err(|e| format!("JWKS is not JSON: {e}"))?;
        KeySet::from_value(&value).map_err(|e| e.to_string())
    }
}

#[async_trait]
impl KeySource for RemoteJwks {
    async fn keys(&self) -> Result<Arc<KeySet>, AuthError> {
        if let Some((keys, fetched_at)) = self.cached() {
            if fetched_at.elapsed() < self.max_age {
                return Ok(keys);
            }
        }
        self.fetch_rate_limited().await
    }

    async fn refresh(&self) -> Result<Arc<KeySet>, AuthError> {
        self.fetch_rate_limited().await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::auth::testutil::{b64, now, Ed25519TestKey, JwksServer, RsaTestKey, TempDir};
    use crate::auth::{JwtVerifier, TokenVerifier};

    const SITE: &str = "http://127.0.0.1:8080";

    fn token(key: &Ed25519TestKey, kid: &str) -> String {
        key.token(
            &json!({"alg": "EdDSA", "kid": kid}),
            &json!({"iss": "iss", "sub": "acct", "aud": SITE, "iat": now()}),
        )
    }

    fn verifier(source: Arc<dyn KeySource>) -> JwtVerifier {
        JwtVerifier::new("iss".into(), vec![SITE.into()], source)
    }

    #[test]
    fn unusable_jwks_entries_are_skipped() {
        let good = Ed25519TestKey::generate();
        let mut enc_rsa = RsaTestKey::shared().jwk("enc");
        enc_rsa["use"] = json!("enc");
        let mut oaep_rsa = RsaTestKey::shared().jwk("oaep");
        oaep_rsa["alg"] = json!("RSA-OAEP");
        let mut wrap_only = RsaTestKey::shared().jwk("wrap");
        wrap_only["key_ops"] = json!(["wrapKey"]);
        let mut hs_pinned = good.jwk("hs");
        hs_pinned["alg"] = json!("HS256");
        let mut es_pinned_ed = good.jwk("mismatch");
        es_pinned_ed["alg"] = json!("ES256");
        let mut short_x = good.jwk("short");
        short_x["x"] = json!(b64([1u8; 31]));
        let weak_rsa = json!({"kty": "RSA", "kid": "weak", "n": b64([0xC5u8; 128]), "e": "AQAB"});
        let jwks = json!({"keys": [
            {"kty": "oct", "kid": "hmac", "k": b64(b"secret")},
            {"kty": "OKP", "crv": "X25519", "kid": "x", "x": b64([9u8; 32])},
            {"kty": "EC", "crv": "P-521", "kid": "p521", "x": "AA", "y": "AA"},
            {"kty": "EC", "crv": "P-256", "kid": "offcurve", "x": b64([1u8; 32]), "y": b64([2u8; 32])},
            enc_rsa, oaep_rsa, wrap_only, hs_pinned, es_pinned_ed, short_x, weak_rsa,
            "not an object",
            good.jwk("good"),
        ]});
        let set = KeySet::from_value(&jwks).unwrap();
        let kids: Vec<_> = set.keys().iter().map(|k| k.kid()).collect();
        assert_eq!(kids, [Some("good")]);
    }

    #[test]
    fn rsa_jwk_with_verify_op_is_kept() {
        let mut jwk = RsaTestKey::shared().jwk("r");
        jwk["key_ops"] = json!(["verify"]);
        jwk["use"] = json!("sig");
        assert_eq!(
            KeySet::from_value(&json!({"keys": [jwk]})).unwrap().len(),
            1
        );
    }

    #[test]
    fn static_jwks_requires_a_usable_key() {
        assert!(matches!(
            StaticJwks::from_json(r#"{"keys": []}"#),
            Err(JwksError::NoUsableKeys)
        ));
        assert!(matches!(
            StaticJwks::from_json(r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#),
            Err(JwksError::NoUsableKeys)
        ));
        assert!(matches!(
            StaticJwks::from_json("nope"),
            Err(JwksError::Invalid(_))
        ));
        assert!(matches!(
            StaticJwks::from_json(r#"{"key": []}"#),
            Err(JwksError::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn static_jwks_from_file() {
        let dir = TempDir::new();
        let key = Ed25519TestKey::generate();
        let path = dir.path().join("jwks.json");
        std::fs::write(&path, json!({"keys": [key.jwk("k")]}).to_string()).unwrap();
        let source = Arc::new(StaticJwks::from_file(&path).unwrap());
        verifier(source).verify(&token(&key, "k")).await.unwrap();
        assert!(matches!(
            StaticJwks::from_file(&dir.path().join("missing.json")),
            Err(JwksError::Io(_))
        ));
    }

    #[test]
    fn remote_url_validated() {
        assert!(RemoteJwks::new("ftp://example.com/jwks", DEFAULT_REFRESH_MIN_INTERVAL).is_err());
        assert!(RemoteJwks::new("not a url", DEFAULT_REFRESH_MIN_INTERVAL).is_err());
        assert!(RemoteJwks::new("https://example.com/jwks", DEFAULT_REFRESH_MIN_INTERVAL).is_ok());
    }

    #[tokio::test]
    async fn remote_key_rotation_picked_up_after_interval() {
        let (a, b) = (Ed25519TestKey::generate(), Ed25519TestKey::generate());
        let server = JwksServer::start(json!({"keys": [a.jwk("a")]})).await;
        let interval = Duration::from_millis(500);
        let v = verifier(Arc::new(RemoteJwks::new(&server.url, interval).unwrap()));

        v.verify(&token(&a, "a")).await.unwrap();
        v.verify(&token(&a, "a")).await.unwrap();
        assert_eq!(server.hits(), 1, "known kid is served from cache");

        server.set_body(json!({"keys": [a.jwk("a"), b.jwk("b")]}));
        assert!(matches!(
            v.verify(&token(&b, "b")).await,
            Err(AuthError::UnknownKey)
        ));
        assert_eq!(server.hits(), 1, "refetch is rate-limited");

        tokio::time::sleep(interval + Duration::from_millis(100)).await;
        v.verify(&token(&b, "b")).await.unwrap();
        assert_eq!(server.hits(), 2);
        v.verify(&token(&a, "a")).await.unwrap();
        assert_eq!(server.hits(), 2);
    }

    #[tokio::test]
    async fn unknown_kid_flood_fetches_at_most_once_per_interval() {
        let key = Ed25519TestKey::generate();
        let server = JwksServer::start(json!({"keys": [key.jwk("real")]})).await;
        let interval = Duration::from_secs(1);
        let v = Arc::new(verifier(Arc::new(
            RemoteJwks::new(&server.url, interval).unwrap(),
        )));
        v.verify(&token(&key, "real")).await.unwrap();
        assert_eq!(server.hits(), 1);

        let flood = |round: usize| {
            let v = v.clone();
            let tokens: Vec<String> = (0..50)
                .map(|i| token(&key, &format!("bogus-{round}-{i}")))
                .collect();
            async move {
                let results = futures::future::join_all(tokens.iter().map(|t| v.verify(t))).await;
                assert!(results
                    .iter()
                    .all(|r| matches!(r, Err(AuthError::UnknownKey))));
            }
        };
        flood(1).await;
        assert_eq!(server.hits(), 1);

        tokio::time::sleep(interval + Duration::from_millis(100)).await;
        flood(2).await;
        assert_eq!(server.hits(), 2);
        flood(3).await;
        assert_eq!(server.hits(), 2);
    }

    #[tokio::test]
    async fn unreachable_issuer_is_server_side_and_rate_limited() {
        let key = Ed25519TestKey::generate();
        let server = JwksServer::start(json!("not a jwks")).await;
        let interval = Duration::from_millis(300);
        let v = verifier(Arc::new(RemoteJwks::new(&server.url, interval).unwrap()));
        for _ in 0..3 {
            let err = v.verify(&token(&key, "k")).await.unwrap_err();
            assert!(err.is_server_side(), "{err:?}");
        }
        assert_eq!(server.hits(), 1);

        server.set_body(json!({"keys": [key.jwk("k")]}));
        tokio::time::sleep(interval + Duration::from_millis(100)).await;
        v.verify(&token(&key, "k")).await.unwrap();
        assert_eq!(server.hits(), 2);
    }

    #[tokio::test]
    async fn connection_refused_is_keys_unavailable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        drop(listener);
        let v = verifier(Arc::new(
            RemoteJwks::new(url, DEFAULT_REFRESH_MIN_INTERVAL).unwrap(),
        ));
        let err = v
            .verify(&token(&Ed25519TestKey::generate(), "k"))
            .await
            .unwrap_err();
        assert!(matches!(err, AuthError::KeysUnavailable(_)), "{err:?}");
    }

    #[tokio::test]
    async fn stale_keys_kept_when_refetch_fails() {
        let key = Ed25519TestKey::generate();
        let server = JwksServer::start(json!({"keys": [key.jwk("k")]})).await;
        let interval = Duration::from_millis(200);
        let source = RemoteJwks::new(&server.url, interval)
            .unwrap()
            .with_max_age(Duration::from_millis(200));
        let v = verifier(Arc::new(source));
        v.verify(&token(&key, "k")).await.unwrap();

        server.set_body(json!("broken"));
        tokio::time::sleep(Duration::from_millis(300)).await;
        v.verify(&token(&key, "k")).await.unwrap();
        assert_eq!(server.hits(), 2, "max age triggered a refetch");
    }

    #[tokio::test]
    async fn keys_dropped_by_issuer_stop_verifying_after_max_age() {
        let (old, new) = (Ed25519TestKey::generate(), Ed25519TestKey::generate());
        let server = JwksServer::start(json!({"keys": [old.jwk("old")]})).await;
        let source = RemoteJwks::new(&server.url, Duration::from_millis(100))
            .unwrap()
            .with_max_age(Duration::from_millis(200));
        let v = verifier(Arc::new(source));
        v.verify(&token(&old, "old")).await.unwrap();

        server.set_body(json!({"keys": [new.jwk("new")]}));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(matches!(
            v.verify(&token(&old, "old")).await,
            Err(AuthError::UnknownKey)
        ));
        v.verify(&token(&new, "new")).await.unwrap();
    }
}
