//! Reading the caller of an HTTP request: `Authorization: Bearer <token>`, or
//! `Authorization: DPoP <token>` with a `DPoP` proof for tokens bound to a key (RFC 9449).
//! Every edge (REST, pages, media, MCP) authenticates through [`authenticate`]; each maps a
//! [`Rejection`] to its own kind of answer.

use super::dpop::{DpopError, DpopVerifier, ProofTarget};
use super::{AuthError, Principal, TokenVerifier};

/// Why a request's credentials were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The credential is malformed, invalid, expired or not for this site (`invalid_token`).
    #[error("{description}")]
    InvalidToken {
        /// Whether the request used the `DPoP` scheme (the challenge answers in it).
        dpop: bool,
        /// What is wrong, safe to show.
        description: String,
    },
    /// The DPoP proof was refused: `error` is `invalid_dpop_proof` or `use_dpop_nonce`.
    #[error("{description}")]
    Proof {
        /// The RFC 9449 error code.
        error: &'static str,
        /// What is wrong, safe to show.
        description: String,
    },
    /// The credential could not be checked: the issuer or the replay cache is unreachable.
    #[error("credentials cannot be checked: {0}")]
    Unavailable(String),
}

impl Rejection {
    fn token(dpop: bool, description: impl Into<String>) -> Self {
        Rejection::InvalidToken {
            dpop,
            description: description.into(),
        }
    }
}

/// The verified caller of `req`, or `None` when it sent no `Authorization` header.
pub async fn authenticate(
    req: &poem::Request,
    verifier: &dyn TokenVerifier,
    dpop_verifier: &DpopVerifier,
) -> Result<Option<Principal>, Rejection> {
    let headers = req.headers().get_all(poem::http::header::AUTHORIZATION);
    let mut values = headers.iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Rejection::token(
            false,
            "more than one Authorization header",
        ));
    }
    const EXPECTED: &str = "expected `Bearer <token>` or `DPoP <token>`";
    let value = value
        .to_str()
        .map_err(|_| Rejection::token(false, "malformed Authorization header"))?;
    let Some((scheme, token)) = value.split_once(' ') else {
        return Err(Rejection::token(false, EXPECTED));
    };
    let token = token.trim();
    let dpop = scheme.eq_ignore_ascii_case("dpop");
    if !(dpop || scheme.eq_ignore_ascii_case("bearer")) || token.is_empty() {
        return Err(Rejection::token(false, EXPECTED));
    }
    let principal = match verifier.verify(token).await {
        Ok(principal) => principal,
        Err(e) if e.is_server_side() => return Err(Rejection::Unavailable(e.to_string())),
        Err(e) => return Err(Rejection::token(dpop, describe(&e))),
    };
    match (&principal.confirmation, dpop) {
        (None, false) => {}
        // RFC 9449 §7.2: a bound token is worthless without its key.
        (Some(_), false) => {
            return Err(Rejection::token(
                false,
                "this token is bound to a DPoP key: send it as `Authorization: DPoP` with a proof",
            ))
        }
        (None, true) => {
            return Err(Rejection::token(
                true,
                "this token is not DPoP-bound: send it as `Authorization: Bearer`",
            ))
        }
        (Some(jkt), true) => {
            let proofs: Vec<&[u8]> = req
                .headers()
                .get_all("dpop")
                .iter()
                .map(|v| v.as_bytes())
                .collect();
            let target = ProofTarget {
                method: req.method().as_str(),
                path: req.original_uri().path(),
                access_token: token,
                jkt,
            };
            match dpop_verifier.check(&proofs, target).await {
                Ok(()) => {}
                Err(DpopError::InvalidProof(m)) => {
                    return Err(Rejection::Proof {
                        error: "invalid_dpop_proof",
                        description: m,
                    })
                }
                Err(DpopError::UseNonce(m)) => {
                    return Err(Rejection::Proof {
                        error: "use_dpop_nonce",
                        description: m.to_owned(),
                    })
                }
                Err(e @ DpopError::Unavailable(_)) => {
                    return Err(Rejection::Unavailable(e.to_string()))
                }
            }
        }
    }
    Ok(Some(principal))
}

fn describe(e: &AuthError) -> String {
    match e {
        AuthError::WrongAudience => "the token is not for this site (audience)".into(),
        AuthError::WrongIssuer => "the token is from an untrusted issuer".into(),
        AuthError::Expired => "the token has expired".into(),
        AuthError::NotYetValid => "the token is not valid yet".into(),
        AuthError::UnsupportedAlgorithm => "the token's signing algorithm is not accepted".into(),
        AuthError::UnknownKey => "the token's signing key is unknown".into(),
        AuthError::BadSignature => "the token's signature is invalid".into(),
        AuthError::Revoked => "the token has been revoked".into(),
        AuthError::InvalidClaims(why) => format!("the token is invalid ({why})"),
        _ => "the token is invalid".into(),
    }
}
