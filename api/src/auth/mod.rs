//! Bearer-token verification for federated accounts.
//!
//! API keys (`pbca_live_` + compact JWS) and OAuth access tokens (compact JWS,
//! `typ: at+jwt`) are both verified by [`JwtVerifier`] against keys from a
//! [`KeySource`]; [`EmbeddedIssuer`] provides a local issuer for zero-config mode.

pub mod dpop;
mod introspection;
mod issuer;
mod jwks;
mod request;
#[cfg(test)]
mod testutil;
mod trust;
mod verifier;

use std::collections::BTreeSet;

pub use introspection::{Introspection, IntrospectionSettings};
pub use issuer::{
    EmbeddedIssuer, LoginLink, LoginLinkError, MintError, MintRequest, LOGIN_LINK_TYP,
};
pub use jwks::{
    JwksError, KeySet, KeySource, RemoteJwks, StaticJwks, VerificationKey,
    DEFAULT_REFRESH_MIN_INTERVAL,
};
pub use request::{authenticate, Rejection};
pub use trust::{embedded_issuer, BrowserClient, IssuerSettings, Trust, TrustError};
pub use verifier::{JwtVerifier, DEFAULT_LEEWAY};

/// Prefix that marks a voicebin API key; the rest is a compact JWS.
pub const API_KEY_PREFIX: &str = "pbca_live_";

/// The authenticated caller derived from a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Account id (the token's `sub`).
    pub account: String,
    /// Granted scopes (the token's space-separated `scope`).
    pub scopes: BTreeSet<String>,
    /// Token id (`jti`), useful for revocation lists and audit logs.
    pub token_id: Option<String>,
    /// OAuth client the token was issued to (`client_id`), if any.
    pub client_id: Option<String>,
    /// The RFC 7638 thumbprint of the key the token is bound to (`cnf.jkt`, RFC 9449): such a
    /// token is only accepted with `Authorization: DPoP` and a proof signed by that key.
    pub confirmation: Option<String>,
}

impl Principal {
    /// Whether the token grants scope `s` (exact match).
    pub fn has_scope(&self, s: &str) -> bool {
        self.scopes.contains(s)
    }
}

/// Verifies a bearer token and yields the caller it authenticates.
#[async_trait::async_trait]
pub trait TokenVerifier: Send + Sync {
    /// Verifies `token` (with or without the [`API_KEY_PREFIX`]).
    async fn verify(&self, token: &str) -> Result<Principal, AuthError>;
}

/// Why a token was not accepted.
///
/// Messages never include token content, so they are safe to log.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The token is not a well-formed compact JWS / JWT.
    #[error("malformed token")]
    Malformed,
    /// The header `alg` is not allowed, or does not match the selected key.
    #[error("unsupported or mismatched signing algorithm")]
    UnsupportedAlgorithm,
    /// No trusted key matches the token's `kid` (or none is unambiguous).
    #[error("unknown signing key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// `iss` is missing or not the configured issuer.
    #[error("wrong issuer")]
    WrongIssuer,
    /// `aud` is missing or names none of the accepted audiences.
    #[error("wrong audience")]
    WrongAudience,
    /// `exp` is in the past (beyond leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` or `iat` is in the future (beyond leeway).
    #[error("token not yet valid")]
    NotYetValid,
    /// A claim is missing, has the wrong type, or has an invalid value.
    #[error("invalid claims: {0}")]
    InvalidClaims(String),
    /// Verification keys could not be obtained (issuer unreachable, bad JWKS).
    #[error("verification keys unavailable: {0}")]
    KeysUnavailable(String),
    /// The issuer says the token is no longer active (RFC 7662 introspection).
    #[error("token revoked or inactive")]
    Revoked,
    /// The issuer's introspection endpoint could not answer; failing closed.
    #[error("token introspection failed: {0}")]
    IntrospectionFailed(String),
}

impl AuthError {
    /// True when the failure is ours (answer 503), not the caller's (answer 401).
    pub fn is_server_side(&self) -> bool {
        matches!(
            self,
            AuthError::KeysUnavailable(_) | AuthError::IntrospectionFailed(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_issuer_failures_are_server_side() {
        assert!(AuthError::KeysUnavailable("x".into()).is_server_side());
        assert!(AuthError::IntrospectionFailed("x".into()).is_server_side());
        for e in [
            AuthError::Malformed,
            AuthError::UnsupportedAlgorithm,
            AuthError::UnknownKey,
            AuthError::BadSignature,
            AuthError::WrongIssuer,
            AuthError::WrongAudience,
            AuthError::Expired,
            AuthError::NotYetValid,
            AuthError::InvalidClaims("x".into()),
            AuthError::Revoked,
        ] {
            assert!(!e.is_server_side(), "{e:?}");
        }
    }

    #[test]
    fn has_scope_is_exact() {
        let p = Principal {
            account: "a".into(),
            scopes: ["clips:read".to_string()].into_iter().collect(),
            token_id: None,
            client_id: None,
            confirmation: None,
        };
        assert!(p.has_scope("clips:read"));
        assert!(!p.has_scope("clips"));
        assert!(!p.has_scope("clips:write"));
    }
}
