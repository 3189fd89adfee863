//! `POST /api/v1/audio`: streaming uploads, raw or multipart.

use std::collections::HashMap;

use futures::{StreamExt, TryStreamExt};
use poem_openapi::param::Header;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use voicebin_commands::ByteStream;

use super::extract::{Auth, UploadBody};
use super::ApiTags;
use crate::access;
use crate::error::{ApiError, Code, Errors};
use crate::model::Item;
use crate::state::AppState;
use crate::usecases::clips::{self, RawMeta};

/// Largest accepted multipart text field.
const MAX_FORM_FIELD: u64 = 16 * 1024;
/// Allowance for multipart framing and fields on top of the file size limit.
const MULTIPART_SLACK: u64 = 64 * 1024;

/// Uploads.
pub struct AudioApi {
    /// Shared state.
    pub state: AppState,
}

#[derive(ApiResponse)]
enum UploadResponse {
    /// Stored. The clip is `pending` until its scan completes; the body is the owner view.
    #[oai(status = 201)]
    Created(Json<Item>, #[oai(header = "Location")] String),
}

/// Adds form fields to `meta`; headers sent with the form take precedence.
fn merge(meta: &mut RawMeta, fields: HashMap<String, String>) {
    for (name, value) in fields {
        let slot = match name.as_str() {
            "filename" => &mut meta.filename,
            "title" => &mut meta.title,
            "description" => &mut meta.description,
            "download_limit" => &mut meta.download_limit,
            _ => continue,
        };
        slot.get_or_insert(value);
    }
}

/// A header's value as UTF-8 text; 400 when it is not valid UTF-8 or sent twice.
fn raw_header(req: &poem::Request, name: &'static str) -> Result<Option<String>, ApiError> {
    let mut values = req.headers().get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::new(
            Code::BadRequest,
            format!("`{name}` is sent more than once"),
        ));
    }
    String::from_utf8(value.as_bytes().to_vec())
        .map(Some)
        .map_err(|_| ApiError::new(Code::BadRequest, format!("`{name}` is not valid UTF-8")))
}

/// Reads form fields up to the `file` part and returns them with the file's byte stream.
async fn split_multipart(
    body: poem::Body,
    content_type: &str,
) -> Result<(HashMap<String, String>, Option<String>, ByteStream), ApiError> {
    let boundary = multer::parse_boundary(content_type)
        .map_err(|e| ApiError::new(Code::BadRequest, format!("bad multipart content type: {e}")))?;
    let mut multipart = multer::Multipart::new(body.into_bytes_stream(), boundary);
    let mut fields = HashMap::new();
    let bad = |e: multer::Error| {
        ApiError::new(Code::BadRequest, format!("malformed multipart body: {e}"))
    };
    while let Some(mut field) = multipart.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            let filename = field.file_name().map(str::to_owned);
            let stream = field.map_err(std::io::Error::other);
            return Ok((fields, filename, Box::pin(stream)));
        }
        let mut value = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(bad)? {
            value.extend_from_slice(&chunk);
            if value.len() as u64 > MAX_FORM_FIELD {
                return Err(ApiError::new(
                    Code::BadRequest,
                    format!("form field `{name}` is longer than {MAX_FORM_FIELD} bytes"),
                ));
            }
        }
        let value = String::from_utf8(value).map_err(|_| {
            ApiError::new(
                Code::BadRequest,
                format!("form field `{name}` is not UTF-8"),
            )
        })?;
        fields.insert(name, value);
    }
    Err(ApiError::new(
        Code::BadRequest,
        "the multipart body has no `file` part",
    ))
}

crate::error::errors!(
    /// What an upload can answer besides 201.
    UploadErrors = "uploadAudio": [
        BadRequest, InvalidField, Unauthorized, InsufficientScope, TooLarge, NotAudio, Removed,
        Internal, Unavailable
    ]
);

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Audio")]
impl AudioApi {
    /// Upload an audio clip (scope `voice:create`).
    ///
    /// Send the file as the raw body, or as `multipart/form-data` with a `file` part (metadata
    /// fields before it). The media type is decided from the bytes; anything that is not
    /// audio is refused with 415. The clip is `pending` until validated and scanned; only then
    /// is it served to others.
    #[oai(path = "/audio", method = "post", operation_id = "uploadAudio")]
    #[allow(clippy::too_many_arguments)]
    async fn upload(
        &self,
        auth: Auth,
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
        req: &poem::Request,
    ) -> Result<UploadResponse, Errors<UploadErrors>> {
        let principal = auth.require(access::CREATE)?;
        let owner = clips::account(principal)?;
        let max = self.state.service.max_upload_bytes();
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
        let _ = (x_filename, x_title, x_description, x_download_limit);
        let mut meta = RawMeta {
            filename: raw_header(req, "x-filename")?,
            title: raw_header(req, "x-title")?,
            description: raw_header(req, "x-description")?,
            download_limit: raw_header(req, "x-download-limit")?,
        };
        let stream: ByteStream = if is_multipart {
            let content_type = body.content_type.as_deref().unwrap_or_default();
            let (fields, part_filename, stream) = split_multipart(body.body, content_type).await?;
            merge(&mut meta, fields);
            if meta.filename.is_none() {
                meta.filename = part_filename.filter(|f| !f.is_empty());
            }
            stream
        } else {
            Box::pin(
                body.body
                    .into_bytes_stream()
                    .map(|r| r.map_err(std::io::Error::other)),
            )
        };
        let item = clips::upload(
            &self.state,
            owner,
            meta,
            stream,
            crate::http::request_id(req),
        )
        .await?;
        let location = self.state.urls.item(&item.id);
        Ok(UploadResponse::Created(Json(item), location))
    }
}
