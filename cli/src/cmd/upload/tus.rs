//! The requests of tus 1.0 (<https://tus.io/protocols/resumable-upload>) that `vb upload`
//! makes, and what their answers mean: discovery (`OPTIONS`), creation (`POST`), the offset
//! (`HEAD`), an append (`PATCH`) and termination (`DELETE`) of `/api/v1/uploads`.
//!
//! Transport errors are returned as they are (`reqwest::Error`), so the caller can retry
//! them; answers are sorted into [`Reply`].

use std::time::Duration;

use base64::Engine;
use reqwest::header::{HeaderMap, CONTENT_LENGTH, CONTENT_LOCATION, CONTENT_TYPE, LOCATION};
use reqwest::{Method, Response, StatusCode, Url};

use crate::client::Client;
use crate::error::Failure;

/// The collection uploads are created in.
pub const COLLECTION: &str = "/api/v1/uploads";

const TUS_VERSION: &str = "1.0.0";

/// An append's body type.
const APPEND_BODY: &str = "application/offset+octet-stream";

/// The details of a clip as tus `Upload-Metadata`: `key base64(value)`, comma-separated, in a
/// fixed order (the upload state compares it as it is), empty values left out.
pub fn metadata(pairs: &[(&str, Option<&str>)]) -> String {
    pairs
        .iter()
        .filter_map(|(key, value)| {
            let value = value.filter(|v| !v.is_empty())?;
            let encoded = base64::engine::general_purpose::STANDARD.encode(value);
            Some(format!("{key} {encoded}"))
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Where an upload stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// The bytes the server holds.
    pub offset: u64,
    /// The upload's length, when the server said.
    pub length: Option<u64>,
    /// The clip's URL, once the upload is complete (`Content-Location`).
    pub item: Option<String>,
    /// When the server removes the upload (seconds since the epoch), when it said.
    pub expires: Option<u64>,
}

/// What an answer about an upload means for the client.
#[derive(Debug)]
pub enum Reply {
    /// 2xx: where the upload stands now.
    Ok(Standing),
    /// 409: the upload stands elsewhere (`offset`), or is already complete.
    Conflict {
        /// Where it stands.
        offset: u64,
        /// Whether it is complete.
        complete: bool,
    },
    /// 423: another request is appending; try again after this long.
    Busy(Duration),
    /// 429: too many requests; the wait the server asks for (`Retry-After`), if it said, and
    /// the failure it ends with when waiting is not worth it.
    Limited(Option<Duration>, Failure),
    /// 404 or 410: the upload is not there (expired, cancelled, another account's).
    Gone,
    /// 5xx: the server is unavailable for now.
    Unavailable(Failure),
    /// Any other refusal, as the failure it ends with.
    Refused(Failure),
}

/// Whether the server offers tus 1.0 uploads with creation (`OPTIONS /api/v1/uploads` is 2xx
/// and names them).
pub async fn offered(client: &Client) -> Result<bool, Failure> {
    let response = client
        .request(Method::OPTIONS, COLLECTION)
        .send()
        .await
        .map_err(|e| Failure::network(client.base(), &e))?;
    let headers = response.headers();
    let lists = |name: &str, wanted: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|item| item.trim() == wanted))
    };
    Ok(response.status().is_success()
        && lists("tus-version", TUS_VERSION)
        && lists("tus-extension", "creation"))
}

/// What a creation came to.
#[derive(Debug)]
pub enum Created {
    /// The upload's URL and expiry.
    At(Url, Option<u64>),
    /// 404 or 405: the server has no resumable uploads after all.
    NotOffered,
    /// Refused, or an answer that makes no sense.
    Failed(Failure),
}

/// `POST /api/v1/uploads` for `length` bytes with `metadata` (the caller has a token).
pub async fn create(
    client: &Client,
    length: u64,
    metadata: &str,
) -> Result<Created, reqwest::Error> {
    let mut builder = client
        .request(Method::POST, COLLECTION)
        .header("tus-resumable", TUS_VERSION)
        .header("upload-length", length)
        .header(CONTENT_LENGTH, 0);
    if !metadata.is_empty() {
        builder = builder.header("upload-metadata", metadata);
    }
    let response = builder.send().await?;
    let status = response.status();
    if matches!(
        status,
        StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
    ) {
        return Ok(Created::NotOffered);
    }
    if status != StatusCode::CREATED {
        return Ok(Created::Failed(match reply(client, response).await {
            Reply::Refused(failure) | Reply::Unavailable(failure) | Reply::Limited(_, failure) => {
                failure
            }
            other => Failure::Unexpected(format!(
                "the server at {} answered a creation with {status} ({other:?})",
                client.base()
            )),
        }));
    }
    let location = header(response.headers(), LOCATION.as_str());
    let expires = expires(response.headers());
    Ok(match location.map(|l| client.on_server(&l)) {
        Some(Ok(url)) => Created::At(url, expires),
        Some(Err(failure)) => Created::Failed(failure),
        None => Created::Failed(Failure::Unexpected(format!(
            "the server at {} created an upload without saying where (no Location)",
            client.base()
        ))),
    })
}

/// `HEAD` of an upload: where it stands.
pub async fn head(client: &Client, upload: &Url) -> Result<Reply, reqwest::Error> {
    let response = client
        .at(Method::HEAD, upload.clone())
        .header("tus-resumable", TUS_VERSION)
        .send()
        .await?;
    Ok(reply(client, response).await)
}

/// `PATCH` of an upload: `length` bytes of `body` at `offset`.
pub async fn append(
    client: &Client,
    upload: &Url,
    offset: u64,
    length: u64,
    body: reqwest::Body,
) -> Result<Reply, reqwest::Error> {
    let response = client
        .at(Method::PATCH, upload.clone())
        .header("tus-resumable", TUS_VERSION)
        .header(CONTENT_TYPE, APPEND_BODY)
        .header("upload-offset", offset)
        .header(CONTENT_LENGTH, length)
        .body(body)
        .send()
        .await?;
    Ok(reply(client, response).await)
}

/// `DELETE` of an upload, for an upload that will not be finished; whatever the answer.
pub async fn cancel(client: &Client, upload: &Url) {
    let _ = client
        .at(Method::DELETE, upload.clone())
        .header("tus-resumable", TUS_VERSION)
        .send()
        .await;
}

async fn reply(client: &Client, response: Response) -> Reply {
    let status = response.status();
    let headers = response.headers();
    let offset = header(headers, "upload-offset").and_then(|v| v.parse::<u64>().ok());
    match status.as_u16() {
        200..=299 => match offset {
            Some(offset) => Reply::Ok(Standing {
                offset,
                length: header(headers, "upload-length").and_then(|v| v.parse().ok()),
                item: header(headers, CONTENT_LOCATION.as_str()),
                expires: expires(headers),
            }),
            None => Reply::Refused(Failure::Unexpected(format!(
                "the server at {} answered {status} without an Upload-Offset; is it a tus \
                 server?",
                client.base()
            ))),
        },
        409 if offset.is_some() => Reply::Conflict {
            offset: offset.unwrap_or_default(),
            complete: header(headers, "upload-complete").as_deref() == Some("?1"),
        },
        423 => Reply::Busy(Duration::from_secs(
            header(headers, "retry-after")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1)
                .clamp(1, 30),
        )),
        429 => {
            let wait = header(headers, "retry-after")
                .and_then(|v| v.parse().ok())
                .map(Duration::from_secs);
            Reply::Limited(wait, client.refusal(response).await)
        }
        404 | 410 => Reply::Gone,
        // 408: the server stopped waiting for a stalled body and kept what came; go on from
        // where it stands, as after a 5xx.
        408 | 500..=599 => Reply::Unavailable(client.refusal(response).await),
        _ => Reply::Refused(client.refusal(response).await),
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned())
}

/// `Upload-Expires` (an HTTP date) as seconds since the epoch.
fn expires(headers: &HeaderMap) -> Option<u64> {
    let at = httpdate::parse_http_date(&header(headers, "upload-expires")?).ok()?;
    at.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_base64_in_a_fixed_order_without_empty_values() {
        assert_eq!(
            metadata(&[
                ("filename", Some("talk.ogg")),
                ("title", Some("été")),
                ("description", Some("")),
                ("download_limit", Some("5")),
                ("expires_in", None),
            ]),
            "filename dGFsay5vZ2c=,title w6l0w6k=,download_limit NQ=="
        );
        assert_eq!(metadata(&[("title", None)]), "");
    }

    #[test]
    fn upload_expires_is_read_as_an_http_date() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "upload-expires",
            "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap(),
        );
        assert_eq!(expires(&headers), Some(784_111_777));
        headers.insert("upload-expires", "tomorrow".parse().unwrap());
        assert_eq!(expires(&headers), None);
    }
}
