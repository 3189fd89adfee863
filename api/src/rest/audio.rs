//! `POST /api/v1/audio`: streaming uploads, raw or multipart.

use futures::StreamExt;
use poem_openapi::param::Header;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use voicebin_commands::ByteStream;

use super::extract::{MaybeAuth, UploadBody};
use super::form;
use super::ApiTags;
use crate::access;
use crate::error::{ApiError, Code, Errors};
use crate::model::Item;
use crate::state::AppState;
use crate::usecases::anonymous::{self, Challenge};
use crate::usecases::clips::{self, RawMeta};

/// Allowance for multipart framing and fields on top of the file size limit (a valid form's
/// fields and part headers take well under this).
const MULTIPART_SLACK: u64 = 64 * 1024;

/// Uploads.
pub struct AudioApi {
    /// Shared state.
    pub state: AppState,
}

#[derive(ApiResponse)]
enum ChallengeResponse {
    /// A new challenge, to be solved within ten minutes and used once.
    #[oai(status = 200)]
    Ok(Json<Challenge>, #[oai(header = "Cache-Control")] String),
}

/// Who is uploading: an account, or nobody with a solved challenge.
enum Uploader {
    Account(voicebin_domain::AccountId),
    Anonymous(String),
}

#[derive(ApiResponse)]
enum UploadResponse {
    /// Stored. The clip is `pending` until its scan completes; the body is the owner view.
    #[oai(status = 201)]
    Created(Json<Item>, #[oai(header = "Location")] String),
}

/// Fills what the headers left unset from the form's fields: headers sent with a form take
/// precedence.
fn merge(meta: &mut RawMeta, form: RawMeta) {
    let RawMeta {
        filename,
        title,
        description,
        download_limit,
        expires_in,
    } = form;
    for (slot, value) in [
        (&mut meta.filename, filename),
        (&mut meta.title, title),
        (&mut meta.description, description),
        (&mut meta.download_limit, download_limit),
        (&mut meta.expires_in, expires_in),
    ] {
        if slot.is_none() {
            *slot = value;
        }
    }
}

crate::error::errors!(
    /// What an upload can answer besides 201.
    UploadErrors = "uploadAudio": [
        BadRequest, InvalidField, Unauthorized, InsufficientScope, QuotaExceeded,
        ChallengeFailed, TooLarge, NotAudio, Removed, TooManyRequests, RateLimited, Internal,
        Unavailable
    ]
);
crate::error::errors!(
    /// What asking for a challenge can answer besides 200.
    ChallengeErrors = "getChallenge": [NotFound, RateLimited, Internal]
);

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Audio")]
impl AudioApi {
    /// Upload an audio clip (scope `voice:create`).
    ///
    /// Send the file as the raw body, or as `multipart/form-data` with a `file` part (metadata
    /// fields before it). The media type is decided from the bytes; anything that is not
    /// audio is refused with 415. The clip is `pending` until validated and scanned; only then
    /// is it served to others.
    ///
    /// An upload that would take the account past its quota of stored bytes or clips is
    /// refused with 403 `quota-exceeded` (carrying `usage` and `limits`) before its bytes are
    /// kept; with a `Content-Length` that cannot fit, before the body is read.
    ///
    /// **Anonymous uploads**, when the operator turns them on: send no `Authorization` but
    /// `x-altcha`, a solved challenge from `GET /api/v1/challenge`. Such a clip has a lower
    /// size limit and always expires (24 hours unless the operator says otherwise; a shorter
    /// `x-expires-in` is kept), each network address may make only a few an hour (429
    /// `too-many-requests`), and a challenge is taken once (403 `challenge-failed` for a
    /// wrong, expired or reused one). The answer's `management` holds the only link that can
    /// delete the clip: it is never shown again.
    #[oai(path = "/audio", method = "post", operation_id = "uploadAudio")]
    #[allow(clippy::too_many_arguments)]
    async fn upload(
        &self,
        auth: MaybeAuth,
        body: UploadBody,
        /// Display filename (default: from the multipart part, else `<id>.<ext>`).
        #[oai(name = "x-filename")]
        x_filename: Header<Option<String>>,
        /// Title (at most 200 characters).
        #[oai(name = "x-title")]
        x_title: Header<Option<String>>,
        /// Description (at most 5000 characters).
        #[oai(name = "x-description")]
        x_description: Header<Option<String>>,
        /// Downloads allowed to others than the owner (1 to 1000000000); absent = unlimited.
        #[oai(name = "x-download-limit")]
        x_download_limit: Header<Option<String>>,
        /// How long the clip lives: whole seconds (`3600`) or an ISO 8601 duration of weeks,
        /// days, hours, minutes and seconds (`PT1H`, `P7D`, `P1DT12H`; no years or months).
        /// Absent: the server's default lifetime (none unless the operator sets one). A
        /// malformed value, or one beyond the server's maximum lifetime, is a 400 problem
        /// (field `expires_in`) and nothing is stored. Once expired the clip answers 410
        /// everywhere and its bytes are purged.
        #[oai(name = "x-expires-in")]
        x_expires_in: Header<Option<String>>,
        /// For an anonymous upload (no `Authorization`): a challenge from `GET
        /// /api/v1/challenge`, solved, as the ALTCHA widget gives it (base64 of its JSON).
        /// Malformed: 400 (field `altcha`); not taken: 403 `challenge-failed`.
        #[oai(name = "x-altcha")]
        x_altcha: Header<Option<String>>,
        req: &poem::Request,
    ) -> Result<UploadResponse, Errors<UploadErrors>> {
        let _ = x_altcha;
        let uploader = match &auth.0 {
            Some(principal) => {
                access::require(principal, access::CREATE)?;
                Uploader::Account(clips::account(principal)?)
            }
            None => match crate::http::raw_header(req, "x-altcha")? {
                Some(altcha) if self.state.anonymous.settings.enabled => {
                    Uploader::Anonymous(altcha)
                }
                _ => return Err(anonymous::needs_token(&self.state).into()),
            },
        };
        let max = match uploader {
            Uploader::Account(_) => self.state.service.max_upload_bytes(),
            Uploader::Anonymous(_) => anonymous::max_bytes(&self.state),
        };
        let is_multipart = body.content_type.as_deref().is_some_and(|ct| {
            ct.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        });
        let allowance = if is_multipart {
            max + MULTIPART_SLACK
        } else {
            max
        };
        if body.content_length.is_some_and(|len| len > allowance) {
            return Err(ApiError::new(
                Code::TooLarge,
                format!("uploads are limited to {max} bytes"),
            )
            .into());
        }

        // Header values are read as raw UTF-8 (clients send non-ASCII filenames and titles
        // as-is); the typed parameters above only document them.
        let _ = (
            x_filename,
            x_title,
            x_description,
            x_download_limit,
            x_expires_in,
        );
        let mut meta = RawMeta {
            filename: crate::http::raw_header(req, "x-filename")?,
            title: crate::http::raw_header(req, "x-title")?,
            description: crate::http::raw_header(req, "x-description")?,
            download_limit: crate::http::raw_header(req, "x-download-limit")?,
            expires_in: crate::http::raw_header(req, "x-expires-in")?,
        };
        // A raw body's declared length is the clip's size; a form's is not.
        let declared = body.content_length.filter(|_| !is_multipart);
        let (stream, late): (ByteStream, _) = if is_multipart {
            let content_type = body.content_type.as_deref().unwrap_or_default();
            let form = form::read(body.body, content_type).await?;
            merge(&mut meta, form.fields);
            if meta.filename.is_none() {
                meta.filename = form.file_name.filter(|f| !f.is_empty());
            }
            (form.file, Some(form.late))
        } else {
            let stream = body
                .body
                .into_bytes_stream()
                .map(|r| r.map_err(std::io::Error::other));
            (Box::pin(stream), None)
        };
        let request_id = crate::http::request_id(req);
        let uploaded = match uploader {
            Uploader::Account(owner) => {
                clips::upload(&self.state, owner, meta, stream, declared, request_id).await
            }
            Uploader::Anonymous(altcha) => {
                let ip = crate::http::client_ip(req, self.state.moderation.trust_forwarded_for);
                anonymous::upload(&self.state, ip, &altcha, meta, stream, declared, request_id)
                    .await
            }
        };
        let item = uploaded
            // A part after the file fails the file's stream; say what it was.
            .map_err(|e| match late.and_then(|late| late.take()) {
                Some(refusal) => refusal.into(),
                None => e,
            })?;
        let location = self.state.urls.item(&item.id);
        Ok(UploadResponse::Created(Json(item), location))
    }

    /// A proof-of-work challenge for an anonymous upload (ALTCHA v2, PBKDF2/SHA-256).
    ///
    /// Only while the operator allows anonymous uploads (404 otherwise). Find the `counter`
    /// (from 0 up) for which PBKDF2-HMAC-SHA256 of the `nonce`'s bytes followed by the counter
    /// as four big-endian bytes, salted with the `salt`'s bytes, `cost` iterations, 32 bytes,
    /// starts with `keyPrefix` in hex; then send base64 of `{"challenge": <this document>,
    /// "solution": {"counter": …, "derivedKey": "<hex>"}}` as `x-altcha` with the upload. The
    /// ALTCHA widget and altcha-lib's `solveChallenge` do exactly this. A challenge expires at
    /// `expiresAt` and is taken once.
    #[oai(path = "/challenge", method = "get", operation_id = "getChallenge")]
    async fn challenge(&self) -> Result<ChallengeResponse, Errors<ChallengeErrors>> {
        let challenge = anonymous::challenge(&self.state)?;
        Ok(ChallengeResponse::Ok(Json(challenge), "no-store".into()))
    }
}
