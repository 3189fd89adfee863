//! One-time sign-in links (embedded issuer only): `voicebin keys login-link` mints a short-lived
//! link token ([`crate::auth::LOGIN_LINK_TYP`]); the `/signin` page exchanges it here, once, for
//! a session key of the same account and scopes. Which links were redeemed lives in the
//! database, so a link works once across every replica.

use std::sync::Arc;
use std::time::Duration;

use voicebin_projections::RedeemedLinks;

use crate::auth::{EmbeddedIssuer, LoginLinkError, MintRequest};
use crate::error::{ApiError, Code};

/// How long a session key from a sign-in link lasts: a working day.
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
/// The default lifetime of a sign-in link.
pub const DEFAULT_LINK_TTL: Duration = Duration::from_secs(10 * 60);
/// The longest a sign-in link may last.
pub const MAX_LINK_TTL: Duration = Duration::from_secs(60 * 60);
/// Sign-in link redemptions accepted per network address per hour, good or bad: plenty for
/// people (a link is opened once), while a client trying tokens gets 429 after that many.
pub const REDEMPTIONS_PER_HOUR_PER_IP: u32 = 30;

/// A session won with a sign-in link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// An API key (`pbca_live_…`) for the account, expiring after [`SESSION_TTL`].
    pub token: String,
    /// The account it acts for.
    pub account: String,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// Seconds until it expires.
    pub expires_in: u64,
}

/// Redeems sign-in links issued by the embedded issuer for this site.
pub struct LoginLinks {
    issuer: Arc<EmbeddedIssuer>,
    redeemed: Arc<dyn RedeemedLinks>,
    audience: String,
}

impl LoginLinks {
    /// Links from `issuer` for the site at `audience` (its public URL), redeemed once in
    /// `redeemed`.
    pub fn new(
        issuer: Arc<EmbeddedIssuer>,
        redeemed: Arc<dyn RedeemedLinks>,
        audience: String,
    ) -> Self {
        LoginLinks {
            issuer,
            redeemed,
            audience,
        }
    }

    /// Checks the link's token, marks it used, and mints the session key. A link that is
    /// forged, expired, for another site or already used changes nothing.
    pub async fn redeem(&self, token: &str) -> Result<Session, ApiError> {
        let link = self
            .issuer
            .verify_login_link(token.trim(), &self.audience)
            .map_err(refused)?;
        let session = self
            .issuer
            .mint(&MintRequest {
                account: link.account.clone(),
                scopes: link.scopes.clone(),
                audience: self.audience.clone(),
                ttl: Some(SESSION_TTL),
            })
            .map_err(|e| ApiError::internal(&e))?;
        if !self.redeemed.redeem(&link.jti, link.expires_at).await? {
            return Err(ApiError::new(
                Code::LinkUsed,
                "this sign-in link was already used; links work once, so ask for a new one",
            ));
        }
        Ok(Session {
            token: session,
            account: link.account,
            scopes: link.scopes,
            expires_in: SESSION_TTL.as_secs(),
        })
    }

    /// Forgets redeemed links that have expired anyway; returns how many.
    pub async fn purge_expired(&self) -> Result<u64, voicebin_projections::StoreError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.redeemed
            .purge_expired(i64::try_from(now).unwrap_or(i64::MAX))
            .await
    }
}

fn refused(e: LoginLinkError) -> ApiError {
    let detail = match e {
        LoginLinkError::Expired => {
            "this sign-in link has expired; ask for a new one (they last minutes)".to_owned()
        }
        e => e.to_string(),
    };
    ApiError::invalid_token(&detail)
}
