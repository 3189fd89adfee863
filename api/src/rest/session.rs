//! `POST /api/v1/session/login-link`: exchange a one-time sign-in link for a session key.

use poem::Request;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use crate::error::{ApiError, Code, Errors};
use crate::state::AppState;
use crate::usecases::allowances::within_limit;
use crate::usecases::signin::REDEMPTIONS_PER_HOUR_PER_IP;

/// Signing in.
pub struct SessionApi {
    /// Shared state.
    pub state: AppState,
}

/// A one-time sign-in link's token (the part after `#login=` in the link).
#[derive(Debug, Clone, Object)]
pub struct LoginLinkBody {
    /// The token, as the link carries it.
    #[oai(validator(min_length = 1, max_length = 4096))]
    pub token: String,
}

/// A session: an API key for the link's account and scopes.
#[derive(Debug, Clone, Object)]
pub struct SessionDto {
    /// The API key to send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the key expires.
    pub expires_in: u64,
    /// The account the key acts for.
    pub account: String,
    /// Its scopes, space-separated.
    pub scope: String,
}

#[derive(ApiResponse)]
enum LoginLinkResponse {
    /// Signed in: the link is used up, and this key acts for its account.
    #[oai(status = 200)]
    Ok(
        Json<SessionDto>,
        /// `no-store`: the body is a credential.
        #[oai(header = "Cache-Control")]
        String,
    ),
}

crate::error::errors!(
    /// What redeeming a sign-in link can answer besides 200.
    LoginLinkErrors = "redeemLoginLink": [
        BadRequest, Unauthorized, NotFound, LinkUsed, UnsupportedMediaType, TooManyRequests,
        Internal, Unavailable
    ]
);

#[OpenApi(prefix_path = "/api/v1/session", tag = "ApiTags::Session")]
impl SessionApi {
    /// Sign in with a one-time link (from `voicebin keys login-link`).
    ///
    /// The link's token is checked (signed by this site's embedded issuer, for this site, not
    /// expired) and used up: a second redemption of the same link answers 409, an expired or
    /// forged one 401, and a deployment with an external issuer, which signs people in itself,
    /// 404. The answer is an API key for the link's account and scopes that lasts eight hours.
    /// Redemptions, good or bad, are rate limited per network address (429 with `Retry-After`).
    #[oai(
        path = "/login-link",
        method = "post",
        operation_id = "redeemLoginLink"
    )]
    async fn redeem_login_link(
        &self,
        req: &Request,
        body: Json<LoginLinkBody>,
    ) -> Result<LoginLinkResponse, Errors<LoginLinkErrors>> {
        let links = self.state.login_links.as_ref().ok_or_else(|| {
            ApiError::new(
                Code::NotFound,
                "this site signs people in with its OAuth issuer; one-time links are not in use",
            )
        })?;
        if let Some(ip) = crate::http::client_ip(req, self.state.moderation.trust_forwarded_for) {
            // Keyed by the address's keyed hash, as the report limits are: no address is stored.
            let tag = self.state.reporter_tags.anonymous(ip);
            within_limit(
                &self.state,
                format!("login-link:ip:{tag}"),
                REDEMPTIONS_PER_HOUR_PER_IP,
                "login-links",
                "sign-in link redemptions",
                "network address",
            )
            .await?;
        }
        let session = links.redeem(&body.0.token).await?;
        Ok(LoginLinkResponse::Ok(
            Json(SessionDto {
                access_token: session.token,
                token_type: "Bearer".into(),
                expires_in: session.expires_in,
                account: session.account,
                scope: session.scopes.join(" "),
            }),
            "no-store".into(),
        ))
    }
}
