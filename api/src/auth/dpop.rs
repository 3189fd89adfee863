//! DPoP (RFC 9449): the proof that the caller holds the private key its access token is bound to.
//!
//! [`DpopVerifier::check`] applies every rule of RFC 9449 §4.3 to the `DPoP` header of one
//! request. Proof ids (`jti`) go to a [`ReplayCache`] shared by all API replicas, so a proof
//! replayed against another replica is refused too. Server nonces are optional and stateless
//! (an HMAC of a time window under a secret every replica shares): see ADR 0006.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use voicebin_projections::ReplayCache;

use super::jwks::{Alg, VerificationKey};
use super::verifier::{seconds, unix_now};

/// The proof algorithms accepted (all asymmetric; `none` and HMAC cannot be expressed).
pub const PROOF_ALGS: &[&str] = &[
    "ES256", "ES384", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
];
/// How old a proof may be (by its `iat`) before it is refused.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);
/// Clock skew tolerated on a proof's `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
/// How long one server nonce stays valid (it is accepted in its window and the next one).
pub const NONCE_WINDOW: Duration = Duration::from_secs(300);

// A proof is a small JWS with one public key in its header.
const MAX_PROOF_LEN: usize = 8 * 1024;
const MAX_JTI_CHARS: usize = 256;
// JWK members that only a private (or symmetric) key has.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
// Expired replay records are purged once every this many accepted proofs.
const PURGE_EVERY: u64 = 512;

/// Why a DPoP proof was refused.
#[derive(Debug, thiserror::Error)]
pub enum DpopError {
    /// The proof breaks a rule of RFC 9449 §4.3 (the message says which; it holds no secrets).
    #[error("{0}")]
    InvalidProof(String),
    /// Nonces are required and the proof has no current one (`use_dpop_nonce`).
    #[error("{0}")]
    UseNonce(&'static str),
    /// The shared replay cache could not be consulted; failing closed.
    #[error("the DPoP replay cache is unavailable: {0}")]
    Unavailable(String),
}

fn invalid(message: impl Into<String>) -> DpopError {
    DpopError::InvalidProof(message.into())
}

/// Whether resource requests must carry a server nonce (RFC 9449 §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NoncePolicy {
    /// Proofs need no nonce (a nonce that is sent must still be valid).
    #[default]
    Off,
    /// Every proof must carry a nonce issued by this service in the last window.
    Required,
}

/// Stateless server nonces: `window` + HMAC(secret, window), valid in that window and the next.
pub struct Nonces {
    key: hmac::Key,
}

impl Nonces {
    /// Nonces keyed by `secret` (shared by all replicas, so any of them accepts any nonce).
    pub fn new(secret: &[u8]) -> Self {
        Nonces {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    fn window(now: i64) -> u64 {
        u64::try_from(now).unwrap_or(0) / NONCE_WINDOW.as_secs()
    }

    /// A nonce for the current window.
    pub fn issue(&self, now: i64) -> String {
        self.for_window(Self::window(now))
    }

    fn for_window(&self, window: u64) -> String {
        let bytes = window.to_be_bytes();
        let tag = hmac::sign(&self.key, &bytes);
        let mut raw = bytes.to_vec();
        raw.extend_from_slice(&tag.as_ref()[..16]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Whether `nonce` was issued in the current or the previous window.
    pub fn accepts(&self, nonce: &str, now: i64) -> bool {
        let Ok(raw) = URL_SAFE_NO_PAD.decode(nonce) else {
            return false;
        };
        let Ok(bytes) = <[u8; 8]>::try_from(raw.get(..8).unwrap_or_default()) else {
            return false;
        };
        let window = u64::from_be_bytes(bytes);
        let current = Self::window(now);
        if window != current && window.saturating_add(1) != current {
            return false;
        }
        let tag = hmac::sign(&self.key, &bytes);
        raw.len() == 24 && constant_time_eq(&raw[8..], &tag.as_ref()[..16])
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// The request a proof must match.
#[derive(Debug, Clone, Copy)]
pub struct ProofTarget<'a> {
    /// The HTTP method (`htm`).
    pub method: &'a str,
    /// The request path (`htu` is the public URL's origin and base path plus this).
    pub path: &'a str,
    /// The access token sent with the proof (`ath` is its SHA-256).
    pub access_token: &'a str,
    /// The thumbprint the token is bound to (`cnf.jkt`).
    pub jkt: &'a str,
}

/// Checks DPoP proofs for requests to this site.
pub struct DpopVerifier {
    public_url: url::Url,
    replay: Arc<dyn ReplayCache>,
    nonces: Nonces,
    policy: NoncePolicy,
    max_age: i64,
    leeway: i64,
    accepted: AtomicU64,
}

impl DpopVerifier {
    /// A verifier for `public_url` (absolute, no trailing slash), recording proof ids in
    /// `replay`, with nonces keyed by `nonce_secret`.
    pub fn new(
        public_url: &str,
        replay: Arc<dyn ReplayCache>,
        nonce_secret: &[u8],
        policy: NoncePolicy,
    ) -> Result<Self, String> {
        let public_url =
            url::Url::parse(public_url).map_err(|e| format!("invalid public URL: {e}"))?;
        Ok(DpopVerifier {
            public_url,
            replay,
            nonces: Nonces::new(nonce_secret),
            policy,
            max_age: DEFAULT_MAX_AGE.as_secs() as i64,
            leeway: DEFAULT_LEEWAY.as_secs() as i64,
            accepted: AtomicU64::new(0),
        })
    }

    /// The nonce policy in force.
    pub fn policy(&self) -> NoncePolicy {
        self.policy
    }

    /// A fresh nonce for a `DPoP-Nonce` header, when nonces are in use.
    pub fn fresh_nonce(&self) -> Option<String> {
        (self.policy == NoncePolicy::Required).then(|| self.nonces.issue(unix_now()))
    }

    /// Applies RFC 9449 §4.3 to the `DPoP` header values of one request.
    pub async fn check(&self, proofs: &[&[u8]], target: ProofTarget<'_>) -> Result<(), DpopError> {
        self.check_at(proofs, target, unix_now()).await
    }

    async fn check_at(
        &self,
        proofs: &[&[u8]],
        target: ProofTarget<'_>,
        now: i64,
    ) -> Result<(), DpopError> {
        // 1. Exactly one DPoP header.
        let proof = match proofs {
            [] => return Err(invalid("a DPoP-bound token needs a `DPoP` proof header")),
            [one] => *one,
            _ => return Err(invalid("more than one `DPoP` header")),
        };
        // 2. A single well-formed JWS.
        let proof = std::str::from_utf8(proof).map_err(|_| invalid("the proof is not text"))?;
        if proof.len() > MAX_PROOF_LEN {
            return Err(invalid("the proof is too long"));
        }
        let mut parts = proof.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid("the proof is not a compact JWS"));
        };
        let header: ProofHeader = serde_json::from_slice(&b64(header_b64)?)
            .map_err(|_| invalid("the proof header is not a valid JOSE header"))?;
        // 4. typ.
        if header.typ.as_deref() != Some("dpop+jwt") {
            return Err(invalid("the proof's `typ` must be `dpop+jwt`"));
        }
        if header.crit.is_some() {
            return Err(invalid(
                "the proof uses critical extensions we do not implement",
            ));
        }
        // 5. An asymmetric algorithm we support.
        let alg = Alg::from_name(&header.alg)
            .ok_or_else(|| invalid("the proof's `alg` is not an accepted asymmetric algorithm"))?;
        // 6. A public key, and nothing private.
        let jwk = header
            .jwk
            .as_ref()
            .filter(|jwk| jwk.is_object())
            .ok_or_else(|| invalid("the proof header lacks its `jwk`"))?;
        if PRIVATE_MEMBERS
            .iter()
            .any(|m| jwk.get(m).is_some_and(|v| !v.is_null()))
        {
            return Err(invalid("the proof's `jwk` contains a private key"));
        }
        let key = VerificationKey::from_jwk(jwk)
            .ok()
            .flatten()
            .ok_or_else(|| invalid("the proof's `jwk` is not a usable public signing key"))?;
        // 7. The signature, by that key.
        let signature = b64(signature_b64)?;
        let signing_input = &proof.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
        if !key.verify(alg, signing_input, &signature) {
            return Err(invalid(
                "the proof's signature does not verify with its `jwk`",
            ));
        }
        // 3. The required claims (only authenticated bytes are parsed).
        let claims: ProofClaims = serde_json::from_slice(&b64(payload_b64)?)
            .map_err(|_| invalid("the proof's claims are missing or have the wrong types"))?;
        let jti = claims
            .jti
            .filter(|j| !j.is_empty() && j.chars().count() <= MAX_JTI_CHARS)
            .ok_or_else(|| invalid("the proof needs a `jti`"))?;
        // 8. htm.
        if claims.htm.as_deref() != Some(target.method) {
            return Err(invalid(
                "the proof's `htm` does not match the request method",
            ));
        }
        // 9. htu, ignoring query and fragment.
        let htu = claims
            .htu
            .as_deref()
            .ok_or_else(|| invalid("the proof needs an `htu`"))?;
        if !self.htu_matches(htu, target.path) {
            return Err(invalid("the proof's `htu` does not match the request URL"));
        }
        // 10. The server nonce.
        match (&claims.nonce, self.policy) {
            (Some(nonce), _) if !self.nonces.accepts(nonce, now) => {
                return Err(DpopError::UseNonce("the proof's nonce is not current"))
            }
            (None, NoncePolicy::Required) => {
                return Err(DpopError::UseNonce("this server requires a DPoP nonce"))
            }
            _ => {}
        }
        // 11. iat within the window.
        let iat = claims
            .iat
            .as_ref()
            .and_then(seconds)
            .ok_or_else(|| invalid("the proof needs a numeric `iat`"))?;
        if iat > now.saturating_add(self.leeway) {
            return Err(invalid("the proof was issued in the future"));
        }
        if iat < now.saturating_sub(self.max_age + self.leeway) {
            return Err(invalid("the proof is too old"));
        }
        // 12. ath: the hash of the token it accompanies.
        let expected_ath = URL_SAFE_NO_PAD.encode(Sha256::digest(target.access_token.as_bytes()));
        match claims.ath.as_deref() {
            Some(ath) if constant_time_eq(ath.as_bytes(), expected_ath.as_bytes()) => {}
            Some(_) => return Err(invalid("the proof's `ath` does not match the access token")),
            None => return Err(invalid("the proof needs an `ath`")),
        }
        // 13. The key is the one the token is bound to.
        let thumbprint = jwk_thumbprint(jwk).map_err(invalid)?;
        if !constant_time_eq(thumbprint.as_bytes(), target.jkt.as_bytes()) {
            return Err(invalid(
                "the proof's key is not the one the token is bound to (`cnf.jkt`)",
            ));
        }
        // Last, so a forged or mismatched proof never fills the cache: the jti, once.
        let record = hex::encode(Sha256::digest(format!("{thumbprint}:{jti}").as_bytes()));
        let expires_at = iat.max(now) + self.max_age + self.leeway;
        let first = self
            .replay
            .first_use(&record, expires_at, now)
            .await
            .map_err(|e| DpopError::Unavailable(e.to_string()))?;
        if !first {
            return Err(invalid("this proof has been used before (`jti` replay)"));
        }
        if self.accepted.fetch_add(1, Ordering::Relaxed) % PURGE_EVERY == PURGE_EVERY - 1 {
            if let Err(e) = self.replay.purge_expired(now).await {
                tracing::warn!(error = %e, "purging expired DPoP proof ids failed");
            }
        }
        Ok(())
    }

    fn htu_matches(&self, htu: &str, path: &str) -> bool {
        let Ok(htu) = url::Url::parse(htu) else {
            return false;
        };
        let mut expected = self.public_url.clone();
        let base = expected.path().trim_end_matches('/').to_owned();
        expected.set_path(&format!("{base}{path}"));
        // `Url` has already normalised case, default ports and dot segments (RFC 3986 §6.2).
        htu.scheme() == expected.scheme()
            && htu.host_str() == expected.host_str()
            && htu.port_or_known_default() == expected.port_or_known_default()
            && htu.path() == expected.path()
            && htu.username().is_empty()
            && htu.password().is_none()
    }
}

/// The RFC 7638 SHA-256 thumbprint of a public JWK, base64url-encoded.
pub fn jwk_thumbprint(jwk: &Value) -> Result<String, String> {
    let member = |name: &str| -> Result<String, String> {
        let value = jwk
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("the `jwk` lacks `{name}`"))?;
        serde_json::to_string(value).map_err(|e| e.to_string())
    };
    // Required members only, in lexicographic order, no whitespace.
    let canonical = match jwk.get("kty").and_then(Value::as_str) {
        Some("EC") => format!(
            r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
            member("crv")?,
            member("x")?,
            member("y")?
        ),
        Some("RSA") => format!(
            r#"{{"e":{},"kty":"RSA","n":{}}}"#,
            member("e")?,
            member("n")?
        ),
        Some("OKP") => format!(
            r#"{{"crv":{},"kty":"OKP","x":{}}}"#,
            member("crv")?,
            member("x")?
        ),
        _ => return Err("the `jwk` has an unsupported `kty`".into()),
    };
    Ok(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
}

#[derive(Deserialize)]
struct ProofHeader {
    alg: String,
    typ: Option<String>,
    jwk: Option<Value>,
    crit: Option<Value>,
}

// Deriving makes duplicate claim names an error.
#[derive(Deserialize)]
struct ProofClaims {
    jti: Option<String>,
    htm: Option<String>,
    htu: Option<String>,
    iat: Option<serde_json::Number>,
    ath: Option<String>,
    nonce: Option<String>,
}

fn b64(part: &str) -> Result<Vec<u8>, DpopError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| invalid("the proof is not base64url"))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use serde_json::json;
    use voicebin_projections::StoreError;

    use super::*;
    use crate::auth::testutil::{b64 as enc, now, sign_jws, EcTestKey, Ed25519TestKey};

    #[derive(Default)]
    struct MemoryReplay(Mutex<HashMap<String, i64>>);

    #[async_trait::async_trait]
    impl ReplayCache for MemoryReplay {
        async fn first_use(
            &self,
            key: &str,
            expires_at: i64,
            now: i64,
        ) -> Result<bool, StoreError> {
            let mut map = self.0.lock().unwrap();
            match map.get(key) {
                Some(&until) if until > now => Ok(false),
                _ => {
                    map.insert(key.to_owned(), expires_at);
                    Ok(true)
                }
            }
        }
        async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
            let mut map = self.0.lock().unwrap();
            let before = map.len();
            map.retain(|_, until| *until > now);
            Ok((before - map.len()) as u64)
        }
    }

    const SITE: &str = "https://voicebin.example";
    const TOKEN: &str = "the-access-token";

    fn verifier(policy: NoncePolicy) -> DpopVerifier {
        DpopVerifier::new(SITE, Arc::new(MemoryReplay::default()), b"secret", policy).unwrap()
    }

    fn ath(token: &str) -> String {
        enc(Sha256::digest(token.as_bytes()))
    }

    fn claims() -> Value {
        json!({
            "jti": format!("{}", rand::random::<u64>()),
            "htm": "GET",
            "htu": format!("{SITE}/api/v1/items/abc"),
            "iat": now(),
            "ath": ath(TOKEN),
        })
    }

    struct Signer(EcTestKey);

    impl Signer {
        fn new() -> Self {
            Signer(EcTestKey::p256())
        }
        fn jwk(&self) -> Value {
            let mut jwk = self.0.jwk("k");
            jwk.as_object_mut().unwrap().remove("kid");
            jwk
        }
        fn jkt(&self) -> String {
            jwk_thumbprint(&self.jwk()).unwrap()
        }
        fn proof_with(&self, header: Value, claims: &Value) -> String {
            self.0.token(&header, claims)
        }
        fn proof(&self, claims: &Value) -> String {
            self.proof_with(
                json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk()}),
                claims,
            )
        }
    }

    fn target<'a>(jkt: &'a str) -> ProofTarget<'a> {
        ProofTarget {
            method: "GET",
            path: "/api/v1/items/abc",
            access_token: TOKEN,
            jkt,
        }
    }

    async fn check(v: &DpopVerifier, proof: &str, jkt: &str) -> Result<(), DpopError> {
        v.check(&[proof.as_bytes()], target(jkt)).await
    }

    fn assert_invalid(result: Result<(), DpopError>, needle: &str) {
        match result {
            Err(DpopError::InvalidProof(m)) => assert!(m.contains(needle), "{m} !~ {needle}"),
            other => panic!("expected an invalid proof ({needle}), got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_valid_proof_is_accepted_once() {
        let v = verifier(NoncePolicy::Off);
        let s = Signer::new();
        let proof = s.proof(&claims());
        check(&v, &proof, &s.jkt()).await.unwrap();
        assert_invalid(check(&v, &proof, &s.jkt()).await, "replay");
    }

    #[tokio::test]
    async fn each_rule_of_section_4_3_is_enforced() {
        let v = verifier(NoncePolicy::Off);
        let s = Signer::new();
        let jkt = s.jkt();
        let good = claims();

        // One header only.
        let p = s.proof(&good);
        assert_invalid(
            v.check(&[p.as_bytes(), p.as_bytes()], target(&jkt)).await,
            "more than one",
        );
        assert_invalid(v.check(&[], target(&jkt)).await, "needs a `DPoP`");
        // Well-formed.
        assert_invalid(check(&v, "a.b", &jkt).await, "compact JWS");
        // typ.
        let p = s.proof_with(json!({"typ": "JWT", "alg": "ES256", "jwk": s.jwk()}), &good);
        assert_invalid(check(&v, &p, &jkt).await, "typ");
        // Asymmetric alg only.
        let p = s.proof_with(
            json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": s.jwk()}),
            &good,
        );
        assert_invalid(check(&v, &p, &jkt).await, "alg");
        let p = s.proof_with(
            json!({"typ": "dpop+jwt", "alg": "none", "jwk": s.jwk()}),
            &good,
        );
        assert_invalid(check(&v, &p, &jkt).await, "alg");
        // No private key in the header.
        let mut private = s.jwk();
        private["d"] = json!(enc([7u8; 32]));
        let p = s.proof_with(
            json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": private}),
            &good,
        );
        assert_invalid(check(&v, &p, &jkt).await, "private");
        let p = s.proof_with(json!({"typ": "dpop+jwt", "alg": "ES256"}), &good);
        assert_invalid(check(&v, &p, &jkt).await, "jwk");
        // Signed by the embedded key.
        let other = Signer::new();
        let p = other.proof_with(
            json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": s.jwk()}),
            &good,
        );
        assert_invalid(check(&v, &p, &jkt).await, "signature");
        // htm, htu.
        let mut c = claims();
        c["htm"] = json!("POST");
        assert_invalid(check(&v, &s.proof(&c), &jkt).await, "htm");
        let mut c = claims();
        c["htu"] = json!("https://evil.example/api/v1/items/abc");
        assert_invalid(check(&v, &s.proof(&c), &jkt).await, "htu");
        let mut c = claims();
        c["htu"] = json!(format!("{SITE}/api/v1/items/other"));
        assert_invalid(check(&v, &s.proof(&c), &jkt).await, "htu");
        // iat window.
        let mut c = claims();
        c["iat"] = json!(now() - 3600);
        assert_invalid(check(&v, &s.proof(&c), &jkt).await, "too old");
        let mut c = claims();
        c["iat"] = json!(now() + 3600);
        assert_invalid(check(&v, &s.proof(&c), &jkt).await, "future");
        let mut c = claims();
        c.as_object_mut().unwrap().remove("iat");
        assert_invalid(check(&v, &s.proof(&c), &jkt).await, "iat");
        // ath.
        let mut c = claims();
        c["ath"] = json!(ath("another-token"));
        assert_invalid(check(&v, &s.proof(&c), &jkt).await, "ath");
        let mut c = claims();
        c.as_object_mut().unwrap().remove("ath");
        assert_invalid(check(&v, &s.proof(&c), &jkt).await, "ath");
        // jti.
        let mut c = claims();
        c.as_object_mut().unwrap().remove("jti");
        assert_invalid(check(&v, &s.proof(&c), &jkt).await, "jti");
        // The token's cnf.jkt.
        assert_invalid(check(&v, &s.proof(&claims()), &other.jkt()).await, "bound");
        // And the untouched proof still passes.
        check(&v, &s.proof(&claims()), &jkt).await.unwrap();
    }

    #[tokio::test]
    async fn htu_ignores_query_fragment_case_and_default_port() {
        let v = verifier(NoncePolicy::Off);
        let s = Signer::new();
        let mut c = claims();
        c["htu"] = json!("HTTPS://VoiceBin.Example:443/api/v1/items/abc?x=1#top");
        check(&v, &s.proof(&c), &s.jkt()).await.unwrap();
    }

    #[tokio::test]
    async fn ed25519_proofs_work_too() {
        let v = verifier(NoncePolicy::Off);
        let key = Ed25519TestKey::generate();
        let mut jwk = key.jwk("x");
        jwk.as_object_mut().unwrap().remove("kid");
        let jkt = jwk_thumbprint(&jwk).unwrap();
        let proof = sign_jws(
            &json!({"typ": "dpop+jwt", "alg": "EdDSA", "jwk": jwk}),
            &claims(),
            |m| key.sign(m),
        );
        check(&v, &proof, &jkt).await.unwrap();
    }

    #[tokio::test]
    async fn required_nonces_are_demanded_and_checked() {
        let v = verifier(NoncePolicy::Required);
        let s = Signer::new();
        let jkt = s.jkt();
        assert!(matches!(
            check(&v, &s.proof(&claims()), &jkt).await,
            Err(DpopError::UseNonce(_))
        ));
        let mut c = claims();
        c["nonce"] = json!("forged");
        assert!(matches!(
            check(&v, &s.proof(&c), &jkt).await,
            Err(DpopError::UseNonce(_))
        ));
        let mut c = claims();
        c["nonce"] = json!(v.fresh_nonce().unwrap());
        check(&v, &s.proof(&c), &jkt).await.unwrap();
    }

    #[test]
    fn nonces_expire_after_the_next_window() {
        let n = Nonces::new(b"k");
        let t = 1_800_000_000;
        let nonce = n.issue(t);
        assert!(n.accepts(&nonce, t));
        assert!(n.accepts(&nonce, t + NONCE_WINDOW.as_secs() as i64));
        assert!(!n.accepts(&nonce, t + 2 * NONCE_WINDOW.as_secs() as i64 + 1));
        assert!(!Nonces::new(b"other").accepts(&nonce, t));
    }

    #[test]
    fn thumbprint_matches_rfc_7638_example() {
        // RFC 7638 §3.1.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            jwk_thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
