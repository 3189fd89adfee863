//! Resumable uploads over HTTP (ADR 0025): `/api/v1/uploads` and `/api/v1/uploads/{id}`, in
//! two protocols over the same uploads.
//!
//! - **tus 1.0** (requests carry `Tus-Resumable: 1.0.0`): `OPTIONS` discovery, `POST` creation
//!   (with a first chunk: creation-with-upload; or a deferred length), `HEAD` offset, `PATCH`
//!   (`application/offset+octet-stream`, optionally with `Upload-Checksum`), `DELETE`.
//! - **The IETF resumable-upload draft**, interop version 8 (`Upload-Complete` on creation,
//!   `application/partial-upload` appends, `HEAD` offset, `DELETE`). hyper cannot send a 104
//!   interim response, so the upload resource is announced in the final answer; clients should
//!   create with `Upload-Complete: ?0` and an empty body, then append.
//!
//! The protocol work happens here; the uploads themselves in
//! [`crate::usecases::resumable`]. Every answer under these paths carries `Tus-Resumable`
//! when the request did, and `Upload-Draft-Interop-Version` when the request did.

pub mod headers;

use futures::StreamExt;
use poem::http::{header, HeaderValue, StatusCode};
use poem::web::{Data, Path};
use poem::{handler, Body, Endpoint, IntoResponse, Request, Response};
use voicebin_commands::ByteStream;
use voicebin_domain::AccountId;
use voicebin_projections::UploadRow;

use self::headers::{
    integer, one, upload_complete, upload_limit, DRAFT_BODY, INTEROP_VERSION, TUS_BODY,
    TUS_EXTENSIONS, TUS_VERSION,
};
use crate::access;
use crate::error::{ApiError, Code};
use crate::http::http_date;
use crate::state::AppState;
use crate::usecases::clips::{self, RawMeta};
use crate::usecases::resumable::{self, Append, AppendError, AppendOutcome};

/// The path uploads are created at.
pub const COLLECTION: &str = "/api/v1/uploads";

/// Which protocol a request speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Tus,
    Draft,
}

/// Wraps the upload routes: the protocol's version headers on every answer, errors included,
/// and 412 for a tus version other than 1.0.0.
pub async fn versioned<E: Endpoint>(ep: E, req: Request) -> poem::Result<Response> {
    let tus = req.headers().get("tus-resumable").cloned();
    let draft = req.headers().contains_key("upload-draft-interop-version");
    let discovery = req.method() == poem::http::Method::OPTIONS;
    let mut response = match &tus {
        Some(version) if !discovery && version.as_bytes() != TUS_VERSION.as_bytes() => {
            let mut response = ApiError::new(
                Code::PreconditionFailed,
                format!("this server speaks tus {TUS_VERSION} only"),
            )
            .into_response();
            response
                .headers_mut()
                .insert("tus-version", HeaderValue::from_static(TUS_VERSION));
            response
        }
        _ => match ep.call(req).await {
            Ok(response) => response.into_response(),
            Err(e) => crate::error::problem_response(e),
        },
    };
    let headers = response.headers_mut();
    if tus.is_some() && !discovery {
        headers.insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
    }
    if draft {
        headers.insert(
            "upload-draft-interop-version",
            HeaderValue::from_static(INTEROP_VERSION),
        );
    }
    Ok(response)
}

/// The caller, who must hold `voice:create`.
async fn uploader(state: &AppState, req: &Request) -> Result<AccountId, ApiError> {
    match state.caller(req).await? {
        Some(principal) => {
            access::require(&principal, access::CREATE)?;
            clips::account(&principal)
        }
        None => Err(ApiError::new(
            Code::Unauthorized,
            "resumable uploads need `Authorization: Bearer <token>`",
        )),
    }
}

fn header_value(value: impl AsRef<str>) -> HeaderValue {
    HeaderValue::from_str(value.as_ref()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn body_stream(body: Body) -> ByteStream {
    Box::pin(
        body.into_bytes_stream()
            .map(|r| r.map_err(std::io::Error::other)),
    )
}

/// What every answer about an upload says of it: offset, length, completeness, limits,
/// expiry.
fn describe(response: &mut Response, state: &AppState, row: &UploadRow) {
    let headers = response.headers_mut();
    headers.insert("upload-offset", header_value(row.offset.to_string()));
    match row.length {
        Some(len) => {
            headers.insert("upload-length", header_value(len.to_string()));
        }
        None => {
            headers.insert("upload-defer-length", HeaderValue::from_static("1"));
        }
    }
    let complete = row.completed_at.is_some();
    headers.insert(
        "upload-complete",
        HeaderValue::from_static(if complete { "?1" } else { "?0" }),
    );
    let expires = chrono::DateTime::from_timestamp(row.expires_at, 0).unwrap_or_default();
    headers.insert("upload-expires", header_value(http_date(expires)));
    let age = row.expires_at - chrono::Utc::now().timestamp();
    headers.insert(
        "upload-limit",
        header_value(upload_limit(state.service.max_upload_bytes(), Some(age))),
    );
    if complete {
        headers.insert(
            header::CONTENT_LOCATION,
            header_value(state.urls.item(&row.clip_id)),
        );
    }
}

/// `OPTIONS /api/v1/uploads`: what the server offers (tus discovery; the draft's limits).
#[handler]
pub fn options(Data(state): Data<&AppState>) -> Result<Response, ApiError> {
    let max = state.service.max_upload_bytes();
    Ok(Response::builder()
        .status(StatusCode::NO_CONTENT)
        .header("tus-version", TUS_VERSION)
        .header("tus-extension", TUS_EXTENSIONS)
        .header("tus-max-size", max.to_string())
        .header("tus-checksum-algorithm", "sha1,sha256")
        .header("accept-patch", DRAFT_BODY)
        .header("upload-limit", upload_limit(max, None))
        .header(header::ALLOW, "OPTIONS, POST")
        .finish())
}

/// `POST /api/v1/uploads`: creates an upload (tus creation, or the draft's upload creation).
#[handler]
pub async fn create(
    req: &Request,
    Data(state): Data<&AppState>,
    body: Body,
) -> Result<Response, ApiError> {
    let protocol = if req.headers().contains_key("tus-resumable") {
        Protocol::Tus
    } else if upload_complete(req)?.is_some() {
        Protocol::Draft
    } else {
        return Err(ApiError::new(
            Code::BadRequest,
            "send `Tus-Resumable: 1.0.0` (tus) or `Upload-Complete` (the IETF resumable-upload \
             draft); `POST /api/v1/audio` takes a whole file in one request",
        ));
    };
    let owner = uploader(state, req).await?;
    let content_length = integer(req, "content-length")?;
    // Everything about the request is checked before the upload exists.
    let checksum = match protocol {
        Protocol::Tus => headers::checksum(req)?,
        Protocol::Draft => None,
    };
    let (meta, length, last, with_body) = match protocol {
        Protocol::Tus => {
            if req.headers().contains_key("upload-concat") {
                return Err(ApiError::new(
                    Code::BadRequest,
                    "concatenation (`Upload-Concat`) is not offered: upload with one request at \
                     a time (tus-js-client: parallelUploads 1)",
                ));
            }
            let length = integer(req, "upload-length")?;
            let deferred = one(req, "upload-defer-length")?;
            match (length, deferred) {
                (Some(_), Some(_)) => {
                    return Err(ApiError::new(
                        Code::BadRequest,
                        "send `Upload-Length` or `Upload-Defer-Length: 1`, not both",
                    ))
                }
                (None, Some(v)) if v != "1" => {
                    return Err(ApiError::new(
                        Code::BadRequest,
                        "`Upload-Defer-Length` can only be 1",
                    ))
                }
                (None, None) => {
                    return Err(ApiError::new(
                        Code::BadRequest,
                        "send `Upload-Length` (or `Upload-Defer-Length: 1`)",
                    ))
                }
                _ => {}
            }
            let meta = headers::tus_metadata(one(req, "upload-metadata")?)?;
            let with_body = headers::media_type(req).as_deref() == Some(TUS_BODY);
            if let (true, Some(len), Some(body)) = (with_body, length, content_length) {
                if body > len {
                    return Err(ApiError::new(
                        Code::InconsistentLength,
                        format!("the body has {body} bytes, the upload {len}"),
                    ));
                }
            }
            (meta, length, false, with_body)
        }
        Protocol::Draft => {
            let last = upload_complete(req)? == Some(true);
            let mut length = integer(req, "upload-length")?;
            if last {
                match (length, content_length) {
                    (Some(a), Some(b)) if a != b => {
                        return Err(ApiError::new(
                            Code::InconsistentLength,
                            format!("`Upload-Length` says {a} bytes, the body has {b}"),
                        ))
                    }
                    (None, Some(b)) => length = Some(b),
                    _ => {}
                }
            }
            let meta = RawMeta {
                filename: crate::http::raw_header(req, "x-filename")?,
                title: crate::http::raw_header(req, "x-title")?,
                description: crate::http::raw_header(req, "x-description")?,
                download_limit: crate::http::raw_header(req, "x-download-limit")?,
                expires_in: crate::http::raw_header(req, "x-expires-in")?,
            };
            (meta, length, last, true)
        }
    };
    let row = resumable::create(state, &owner, meta, length).await?;
    let location = state.urls.path(&format!("{COLLECTION}/{}", row.id));
    let has_body = with_body && (content_length != Some(0));
    if !has_body && !last {
        let mut response = Response::builder()
            .status(StatusCode::CREATED)
            .header(header::LOCATION, &location)
            .finish();
        describe(&mut response, state, &row);
        return Ok(response);
    }
    let append = Append {
        offset: 0,
        body: body_stream(body),
        content_length,
        length: None,
        last,
        checksum,
        complete_at_length: protocol == Protocol::Tus,
        fresh: true,
    };
    let appended =
        resumable::append(state, &row.id, &owner, append, crate::http::request_id(req)).await;
    match appended {
        Ok(AppendOutcome::Progress(row)) => {
            let mut response = Response::builder()
                .status(StatusCode::CREATED)
                .header(header::LOCATION, &location)
                .finish();
            describe(&mut response, state, &row);
            Ok(response)
        }
        Ok(AppendOutcome::Completed(row, item)) => {
            Ok(completed(state, protocol, &row, &item, Some(&location)))
        }
        Err(e) => Ok(refused(e)),
    }
}

/// The answer to the request that completed an upload: tus's 204 (201 with the upload's
/// `Location` when it was the creation), the clip named by `Content-Location`; the draft's,
/// the clip as `POST /api/v1/audio` answers it.
fn completed(
    state: &AppState,
    protocol: Protocol,
    row: &UploadRow,
    item: &crate::model::Item,
    created: Option<&str>,
) -> Response {
    let mut response = match (protocol, created) {
        (Protocol::Tus, None) => Response::builder().status(StatusCode::NO_CONTENT).finish(),
        (Protocol::Tus, Some(location)) => Response::builder()
            .status(StatusCode::CREATED)
            .header(header::LOCATION, location)
            .finish(),
        (Protocol::Draft, _) => {
            use poem_openapi::types::ToJSON;
            Response::builder()
                .status(StatusCode::CREATED)
                .content_type("application/json")
                .header(header::LOCATION, state.urls.item(&item.id))
                .body(item.to_json().map(|j| j.to_string()).unwrap_or_default())
        }
    };
    describe(&mut response, state, row);
    response
}

/// An append's refusal: a 409 says where the upload stands.
fn refused(e: AppendError) -> Response {
    match e {
        AppendError::Mismatch { expected, complete } => {
            let mut response = ApiError::new(
                Code::OffsetMismatch,
                format!("the upload stands at byte {expected}"),
            )
            .into_response();
            let headers = response.headers_mut();
            headers.insert("upload-offset", header_value(expected.to_string()));
            headers.insert(
                "upload-complete",
                HeaderValue::from_static(if complete { "?1" } else { "?0" }),
            );
            response
        }
        AppendError::Api(e) => e.into_response(),
    }
}

/// `HEAD /api/v1/uploads/{id}`: where the upload stands.
#[handler]
pub async fn head(
    req: &Request,
    Data(state): Data<&AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let owner = uploader(state, req).await?;
    let mut row = resumable::find(state, &id, &owner).await?;
    // A tus upload holding all its bytes but not completed (the server stopped between the
    // two) completes now: a tus client that sees its whole length sends nothing more.
    if row.completed_at.is_none()
        && row.length == Some(row.offset)
        && req.headers().contains_key("tus-resumable")
    {
        let append = Append {
            offset: row.offset,
            body: Box::pin(futures::stream::empty()),
            content_length: Some(0),
            length: None,
            last: false,
            checksum: None,
            complete_at_length: true,
            fresh: false,
        };
        match resumable::append(state, &id, &owner, append, crate::http::request_id(req)).await {
            Ok(AppendOutcome::Completed(done, _)) | Ok(AppendOutcome::Progress(done)) => row = done,
            Err(e) => return Ok(refused(e)),
        }
    }
    let mut response = Response::builder().status(StatusCode::NO_CONTENT).finish();
    describe(&mut response, state, &row);
    let meta: RawMeta = serde_json::from_str(&row.meta).unwrap_or_default();
    let metadata = headers::render_tus_metadata(&meta);
    let headers = response.headers_mut();
    if !metadata.is_empty() {
        headers.insert("upload-metadata", header_value(metadata));
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `PATCH /api/v1/uploads/{id}`: appends (tus's `application/offset+octet-stream`, the
/// draft's `application/partial-upload`).
#[handler]
pub async fn patch(
    req: &Request,
    Data(state): Data<&AppState>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let protocol = match headers::media_type(req).as_deref() {
        Some(TUS_BODY) => Protocol::Tus,
        Some(DRAFT_BODY) => Protocol::Draft,
        _ => {
            return Err(ApiError::new(
                Code::UnsupportedMediaType,
                format!("an append's body is `{TUS_BODY}` (tus) or `{DRAFT_BODY}` (the draft)"),
            ))
        }
    };
    let owner = uploader(state, req).await?;
    let offset = integer(req, "upload-offset")?
        .ok_or_else(|| ApiError::new(Code::BadRequest, "send `Upload-Offset`"))?;
    let (last, checksum) = match protocol {
        Protocol::Tus => (false, headers::checksum(req)?),
        Protocol::Draft => (
            upload_complete(req)?.ok_or_else(|| {
                ApiError::new(Code::BadRequest, "send `Upload-Complete: ?0` or `?1`")
            })?,
            None,
        ),
    };
    let append = Append {
        offset,
        body: body_stream(body),
        content_length: integer(req, "content-length")?,
        length: integer(req, "upload-length")?,
        last,
        checksum,
        complete_at_length: protocol == Protocol::Tus,
        fresh: false,
    };
    let appended =
        resumable::append(state, &id, &owner, append, crate::http::request_id(req)).await;
    Ok(match appended {
        Ok(AppendOutcome::Progress(row)) => {
            let mut response = Response::builder().status(StatusCode::NO_CONTENT).finish();
            describe(&mut response, state, &row);
            response
        }
        Ok(AppendOutcome::Completed(row, item)) => completed(state, protocol, &row, &item, None),
        Err(e) => refused(e),
    })
}

/// `DELETE /api/v1/uploads/{id}`: cancels the upload and removes its bytes.
#[handler]
pub async fn delete(
    req: &Request,
    Data(state): Data<&AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let owner = uploader(state, req).await?;
    resumable::cancel(state, &id, &owner).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
