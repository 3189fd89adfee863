//! `ApiError`: every error the REST API returns, as RFC 9457 `application/problem+json`.
//!
//! The table in [`Code`] fixes, per error kind, the HTTP status, the stable problem `type` and
//! its title. 5xx bodies are opaque; their cause is logged once, here.

use poem::http::StatusCode;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};
use voicebin_commands::{CommandError, UploadError};
use voicebin_domain::{ClipError, ValueError};
use voicebin_projections::StoreError;

use crate::access::Refusal;
use crate::auth::Rejection;
use crate::usecases::clips::FindError;

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Object)]
pub struct Problem {
    /// A URI naming the kind of problem; stable, one per error kind (`urn:voicebin:problem:<code>`).
    #[oai(rename = "type")]
    pub ty: String,
    /// A short, human-readable summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this occurrence.
    #[oai(skip_serializing_if_is_none)]
    pub detail: Option<String>,
    /// The field the problem is about, for validation errors.
    #[oai(skip_serializing_if_is_none)]
    pub field: Option<String>,
    /// The scope that was needed, for `insufficient_scope`.
    #[oai(skip_serializing_if_is_none)]
    pub required_scope: Option<String>,
}

/// Error kinds, each with its status, problem type and title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// 400: malformed request.
    BadRequest,
    /// 400: a field failed validation.
    InvalidField,
    /// 401: no or bad credentials.
    Unauthorized,
    /// 403: the token lacks a scope.
    InsufficientScope,
    /// 404: no such clip (or not visible to the caller).
    NotFound,
    /// 409: a business rule conflicts with the clip's state.
    Conflict,
    /// 410: the clip was deleted.
    Gone,
    /// 413: body too large.
    TooLarge,
    /// 415: not audio.
    NotAudio,
    /// 422: well-formed but semantically invalid.
    Unprocessable,
    /// 429: too many requests of this kind; retry later.
    TooManyRequests,
    /// 451: taken down by a moderator.
    Removed,
    /// 503: a dependency is unavailable; retry later.
    Unavailable,
    /// 500: a bug.
    Internal,
}

impl Code {
    fn parts(self) -> (StatusCode, &'static str, &'static str) {
        use StatusCode as S;
        match self {
            Code::BadRequest => (S::BAD_REQUEST, "bad-request", "The request is malformed"),
            Code::InvalidField => (S::BAD_REQUEST, "invalid-field", "A field is invalid"),
            Code::Unauthorized => (S::UNAUTHORIZED, "unauthorized", "Authentication required"),
            Code::InsufficientScope => (S::FORBIDDEN, "insufficient-scope", "Insufficient scope"),
            Code::NotFound => (S::NOT_FOUND, "not-found", "Not found"),
            Code::Conflict => (S::CONFLICT, "conflict", "Conflict with the clip's state"),
            Code::Gone => (S::GONE, "gone", "The clip is gone"),
            Code::TooLarge => (S::PAYLOAD_TOO_LARGE, "too-large", "The upload is too large"),
            Code::NotAudio => (
                S::UNSUPPORTED_MEDIA_TYPE,
                "not-audio",
                "Not a supported audio file",
            ),
            Code::Unprocessable => (
                S::UNPROCESSABLE_ENTITY,
                "unprocessable",
                "Unprocessable request",
            ),
            Code::TooManyRequests => (
                S::TOO_MANY_REQUESTS,
                "too-many-requests",
                "Too many requests",
            ),
            Code::Removed => (
                S::UNAVAILABLE_FOR_LEGAL_REASONS,
                "removed",
                "Removed by a moderator",
            ),
            Code::Unavailable => (
                S::SERVICE_UNAVAILABLE,
                "unavailable",
                "Temporarily unavailable",
            ),
            Code::Internal => (S::INTERNAL_SERVER_ERROR, "internal", "Internal error"),
        }
    }

    /// The stable problem `type` URI.
    pub fn type_uri(self) -> String {
        format!("urn:voicebin:problem:{}", self.parts().1)
    }
}

/// Seconds a client is told to wait after a 503.
const RETRY_AFTER_SECS: u32 = 1;

/// Every error response of the REST API.
#[derive(Debug, ApiResponse)]
#[oai(bad_request_handler = "bad_request")]
pub enum ApiError {
    /// The request is malformed or a field is invalid.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// Missing or invalid credentials.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>, #[oai(header = "WWW-Authenticate")] String),
    /// The token is valid but lacks the scope the operation needs.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>, #[oai(header = "WWW-Authenticate")] String),
    /// No such clip, or not visible to the caller.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// The request conflicts with the clip's current state.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// The clip was deleted.
    #[oai(status = 410, content_type = "application/problem+json")]
    Gone(Json<Problem>),
    /// The upload exceeds the size limit.
    #[oai(status = 413, content_type = "application/problem+json")]
    TooLarge(Json<Problem>),
    /// The body is not a supported audio format.
    #[oai(status = 415, content_type = "application/problem+json")]
    NotAudio(Json<Problem>),
    /// The request is well-formed but cannot be applied.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// Too many requests of this kind (abuse reports); retry after the given seconds.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>, #[oai(header = "Retry-After")] u32),
    /// A moderator took the clip (or these exact bytes) down.
    #[oai(status = 451, content_type = "application/problem+json")]
    Removed(Json<Problem>),
    /// A dependency is temporarily unavailable; retry after the given seconds.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<Problem>, #[oai(header = "Retry-After")] u32),
    /// An unexpected server error (details are logged, not shown).
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}

/// The `WWW-Authenticate` challenge for a failed or missing credential. Without an error both
/// schemes are offered (RFC 6750 and RFC 9449 §7.1).
pub fn bearer_challenge(error: Option<(&str, &str)>) -> String {
    match error {
        None => format!(r#"Bearer realm="voicebin", {}"#, dpop_challenge(None)),
        Some((code, description)) => format!(
            r#"Bearer realm="voicebin", error="{code}", error_description="{}""#,
            quoted(description)
        ),
    }
}

/// The `DPoP` challenge (RFC 9449 §7.1), naming the proof algorithms accepted.
pub fn dpop_challenge(error: Option<(&str, &str)>) -> String {
    let algs = crate::auth::dpop::PROOF_ALGS.join(" ");
    match error {
        None => format!(r#"DPoP realm="voicebin", algs="{algs}""#),
        Some((code, description)) => format!(
            r#"DPoP realm="voicebin", algs="{algs}", error="{code}", error_description="{}""#,
            quoted(description)
        ),
    }
}

fn quoted(description: &str) -> String {
    description.replace(['"', '\\'], "'")
}

impl ApiError {
    /// Builds the error of kind `code` with a detail message.
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        let (status, _, title) = code.parts();
        let problem = Json(Problem {
            ty: code.type_uri(),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: Some(detail.into()),
            field: None,
            required_scope: None,
        });
        match code {
            Code::BadRequest | Code::InvalidField => ApiError::BadRequest(problem),
            Code::Unauthorized => ApiError::Unauthorized(problem, bearer_challenge(None)),
            Code::InsufficientScope => ApiError::Forbidden(problem, bearer_challenge(None)),
            Code::NotFound => ApiError::NotFound(problem),
            Code::Conflict => ApiError::Conflict(problem),
            Code::Gone => ApiError::Gone(problem),
            Code::TooLarge => ApiError::TooLarge(problem),
            Code::NotAudio => ApiError::NotAudio(problem),
            Code::Unprocessable => ApiError::Unprocessable(problem),
            Code::TooManyRequests => ApiError::TooManyRequests(problem, RETRY_AFTER_SECS),
            Code::Removed => ApiError::Removed(problem),
            Code::Unavailable => ApiError::Unavailable(problem, RETRY_AFTER_SECS),
            Code::Internal => ApiError::Internal(problem),
        }
    }

    /// 404 for a clip that does not exist or that the caller may not see.
    pub fn not_found() -> Self {
        Self::new(Code::NotFound, "no clip with this id")
    }

    /// 410 for a deleted clip.
    pub fn gone() -> Self {
        Self::new(Code::Gone, "this clip has been deleted")
    }

    /// 451 for a clip a moderator took down.
    pub fn removed() -> Self {
        Self::new(Code::Removed, "this clip was removed by a moderator")
    }

    /// 429 telling the client how many seconds to wait.
    pub fn too_many(detail: impl Into<String>, retry_after: u32) -> Self {
        let mut e = Self::new(Code::TooManyRequests, detail);
        if let ApiError::TooManyRequests(_, after) = &mut e {
            *after = retry_after.max(1);
        }
        e
    }

    /// 401 with an `invalid_token` challenge.
    pub fn invalid_token(description: &str) -> Self {
        let mut e = Self::new(Code::Unauthorized, description);
        if let ApiError::Unauthorized(_, challenge) = &mut e {
            *challenge = bearer_challenge(Some(("invalid_token", description)));
        }
        e
    }

    /// 401 for a request made with `Authorization: DPoP`: the challenge uses that scheme, with
    /// `error` one of `invalid_token`, `invalid_dpop_proof` or `use_dpop_nonce`.
    pub fn dpop_rejected(error: &str, description: &str) -> Self {
        let mut e = Self::new(Code::Unauthorized, description);
        if let ApiError::Unauthorized(_, challenge) = &mut e {
            *challenge = dpop_challenge(Some((error, description)));
        }
        e
    }

    /// 403 naming the scope that was needed, challenging with the scheme the caller used.
    pub fn insufficient_scope_for(scope: &str, dpop: bool) -> Self {
        let mut e = Self::insufficient_scope(scope);
        if let (ApiError::Forbidden(_, challenge), true) = (&mut e, dpop) {
            *challenge = format!(
                r#"DPoP realm="voicebin", algs="{}", error="insufficient_scope", scope="{scope}""#,
                crate::auth::dpop::PROOF_ALGS.join(" ")
            );
        }
        e
    }

    /// 403 naming the scope that was needed.
    pub fn insufficient_scope(scope: &str) -> Self {
        let (status, _, title) = Code::InsufficientScope.parts();
        ApiError::Forbidden(
            Json(Problem {
                ty: Code::InsufficientScope.type_uri(),
                title: title.to_owned(),
                status: status.as_u16(),
                detail: Some(format!("this operation needs the `{scope}` scope")),
                field: None,
                required_scope: Some(scope.to_owned()),
            }),
            format!(r#"Bearer realm="voicebin", error="insufficient_scope", scope="{scope}""#),
        )
    }

    /// Names the request field a 400 is about.
    pub fn with_field(mut self, name: &str) -> Self {
        if let ApiError::BadRequest(Json(p)) = &mut self {
            p.field = Some(name.to_owned());
        }
        self
    }

    /// 400 about one field.
    pub fn invalid_field(err: &ValueError) -> Self {
        let mut e = Self::new(Code::InvalidField, err.to_string());
        if let ApiError::BadRequest(Json(p)) = &mut e {
            p.field = Some(err.field().to_owned());
        }
        e
    }

    /// 500 with an opaque body; the cause is logged here, once.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(Code::Internal, "an unexpected error occurred")
    }

    /// 503 with `Retry-After`; the cause is logged here, once.
    pub fn unavailable(cause: &dyn std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "dependency unavailable");
        Self::new(
            Code::Unavailable,
            "a dependency is temporarily unavailable; retry shortly",
        )
    }

    /// The problem document this error renders as.
    pub fn problem(&self) -> &Problem {
        match self {
            ApiError::BadRequest(p)
            | ApiError::NotFound(p)
            | ApiError::Conflict(p)
            | ApiError::Gone(p)
            | ApiError::TooLarge(p)
            | ApiError::NotAudio(p)
            | ApiError::Unprocessable(p)
            | ApiError::Removed(p)
            | ApiError::TooManyRequests(p, _)
            | ApiError::Internal(p)
            | ApiError::Unauthorized(p, _)
            | ApiError::Forbidden(p, _)
            | ApiError::Unavailable(p, _) => &p.0,
        }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(..) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(..) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotAudio(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests(..) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Removed(_) => StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS,
            ApiError::Unavailable(..) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Converts poem-openapi's extraction errors (bad parameters, bodies, credentials) into
/// problem documents.
fn bad_request(err: poem::Error) -> ApiError {
    if let Some(e) = err.downcast_ref::<AuthRejection>() {
        return e.0.clone();
    }
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(Code::TooLarge, err.to_string());
    }
    let detail = err.to_string();
    if err.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE
        || err.status() == StatusCode::METHOD_NOT_ALLOWED
    {
        return ApiError::new(Code::BadRequest, detail);
    }
    ApiError::new(Code::BadRequest, detail)
}

impl Clone for ApiError {
    fn clone(&self) -> Self {
        match self {
            ApiError::BadRequest(p) => ApiError::BadRequest(Json(p.0.clone())),
            ApiError::Unauthorized(p, h) => ApiError::Unauthorized(Json(p.0.clone()), h.clone()),
            ApiError::Forbidden(p, h) => ApiError::Forbidden(Json(p.0.clone()), h.clone()),
            ApiError::NotFound(p) => ApiError::NotFound(Json(p.0.clone())),
            ApiError::Conflict(p) => ApiError::Conflict(Json(p.0.clone())),
            ApiError::Gone(p) => ApiError::Gone(Json(p.0.clone())),
            ApiError::TooLarge(p) => ApiError::TooLarge(Json(p.0.clone())),
            ApiError::NotAudio(p) => ApiError::NotAudio(Json(p.0.clone())),
            ApiError::Unprocessable(p) => ApiError::Unprocessable(Json(p.0.clone())),
            ApiError::TooManyRequests(p, s) => ApiError::TooManyRequests(Json(p.0.clone()), *s),
            ApiError::Removed(p) => ApiError::Removed(Json(p.0.clone())),
            ApiError::Unavailable(p, s) => ApiError::Unavailable(Json(p.0.clone()), *s),
            ApiError::Internal(p) => ApiError::Internal(Json(p.0.clone())),
        }
    }
}

/// Carries an authentication failure out of an extractor, through `poem::Error`, to
/// [`bad_request`], which turns it back into the `ApiError` it was.
#[derive(Debug, thiserror::Error)]
#[error("authentication failed")]
pub struct AuthRejection(pub ApiError);

impl poem::error::ResponseError for AuthRejection {
    fn status(&self) -> StatusCode {
        self.0.status()
    }

    fn as_response(&self) -> poem::Response {
        use poem::IntoResponse;
        self.0.clone().into_response()
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::NotFound => ApiError::not_found(),
            Refusal::Gone => ApiError::gone(),
            Refusal::Exhausted => {
                ApiError::new(Code::Gone, "this clip's download limit has been reached")
            }
            Refusal::Removed => ApiError::removed(),
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
            ClipError::NotFound | ClipError::NotOwner => ApiError::not_found(),
            ClipError::Deleted => ApiError::gone(),
            ClipError::AlreadyExists => ApiError::new(Code::Conflict, e.to_string()),
            ClipError::LimitReached => ApiError::new(Code::Gone, e.to_string()),
            ClipError::NotAvailable => ApiError::not_found(),
            ClipError::LimitBelowCount { .. } => ApiError::new(Code::Unprocessable, e.to_string()),
            ClipError::Removed => ApiError::removed(),
            ClipError::AlreadyBlocked | ClipError::NothingToRestore => {
                ApiError::new(Code::Conflict, e.to_string())
            }
            ClipError::OwnClip => ApiError::new(Code::Unprocessable, e.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Database(cause) => ApiError::unavailable(&cause),
            StoreError::Corrupt(cause) => ApiError::internal(&cause),
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
            UploadError::Blocked => ApiError::new(Code::Removed, e.to_string()),
            UploadError::BlocklistUnavailable(cause) => ApiError::unavailable(&cause),
            UploadError::Command(e) => e.into(),
        }
    }
}

/// Renders any error that escaped a handler (poem-openapi's parameter and body errors, unknown
/// routes, wrong methods) as a problem document with a status-derived type.
pub fn problem_response(err: poem::Error) -> poem::Response {
    use poem::IntoResponse;
    if let Some(rejection) = err.downcast_ref::<AuthRejection>() {
        return rejection.0.clone().into_response();
    }
    let status = err.status();
    let message = err.to_string();
    let response = err.into_response();
    // ApiError values returned by handlers arrive here already rendered.
    if response.content_type() == Some("application/problem+json") {
        return response;
    }
    let (code, title) = match status {
        StatusCode::NOT_FOUND => ("not-found", "Not found"),
        StatusCode::METHOD_NOT_ALLOWED => ("method-not-allowed", "Method not allowed"),
        StatusCode::PAYLOAD_TOO_LARGE => ("too-large", "The request is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported-media-type", "Unsupported media type"),
        s if s.is_server_error() => ("internal", "Internal error"),
        _ => ("bad-request", "The request is malformed"),
    };
    let detail = if status.is_server_error() {
        tracing::error!(error = %message, "unhandled error");
        "an unexpected error occurred".to_owned()
    } else if status == StatusCode::NOT_FOUND {
        "no such resource".to_owned()
    } else {
        message
    };
    let body = serde_json::json!({
        "type": format!("urn:voicebin:problem:{code}"),
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
    });
    poem::Response::builder()
        .status(status)
        .content_type("application/problem+json")
        .body(body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem::IntoResponse;

    #[test]
    fn exhausted_conflicts_are_503_with_retry_after_never_500() {
        let response = ApiError::from(CommandError::Conflict).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "1");
        assert_eq!(response.content_type(), Some("application/problem+json"));
    }

    #[test]
    fn rule_errors_map_to_their_statuses() {
        let status = |e: ClipError| ApiError::from(e).status();
        assert_eq!(status(ClipError::NotOwner), StatusCode::NOT_FOUND);
        assert_eq!(status(ClipError::Deleted), StatusCode::GONE);
        assert_eq!(
            status(ClipError::LimitBelowCount { limit: 1, count: 2 }),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }

    #[test]
    fn challenges_cannot_be_broken_by_quotes_in_descriptions() {
        let c = bearer_challenge(Some(("invalid_token", "bad \"token\"")));
        assert_eq!(
            c,
            r#"Bearer realm="voicebin", error="invalid_token", error_description="bad 'token'""#
        );
    }
}
