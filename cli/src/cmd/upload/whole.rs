//! The upload of a whole file in one request, `POST /api/v1/audio`, for servers that do not
//! offer resumable uploads: a broken connection means sending it all again.

use futures::TryStreamExt;
use reqwest::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::Method;
use serde_json::{json, Value};
use tokio_util::io::ReaderStream;

use super::Details;
use crate::client::{segment, Client};
use crate::error::Failure;
use crate::{output, progress};

/// Streams `file` (`len` bytes) as the raw body, with its length (so a server can refuse an
/// upload past its size limit or quota before reading it).
pub async fn upload(
    client: &Client,
    file: tokio::fs::File,
    len: u64,
    details: &Details<'_>,
) -> Result<Value, Failure> {
    let filename = &details.filename;
    let mut builder = client
        .authed(Method::POST, "/api/v1/audio")?
        .header(CONTENT_TYPE, "application/octet-stream")
        .header(CONTENT_LENGTH, len);
    // Header values carry UTF-8 as is (the server reads them so); a description with line
    // breaks cannot be a header, so it follows in a PATCH.
    let mut late_description = None;
    for (name, value) in [
        ("x-filename", Some(filename.as_str())),
        ("x-title", details.title),
        ("x-description", details.description),
        ("x-download-limit", details.limit.as_deref()),
        ("x-expires-in", details.expires),
    ] {
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            continue;
        };
        match HeaderValue::from_bytes(value.as_bytes()) {
            Ok(value) => builder = builder.header(name, value),
            Err(_) if name == "x-description" => late_description = Some(value.to_owned()),
            Err(_) => {
                return Err(Failure::Usage(format!(
                    "the {} cannot hold line breaks or control characters",
                    name.trim_start_matches("x-")
                )))
            }
        }
    }

    let bar = progress::bar(filename, Some(len));
    let counted = bar.clone();
    let body = ReaderStream::with_capacity(file, 256 * 1024).inspect_ok(move |chunk| {
        counted.inc(chunk.len() as u64);
    });
    let sent = builder.body(reqwest::Body::wrap_stream(body)).send().await;
    bar.finish_and_clear();
    let response = match sent {
        Ok(response) => response,
        Err(e) if e.is_connect() || e.is_timeout() => {
            return Err(Failure::network(client.base(), &e))
        }
        // A server that refuses an upload from its length answers without reading the body
        // and closes; the answer is then often lost to the broken pipe.
        Err(e) => return Err(cut_off(client, len, &e).await),
    };
    let item: Value = if response.status().is_success() {
        response
            .json()
            .await
            .map_err(|e| Failure::network(client.base(), &e))?
    } else {
        return Err(client.refusal(response).await);
    };
    match late_description {
        None => Ok(item),
        Some(description) => {
            let id = item["id"].as_str().unwrap_or_default();
            let path = format!("/api/v1/items/{}", segment(id));
            client
                .json(
                    client
                        .authed(Method::PATCH, &path)?
                        .json(&json!({ "description": description })),
                )
                .await
        }
    }
}

/// Why the server may have closed the connection during an upload of `len` bytes: the
/// account's quota when it has no room for them (asked of `GET /api/v1/account`), else a
/// network failure that names the likely cause.
async fn cut_off(client: &Client, len: u64, error: &reqwest::Error) -> Failure {
    let account = match client.authed(Method::GET, "/api/v1/account") {
        Ok(request) => client.json(request).await.ok(),
        Err(_) => None,
    };
    if let Some(account) = account {
        let (usage, limits) = (&account["usage"], &account["limits"]);
        let used = usage["bytes"].as_u64().unwrap_or(0);
        if let Some(limit) = limits["bytes"].as_u64().filter(|l| used + len > *l) {
            return Failure::QuotaFull(format!(
                "this file ({}) does not fit: the account stores {} of {} (the server closed \
                 the connection without reading it)",
                output::bytes(len),
                output::bytes(used),
                output::bytes(limit)
            ));
        }
        let clips = usage["clips"].as_u64().unwrap_or(0);
        if let Some(limit) = limits["clips"].as_u64().filter(|l| clips >= *l) {
            return Failure::QuotaFull(format!(
                "the account has {clips} of {limit} clips (the server closed the connection \
                 without reading the file)"
            ));
        }
    }
    Failure::Network(format!(
        "the connection to {} broke while the file was being sent ({}); the server may have \
         refused the file without reading it all (not audio, or past its upload limit)",
        client.base(),
        Failure::cause(error)
    ))
}
