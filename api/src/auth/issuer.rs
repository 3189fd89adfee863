//! Embedded Ed25519 token issuer for zero-config mode: one persistent key, a
//! public JWKS, minting of `pbca_live_` API keys, and one-time sign-in links.
//!
//! A sign-in link carries a token of its own type ([`LOGIN_LINK_TYP`]), which the bearer
//! verifier refuses: it can only be exchanged, once, for a session key (`usecases::signin`).

use std::fmt;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair as _};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

use super::jwks::{KeySource, StaticJwks};
use super::verifier::{seconds, unix_now, valid_scope_token, valid_subject};
use super::API_KEY_PREFIX;

const KEY_DIR: &str = "keys";
/// The JWS `typ` of a one-time sign-in link's token. The bearer verifier accepts only `JWT` and
/// `at+jwt`, so such a token is never an API key.
pub const LOGIN_LINK_TYP: &str = "vb-login+jwt";
// A sign-in link's token is small; the cap bounds work done on garbage input.
const MAX_LOGIN_TOKEN_LEN: usize = 4 * 1024;
const KEY_FILE: &str = "issuer-ed25519.pk8";

/// What to put in a minted API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintRequest {
    /// Account id (`sub`).
    pub account: String,
    /// Granted scopes (joined into `scope`).
    pub scopes: Vec<String>,
    /// Audience (`aud`), normally the site's canonical public URL.
    pub audience: String,
    /// Lifetime; `None` mints a key without `exp`.
    pub ttl: Option<Duration>,
}

/// Why a token could not be minted.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    /// The account id is empty, too long, contains control characters or is one voicebin keeps
    /// for itself.
    #[error(
        "invalid account id: 1 to 128 characters, no control characters, and not starting with \
         `voicebin:` (kept for voicebin's own accounts)"
    )]
    InvalidAccount,
    /// A scope is empty or contains characters not allowed in a scope token.
    #[error("invalid scope")]
    InvalidScope,
    /// The audience is empty or contains control characters.
    #[error("invalid audience")]
    InvalidAudience,
    /// The system random generator failed.
    #[error("random generator failure")]
    Random,
}

/// A verified one-time sign-in link: whom it signs in, with which scopes, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginLink {
    /// The account (`sub`).
    pub account: String,
    /// The scopes the session gets (`scope`).
    pub scopes: Vec<String>,
    /// The link's id (`jti`): redeemed at most once.
    pub jti: String,
    /// When the link stops working (`exp`, Unix seconds).
    pub expires_at: i64,
}

/// Why a sign-in link's token was refused. Messages hold no token content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginLinkError {
    /// Not a compact JWS of the sign-in link type, signed with EdDSA by this issuer's key id.
    #[error("this is not a sign-in link")]
    Malformed,
    /// The signature does not verify with this issuer's key.
    #[error("the sign-in link's signature is invalid")]
    BadSignature,
    /// Issued by another issuer or for another site.
    #[error("the sign-in link is not for this site")]
    WrongSite,
    /// Its `exp` has passed.
    #[error("the sign-in link has expired")]
    Expired,
    /// A claim is missing or invalid.
    #[error("the sign-in link is invalid ({0})")]
    InvalidClaims(&'static str),
}

/// A local issuer whose Ed25519 key lives in `data_dir/keys/issuer-ed25519.pk8`.
pub struct EmbeddedIssuer {
    issuer_url: String,
    key_pair: Ed25519KeyPair,
    kid: String,
    jwks: Value,
    key_source: Arc<StaticJwks>,
}

impl fmt::Debug for EmbeddedIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedIssuer")
            .field("issuer_url", &self.issuer_url)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl EmbeddedIssuer {
    /// Loads the issuer key from `data_dir`, generating and persisting it (mode 0600) on first use.
    pub fn load_or_create(data_dir: &Path, issuer_url: String) -> io::Result<Self> {
        let dir = data_dir.join(KEY_DIR);
        fs::create_dir_all(data_dir)?;
        create_private_dir(&dir)?;
        let path = dir.join(KEY_FILE);
        let pkcs8 = match fs::read(&path) {
            Ok(bytes) => {
                warn_if_exposed(&path);
                bytes
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => create_key_file(&dir, &path)?,
            Err(e) => return Err(e),
        };
        let key_pair = Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} is not an Ed25519 PKCS#8 key ({e}); remove it to generate a new one",
                    path.display()
                ),
            )
        })?;
        Self::from_key_pair(key_pair, issuer_url)
    }

    fn from_key_pair(key_pair: Ed25519KeyPair, issuer_url: String) -> io::Result<Self> {
        let x = URL_SAFE_NO_PAD.encode(key_pair.public_key().as_ref());
        let kid = ed25519_thumbprint(&x);
        let jwks = json!({
            "keys": [{
                "kty": "OKP",
                "crv": "Ed25519",
                "x": x,
                "kid": kid,
                "alg": "EdDSA",
                "use": "sig",
            }]
        });
        let key_source = StaticJwks::from_value(&jwks)
            .map(Arc::new)
            .map_err(|e| io::Error::other(format!("embedded issuer JWKS: {e}")))?;
        Ok(EmbeddedIssuer {
            issuer_url,
            key_pair,
            kid,
            jwks,
            key_source,
        })
    }

    /// Path of the key file inside `data_dir`.
    pub fn key_path(data_dir: &Path) -> PathBuf {
        data_dir.join(KEY_DIR).join(KEY_FILE)
    }

    /// The `iss` this issuer puts in tokens.
    pub fn issuer_url(&self) -> &str {
        &self.issuer_url
    }

    /// The key id: RFC 7638 JWK thumbprint (SHA-256) of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWKS (for `/.well-known/jwks.json`).
    pub fn jwks(&self) -> Value {
        self.jwks.clone()
    }

    /// A key source trusting exactly this issuer's key.
    pub fn key_source(&self) -> Arc<dyn KeySource> {
        self.key_source.clone()
    }

    /// Mints an API key: `pbca_live_` + EdDSA-signed JWS with a fresh `jti`.
    pub fn mint(&self, req: &MintRequest) -> Result<String, MintError> {
        let claims = self.claims(req)?;
        Ok(format!("{API_KEY_PREFIX}{}", self.sign(&claims, "JWT")))
    }

    /// Mints the token of a one-time sign-in link ([`LOGIN_LINK_TYP`], no key prefix); it
    /// always expires (`req.ttl`, or ten minutes when `None`).
    pub fn mint_login_link(&self, req: &MintRequest) -> Result<String, MintError> {
        let req = MintRequest {
            ttl: Some(req.ttl.unwrap_or(Duration::from_secs(600))),
            ..req.clone()
        };
        let claims = self.claims(&req)?;
        Ok(self.sign(&claims, LOGIN_LINK_TYP))
    }

    /// Signs arbitrary `claims` as a sign-in link's token, unchecked; meant for tests that
    /// forge claims.
    pub fn mint_login_link_with_claims(&self, claims: &Value) -> String {
        self.sign(claims, LOGIN_LINK_TYP)
    }

    /// Verifies a sign-in link's token: its type, this issuer's signature, `iss` (this issuer),
    /// `aud` (`audience`), `exp` (no leeway: links are short and the clock is ours), `sub`,
    /// `scope` and `jti`. Whether it was already redeemed is the caller's to check.
    pub fn verify_login_link(
        &self,
        token: &str,
        audience: &str,
    ) -> Result<LoginLink, LoginLinkError> {
        self.verify_login_link_at(token, audience, unix_now())
    }

    fn verify_login_link_at(
        &self,
        token: &str,
        audience: &str,
        now: i64,
    ) -> Result<LoginLink, LoginLinkError> {
        #[derive(serde::Deserialize)]
        struct Header {
            alg: String,
            typ: Option<String>,
            kid: Option<String>,
            crit: Option<Value>,
        }
        // Derived, so a duplicate claim is an error rather than a choice.
        #[derive(serde::Deserialize)]
        struct Claims {
            iss: Option<String>,
            sub: Option<String>,
            aud: Option<String>,
            scope: Option<String>,
            jti: Option<String>,
            exp: Option<serde_json::Number>,
        }
        use LoginLinkError as E;
        if token.len() > MAX_LOGIN_TOKEN_LEN {
            return Err(E::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(E::Malformed);
        };
        let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| E::Malformed);
        let header: Header =
            serde_json::from_slice(&decode(header_b64)?).map_err(|_| E::Malformed)?;
        if header.alg != "EdDSA"
            || header.crit.is_some()
            || header.typ.as_deref() != Some(LOGIN_LINK_TYP)
            || header.kid.as_deref() != Some(self.kid.as_str())
        {
            return Err(E::Malformed);
        }
        let signing_input = &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
        signature::UnparsedPublicKey::new(&signature::ED25519, self.key_pair.public_key().as_ref())
            .verify(signing_input, &decode(signature_b64)?)
            .map_err(|_| E::BadSignature)?;
        let claims: Claims = serde_json::from_slice(&decode(payload_b64)?)
            .map_err(|_| E::InvalidClaims("claims have wrong types or duplicates"))?;
        if claims.iss.as_deref() != Some(self.issuer_url.as_str())
            || claims.aud.as_deref() != Some(audience)
        {
            return Err(E::WrongSite);
        }
        let expires_at = claims
            .exp
            .as_ref()
            .and_then(seconds)
            .ok_or(E::InvalidClaims("exp"))?;
        if now >= expires_at {
            return Err(E::Expired);
        }
        let account = claims
            .sub
            .filter(|s| valid_subject(s))
            .ok_or(E::InvalidClaims("sub"))?;
        let scopes: Vec<String> = claims
            .scope
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if !scopes.iter().all(|s| valid_scope_token(s)) {
            return Err(E::InvalidClaims("scope"));
        }
        let jti = claims
            .jti
            .filter(|j| !j.is_empty() && j.len() <= 256 && !j.chars().any(char::is_control))
            .ok_or(E::InvalidClaims("jti"))?;
        Ok(LoginLink {
            account,
            scopes,
            jti,
            expires_at,
        })
    }

    fn claims(&self, req: &MintRequest) -> Result<Value, MintError> {
        if !valid_subject(&req.account) {
            return Err(MintError::InvalidAccount);
        }
        if !req.scopes.iter().all(|s| valid_scope_token(s)) {
            return Err(MintError::InvalidScope);
        }
        if req.audience.is_empty() || req.audience.chars().any(char::is_control) {
            return Err(MintError::InvalidAudience);
        }
        let mut jti = [0u8; 16];
        SystemRandom::new()
            .fill(&mut jti)
            .map_err(|_| MintError::Random)?;
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut claims = json!({
            "iss": self.issuer_url,
            "sub": req.account,
            "aud": req.audience,
            "scope": req.scopes.join(" "),
            "jti": URL_SAFE_NO_PAD.encode(jti),
            "iat": iat,
        });
        if let Some(ttl) = req.ttl {
            claims["exp"] = json!(iat.saturating_add(ttl.as_secs()));
        }
        Ok(claims)
    }

    /// Signs arbitrary `claims` as an API key, unchecked; meant for tests that forge claims.
    pub fn mint_with_claims(&self, claims: &Value) -> String {
        format!("{API_KEY_PREFIX}{}", self.sign(claims, "JWT"))
    }

    /// Signs arbitrary `claims` as an RFC 9068 OAuth access token (`typ: at+jwt`, no key
    /// prefix), unchecked; meant for tests that play the authorization server.
    pub fn mint_access_token(&self, claims: &Value) -> String {
        self.sign(claims, "at+jwt")
    }

    fn sign(&self, claims: &Value, typ: &str) -> String {
        let header = json!({ "alg": "EdDSA", "typ": typ, "kid": self.kid });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.key_pair.sign(signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        )
    }
}

/// RFC 7638 thumbprint of an Ed25519 JWK: the required members in lexicographic order.
fn ed25519_thumbprint(x: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes()))
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Writes a fresh key without ever exposing a partial file at `path`, and
/// without clobbering a key another process created concurrently.
fn create_key_file(dir: &Path, path: &Path) -> io::Result<Vec<u8>> {
    let document = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new())
        .map_err(|_| io::Error::other("generating Ed25519 key failed"))?;
    let pkcs8 = document.as_ref().to_vec();

    let mut suffix = [0u8; 8];
    SystemRandom::new()
        .fill(&mut suffix)
        .map_err(|_| io::Error::other("random generator failure"))?;
    let tmp = dir.join(format!(
        ".{KEY_FILE}.{}.tmp",
        URL_SAFE_NO_PAD.encode(suffix)
    ));
    write_private_file(&tmp, &pkcs8)?;
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return fs::read(path),
        // Filesystems without hard links: fall back to an exclusive create.
        Err(_) => match write_private_file(path, &pkcs8) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return fs::read(path),
            Err(e) => return Err(e),
        },
    }
    // Persist the directory entry too, so a crash cannot lose a key already handed out.
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    tracing::info!(path = %path.display(), "generated embedded issuer key");
    Ok(pkcs8)
}

fn write_private_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    // The umask may have narrowed the mode further; pin it to exactly 0600.
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn warn_if_exposed(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    "issuer key file is readable by group/others; chmod 600 it"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::testutil::TempDir;
    use crate::auth::{JwtVerifier, TokenVerifier};

    const ISS: &str = "http://127.0.0.1:8080";

    fn request() -> MintRequest {
        MintRequest {
            account: "acct".into(),
            scopes: vec!["clips:read".into()],
            audience: ISS.into(),
            ttl: Some(Duration::from_secs(600)),
        }
    }

    #[tokio::test]
    async fn key_persisted_across_loads_with_private_mode() {
        let dir = TempDir::new();
        let data_dir = dir.path().join("data");
        let first = EmbeddedIssuer::load_or_create(&data_dir, ISS.into()).unwrap();
        let path = EmbeddedIssuer::key_path(&data_dir);
        assert_eq!(path, data_dir.join("keys/issuer-ed25519.pk8"));
        assert!(path.is_file());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "key file mode {mode:o}");
            let dir_mode = fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(dir_mode & 0o077, 0, "keys dir mode {dir_mode:o}");
        }
        let bytes = fs::read(&path).unwrap();

        let second = EmbeddedIssuer::load_or_create(&data_dir, ISS.into()).unwrap();
        assert_eq!(first.kid(), second.kid());
        assert_eq!(first.jwks(), second.jwks());
        assert_eq!(fs::read(&path).unwrap(), bytes, "existing key untouched");
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, [std::ffi::OsString::from(KEY_FILE)]);

        let token = first.mint(&request()).unwrap();
        let verifier = JwtVerifier::new(ISS.into(), vec![ISS.into()], second.key_source());
        assert_eq!(verifier.verify(&token).await.unwrap().account, "acct");

        let elsewhere = TempDir::new();
        let third = EmbeddedIssuer::load_or_create(elsewhere.path(), ISS.into()).unwrap();
        assert_ne!(third.kid(), first.kid());
    }

    #[test]
    fn concurrent_first_start_agrees_on_one_key() {
        let dir = TempDir::new();
        let kids: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        EmbeddedIssuer::load_or_create(dir.path(), ISS.into())
                            .unwrap()
                            .kid()
                            .to_owned()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(kids.windows(2).all(|w| w[0] == w[1]), "{kids:?}");
    }

    #[test]
    fn corrupt_key_file_is_an_error() {
        let dir = TempDir::new();
        fs::create_dir_all(dir.path().join(KEY_DIR)).unwrap();
        fs::write(EmbeddedIssuer::key_path(dir.path()), b"garbage").unwrap();
        let err = EmbeddedIssuer::load_or_create(dir.path(), ISS.into()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn kid_is_rfc7638_thumbprint() {
        // RFC 8037 appendix A.3.
        assert_eq!(
            ed25519_thumbprint("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn jwks_is_public_ed25519() {
        let dir = TempDir::new();
        let issuer = EmbeddedIssuer::load_or_create(dir.path(), ISS.into()).unwrap();
        let jwks = issuer.jwks();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1);
        let jwk = keys[0].as_object().unwrap();
        let mut members: Vec<_> = jwk.keys().map(String::as_str).collect();
        members.sort_unstable();
        assert_eq!(members, ["alg", "crv", "kid", "kty", "use", "x"]);
        assert_eq!(jwk["kty"], "OKP");
        assert_eq!(jwk["crv"], "Ed25519");
        assert_eq!(jwk["alg"], "EdDSA");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["kid"], issuer.kid());
        let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
        assert_eq!(x.len(), 32);
        assert_eq!(issuer.kid(), ed25519_thumbprint(jwk["x"].as_str().unwrap()));
    }

    #[test]
    fn mint_validates_request() {
        let dir = TempDir::new();
        let issuer = EmbeddedIssuer::load_or_create(dir.path(), ISS.into()).unwrap();
        let bad_account = MintRequest {
            account: String::new(),
            ..request()
        };
        assert!(matches!(
            issuer.mint(&bad_account),
            Err(MintError::InvalidAccount)
        ));
        let long_account = MintRequest {
            account: "a".repeat(129),
            ..request()
        };
        assert!(matches!(
            issuer.mint(&long_account),
            Err(MintError::InvalidAccount)
        ));
        let spaced_scope = MintRequest {
            scopes: vec!["a b".into()],
            ..request()
        };
        assert!(matches!(
            issuer.mint(&spaced_scope),
            Err(MintError::InvalidScope)
        ));
        let empty_aud = MintRequest {
            audience: String::new(),
            ..request()
        };
        assert!(matches!(
            issuer.mint(&empty_aud),
            Err(MintError::InvalidAudience)
        ));
    }

    #[test]
    fn mint_sets_standard_claims() {
        let dir = TempDir::new();
        let issuer = EmbeddedIssuer::load_or_create(dir.path(), ISS.into()).unwrap();
        let token = issuer.mint(&request()).unwrap();
        let jws = token.strip_prefix(API_KEY_PREFIX).unwrap();
        let parts: Vec<&str> = jws.split('.').collect();
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(header["kid"], issuer.kid());
        assert_eq!(claims["iss"], ISS);
        assert_eq!(claims["aud"], ISS);
        assert_eq!(claims["sub"], "acct");
        assert_eq!(claims["scope"], "clips:read");
        let iat = claims["iat"].as_u64().unwrap();
        assert_eq!(claims["exp"].as_u64().unwrap(), iat + 600);
        assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    }

    #[tokio::test]
    async fn login_links_verify_here_and_nowhere_else() {
        let dir = TempDir::new();
        let issuer = EmbeddedIssuer::load_or_create(dir.path(), ISS.into()).unwrap();
        let token = issuer.mint_login_link(&request()).unwrap();
        assert!(!token.starts_with(API_KEY_PREFIX));
        let link = issuer.verify_login_link(&token, ISS).unwrap();
        assert_eq!(link.account, "acct");
        assert_eq!(link.scopes, ["clips:read"]);
        assert!(link.jti.len() >= 16);
        assert!(link.expires_at > unix_now() + 500);

        // The bearer verifier refuses the link's type, with or without the key prefix.
        let verifier = JwtVerifier::new(ISS.into(), vec![ISS.into()], issuer.key_source());
        assert!(matches!(
            verifier.verify(&token).await,
            Err(crate::auth::AuthError::Malformed)
        ));
        let prefixed = format!("{API_KEY_PREFIX}{token}");
        assert!(verifier.verify(&prefixed).await.is_err());
        // And an API key is not a link.
        let key = issuer.mint(&request()).unwrap();
        for not_a_link in [key.as_str(), &key[API_KEY_PREFIX.len()..], "", "a.b.c"] {
            assert_eq!(
                issuer.verify_login_link(not_a_link, ISS),
                Err(LoginLinkError::Malformed)
            );
        }
        // Another site, or another issuer's key.
        assert_eq!(
            issuer.verify_login_link(&token, "https://elsewhere.example"),
            Err(LoginLinkError::WrongSite)
        );
        let elsewhere = TempDir::new();
        let other = EmbeddedIssuer::load_or_create(elsewhere.path(), ISS.into()).unwrap();
        assert_eq!(
            other.verify_login_link(&token, ISS),
            Err(LoginLinkError::Malformed),
            "another key id"
        );
        // A tampered payload.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
        claims["sub"] = json!("mallory");
        parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
        assert_eq!(
            issuer.verify_login_link(&parts.join("."), ISS),
            Err(LoginLinkError::BadSignature)
        );
        // Expiry, to the second.
        assert_eq!(
            issuer.verify_login_link_at(&token, ISS, link.expires_at),
            Err(LoginLinkError::Expired)
        );
        assert!(issuer
            .verify_login_link_at(&token, ISS, link.expires_at - 1)
            .is_ok());
        // Claims the minting never leaves out.
        let mut no_jti = claims.clone();
        no_jti["sub"] = json!("acct");
        no_jti.as_object_mut().unwrap().remove("jti");
        assert_eq!(
            issuer.verify_login_link(&issuer.mint_login_link_with_claims(&no_jti), ISS),
            Err(LoginLinkError::InvalidClaims("jti"))
        );
        let mut no_exp = claims;
        no_exp["sub"] = json!("acct");
        no_exp.as_object_mut().unwrap().remove("exp");
        assert_eq!(
            issuer.verify_login_link(&issuer.mint_login_link_with_claims(&no_exp), ISS),
            Err(LoginLinkError::InvalidClaims("exp"))
        );
    }
}
