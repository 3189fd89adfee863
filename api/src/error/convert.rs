//! How the errors of the layers below (the access rule, credentials, commands, the read model,
//! uploads) become [`ApiError`]s: one mapping each.

use voicebin_commands::{CommandError, UploadError};
use voicebin_domain::ClipError;
use voicebin_projections::StoreError;

use super::{ApiError, Code};
use crate::access::FindError;
use crate::access::Refusal;
use crate::auth::Rejection;

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::NotFound => ApiError::not_found(),
            Refusal::Gone => ApiError::gone(),
            Refusal::Expired => ApiError::expired(),
            Refusal::Exhausted => {
                ApiError::new(Code::Gone, "this clip's download limit has been reached")
            }
            Refusal::Removed => ApiError::removed(),
            Refusal::Final => ApiError::new(
                Code::Conflict,
                "this clip was removed by a moderator; a removal is final, so the clip can no \
                 longer be edited or deleted",
            ),
            Refusal::MissingScope { scope, dpop } => ApiError::insufficient_scope_for(scope, dpop),
        }
    }
}

impl From<FindError> for ApiError {
    fn from(e: FindError) -> Self {
        match e {
            FindError::Refused(r) => r.into(),
            FindError::Store(e) => e.into(),
        }
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        match r {
            Rejection::InvalidToken {
                dpop: false,
                description,
            } => ApiError::invalid_token(&description),
            Rejection::InvalidToken {
                dpop: true,
                description,
            } => ApiError::dpop_rejected("invalid_token", &description),
            Rejection::Proof { error, description } => ApiError::dpop_rejected(error, &description),
            Rejection::Unavailable(cause) => ApiError::unavailable(&cause),
        }
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Rule(rule) => rule.into(),
            CommandError::Conflict => ApiError::new(
                Code::Unavailable,
                "too many concurrent changes to this clip; retry shortly",
            ),
            CommandError::Unavailable(cause) => ApiError::unavailable(&cause),
            CommandError::Internal(cause) => ApiError::internal(&cause),
        }
    }
}

impl From<ClipError> for ApiError {
    fn from(e: ClipError) -> Self {
        match e {
            ClipError::NotFound | ClipError::NotOwner | ClipError::NotAvailable => {
                ApiError::not_found()
            }
            ClipError::Deleted => ApiError::gone(),
            ClipError::Expired => ApiError::expired(),
            ClipError::ExpiryNotInFuture => {
                ApiError::new(Code::Unprocessable, e.to_string()).with_field("expires_at")
            }
            ClipError::LimitReached => ApiError::new(Code::Gone, e.to_string()),
            ClipError::Removed => ApiError::removed(),
            ClipError::AlreadyExists | ClipError::AlreadyBlocked | ClipError::NothingToRestore => {
                ApiError::new(Code::Conflict, e.to_string())
            }
            ClipError::LimitBelowCount { .. } | ClipError::OwnClip => {
                ApiError::new(Code::Unprocessable, e.to_string())
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Database(cause) => ApiError::unavailable(&cause),
            StoreError::Corrupt(cause) => ApiError::internal(&cause),
            StoreError::Unavailable(cause) => ApiError::unavailable(&cause),
        }
    }
}

impl From<UploadError> for ApiError {
    fn from(e: UploadError) -> Self {
        match e {
            UploadError::Empty => ApiError::new(Code::NotAudio, "the body is empty"),
            UploadError::NotAudio => ApiError::new(
                Code::NotAudio,
                "the body is not a supported audio format (WAV, MP3, Ogg, Opus, FLAC, \
                 MP4/M4A, WebM, AIFF, CAF)",
            ),
            UploadError::TooLarge { max } => ApiError::new(
                Code::TooLarge,
                format!("uploads are limited to {max} bytes"),
            ),
            UploadError::Body(cause) => ApiError::new(
                Code::BadRequest,
                format!("could not read the body: {cause}"),
            ),
            UploadError::Storage(cause) => ApiError::unavailable(&cause),
            UploadError::OverQuota { usage, limits } => ApiError::over_quota(usage, limits),
            UploadError::QuotaUnavailable(cause) => ApiError::unavailable(&cause),
            UploadError::Blocked => ApiError::new(Code::Removed, e.to_string()),
            UploadError::BlocklistUnavailable(cause) => ApiError::unavailable(&cause),
            UploadError::Command(e) => e.into(),
        }
    }
}
