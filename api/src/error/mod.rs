//! `ApiError`: every error voicebin answers over HTTP, as an RFC 9457
//! `application/problem+json` document.
//!
//! [`Code`] is the one table: per kind of error, the HTTP status, the stable problem `type`,
//! the title, the OpenAPI description and the extra header the answer carries
//! (`WWW-Authenticate`, `Retry-After`, `Content-Range`, `Allow`). Everything else derives from it: the
//! response [`ApiError`] renders, the fallback for errors poem raises itself
//! ([`problem_response`]), and each REST operation's documented responses ([`Errors`], in
//! `openapi.rs`). 5xx bodies are opaque; their cause is logged once, here.

mod convert;
mod openapi;

use poem::http::{header, HeaderName, HeaderValue, StatusCode};
use poem::{IntoResponse, Response};
use poem_openapi::types::ToJSON;
use poem_openapi::Object;
use voicebin_domain::ValueError;

use crate::model::{QuotaLimits, QuotaUsage};

pub(crate) use openapi::errors;
pub use openapi::{ErrorList, Errors};

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
    /// What the account's live clips take, for `quota-exceeded`.
    #[oai(skip_serializing_if_is_none)]
    pub usage: Option<QuotaUsage>,
    /// The account's limits (`null`: none), for `quota-exceeded`.
    #[oai(skip_serializing_if_is_none)]
    pub limits: Option<QuotaLimits>,
    /// The rate-limit policy that refused the request, for `rate-limited`: its name in
    /// `RateLimit-Policy` and `RateLimit`, `<class>-account` or `<class>-address`, where the
    /// class is `uploads`, `reads`, `downloads` or `mcp`.
    #[oai(skip_serializing_if_is_none)]
    pub policy: Option<String>,
}

/// The header an error answer carries besides its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtraHeader {
    /// `WWW-Authenticate`: the challenge (RFC 9110 §11.6.1, RFC 6750, RFC 9449).
    WwwAuthenticate,
    /// `Retry-After`: seconds to wait.
    RetryAfter,
    /// `Content-Range`: `bytes */<length>` of an unsatisfiable range.
    ContentRange,
    /// `Allow`: the methods the resource has (RFC 9110 §15.5.6). Only the route knows them, so
    /// a 405 carries it only when built with [`ApiError::method_not_allowed`].
    Allow,
}

impl ExtraHeader {
    /// The header's name.
    pub fn name(self) -> HeaderName {
        match self {
            ExtraHeader::WwwAuthenticate => header::WWW_AUTHENTICATE,
            ExtraHeader::RetryAfter => header::RETRY_AFTER,
            ExtraHeader::ContentRange => header::CONTENT_RANGE,
            ExtraHeader::Allow => header::ALLOW,
        }
    }
}

/// One row of the error table.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// The HTTP status.
    pub status: StatusCode,
    /// The last segment of the problem `type` (`urn:voicebin:problem:<slug>`).
    pub slug: &'static str,
    /// The problem's title.
    pub title: &'static str,
    /// What the status means for an operation, in its OpenAPI responses.
    pub description: &'static str,
    /// The header the answer carries, if any.
    pub header: Option<ExtraHeader>,
}

/// Error kinds. [`Code::row`] is the table.
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
    /// 403: refused for another reason (a foreign `Origin` at `/mcp`).
    Forbidden,
    /// 403: an upload past the account's quota of bytes or clips.
    QuotaExceeded,
    /// 403: an anonymous upload whose proof-of-work solution is not taken.
    ChallengeFailed,
    /// 404: no such clip (or not visible to the caller), or no such resource.
    NotFound,
    /// 405: the resource does not support the method.
    MethodNotAllowed,
    /// 406: no acceptable representation.
    NotAcceptable,
    /// 408: the client stopped sending a body; what came was kept.
    RequestTimeout,
    /// 409: a business rule conflicts with the clip's state.
    Conflict,
    /// 409: a one-time sign-in link that was already used.
    LinkUsed,
    /// 409: a resumable upload's append starts elsewhere than where the upload stands.
    OffsetMismatch,
    /// 410: the clip was deleted or has expired, or its downloads are used up.
    Gone,
    /// 412: an `If-Match` precondition does not hold.
    PreconditionFailed,
    /// 400: a resumable upload's lengths disagree.
    InconsistentLength,
    /// 413: body too large.
    TooLarge,
    /// 415: an upload that is not audio.
    NotAudio,
    /// 415: a request body of a media type the operation does not take.
    UnsupportedMediaType,
    /// 416: a byte range that selects nothing.
    RangeNotSatisfiable,
    /// 422: well-formed but semantically invalid.
    Unprocessable,
    /// 423: another request is appending to the resumable upload; retry shortly.
    UploadBusy,
    /// 429: too many requests of this kind; retry later.
    TooManyRequests,
    /// 460: a resumable upload's chunk does not match its `Upload-Checksum`.
    ChecksumMismatch,
    /// 429: a rate-limit policy (`RateLimit-Policy`) is used up; retry later.
    RateLimited,
    /// 451: taken down by a moderator.
    Removed,
    /// 500: a bug.
    Internal,
    /// 501: a feature the request asks for is not implemented.
    NotImplemented,
    /// 503: a dependency is unavailable; retry later.
    Unavailable,
}

impl Code {
    /// Every code, in table order.
    pub const ALL: [Code; 30] = [
        Code::BadRequest,
        Code::InvalidField,
        Code::Unauthorized,
        Code::InsufficientScope,
        Code::Forbidden,
        Code::QuotaExceeded,
        Code::ChallengeFailed,
        Code::NotFound,
        Code::MethodNotAllowed,
        Code::NotAcceptable,
        Code::RequestTimeout,
        Code::Conflict,
        Code::LinkUsed,
        Code::OffsetMismatch,
        Code::Gone,
        Code::PreconditionFailed,
        Code::InconsistentLength,
        Code::TooLarge,
        Code::NotAudio,
        Code::UnsupportedMediaType,
        Code::RangeNotSatisfiable,
        Code::Unprocessable,
        Code::UploadBusy,
        Code::TooManyRequests,
        Code::ChecksumMismatch,
        Code::RateLimited,
        Code::Removed,
        Code::Internal,
        Code::NotImplemented,
        Code::Unavailable,
    ];

    /// This code's row of the table.
    pub const fn row(self) -> Row {
        use ExtraHeader::*;
        use StatusCode as S;
        let (status, slug, title, description, header) = match self {
            Code::BadRequest => (
                S::BAD_REQUEST,
                "bad-request",
                "The request is malformed",
                "The request is malformed or a field is invalid.",
                None,
            ),
            Code::InvalidField => (
                S::BAD_REQUEST,
                "invalid-field",
                "A field is invalid",
                "A field is invalid.",
                None,
            ),
            Code::Unauthorized => (
                S::UNAUTHORIZED,
                "unauthorized",
                "Authentication required",
                "Missing or invalid credentials.",
                Some(WwwAuthenticate),
            ),
            Code::InsufficientScope => (
                S::FORBIDDEN,
                "insufficient-scope",
                "Insufficient scope",
                "The token is valid but lacks the scope the operation needs.",
                Some(WwwAuthenticate),
            ),
            Code::Forbidden => (
                S::FORBIDDEN,
                "forbidden",
                "Forbidden",
                "The request is refused.",
                None,
            ),
            Code::QuotaExceeded => (
                S::FORBIDDEN,
                "quota-exceeded",
                "Quota exceeded",
                "The upload would take the account past its quota of stored bytes or clips; \
                 `usage` and `limits` say where it stands. Delete clips to make room.",
                None,
            ),
            Code::ChallengeFailed => (
                S::FORBIDDEN,
                "challenge-failed",
                "Proof of work not accepted",
                "The anonymous upload's solved challenge (`x-altcha`) is not taken: it does not \
                 solve the challenge, the challenge has expired or was already used, or this \
                 site did not issue it. Fetch a new one from `GET /api/v1/challenge`, solve it \
                 and send the upload again.",
                None,
            ),
            Code::NotFound => (
                S::NOT_FOUND,
                "not-found",
                "Not found",
                "No such clip (or not visible to the caller), or no such resource here.",
                None,
            ),
            Code::MethodNotAllowed => (
                S::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                "The resource does not support this method.",
                Some(Allow),
            ),
            Code::NotAcceptable => (
                S::NOT_ACCEPTABLE,
                "not-acceptable",
                "Not acceptable",
                "No representation matches `Accept`.",
                None,
            ),
            Code::RequestTimeout => (
                S::REQUEST_TIMEOUT,
                "request-timeout",
                "Request timeout",
                "The client sent nothing for a while, so the request ended; a resumable upload kept \
                 the bytes that came (ask `HEAD` where it stands).",
                None,
            ),
            Code::Conflict => (
                S::CONFLICT,
                "conflict",
                "Conflict with the clip's state",
                "The request conflicts with the current state of the clip.",
                None,
            ),
            Code::LinkUsed => (
                S::CONFLICT,
                "link-used",
                "Sign-in link already used",
                "The one-time sign-in link was already used (links work once).",
                None,
            ),
            Code::OffsetMismatch => (
                S::CONFLICT,
                "mismatching-upload-offset",
                "Mismatching upload offset",
                "The append does not start where the resumable upload stands; `Upload-Offset` \
                 says where that is.",
                None,
            ),
            Code::Gone => (
                S::GONE,
                "gone",
                "The clip is gone",
                "The clip was deleted or has expired.",
                None,
            ),
            Code::PreconditionFailed => (
                S::PRECONDITION_FAILED,
                "precondition-failed",
                "Precondition failed",
                "`If-Match` names no current representation of the clip.",
                None,
            ),
            Code::InconsistentLength => (
                S::BAD_REQUEST,
                "inconsistent-upload-length",
                "Inconsistent upload length",
                "The resumable upload's lengths disagree (a declared length changed, or the \
                 bytes run past it).",
                None,
            ),
            Code::TooLarge => (
                S::PAYLOAD_TOO_LARGE,
                "too-large",
                "The request is too large",
                "The upload exceeds the size limit.",
                None,
            ),
            Code::NotAudio => (
                S::UNSUPPORTED_MEDIA_TYPE,
                "not-audio",
                "Not a supported audio file",
                "The body is not a supported audio format.",
                None,
            ),
            Code::UnsupportedMediaType => (
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "The body's `Content-Type` is not one the operation takes.",
                None,
            ),
            Code::RangeNotSatisfiable => (
                S::RANGE_NOT_SATISFIABLE,
                "range-not-satisfiable",
                "Range not satisfiable",
                "The byte range selects nothing of the clip.",
                Some(ContentRange),
            ),
            Code::Unprocessable => (
                S::UNPROCESSABLE_ENTITY,
                "unprocessable",
                "Unprocessable request",
                "The request is well-formed but cannot be applied.",
                None,
            ),
            Code::UploadBusy => (
                S::LOCKED,
                "upload-busy",
                "The upload is busy",
                "Another request is appending to this resumable upload; retry after the given \
                 seconds.",
                Some(RetryAfter),
            ),
            Code::ChecksumMismatch => (
                match S::from_u16(460) {
                    Ok(status) => status,
                    Err(_) => S::BAD_REQUEST,
                },
                "checksum-mismatch",
                "Checksum mismatch",
                "The chunk does not match its `Upload-Checksum`; it was discarded.",
                None,
            ),
            Code::TooManyRequests => (
                S::TOO_MANY_REQUESTS,
                "too-many-requests",
                "Too many requests",
                "Too many requests of this kind; retry after the given seconds.",
                Some(RetryAfter),
            ),
            Code::RateLimited => (
                S::TOO_MANY_REQUESTS,
                "rate-limited",
                "Rate limit exceeded",
                "The caller's rate limit for this kind of request is used up (the problem's \
                 `policy` names it, as `RateLimit-Policy` and `RateLimit` do); retry after the \
                 given seconds.",
                Some(RetryAfter),
            ),
            Code::Removed => (
                S::UNAVAILABLE_FOR_LEGAL_REASONS,
                "removed",
                "Removed by a moderator",
                "A moderator took the clip (or these exact bytes) down.",
                None,
            ),
            Code::Internal => (
                S::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                "An unexpected server error (details are logged, not shown).",
                None,
            ),
            Code::NotImplemented => (
                S::NOT_IMPLEMENTED,
                "not-implemented",
                "Not implemented",
                "The request asks for something this server does not do.",
                None,
            ),
            Code::Unavailable => (
                S::SERVICE_UNAVAILABLE,
                "unavailable",
                "Temporarily unavailable",
                "A dependency is temporarily unavailable; retry after the given seconds.",
                Some(RetryAfter),
            ),
        };
        Row {
            status,
            slug,
            title,
            description,
            header,
        }
    }

    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        self.row().status
    }

    /// The stable problem `type` URI.
    pub fn type_uri(self) -> String {
        match self {
            // The resumable-upload draft registers these two with IANA.
            Code::OffsetMismatch | Code::InconsistentLength => format!(
                "https://iana.org/assignments/http-problem-types#{}",
                self.row().slug
            ),
            _ => format!("urn:voicebin:problem:{}", self.row().slug),
        }
    }

    /// The code for an error poem raised with `status` (unknown routes, wrong methods, bodies
    /// poem-openapi could not parse, transport errors): the table's generic code for that
    /// status, or for a status the table does not know, 400 or 500 by its class.
    pub fn for_status(status: StatusCode) -> Code {
        match status {
            // Statuses several codes share: the generic one.
            StatusCode::BAD_REQUEST => Code::BadRequest,
            StatusCode::FORBIDDEN => Code::Forbidden,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Code::UnsupportedMediaType,
            s => Code::ALL
                .into_iter()
                .find(|code| code.status() == s)
                .unwrap_or(if s.is_server_error() {
                    Code::Internal
                } else {
                    Code::BadRequest
                }),
        }
    }
}

/// Seconds a client is told to wait after a 503 or a 429 that names no time.
const RETRY_AFTER_SECS: u32 = 1;

/// One error answer: a [`Code`] and what this occurrence adds (detail, field, scope, the value
/// of the code's extra header).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} {}", self.code.status(), self.detail)]
pub struct ApiError {
    code: Code,
    detail: String,
    field: Option<String>,
    required_scope: Option<String>,
    policy: Option<String>,
    /// The value of the code's extra header; `None` uses the code's default.
    header: Option<String>,
    /// The account's usage and limits, for `quota-exceeded`.
    quota: Option<(QuotaUsage, QuotaLimits)>,
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

/// A description made safe for a quoted challenge parameter.
pub fn quoted(description: &str) -> String {
    description.replace(['"', '\\'], "'")
}

impl ApiError {
    /// The error of kind `code` with a detail message.
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        ApiError {
            code,
            detail: detail.into(),
            field: None,
            required_scope: None,
            policy: None,
            header: None,
            quota: None,
        }
    }

    /// 403 `quota-exceeded`, carrying the account's `usage` and `limits`.
    pub fn over_quota(usage: voicebin_domain::Usage, limits: voicebin_domain::Limits) -> Self {
        use voicebin_domain::quota::format_bytes;
        let mut stands = Vec::new();
        if let Some(max) = limits.clips {
            stands.push(format!("{} of {max} clips", usage.clips));
        }
        if let Some(max) = limits.bytes {
            stands.push(format!(
                "{} of {} stored",
                format_bytes(usage.bytes),
                format_bytes(max)
            ));
        }
        let mut e = Self::new(
            Code::QuotaExceeded,
            format!(
                "this upload would take the account past its quota ({}, counting uploads in \
                 progress); delete clips to make room",
                stands.join(", ")
            ),
        );
        e.quota = Some((usage.into(), limits.into()));
        e
    }

    /// The same error answering with `value` in the code's extra header.
    pub fn with_header(mut self, value: impl Into<String>) -> Self {
        self.header = Some(value.into());
        self
    }

    /// 404 for a clip that does not exist or that the caller may not see.
    pub fn not_found() -> Self {
        Self::new(Code::NotFound, "no clip with this id")
    }

    /// 410 for a deleted clip.
    pub fn gone() -> Self {
        Self::new(Code::Gone, "this clip has been deleted")
    }

    /// 410 for a clip whose expiry has come.
    pub fn expired() -> Self {
        Self::new(Code::Gone, "this clip has expired")
    }

    /// 451 for a clip a moderator took down.
    pub fn removed() -> Self {
        Self::new(Code::Removed, "this clip was removed by a moderator")
    }

    /// 429 telling the client how many seconds to wait.
    pub fn too_many(detail: impl Into<String>, retry_after: u32) -> Self {
        Self::new(Code::TooManyRequests, detail).with_header(retry_after.max(1).to_string())
    }

    /// 429 for a request a rate-limit policy refuses: `policy` names it, and the client waits
    /// `retry_after` seconds.
    pub fn rate_limited(detail: impl Into<String>, policy: &str, retry_after: u32) -> Self {
        let mut e =
            Self::new(Code::RateLimited, detail).with_header(retry_after.max(1).to_string());
        e.policy = Some(policy.to_owned());
        e
    }

    /// 405 for a method the resource lacks; `allow` lists those it has (`GET, HEAD`).
    pub fn method_not_allowed(allow: impl Into<String>) -> Self {
        let allow = allow.into();
        Self::new(
            Code::MethodNotAllowed,
            format!("this resource answers {allow} only"),
        )
        .with_header(allow)
    }

    /// 416 for a range outside a representation of `len` bytes.
    pub fn range_not_satisfiable(len: u64) -> Self {
        Self::new(
            Code::RangeNotSatisfiable,
            format!("the clip is {len} bytes long"),
        )
        .with_header(format!("bytes */{len}"))
    }

    /// 401 with an `invalid_token` challenge.
    pub fn invalid_token(description: &str) -> Self {
        Self::new(Code::Unauthorized, description)
            .with_header(bearer_challenge(Some(("invalid_token", description))))
    }

    /// 401 for a request made with `Authorization: DPoP`: the challenge uses that scheme, with
    /// `error` one of `invalid_token`, `invalid_dpop_proof` or `use_dpop_nonce`.
    pub fn dpop_rejected(error: &str, description: &str) -> Self {
        Self::new(Code::Unauthorized, description)
            .with_header(dpop_challenge(Some((error, description))))
    }

    /// 403 naming the scope that was needed, challenging with the scheme the caller used.
    pub fn insufficient_scope_for(scope: &str, dpop: bool) -> Self {
        let challenge = if dpop {
            format!(
                r#"DPoP realm="voicebin", algs="{}", error="insufficient_scope", scope="{scope}""#,
                crate::auth::dpop::PROOF_ALGS.join(" ")
            )
        } else {
            format!(r#"Bearer realm="voicebin", error="insufficient_scope", scope="{scope}""#)
        };
        let mut e = Self::new(
            Code::InsufficientScope,
            format!("this operation needs the `{scope}` scope"),
        )
        .with_header(challenge);
        e.required_scope = Some(scope.to_owned());
        e
    }

    /// Names the request field the error is about.
    pub fn with_field(mut self, name: &str) -> Self {
        self.field = Some(name.to_owned());
        self
    }

    /// 400 about one field.
    pub fn invalid_field(err: &ValueError) -> Self {
        Self::new(Code::InvalidField, err.to_string()).with_field(err.field())
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

    /// The kind of error.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// What went wrong in this occurrence.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The extra header this answer carries (name and value), if its code has one (and, for
    /// `Allow`, if the error was built with its value).
    pub fn extra_header(&self) -> Option<(HeaderName, String)> {
        let header = self.code.row().header?;
        let value = match (&self.header, header) {
            (Some(value), _) => value.clone(),
            (None, ExtraHeader::WwwAuthenticate) => bearer_challenge(None),
            (None, ExtraHeader::RetryAfter) => RETRY_AFTER_SECS.to_string(),
            // Only `range_not_satisfiable` builds this code, always with its header.
            (None, ExtraHeader::ContentRange) => "bytes */0".to_owned(),
            // No list is better than a wrong one.
            (None, ExtraHeader::Allow) => return None,
        };
        Some((header.name(), value))
    }

    /// The problem document this error renders as.
    pub fn problem(&self) -> Problem {
        let row = self.code.row();
        Problem {
            ty: self.code.type_uri(),
            title: row.title.to_owned(),
            status: row.status.as_u16(),
            detail: Some(self.detail.clone()),
            field: self.field.clone(),
            required_scope: self.required_scope.clone(),
            usage: self.quota.map(|(usage, _)| usage),
            limits: self.quota.map(|(_, limits)| limits),
            policy: self.policy.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.problem().to_json().unwrap_or_default().to_string();
        let mut response = Response::builder()
            .status(self.status())
            .content_type("application/problem+json")
            .body(body);
        if let Some((name, value)) = self.extra_header() {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        ApiError::status(self)
    }

    fn as_response(&self) -> Response {
        self.clone().into_response()
    }
}

/// Renders any error that escaped a handler (poem-openapi's parameter and body errors, unknown
/// routes, wrong methods, an [`ApiError`] carried through `poem::Error`) as a problem document.
pub fn problem_response(err: poem::Error) -> Response {
    if let Some(e) = err.downcast_ref::<ApiError>() {
        return e.clone().into_response();
    }
    // An operation's `Errors` travel as the `ApiError` above; everything else is poem's own.
    from_status(err.status(), err.to_string()).into_response()
}

/// The problem for an error that carries only a status and a message (poem's own, rmcp's
/// transport errors): the code is [`Code::for_status`], and the message becomes the detail
/// except where it could leak internals.
pub fn from_status(status: StatusCode, message: String) -> ApiError {
    let code = Code::for_status(status);
    let detail = if status.is_server_error() {
        tracing::error!(error = %message, "unhandled error");
        "an unexpected error occurred".to_owned()
    } else if status == StatusCode::NOT_FOUND {
        // poem's "not found" says nothing more useful than this.
        "no such resource".to_owned()
    } else {
        message
    };
    ApiError::new(code, detail)
}

#[cfg(test)]
mod tests;
