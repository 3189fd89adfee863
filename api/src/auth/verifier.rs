//! [`JwtVerifier`]: compact-JWS bearer-token verification against a [`KeySource`].

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;

use super::jwks::{Alg, KeySet, KeySource, Selection};
use super::{AuthError, Principal, TokenVerifier, API_KEY_PREFIX};

/// Clock skew tolerated on `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
// Real tokens are well under 2 KiB; the cap bounds work done on garbage input.
const MAX_TOKEN_LEN: usize = 8 * 1024;
const MAX_SUBJECT_CHARS: usize = 128;
const MAX_ID_CHARS: usize = 256;

/// Verifies API keys and OAuth access tokens issued by one configured issuer.
pub struct JwtVerifier {
    issuer: String,
    audiences: Vec<String>,
    keys: Arc<dyn KeySource>,
    leeway: Duration,
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("leeway", &self.leeway)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// Accepts tokens whose `iss` equals `issuer` and whose `aud` names any of `audiences`.
    pub fn new(issuer: String, audiences: Vec<String>, keys: Arc<dyn KeySource>) -> Self {
        JwtVerifier {
            issuer,
            audiences,
            keys,
            leeway: DEFAULT_LEEWAY,
        }
    }

    /// Overrides the clock-skew leeway (default [`DEFAULT_LEEWAY`]).
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The required `iss`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The accepted `aud` values.
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    async fn verify_signature(
        &self,
        kid: Option<&str>,
        alg: Alg,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), AuthError> {
        let keys = self.keys.keys().await?;
        match check_signature(&keys, kid, alg, message, signature) {
            Err(KeyLookup::NotFound) => {
                // The issuer may have rotated keys; the source rate-limits refetches.
                let keys = self.keys.refresh().await?;
                check_signature(&keys, kid, alg, message, signature).map_err(KeyLookup::into_error)
            }
            other => other.map_err(KeyLookup::into_error),
        }
    }

    fn check_claims(&self, claims: Claims, access_token: bool) -> Result<Principal, AuthError> {
        if claims.iss.as_deref() != Some(self.issuer.as_str()) {
            return Err(AuthError::WrongIssuer);
        }
        let audience_ok = match &claims.aud {
            Some(Audience::One(aud)) => self.audiences.contains(aud),
            Some(Audience::Many(auds)) => auds.iter().any(|aud| self.audiences.contains(aud)),
            None => false,
        };
        if !audience_ok {
            return Err(AuthError::WrongAudience);
        }

        let now = unix_now();
        let leeway = i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX);
        if let Some(exp) = numeric_date(claims.exp.as_ref(), "exp")? {
            if now >= exp.saturating_add(leeway) {
                return Err(AuthError::Expired);
            }
        }
        if let Some(nbf) = numeric_date(claims.nbf.as_ref(), "nbf")? {
            if now.saturating_add(leeway) < nbf {
                return Err(AuthError::NotYetValid);
            }
        }
        let iat = numeric_date(claims.iat.as_ref(), "iat")?
            .ok_or_else(|| AuthError::InvalidClaims("missing iat".into()))?;
        // A token minted in the future means a broken clock or a forgery attempt.
        if now.saturating_add(leeway) < iat {
            return Err(AuthError::NotYetValid);
        }

        let account = claims
            .sub
            .ok_or_else(|| AuthError::InvalidClaims("missing sub".into()))?;
        if !valid_subject(&account) {
            return Err(AuthError::InvalidClaims("invalid sub".into()));
        }
        let scopes = parse_scope(claims.scope.as_deref().unwrap_or(""))
            .ok_or_else(|| AuthError::InvalidClaims("invalid scope".into()))?;
        for (name, value) in [("jti", &claims.jti), ("client_id", &claims.client_id)] {
            if value.as_deref().is_some_and(|v| !valid_identifier(v)) {
                return Err(AuthError::InvalidClaims(format!("invalid {name}")));
            }
        }
        // RFC 9068 §2.2: an OAuth access token always names its client, its id and its expiry.
        if access_token {
            for (name, present) in [
                ("exp", claims.exp.is_some()),
                ("jti", claims.jti.is_some()),
                ("client_id", claims.client_id.is_some()),
            ] {
                if !present {
                    return Err(AuthError::InvalidClaims(format!(
                        "an at+jwt access token needs `{name}`"
                    )));
                }
            }
        }
        let confirmation = match claims.cnf {
            None => None,
            Some(Confirmation { jkt: Some(jkt) }) if valid_thumbprint(&jkt) => Some(jkt),
            Some(_) => return Err(AuthError::InvalidClaims("invalid cnf".into())),
        };
        Ok(Principal {
            account,
            scopes,
            token_id: claims.jti,
            client_id: claims.client_id,
            confirmation,
        })
    }
}

#[async_trait::async_trait]
impl TokenVerifier for JwtVerifier {
    async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let jws = token.strip_prefix(API_KEY_PREFIX).unwrap_or(token);
        if jws.len() > MAX_TOKEN_LEN {
            return Err(AuthError::Malformed);
        }
        let mut parts = jws.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Malformed);
        };

        let header: JoseHeader =
            serde_json::from_slice(&b64_decode(header_b64)?).map_err(|_| AuthError::Malformed)?;
        let alg = Alg::from_name(&header.alg).ok_or(AuthError::UnsupportedAlgorithm)?;
        // We implement no JWS extensions, so any critical one must be refused (RFC 7515 §4.1.11).
        if header.crit.is_some() {
            return Err(AuthError::Malformed);
        }
        if !header.typ.as_deref().is_none_or(acceptable_typ) {
            return Err(AuthError::Malformed);
        }
        let signature = b64_decode(signature_b64)?;
        if signature.is_empty() || payload_b64.is_empty() {
            return Err(AuthError::Malformed);
        }

        let signing_input = &jws.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
        self.verify_signature(header.kid.as_deref(), alg, signing_input, &signature)
            .await?;

        // Only authenticated bytes are parsed as claims.
        let claims: Claims = serde_json::from_slice(&b64_decode(payload_b64)?).map_err(|e| {
            if e.is_data() {
                AuthError::InvalidClaims("claims have wrong types or duplicates".into())
            } else {
                AuthError::Malformed
            }
        })?;
        let access_token = header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
        });
        self.check_claims(claims, access_token)
    }
}

enum KeyLookup {
    NotFound,
    Ambiguous,
    AlgMismatch,
    BadSignature,
}

impl KeyLookup {
    fn into_error(self) -> AuthError {
        match self {
            KeyLookup::NotFound | KeyLookup::Ambiguous => AuthError::UnknownKey,
            KeyLookup::AlgMismatch => AuthError::UnsupportedAlgorithm,
            KeyLookup::BadSignature => AuthError::BadSignature,
        }
    }
}

fn check_signature(
    keys: &KeySet,
    kid: Option<&str>,
    alg: Alg,
    message: &[u8],
    signature: &[u8],
) -> Result<(), KeyLookup> {
    match keys.select(kid, alg) {
        Selection::Keys(candidates) => {
            if candidates.iter().any(|k| k.verify(alg, message, signature)) {
                Ok(())
            } else {
                Err(KeyLookup::BadSignature)
            }
        }
        Selection::NotFound => Err(KeyLookup::NotFound),
        Selection::Ambiguous => Err(KeyLookup::Ambiguous),
        Selection::AlgMismatch => Err(KeyLookup::AlgMismatch),
    }
}

#[derive(Deserialize)]
struct JoseHeader {
    alg: String,
    kid: Option<String>,
    typ: Option<String>,
    crit: Option<serde_json::Value>,
}

// Deriving (rather than reading a map) makes duplicate claim names an error,
// so no two parsers can disagree about which `sub` or `aud` counts.
#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    scope: Option<String>,
    jti: Option<String>,
    client_id: Option<String>,
    iat: Option<serde_json::Number>,
    exp: Option<serde_json::Number>,
    nbf: Option<serde_json::Number>,
    cnf: Option<Confirmation>,
}

/// RFC 7800 confirmation: the token is bound to the key with this RFC 7638 thumbprint (RFC 9449).
#[derive(Deserialize)]
struct Confirmation {
    jkt: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

fn acceptable_typ(typ: &str) -> bool {
    // Media types are case-insensitive; `at+jwt` is RFC 9068's OAuth access token type.
    ["JWT", "at+jwt", "application/at+jwt"]
        .iter()
        .any(|t| t.eq_ignore_ascii_case(typ))
}

fn b64_decode(part: &str) -> Result<Vec<u8>, AuthError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| AuthError::Malformed)
}

fn numeric_date(value: Option<&serde_json::Number>, name: &str) -> Result<Option<i64>, AuthError> {
    let Some(n) = value else { return Ok(None) };
    seconds(n)
        .map(Some)
        .ok_or_else(|| AuthError::InvalidClaims(format!("invalid {name}")))
}

/// A NumericDate in whole seconds. It may be fractional; `as` saturates on out-of-range values.
pub(super) fn seconds(n: &serde_json::Number) -> Option<i64> {
    n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.is_finite())
            .map(|f| f.floor() as i64)
    })
}

/// Now, in Unix seconds.
pub(super) fn unix_now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// Account ids: non-empty, at most 128 characters, no control characters, and not one voicebin
/// keeps for itself (`voicebin:…`, such as the owner of anonymous uploads).
pub(crate) fn valid_subject(sub: &str) -> bool {
    !sub.is_empty()
        && sub.chars().count() <= MAX_SUBJECT_CHARS
        && !sub.chars().any(char::is_control)
        && !sub.starts_with(voicebin_domain::AccountId::RESERVED_PREFIX)
}

/// A base64url SHA-256 thumbprint: 43 characters.
fn valid_thumbprint(jkt: &str) -> bool {
    jkt.len() == 43
        && jkt
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn valid_identifier(id: &str) -> bool {
    !id.is_empty() && id.chars().count() <= MAX_ID_CHARS && !id.chars().any(char::is_control)
}

/// A scope token per RFC 6749 §3.3: printable ASCII except space, `"` and `\`.
pub(crate) fn valid_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

fn parse_scope(scope: &str) -> Option<BTreeSet<String>> {
    scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(|s| valid_scope_token(s).then(|| s.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature as sig;
    use serde_json::{json, Value};

    use super::*;
    use crate::auth::testutil::{b64, now, EcTestKey, Ed25519TestKey, RsaTestKey, TempDir};
    use crate::auth::{EmbeddedIssuer, MintRequest, StaticJwks};

    const SITE: &str = "http://127.0.0.1:8080";
    const ISS: &str = "http://127.0.0.1:8080/issuer";

    struct Fixture {
        _dir: TempDir,
        issuer: EmbeddedIssuer,
        verifier: JwtVerifier,
    }

    fn fixture() -> Fixture {
        let dir = TempDir::new();
        let issuer = EmbeddedIssuer::load_or_create(dir.path(), ISS.into()).unwrap();
        let verifier = JwtVerifier::new(
            ISS.into(),
            vec![SITE.into(), format!("{SITE}/mcp")],
            issuer.key_source(),
        );
        Fixture {
            _dir: dir,
            issuer,
            verifier,
        }
    }

    fn claims() -> Value {
        json!({
            "iss": ISS,
            "sub": "acct_123",
            "aud": SITE,
            "scope": "clips:read",
            "jti": "tok-1",
            "iat": now(),
        })
    }

    fn with(mut base: Value, patch: Value) -> Value {
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                base.as_object_mut().unwrap().remove(k);
            } else {
                base[k] = v.clone();
            }
        }
        base
    }

    fn static_verifier(jwks: Value) -> JwtVerifier {
        let keys = StaticJwks::from_value(&jwks).unwrap();
        JwtVerifier::new(ISS.into(), vec![SITE.into()], Arc::new(keys))
    }

    #[tokio::test]
    async fn mint_verify_roundtrip_with_scopes() {
        let f = fixture();
        let token = f
            .issuer
            .mint(&MintRequest {
                account: "acct_42".into(),
                scopes: vec!["clips:read".into(), "clips:write".into()],
                audience: SITE.into(),
                ttl: Some(Duration::from_secs(3600)),
            })
            .unwrap();
        assert!(token.starts_with(API_KEY_PREFIX));
        let p = f.verifier.verify(&token).await.unwrap();
        assert_eq!(p.account, "acct_42");
        let expected: BTreeSet<String> = ["clips:read".into(), "clips:write".into()].into();
        assert_eq!(p.scopes, expected);
        assert!(p.has_scope("clips:write"));
        assert!(!p.has_scope("admin"));
        assert!(p.token_id.as_deref().is_some_and(|j| j.len() >= 16));
        assert_eq!(p.client_id, None);

        // Without the prefix it is a plain JWS, as OAuth access tokens are.
        let bare = token.strip_prefix(API_KEY_PREFIX).unwrap();
        assert_eq!(f.verifier.verify(bare).await.unwrap(), p);
    }

    #[tokio::test]
    async fn mint_without_ttl_has_no_exp_and_fresh_jti() {
        let f = fixture();
        let req = MintRequest {
            account: "acct_42".into(),
            scopes: vec![],
            audience: SITE.into(),
            ttl: None,
        };
        let a = f
            .verifier
            .verify(&f.issuer.mint(&req).unwrap())
            .await
            .unwrap();
        let b = f
            .verifier
            .verify(&f.issuer.mint(&req).unwrap())
            .await
            .unwrap();
        assert!(a.scopes.is_empty());
        assert_ne!(a.token_id, b.token_id);
    }

    #[tokio::test]
    async fn oauth_access_token_with_client_id_accepted() {
        let key = Ed25519TestKey::generate();
        let verifier = static_verifier(json!({"keys": [key.jwk("k1")]}));
        let token = key.token(
            &json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "k1"}),
            &with(
                claims(),
                json!({"client_id": "cli-7", "scope": "a  b c", "exp": now() + 600}),
            ),
        );
        let p = verifier.verify(&token).await.unwrap();
        assert_eq!(p.client_id.as_deref(), Some("cli-7"));
        assert_eq!(p.scopes.len(), 3);
        assert_eq!(p.token_id.as_deref(), Some("tok-1"));
        assert_eq!(p.confirmation, None);
    }

    #[tokio::test]
    async fn at_jwt_tokens_need_exp_jti_and_client_id() {
        let key = Ed25519TestKey::generate();
        let verifier = static_verifier(json!({"keys": [key.jwk("k1")]}));
        let header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "k1"});
        let full = with(claims(), json!({"client_id": "c", "exp": now() + 600}));
        verifier.verify(&key.token(&header, &full)).await.unwrap();
        for missing in ["exp", "jti", "client_id"] {
            let mut c = full.clone();
            c.as_object_mut().unwrap().remove(missing);
            assert!(
                matches!(
                    verifier.verify(&key.token(&header, &c)).await,
                    Err(AuthError::InvalidClaims(_))
                ),
                "{missing}"
            );
        }
    }

    #[tokio::test]
    async fn a_confirmation_thumbprint_is_carried_and_checked() {
        let key = Ed25519TestKey::generate();
        let verifier = static_verifier(json!({"keys": [key.jwk("k1")]}));
        let header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "k1"});
        let jkt = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
        let bound = with(
            claims(),
            json!({"client_id": "c", "exp": now() + 600, "cnf": {"jkt": jkt}}),
        );
        let p = verifier.verify(&key.token(&header, &bound)).await.unwrap();
        assert_eq!(p.confirmation.as_deref(), Some(jkt));
        for cnf in [json!({"jkt": "short"}), json!({}), json!("x")] {
            let c = with(
                claims(),
                json!({"client_id": "c", "exp": now() + 600, "cnf": cnf}),
            );
            assert!(verifier.verify(&key.token(&header, &c)).await.is_err());
        }
    }

    #[tokio::test]
    async fn audience_must_match_exactly() {
        let f = fixture();
        let mint = |aud: &str| {
            f.issuer
                .mint(&MintRequest {
                    account: "a".into(),
                    scopes: vec![],
                    audience: aud.into(),
                    ttl: Some(Duration::from_secs(60)),
                })
                .unwrap()
        };
        for other in [
            "http://evil.example",
            "http://127.0.0.1:8080/",
            "http://127.0.0.1:80800",
        ] {
            assert!(matches!(
                f.verifier.verify(&mint(other)).await,
                Err(AuthError::WrongAudience)
            ));
        }
        // Every configured audience is accepted, e.g. the MCP resource URL.
        f.verifier
            .verify(&mint(&format!("{SITE}/mcp")))
            .await
            .unwrap();

        let list = f
            .issuer
            .mint_with_claims(&with(claims(), json!({"aud": ["http://x", SITE]})));
        f.verifier.verify(&list).await.unwrap();
        for aud in [json!(["http://x"]), json!([]), Value::Null] {
            let token = f
                .issuer
                .mint_with_claims(&with(claims(), json!({"aud": aud})));
            assert!(matches!(
                f.verifier.verify(&token).await,
                Err(AuthError::WrongAudience)
            ));
        }
    }

    #[tokio::test]
    async fn wrong_issuer_rejected() {
        let f = fixture();
        for iss in [
            json!("http://other.example"),
            json!(format!("{ISS}/")),
            Value::Null,
        ] {
            let token = f
                .issuer
                .mint_with_claims(&with(claims(), json!({"iss": iss})));
            assert!(matches!(
                f.verifier.verify(&token).await,
                Err(AuthError::WrongIssuer)
            ));
        }
        // An issuer with a different URL but the same key is still not ours.
        let dir = TempDir::new();
        std::fs::create_dir_all(dir.path().join("keys")).unwrap();
        std::fs::copy(
            EmbeddedIssuer::key_path(f._dir.path()),
            EmbeddedIssuer::key_path(dir.path()),
        )
        .unwrap();
        let other =
            EmbeddedIssuer::load_or_create(dir.path(), "http://other.example".into()).unwrap();
        let token = other
            .mint(&MintRequest {
                account: "a".into(),
                scopes: vec![],
                audience: SITE.into(),
                ttl: None,
            })
            .unwrap();
        assert!(matches!(
            f.verifier.verify(&token).await,
            Err(AuthError::WrongIssuer)
        ));
    }

    #[tokio::test]
    async fn expiry_checked_with_leeway() {
        let f = fixture();
        let expired = f
            .issuer
            .mint_with_claims(&with(claims(), json!({"exp": now() - 120})));
        assert!(matches!(
            f.verifier.verify(&expired).await,
            Err(AuthError::Expired)
        ));
        let within_leeway = f
            .issuer
            .mint_with_claims(&with(claims(), json!({"exp": now() - 30})));
        f.verifier.verify(&within_leeway).await.unwrap();
        let fractional = f
            .issuer
            .mint_with_claims(&with(claims(), json!({"exp": now() as f64 + 0.5})));
        f.verifier.verify(&fractional).await.unwrap();
        let strict = JwtVerifier::new(ISS.into(), vec![SITE.into()], f.issuer.key_source())
            .with_leeway(Duration::ZERO);
        assert!(matches!(
            strict.verify(&within_leeway).await,
            Err(AuthError::Expired)
        ));
        let bad_type = f
            .issuer
            .mint_with_claims(&with(claims(), json!({"exp": "tomorrow"})));
        assert!(matches!(
            f.verifier.verify(&bad_type).await,
            Err(AuthError::InvalidClaims(_))
        ));
    }

    #[tokio::test]
    async fn not_yet_valid_rejected() {
        let f = fixture();
        let future_nbf = f
            .issuer
            .mint_with_claims(&with(claims(), json!({"nbf": now() + 300})));
        assert!(matches!(
            f.verifier.verify(&future_nbf).await,
            Err(AuthError::NotYetValid)
        ));
        let skewed_nbf = f
            .issuer
            .mint_with_claims(&with(claims(), json!({"nbf": now() + 30})));
        f.verifier.verify(&skewed_nbf).await.unwrap();
        let future_iat = f
            .issuer
            .mint_with_claims(&with(claims(), json!({"iat": now() + 300})));
        assert!(matches!(
            f.verifier.verify(&future_iat).await,
            Err(AuthError::NotYetValid)
        ));
        let no_iat = f
            .issuer
            .mint_with_claims(&with(claims(), json!({"iat": null})));
        assert!(matches!(
            f.verifier.verify(&no_iat).await,
            Err(AuthError::InvalidClaims(_))
        ));
    }

    #[tokio::test]
    async fn tampered_token_rejected() {
        let f = fixture();
        let token = f.issuer.mint_with_claims(&claims());
        f.verifier.verify(&token).await.unwrap();
        let jws = token.strip_prefix(API_KEY_PREFIX).unwrap();
        let parts: Vec<&str> = jws.split('.').collect();

        let forged_payload = b64(with(claims(), json!({"sub": "admin"})).to_string());
        let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert!(matches!(
            f.verifier.verify(&tampered).await,
            Err(AuthError::BadSignature)
        ));

        let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        sig[0] ^= 1;
        let bad_sig = format!("{}.{}.{}", parts[0], parts[1], b64(sig));
        assert!(matches!(
            f.verifier.verify(&bad_sig).await,
            Err(AuthError::BadSignature)
        ));
    }

    #[tokio::test]
    async fn alg_none_rejected() {
        let f = fixture();
        let payload = b64(claims().to_string());
        for alg in ["none", "None", "NONE"] {
            let header = b64(json!({"alg": alg, "typ": "JWT"}).to_string());
            for token in [
                format!("{header}.{payload}."),
                format!("{header}.{payload}.{}", b64("sig")),
                format!("{API_KEY_PREFIX}{header}.{payload}."),
            ] {
                assert!(matches!(
                    f.verifier.verify(&token).await,
                    Err(AuthError::UnsupportedAlgorithm)
                ));
            }
        }
        // Without any `alg` it is not a JWS at all.
        let header = b64(json!({"typ": "JWT"}).to_string());
        assert!(matches!(
            f.verifier
                .verify(&format!("{header}.{payload}.{}", b64("s")))
                .await,
            Err(AuthError::Malformed)
        ));
    }

    #[tokio::test]
    async fn hmac_signed_with_public_key_rejected() {
        let f = fixture();
        let jwks = f.issuer.jwks();
        let x = jwks["keys"][0]["x"].as_str().unwrap().to_owned();
        let raw_public = URL_SAFE_NO_PAD.decode(&x).unwrap();
        let secrets: [Vec<u8>; 3] = [raw_public, x.into_bytes(), jwks.to_string().into_bytes()];
        for alg in [
            jsonwebtoken::Algorithm::HS256,
            jsonwebtoken::Algorithm::HS384,
            jsonwebtoken::Algorithm::HS512,
        ] {
            for secret in &secrets {
                let mut header = jsonwebtoken::Header::new(alg);
                header.kid = Some(f.issuer.kid().to_owned());
                let token = jsonwebtoken::encode(
                    &header,
                    &claims(),
                    &jsonwebtoken::EncodingKey::from_secret(secret),
                )
                .unwrap();
                assert!(matches!(
                    f.verifier.verify(&token).await,
                    Err(AuthError::UnsupportedAlgorithm)
                ));
            }
        }
    }

    #[tokio::test]
    async fn different_key_with_same_kid_rejected() {
        let f = fixture();
        let impostor = Ed25519TestKey::generate();
        let token = impostor.token(
            &json!({"alg": "EdDSA", "typ": "JWT", "kid": f.issuer.kid()}),
            &claims(),
        );
        assert!(matches!(
            f.verifier.verify(&token).await,
            Err(AuthError::BadSignature)
        ));
        // Nor can the impostor get its key picked by omitting the kid.
        let no_kid = impostor.token(&json!({"alg": "EdDSA"}), &claims());
        assert!(matches!(
            f.verifier.verify(&no_kid).await,
            Err(AuthError::BadSignature)
        ));
        let unknown_kid = impostor.token(&json!({"alg": "EdDSA", "kid": "nope"}), &claims());
        assert!(matches!(
            f.verifier.verify(&unknown_kid).await,
            Err(AuthError::UnknownKey)
        ));
    }

    #[tokio::test]
    async fn rsa_and_ec_keys_from_static_jwks() {
        let rsa = RsaTestKey::shared();
        let ec = EcTestKey::p256();
        let verifier = static_verifier(json!({"keys": [rsa.jwk("rsa-1"), ec.jwk("ec-1")]}));

        for (alg, encoding) in [
            ("RS256", &sig::RSA_PKCS1_SHA256),
            ("RS384", &sig::RSA_PKCS1_SHA384),
            ("RS512", &sig::RSA_PKCS1_SHA512),
            ("PS256", &sig::RSA_PSS_SHA256),
            ("PS384", &sig::RSA_PSS_SHA384),
            ("PS512", &sig::RSA_PSS_SHA512),
        ] {
            let token = rsa.token(encoding, &json!({"alg": alg, "kid": "rsa-1"}), &claims());
            let p = verifier
                .verify(&token)
                .await
                .unwrap_or_else(|e| panic!("{alg}: {e}"));
            assert_eq!(p.account, "acct_123");
        }
        let es = ec.token(&json!({"alg": "ES256", "kid": "ec-1"}), &claims());
        verifier.verify(&es).await.unwrap();
        // Exactly one key fits ES256, so the kid may be omitted.
        let es_no_kid = ec.token(&json!({"alg": "ES256"}), &claims());
        verifier.verify(&es_no_kid).await.unwrap();

        // The header alg must fit the key it names.
        let rs_as_ps = rsa.token(
            &sig::RSA_PKCS1_SHA256,
            &json!({"alg": "PS256", "kid": "rsa-1"}),
            &claims(),
        );
        assert!(matches!(
            verifier.verify(&rs_as_ps).await,
            Err(AuthError::BadSignature)
        ));
        let es_on_rsa = ec.token(&json!({"alg": "ES256", "kid": "rsa-1"}), &claims());
        assert!(matches!(
            verifier.verify(&es_on_rsa).await,
            Err(AuthError::UnsupportedAlgorithm)
        ));
        let es384_on_p256 = ec.token(&json!({"alg": "ES384", "kid": "ec-1"}), &claims());
        assert!(matches!(
            verifier.verify(&es384_on_p256).await,
            Err(AuthError::UnsupportedAlgorithm)
        ));
        let eddsa_on_ec =
            Ed25519TestKey::generate().token(&json!({"alg": "EdDSA", "kid": "ec-1"}), &claims());
        assert!(matches!(
            verifier.verify(&eddsa_on_ec).await,
            Err(AuthError::UnsupportedAlgorithm)
        ));
    }

    #[tokio::test]
    async fn jwk_alg_pins_the_algorithm() {
        let rsa = RsaTestKey::shared();
        let mut jwk = rsa.jwk("rsa-1");
        jwk["alg"] = json!("RS256");
        let verifier = static_verifier(json!({"keys": [jwk]}));
        let rs256 = rsa.token(
            &sig::RSA_PKCS1_SHA256,
            &json!({"alg": "RS256", "kid": "rsa-1"}),
            &claims(),
        );
        verifier.verify(&rs256).await.unwrap();
        let ps256 = rsa.token(
            &sig::RSA_PSS_SHA256,
            &json!({"alg": "PS256", "kid": "rsa-1"}),
            &claims(),
        );
        assert!(matches!(
            verifier.verify(&ps256).await,
            Err(AuthError::UnsupportedAlgorithm)
        ));
    }

    #[tokio::test]
    async fn kidless_token_with_ambiguous_keys_rejected() {
        let (a, b) = (Ed25519TestKey::generate(), Ed25519TestKey::generate());
        let verifier = static_verifier(json!({"keys": [a.jwk("a"), b.jwk("b")]}));
        let token = a.token(&json!({"alg": "EdDSA"}), &claims());
        assert!(matches!(
            verifier.verify(&token).await,
            Err(AuthError::UnknownKey)
        ));
        let with_kid = a.token(&json!({"alg": "EdDSA", "kid": "a"}), &claims());
        verifier.verify(&with_kid).await.unwrap();
    }

    #[tokio::test]
    async fn subject_rules_enforced() {
        let f = fixture();
        let long_ok = "a".repeat(128);
        let token = f
            .issuer
            .mint_with_claims(&with(claims(), json!({"sub": long_ok})));
        assert_eq!(f.verifier.verify(&token).await.unwrap().account, long_ok);
        for bad in [
            json!(""),
            json!("a".repeat(129)),
            json!("ab\ncd"),
            json!("a\u{0}"),
            json!("voicebin:anonymous"),
            json!("voicebin:x"),
            json!(42),
            Value::Null,
        ] {
            let token = f
                .issuer
                .mint_with_claims(&with(claims(), json!({"sub": bad})));
            assert!(
                matches!(
                    f.verifier.verify(&token).await,
                    Err(AuthError::InvalidClaims(_))
                ),
                "{token}"
            );
        }
    }

    #[tokio::test]
    async fn scope_parsing() {
        let f = fixture();
        let token = f
            .issuer
            .mint_with_claims(&with(claims(), json!({"scope": null})));
        assert!(f.verifier.verify(&token).await.unwrap().scopes.is_empty());
        for bad in [json!("a\tb"), json!("a \"b\""), json!(["a", "b"])] {
            let token = f
                .issuer
                .mint_with_claims(&with(claims(), json!({"scope": bad})));
            assert!(matches!(
                f.verifier.verify(&token).await,
                Err(AuthError::InvalidClaims(_))
            ));
        }
    }

    #[tokio::test]
    async fn malformed_tokens_rejected() {
        let f = fixture();
        let good = f.issuer.mint_with_claims(&claims());
        let jws = good.strip_prefix(API_KEY_PREFIX).unwrap();
        let parts: Vec<&str> = jws.split('.').collect();
        let oversized = format!("{}.{}.{}", parts[0], "A".repeat(MAX_TOKEN_LEN), parts[2]);
        for token in [
            "".to_string(),
            API_KEY_PREFIX.to_string(),
            "abc".into(),
            format!("{}.{}", parts[0], parts[1]),
            format!("{jws}.extra"),
            format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
            format!("{}.{}.", parts[0], parts[1]),
            format!("{}..{}", parts[0], parts[2]),
            format!("{} ", jws),
            oversized,
        ] {
            assert!(
                matches!(f.verifier.verify(&token).await, Err(AuthError::Malformed)),
                "{token:.40}"
            );
        }
    }

    #[tokio::test]
    async fn unsupported_header_features_rejected() {
        let key = Ed25519TestKey::generate();
        let verifier = static_verifier(json!({"keys": [key.jwk("k1")]}));
        for header in [
            json!({"alg": "EdDSA", "kid": "k1", "crit": ["exp"], "exp": 1}),
            json!({"alg": "EdDSA", "kid": "k1", "typ": "dpop+jwt"}),
            json!({"alg": "EdDSA", "kid": 7}),
        ] {
            let token = key.token(&header, &claims());
            assert!(matches!(
                verifier.verify(&token).await,
                Err(AuthError::Malformed)
            ));
        }
        let ok = key.token(
            &json!({"alg": "EdDSA", "kid": "k1", "typ": "application/AT+JWT"}),
            &with(claims(), json!({"client_id": "c", "exp": now() + 600})),
        );
        verifier.verify(&ok).await.unwrap();
    }

    #[tokio::test]
    async fn duplicate_claims_rejected() {
        let key = Ed25519TestKey::generate();
        let verifier = static_verifier(json!({"keys": [key.jwk("k1")]}));
        let header = b64(json!({"alg": "EdDSA", "kid": "k1"}).to_string());
        let raw = format!(
            r#"{{"iss":"{ISS}","sub":"victim","sub":"admin","aud":"{SITE}","iat":{}}}"#,
            now()
        );
        let input = format!("{header}.{}", b64(raw));
        let token = crate::auth::testutil::sign_jws_raw(&input, |m| key.sign(m));
        assert!(matches!(
            verifier.verify(&token).await,
            Err(AuthError::InvalidClaims(_))
        ));
    }

    #[test]
    fn usable_as_trait_object() {
        let f = fixture();
        let dynamic: Arc<dyn TokenVerifier> = Arc::new(f.verifier);
        drop(dynamic);
    }
}
