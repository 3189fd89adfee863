//! Hostile `multipart/form-data` uploads: every way a form can be shaped wrong is a problem
//! naming it, read no further than needed, and leaves nothing behind.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{fixture, json, spawn_app, Backend, TestApp};

const BOUNDARY: &str = "vbtestboundary";

/// One part: its `Content-Disposition` parameters and its bytes.
struct Part<'a> {
    disposition: String,
    body: &'a [u8],
}

fn field<'a>(name: &str, value: &'a str) -> Part<'a> {
    Part {
        disposition: format!("form-data; name=\"{name}\""),
        body: value.as_bytes(),
    }
}

fn file(body: &[u8]) -> Part<'_> {
    Part {
        disposition: "form-data; name=\"file\"; filename=\"a.wav\"".into(),
        body,
    }
}

fn part_bytes(part: &Part<'_>) -> Vec<u8> {
    let mut out = format!(
        "--{BOUNDARY}\r\nContent-Disposition: {}\r\n\r\n",
        part.disposition
    )
    .into_bytes();
    out.extend_from_slice(part.body);
    out.extend_from_slice(b"\r\n");
    out
}

fn form(parts: &[Part<'_>]) -> Vec<u8> {
    let mut out: Vec<u8> = parts.iter().flat_map(part_bytes).collect();
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

impl TestApp {
    async fn post_form(&self, key: &str, body: reqwest::Body) -> (StatusCode, Value) {
        json(
            self.client
                .post(self.url("/api/v1/audio"))
                .bearer_auth(key)
                .header(
                    "content-type",
                    format!("multipart/form-data; boundary={BOUNDARY}"),
                )
                .body(body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }
}

#[tokio::test]
async fn a_form_shaped_wrong_is_a_problem_naming_what_is_wrong_and_leaves_nothing() {
    let app = spawn_app(Backend::Sqlite).await;
    let key = app.alice();
    let audio = fixture("hello.wav");
    // Small enough to be read whole while its type is decided.
    let small = fixture("hello.ogg");
    let long_name = "n".repeat(65);
    let big = "d".repeat(70_000);
    let cases: Vec<(Vec<u8>, StatusCode, &str)> = vec![
        (
            form(&[field("title", "a"), file(&audio), field("title", "b")]),
            StatusCode::BAD_REQUEST,
            "a `title` part after the `file` part",
        ),
        (
            form(&[file(&audio), field("description", "late")]),
            StatusCode::BAD_REQUEST,
            "a `description` part after the `file` part",
        ),
        (
            form(&[file(&small), field("filename", "late.ogg")]),
            StatusCode::BAD_REQUEST,
            "a `filename` part after the `file` part",
        ),
        (
            form(&[file(&small), file(&audio)]),
            StatusCode::BAD_REQUEST,
            "a second `file` part",
        ),
        (
            form(&[file(&audio), file(&audio)]),
            StatusCode::BAD_REQUEST,
            "a second `file` part",
        ),
        (
            form(&[field("title", "a"), field("title", "b"), file(&audio)]),
            StatusCode::BAD_REQUEST,
            "a second `title` part",
        ),
        (
            form(&[field("titel", "typo"), file(&audio)]),
            StatusCode::BAD_REQUEST,
            "an unknown part `titel`",
        ),
        (
            form(&[field(&long_name, "x"), file(&audio)]),
            StatusCode::BAD_REQUEST,
            "longer than 64 characters",
        ),
        (
            form(&[
                Part {
                    disposition: "form-data".into(),
                    body: b"x",
                },
                file(&audio),
            ]),
            StatusCode::BAD_REQUEST,
            "has no name",
        ),
        (
            form(&[field("title", "no file")]),
            StatusCode::BAD_REQUEST,
            "has no `file` part",
        ),
        (
            form(&[field("description", &big), file(&audio)]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "longer than 65536 bytes together",
        ),
    ];
    for (body, status, detail) in cases {
        let (got, problem) = app.post_form(&key, body.into()).await;
        assert_eq!(got, status, "{detail}: {problem}");
        assert_eq!(problem["status"], status.as_u16(), "{problem}");
        let text = problem["detail"].as_str().unwrap_or_default();
        assert!(text.contains(detail), "{detail}: {problem}");
    }
    // A part header that never ends is refused once 1 MiB is read, whatever follows.
    let mut endless =
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"title\"").into_bytes();
    endless.extend(std::iter::repeat_n(b'x', 3 << 20));
    endless.extend_from_slice(b"\r\n\r\nx\r\n");
    endless.extend(form(&[file(&audio)]));
    let (status, problem) = app.post_form(&key, endless.into()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{problem}");
    assert_eq!(app.total_events().await, 0);
    assert_eq!(app.blob_files(), (0, 0));

    // The same metadata, well formed, is taken.
    let good = form(&[
        field("title", "Fine"),
        field("download_limit", " 2 "),
        file(&audio),
    ]);
    let (status, item) = app.post_form(&key, good.into()).await;
    assert_eq!(status, StatusCode::CREATED, "{item}");
    assert_eq!(item["title"], "Fine");
    assert_eq!(item["download_limit"], 2);
    assert_eq!(item["filename"], "a.wav");
}

/// A lazily made body of `parts` copies of `part` then a file, counting what the server pulls.
fn endless_fields(
    part: Vec<u8>,
    parts: usize,
    audio: Vec<u8>,
    pulled: Arc<AtomicU64>,
) -> reqwest::Body {
    let chunk: Vec<u8> = part.repeat(1000);
    let chunks = parts / 1000;
    let tail = form(&[file(&audio)]);
    let stream = futures::stream::iter(0..=chunks).map(move |n| {
        let bytes = if n < chunks {
            chunk.clone()
        } else {
            tail.clone()
        };
        pulled.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok::<_, std::io::Error>(bytes)
    });
    reqwest::Body::wrap_stream(stream)
}

#[tokio::test]
async fn a_chunked_body_of_millions_of_tiny_fields_is_refused_at_once() {
    let app = spawn_app(Backend::Sqlite).await;
    let key = app.alice();
    let audio = fixture("hello.wav");
    // About 128 MB of fields before the file, sent without a length.
    for (name, expected) in [
        ("title", "a second `title` part"),
        ("x", "an unknown part `x`"),
    ] {
        let part = part_bytes(&field(name, "v"));
        let parts = (128 << 20) / part.len();
        let pulled = Arc::new(AtomicU64::new(0));
        let body = endless_fields(part, parts, audio.clone(), pulled.clone());
        let (status, problem) = app.post_form(&key, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(expected),
            "{problem}"
        );
        // What the client got to send before the answer: socket buffers, not the body.
        let sent = pulled.load(Ordering::Relaxed);
        assert!(sent < 32 << 20, "the server read {sent} bytes of fields");
    }
    assert_eq!(app.total_events().await, 0);
    assert_eq!(app.blob_files(), (0, 0));
}
