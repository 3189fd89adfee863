//! Anonymous uploads (off unless the operator turns them on, ADR 0023): an upload without a
//! token is taken when it carries a solved proof-of-work challenge (ALTCHA, protocol v2 with
//! PBKDF2/SHA-256: the widget the upload page vendors solves it), within a lower size limit,
//! a forced expiry and an hourly allowance per network address. Every anonymous clip belongs to
//! the one account [`AccountId::ANONYMOUS`]; what can delete it is the management token given
//! once in the upload's answer, an HMAC of the clip's id under a key every replica shares.
//!
//! A challenge is `{"parameters": {...}, "signature": hex}`: the parameters (random `nonce` and
//! `salt`, the `cost` in PBKDF2 iterations, a `keyPrefix` of zeros, `expiresAt`) are signed with
//! HMAC-SHA256 over their canonical JSON (keys sorted, compact), as altcha-lib 2.8 signs them.
//! A solution is the base64 JSON `{"challenge": {...}, "solution": {"counter", "derivedKey"}}`:
//! PBKDF2-HMAC-SHA256 of `nonce ‖ counter (u32, big-endian)` salted with `salt` gives
//! `derivedKey`, which starts with `keyPrefix`. Each challenge is taken once (its nonce goes
//! into the replay cache the DPoP proofs use, until the challenge expires).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use aws_lc_rs::{hmac, pbkdf2};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine as _};
use poem_openapi::Object;
use serde::{Deserialize, Serialize};
use voicebin_domain::{AccountId, ClipId, Lifetime, Lifetimes};
use voicebin_projections::ReplayCache;

use crate::auth::Principal;
use crate::error::{ApiError, Code};
use crate::model::{Item, ItemManagement};
use crate::state::AppState;
use crate::usecases::clips::{self, RawMeta};
use voicebin_commands::ByteStream;

/// The only algorithm voicebin's challenges use.
pub const ALGORITHM: &str = "PBKDF2/SHA-256";
/// Bytes of derived key.
const KEY_LENGTH: u32 = 32;
/// How long a challenge may be solved and used, in seconds.
pub const CHALLENGE_TTL_SECS: i64 = 600;
/// Longest `x-altcha` accepted, in bytes (a real one is about 600).
const MAX_PAYLOAD: usize = 4_096;
/// Standard base64, padded or not (the widget pads; hand-made solutions may not).
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
/// The replay cache's keys for spent challenges start with this (DPoP proofs share the cache).
const SPENT: &str = "altcha:";

/// How hard a challenge is: `cost` PBKDF2 iterations per attempt, and a key prefix of `digits`
/// hex zeros, so about 16^`digits` attempts on average.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Work {
    /// PBKDF2 iterations per attempt (1 to 1,000,000).
    pub cost: u32,
    /// Leading hex zeros the derived key must have (1 to 6).
    pub digits: u8,
}

impl Default for Work {
    /// About 4,096 attempts of 1,000 iterations: a second or two in a browser, which makes each
    /// upload cost its sender that much work.
    fn default() -> Self {
        Work {
            cost: 1_000,
            digits: 3,
        }
    }
}

/// The operator's settings for anonymous uploads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnonymousSettings {
    /// Whether uploads without a token are taken at all (`VOICEBIN_ANONYMOUS_UPLOADS`).
    pub enabled: bool,
    /// Every anonymous clip expires this long after its upload, or sooner if asked
    /// (`VOICEBIN_ANONYMOUS_LIFETIME`, default 24 hours; never past the operator's maximum).
    pub lifetime: Lifetime,
    /// The size limit of an anonymous upload (`VOICEBIN_ANONYMOUS_MAX_UPLOAD_BYTES`, default
    /// 10 MB; never above the general limit).
    pub max_bytes: u64,
    /// Anonymous uploads per network address per hour (`VOICEBIN_ANONYMOUS_UPLOADS_PER_HOUR`,
    /// default 10; 0 is no limit).
    pub per_hour_per_address: u32,
    /// How hard the challenges are.
    pub work: Work,
}

impl Default for AnonymousSettings {
    fn default() -> Self {
        AnonymousSettings {
            enabled: false,
            lifetime: Lifetime::from_secs(86_400).unwrap_or_else(|_| unreachable!()),
            max_bytes: 10_000_000,
            per_hour_per_address: 10,
            work: Work::default(),
        }
    }
}

/// A challenge's signed parameters. The fields are in the order of their JSON names, so their
/// compact serialisation is the canonical JSON the signature covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Object)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[oai(rename_all = "camelCase")]
pub struct ChallengeParameters {
    /// Always `PBKDF2/SHA-256`.
    pub algorithm: String,
    /// PBKDF2 iterations per attempt.
    pub cost: u32,
    /// When the challenge stops being accepted (Unix seconds).
    pub expires_at: i64,
    /// Bytes of derived key (32).
    pub key_length: u32,
    /// The hex digits the derived key must start with.
    pub key_prefix: String,
    /// Random, hex: the password is this nonce's bytes followed by the counter.
    pub nonce: String,
    /// Random, hex: the PBKDF2 salt.
    pub salt: String,
}

/// A proof-of-work challenge (ALTCHA v2).
#[derive(Debug, Clone, Serialize, Deserialize, Object)]
pub struct Challenge {
    /// What to solve.
    pub parameters: ChallengeParameters,
    /// HMAC-SHA256 of the parameters' canonical JSON, hex.
    pub signature: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Solution {
    counter: u32,
    derived_key: String,
}

#[derive(Deserialize)]
struct Payload {
    challenge: Challenge,
    solution: Solution,
}

/// Why a solution was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    /// Not base64 of the expected JSON (400).
    #[error("x-altcha is malformed: {0}")]
    Malformed(&'static str),
    /// Well-formed but not a solution voicebin takes (403).
    #[error("{0}")]
    Refused(&'static str),
}

impl From<ChallengeError> for ApiError {
    fn from(e: ChallengeError) -> Self {
        match e {
            ChallengeError::Malformed(_) => {
                ApiError::new(Code::InvalidField, e.to_string()).with_field("altcha")
            }
            ChallengeError::Refused(_) => ApiError::new(Code::ChallengeFailed, e.to_string()),
        }
    }
}

/// A solution that checked out: its nonce (spent once) and when its challenge expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Solved {
    /// The challenge's nonce.
    pub nonce: String,
    /// Its expiry (Unix seconds).
    pub expires_at: i64,
}

/// Issues and checks challenges, with a key every replica shares.
pub struct Challenges {
    key: hmac::Key,
    work: Work,
}

impl Challenges {
    /// Challenges signed with `secret`, as hard as `work`.
    pub fn new(secret: &[u8], work: Work) -> Self {
        Challenges {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            work,
        }
    }

    fn sign(&self, parameters: &ChallengeParameters) -> hmac::Tag {
        let canonical = serde_json::to_vec(parameters).unwrap_or_default();
        hmac::sign(&self.key, &canonical)
    }

    /// A new challenge, valid for [`CHALLENGE_TTL_SECS`] from `now` (Unix seconds).
    pub fn issue(&self, now: i64) -> Challenge {
        let parameters = ChallengeParameters {
            algorithm: ALGORITHM.to_owned(),
            cost: self.work.cost,
            expires_at: now + CHALLENGE_TTL_SECS,
            key_length: KEY_LENGTH,
            key_prefix: "0".repeat(usize::from(self.work.digits)),
            nonce: hex::encode(rand::random::<[u8; 16]>()),
            salt: hex::encode(rand::random::<[u8; 16]>()),
        };
        let signature = hex::encode(self.sign(&parameters).as_ref());
        Challenge {
            parameters,
            signature,
        }
    }

    /// Checks a solution (`x-altcha`: base64 of the widget's JSON) at `now`. Does not spend it:
    /// [`spend`] does.
    pub fn check(&self, payload: &str, now: i64) -> Result<Solved, ChallengeError> {
        use ChallengeError::{Malformed, Refused};
        if payload.len() > MAX_PAYLOAD {
            return Err(Malformed("longer than 4096 bytes"));
        }
        let json = LENIENT_BASE64
            .decode(payload.trim())
            .map_err(|_| Malformed("not base64"))?;
        let Payload {
            challenge,
            solution,
        } = serde_json::from_slice(&json).map_err(|_| {
            Malformed(
                "not the JSON of a solved challenge ({\"challenge\": {\"parameters\": …, \
                 \"signature\": …}, \"solution\": {\"counter\": …, \"derivedKey\": …}})",
            )
        })?;
        let p = &challenge.parameters;
        let signature =
            hex::decode(&challenge.signature).map_err(|_| Malformed("the signature is not hex"))?;
        if hmac::verify(
            &self.key,
            &serde_json::to_vec(p).unwrap_or_default(),
            &signature,
        )
        .is_err()
        {
            return Err(Refused(
                "the challenge was not issued by this site (its signature does not match)",
            ));
        }
        // Expired from `expiresAt` on: the replay cache forgets a spent nonce at that second.
        if p.expires_at <= now {
            return Err(Refused(
                "the challenge has expired; fetch a new one from GET /api/v1/challenge",
            ));
        }
        // Signed, so these are as issued; checked all the same.
        let (Ok(nonce), Ok(salt), Some(cost)) = (
            hex::decode(&p.nonce),
            hex::decode(&p.salt),
            NonZeroU32::new(p.cost),
        ) else {
            return Err(Refused("the challenge's parameters are not valid"));
        };
        if p.algorithm != ALGORITHM || p.key_length != KEY_LENGTH {
            return Err(Refused("the challenge's parameters are not valid"));
        }
        let claimed = solution.derived_key;
        let well_formed = claimed.len() == 2 * KEY_LENGTH as usize
            && claimed
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !well_formed {
            return Err(Malformed("derivedKey is not 64 lowercase hex digits"));
        }
        if !claimed.starts_with(&p.key_prefix) {
            return Err(Refused("the solution does not solve the challenge"));
        }
        let mut password = nonce;
        password.extend_from_slice(&solution.counter.to_be_bytes());
        let claimed_bytes =
            hex::decode(&claimed).map_err(|_| Malformed("derivedKey is not hex"))?;
        pbkdf2::verify(
            pbkdf2::PBKDF2_HMAC_SHA256,
            cost,
            &salt,
            &password,
            &claimed_bytes,
        )
        .map_err(|_| Refused("the solution does not solve the challenge"))?;
        Ok(Solved {
            nonce: p.nonce.clone(),
            expires_at: p.expires_at,
        })
    }
}

/// Spends a solved challenge: `Ok` the first time, a refusal once it was used (by any replica).
pub async fn spend(replay: &dyn ReplayCache, solved: &Solved, now: i64) -> Result<(), ApiError> {
    let key = format!("{SPENT}{}", solved.nonce);
    if replay.first_use(&key, solved.expires_at, now).await? {
        // Now and then, forget what expired (the DPoP verifier does too, when it is used).
        if rand::random::<u8>() < 4 {
            if let Err(e) = replay.purge_expired(now).await {
                tracing::warn!(error = %e, "purging spent challenges failed");
            }
        }
        Ok(())
    } else {
        Err(ChallengeError::Refused(
            "this challenge was already used; fetch a new one from GET /api/v1/challenge",
        )
        .into())
    }
}

/// Management tokens: an HMAC of the clip's id, so nothing is stored and any replica can check
/// one.
pub struct ManagementTokens {
    key: hmac::Key,
}

impl ManagementTokens {
    /// Tokens keyed with `secret`.
    pub fn new(secret: &[u8]) -> Self {
        ManagementTokens {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    fn message(id: &ClipId) -> String {
        format!("manage:{}", id.as_str())
    }

    /// The token that manages clip `id` (43 base64url characters).
    pub fn token(&self, id: &ClipId) -> String {
        URL_SAFE_NO_PAD.encode(hmac::sign(&self.key, Self::message(id).as_bytes()))
    }

    /// Whether `token` manages clip `id` (compared in constant time).
    pub fn verify(&self, id: &ClipId, token: &str) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(token.trim()) else {
            return false;
        };
        hmac::verify(&self.key, Self::message(id).as_bytes(), &tag).is_ok()
    }
}

/// Everything anonymous uploads need, in the application state (built even when they are off,
/// so that the clips uploaded while they were on stay manageable).
pub struct Anonymous {
    /// The operator's settings.
    pub settings: AnonymousSettings,
    /// Issues and checks challenges.
    pub challenges: Challenges,
    /// Issues and checks management tokens.
    pub tokens: ManagementTokens,
    /// Where spent challenges are remembered until they expire (shared by every replica).
    pub replay: Arc<dyn ReplayCache>,
}

/// The 401 for an upload without a token: what else would do, if anything.
pub fn needs_token(state: &AppState) -> ApiError {
    let detail = if state.anonymous.settings.enabled {
        "this operation needs `Authorization: Bearer <token>`, or for an anonymous upload a \
         solved challenge from GET /api/v1/challenge in `x-altcha`"
    } else {
        "this operation needs `Authorization: Bearer <token>` (anonymous uploads are off on \
         this server)"
    };
    ApiError::new(Code::Unauthorized, detail)
}

/// A new challenge: 404 while anonymous uploads are off.
pub fn challenge(state: &AppState) -> Result<Challenge, ApiError> {
    if !state.anonymous.settings.enabled {
        return Err(ApiError::new(
            Code::NotFound,
            "anonymous uploads are off on this server, so there are no challenges to solve",
        ));
    }
    Ok(state
        .anonymous
        .challenges
        .issue(chrono::Utc::now().timestamp()))
}

/// Stores `body` as an anonymous clip if `altcha` solves a challenge that was not used before
/// and the address `ip` has uploads left this hour. The clip expires within the anonymous
/// lifetime (the default when none is asked for) and may be at most the anonymous size limit.
/// The answer is the owner view with the management link, which is never shown again.
pub async fn upload(
    state: &AppState,
    ip: Option<IpAddr>,
    altcha: &str,
    meta: RawMeta,
    body: ByteStream,
    declared_bytes: Option<u64>,
    request_id: Option<String>,
) -> Result<Item, ApiError> {
    let anonymous = &state.anonymous;
    if !anonymous.settings.enabled {
        return Err(needs_token(state));
    }
    let now = chrono::Utc::now().timestamp();
    let solved = anonymous.challenges.check(altcha, now)?;
    // What the upload asks for is checked before the challenge is spent or the allowance taken,
    // so a refused request costs neither.
    let lifetime = lifetime(state);
    let lifetimes = Lifetimes {
        max: Some(lifetime),
        default: Some(lifetime),
    };
    let request = voicebin_commands::UploadRequest {
        declared_bytes,
        max_bytes: Some(max_bytes(state)),
        ..meta.into_request(AccountId::anonymous(), lifetimes, request_id)?
    };
    // A replayed solution is refused before it takes from the address's allowance.
    spend(anonymous.replay.as_ref(), &solved, now).await?;
    if let Some(ip) = ip {
        let tag = state.reporter_tags.anonymous(ip);
        super::allowances::within_limit(
            state,
            format!("anonymous-uploads:{}", tag.as_str()),
            anonymous.settings.per_hour_per_address,
            "anonymous-uploads",
            "anonymous uploads",
            "network address",
        )
        .await?;
    }
    let item = clips::store(state, request, body).await.map_err(|e| {
        if e.code() == Code::QuotaExceeded {
            // The shared room of every anonymous upload: its totals are nobody's business, and
            // an anonymous uploader has no clips to delete.
            ApiError::new(
                Code::QuotaExceeded,
                "anonymous uploads have used all the room this server gives them; sign in to \
                 upload, or try again later",
            )
        } else {
            e
        }
    })?;
    let id = ClipId::parse(&item.id).map_err(|_| ApiError::not_found())?;
    let token = anonymous.tokens.token(&id);
    Ok(Item {
        management: Some(ItemManagement {
            url: format!("{}#{token}", state.urls.manage(&item.id)),
            token,
        }),
        ..item
    })
}

/// The size limit of an anonymous upload: the anonymous one, within the general one.
pub fn max_bytes(state: &AppState) -> u64 {
    state
        .anonymous
        .settings
        .max_bytes
        .min(state.service.max_upload_bytes())
}

/// The longest an anonymous clip lives: the anonymous lifetime, within the operator's maximum.
pub fn lifetime(state: &AppState) -> Lifetime {
    let lifetime = state.anonymous.settings.lifetime;
    match state.service.lifetimes().max {
        Some(max) if max < lifetime => max,
        _ => lifetime,
    }
}

/// The caller a management token stands for on clip `id`: the anonymous account, allowed to
/// read and delete that clip only (the token is checked against `id`, and the caller is used
/// for nothing else). 401 when the token does not manage `id`.
pub fn manager(state: &AppState, id: &str, token: &str) -> Result<Principal, ApiError> {
    let valid = ClipId::parse(id)
        .ok()
        .is_some_and(|id| state.anonymous.tokens.verify(&id, token));
    if !valid {
        return Err(ApiError::invalid_token(
            "the management token does not manage this clip",
        ));
    }
    Ok(Principal {
        account: AccountId::ANONYMOUS.to_owned(),
        scopes: [crate::access::READ, crate::access::DELETE]
            .into_iter()
            .map(str::to_owned)
            .collect(),
        token_id: None,
        client_id: None,
        confirmation: None,
    })
}

/// The caller of a request to clip `id` that may carry a management token instead of a bearer
/// token: the bearer's caller when there is one (a token sent alongside is then not looked at),
/// else the management token's, else none.
pub fn caller_or_manager(
    state: &AppState,
    id: &str,
    bearer: Option<Principal>,
    token: Option<&str>,
) -> Result<Option<Principal>, ApiError> {
    match (bearer, token) {
        (Some(p), _) => Ok(Some(p)),
        (None, Some(token)) => manager(state, id, token).map(Some),
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests;
