//! Which issuer's tokens the API trusts: an external issuer (its JWKS by URL or from a file) or,
//! with neither configured, the embedded issuer whose key lives in the data directory. The
//! composition root hands [`IssuerSettings`] here and gets back a ready [`Trust`].

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use super::dpop::NoncePolicy;
use super::{
    EmbeddedIssuer, Introspection, IntrospectionSettings, JwksError, JwtVerifier, KeySource,
    RemoteJwks, StaticJwks, TokenVerifier, DEFAULT_REFRESH_MIN_INTERVAL,
};

/// Which issuer's tokens the API trusts.
#[derive(Debug, Clone, Default)]
pub struct IssuerSettings {
    /// The issuer (`iss`) of external tokens; defaults to the public URL (embedded issuer).
    pub issuer: Option<String>,
    /// The issuer's JWKS URL.
    pub jwks_url: Option<String>,
    /// A JWKS file.
    pub jwks_file: Option<PathBuf>,
    /// The issuer's OAuth authorization endpoint (advertised in the agent card).
    pub authorization_endpoint: Option<String>,
    /// The issuer's OAuth token endpoint (advertised in the agent card).
    pub token_endpoint: Option<String>,
    /// How people sign in from a browser with the issuer, if they can.
    pub browser: Option<BrowserClient>,
    /// RFC 7662 introspection of every token at the issuer (cached briefly), if configured.
    pub introspection: Option<IntrospectionSettings>,
    /// Whether DPoP proofs must carry a server nonce.
    pub dpop_nonce: NoncePolicy,
}

/// The web app as an OAuth 2.1 public client of the issuer (authorization code + PKCE, and DPoP
/// when the issuer's metadata offers ES256 proofs). The `/signin` page reads the issuer's
/// metadata itself, so the issuer can change it without voicebin restarting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserClient {
    /// The client id registered at the issuer, with redirect URI `<public_url>/signin`.
    pub client_id: String,
    /// The issuer's RFC 8414 or OpenID discovery document, which the page fetches (the issuer
    /// must allow CORS there and at its token endpoint). Without it, the page uses the
    /// configured authorization and token endpoints and sends no DPoP proofs.
    pub metadata_url: Option<String>,
    /// The scopes to ask for, space-separated.
    pub scope: String,
}

/// What the API trusts, built from [`IssuerSettings`].
pub struct Trust {
    /// Verifies bearer tokens: signature, issuer and audience, then introspection if configured.
    pub verifier: Arc<dyn TokenVerifier>,
    /// The trusted issuer (`iss`), as the discovery documents advertise it.
    pub issuer: String,
    /// The embedded issuer's JWKS, to serve at `/.well-known/jwks.json`; `None` for an external
    /// issuer, which publishes its own.
    pub jwks: Option<Value>,
    /// The embedded issuer itself (it mints sign-in links and session keys); `None` for an
    /// external issuer.
    pub embedded: Option<Arc<EmbeddedIssuer>>,
}

/// Why the trusted issuer could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// Both a JWKS URL and a JWKS file are configured.
    #[error("set either a JWKS URL or a JWKS file, not both")]
    TwoKeySources,
    /// An external JWKS is configured without the issuer whose keys it holds.
    #[error("VOICEBIN_ISSUER is required with a JWKS {0}")]
    MissingIssuer(&'static str),
    /// The external JWKS could not be set up.
    #[error(transparent)]
    Jwks(#[from] JwksError),
    /// The embedded issuer's key could not be read or created.
    #[error("loading the issuer key in {}", dir.display())]
    EmbeddedKey {
        /// The data directory holding the key.
        dir: PathBuf,
        /// The underlying failure.
        #[source]
        source: io::Error,
    },
    /// The introspection settings are invalid.
    #[error("{0}")]
    Introspection(String),
}

impl IssuerSettings {
    /// The verifier and issuer for these settings. With no external JWKS, tokens come from the
    /// embedded issuer, whose key is in `data_dir` and whose issuer id is `public_url`.
    pub fn trust(&self, data_dir: &Path, public_url: &str) -> Result<Trust, TrustError> {
        let (keys, issuer, embedded): (Arc<dyn KeySource>, String, _) =
            match (&self.jwks_url, &self.jwks_file) {
                (Some(_), Some(_)) => return Err(TrustError::TwoKeySources),
                (Some(url), None) => (
                    Arc::new(RemoteJwks::new(url, DEFAULT_REFRESH_MIN_INTERVAL)?),
                    self.issuer
                        .clone()
                        .ok_or(TrustError::MissingIssuer("URL"))?,
                    None,
                ),
                (None, Some(file)) => (
                    Arc::new(StaticJwks::from_file(file)?),
                    self.issuer
                        .clone()
                        .ok_or(TrustError::MissingIssuer("file"))?,
                    None,
                ),
                (None, None) => {
                    let embedded = Arc::new(embedded_issuer(data_dir, public_url)?);
                    (embedded.key_source(), public_url.to_owned(), Some(embedded))
                }
            };
        // RFC 9068 audience: the site itself, or its MCP endpoint as a resource of its own.
        let audiences = vec![public_url.to_owned(), format!("{public_url}/mcp")];
        let mut verifier: Arc<dyn TokenVerifier> =
            Arc::new(JwtVerifier::new(issuer.clone(), audiences, keys));
        if let Some(introspection) = &self.introspection {
            verifier = Arc::new(
                Introspection::new(verifier, introspection.clone())
                    .map_err(|e| TrustError::Introspection(e.to_string()))?,
            );
        }
        Ok(Trust {
            verifier,
            issuer,
            jwks: embedded.as_ref().map(|e| e.jwks()),
            embedded,
        })
    }
}

/// The issuer key of the embedded mode, created on first use.
pub fn embedded_issuer(data_dir: &Path, public_url: &str) -> Result<EmbeddedIssuer, TrustError> {
    EmbeddedIssuer::load_or_create(data_dir, public_url.to_owned()).map_err(|source| {
        TrustError::EmbeddedKey {
            dir: data_dir.to_owned(),
            source,
        }
    })
}
