//! Downloads from the S3 store, read from the server in small pieces (ADR 0026).
//!
//! minio's client is reqwest's, whose connections read up to about 400 KiB of a response ahead
//! of its reader, and which cannot be told to read less: 2,000 slow listeners of S3 clips held
//! a gigabyte in those buffers, while the pace (`paced.rs`) kept what `serve` itself held within
//! its budget. Downloads therefore fetch a URL minio presigns (locally: no request) with a
//! client of their own, whose connections read [`READ_PIECE`] at a time and only when the
//! download asks for more, so an open download holds about one piece in the client however
//! slowly its listener reads. Everything else stays with minio.

use std::ops::Range;
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use http_body_util::{BodyDataStream, BodyExt, Empty, Limited};
use hyper::header::RANGE;
use hyper::{Method, Request, StatusCode};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::s3::{s3_err, validation_err, with_causes, S3BlobStore};
use crate::ports::{BlobError, ByteStream};

/// What a download's connection to the store reads from its socket at a time, and so about
/// what it holds (4 KiB rather than 8: 2,000 slow listeners held 20 MiB less for about a fifth
/// more CPU per download; ADR 0028). A response's head must fit in it: S3's heads for these
/// objects, which carry no user metadata, are under 1 KiB.
pub(super) const READ_PIECE: usize = 4 * 1024;

/// How long a presigned URL is good for: the skew S3 tolerates in a signed request's date, so a
/// clock that far off works as it would with minio's signed headers. The URL never leaves the
/// process.
const PRESIGNED_FOR: u32 = 15 * 60;

/// Idle connections kept to the store (as minio keeps for its own requests).
const IDLE_CONNECTIONS: usize = 32;

/// The client downloads use.
pub(super) type Downloader = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// A client for `http` and `https` endpoints (Mozilla's roots, as minio's reqwest uses).
pub(super) fn downloader() -> Result<Downloader, BlobError> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_keepalive(Some(Duration::from_secs(60)));
    http.set_connect_timeout(Some(Duration::from_secs(10)));
    let https = HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .map_err(|e| BlobError::Unavailable(format!("TLS for S3 downloads: {e}")))?
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .http1_read_buf_exact_size(READ_PIECE)
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(IDLE_CONNECTIONS)
        .build(https))
}

impl S3BlobStore {
    /// The blob under `key` (the `range` of it), as its response's body. `range` is not empty.
    pub(super) async fn fetch(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream, BlobError> {
        let object = Self::object_key(key)?;
        let url = self
            .client()
            .get_presigned_object_url(self.bucket(), &object, Method::GET)
            .map_err(validation_err)?
            .expiry_seconds(PRESIGNED_FOR)
            .build()
            .send()
            .await
            .map_err(s3_err)?
            .url;
        let mut request = Request::get(url);
        if let Some(range) = &range {
            request = request.header(RANGE, format!("bytes={}-{}", range.start, range.end - 1));
        }
        let request = request
            .body(Empty::new())
            .map_err(|e| BlobError::Unavailable(format!("S3 download request: {e}")))?;
        let response = self
            .downloader()
            .request(request)
            .await
            .map_err(|e| unavailable("S3 download", &e))?;
        let status = response.status();
        if status == StatusCode::OK || status == StatusCode::PARTIAL_CONTENT {
            let body: ByteStream = Box::pin(
                BodyDataStream::new(response.into_body())
                    .map_err(|e| std::io::Error::other(unavailable("S3 download body", &e))),
            );
            return Ok(match range {
                // HTTP lets a server ignore `Range`: the whole object came, so cut it.
                Some(range) if status == StatusCode::OK => cut(body, range),
                _ => body,
            });
        }
        // An error's body is a short XML document naming its code.
        let body = Limited::new(response.into_body(), 16 * 1024)
            .collect()
            .await
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
            .unwrap_or_default();
        match status {
            // A missing bucket is the store's fault; a missing key (or a 404 that names nothing,
            // as minio reads one) is the blob's.
            StatusCode::NOT_FOUND if matches!(code_of(&body), Some("NoSuchKey") | None) => {
                Err(BlobError::NotFound)
            }
            // Starting at or past the end: nothing there, as in the local store.
            StatusCode::RANGE_NOT_SATISFIABLE => Ok(Box::pin(futures::stream::empty())),
            _ => Err(BlobError::Unavailable(format!(
                "S3 answered {status} to a download: {}",
                code_of(&body).unwrap_or("no error code")
            ))),
        }
    }
}

/// The `range` of a whole object's `body`.
fn cut(body: ByteStream, range: Range<u64>) -> ByteStream {
    Box::pin(
        body.scan(0u64, move |at, piece| {
            let piece = piece.map(|mut piece| {
                let start = *at;
                *at += piece.len() as u64;
                let from = range.start.saturating_sub(start).min(piece.len() as u64);
                let to = range.end.saturating_sub(start).min(piece.len() as u64);
                piece.truncate(to as usize);
                piece.split_off(from as usize)
            });
            let past_end = *at >= range.end;
            futures::future::ready(Some((piece, past_end)))
        })
        // Stop once past the range's end, without reading the rest of the object.
        .scan(false, |done, (piece, past_end)| {
            let item = (!*done).then_some(piece);
            *done = past_end;
            futures::future::ready(item)
        })
        .try_filter(|piece| futures::future::ready(!piece.is_empty())),
    )
}

/// The `<Code>` of an S3 error document.
fn code_of(body: &str) -> Option<&str> {
    let start = body.find("<Code>")? + "<Code>".len();
    let len = body[start..].find("</Code>")?;
    Some(&body[start..start + len])
}

/// `what` failed with `e`, its causes included (hyper's top-level messages hide them).
fn unavailable(what: &str, e: &dyn std::error::Error) -> BlobError {
    BlobError::Unavailable(with_causes(format!("{what}: {e}"), e))
}

#[cfg(test)]
mod tests {
    use super::{code_of, cut};
    use crate::blobs::testing::{body, collect};
    use bytes::Bytes;

    /// 0..30 in three pieces, then an error: a cut that ends in the object never reads it.
    fn object() -> crate::ports::ByteStream {
        let pieces = (0..3u8).map(|p| Ok(Bytes::from((p * 10..p * 10 + 10).collect::<Vec<u8>>())));
        body(
            pieces
                .chain([Err(std::io::Error::other("read past the range"))])
                .collect(),
        )
    }

    #[tokio::test]
    async fn a_whole_object_answered_to_a_range_is_cut_to_it() {
        for (range, want) in [
            (5..25, 5..25),
            (0..30, 0..30),
            (10..20, 10..20),
            (29..30, 29..30),
        ] {
            let got = collect(cut(object(), range.clone())).await;
            assert_eq!(got, want.map(|b: u8| b).collect::<Vec<u8>>(), "{range:?}");
        }
    }

    #[test]
    fn an_error_documents_code_is_read() {
        let doc =
            "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>no</Message></Error>";
        assert_eq!(code_of(doc), Some("AccessDenied"));
        assert_eq!(code_of("<Error></Error>"), None);
        assert_eq!(code_of(""), None);
    }
}
