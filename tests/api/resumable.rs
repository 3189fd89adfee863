//! Resumable uploads (ADR 0025): tus 1.0 driven by the real tus-js-client from npm (installed by
//! scripts/services/tus.sh; tests/tus/client.mjs), and the IETF resumable-upload draft driven by
//! a client written here to the draft, each with connections cut mid-upload. A partial upload
//! is not a clip: nothing is recorded until its last byte, non-audio is refused from its first
//! bytes, limits and quotas hold for the declared and the received length, and the upload
//! continues on another replica (and, in production mode, through S3 multipart).

use std::process::Stdio;
use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::helpers::{
    json as json_of, pcm_wav, spawn_app, spawn_app_with, spawn_replica, unpooled, Backend, Options,
    TestApp,
};
use crate::on_both_backends;

const DRAFT: &str = "8";

/// A tone of `secs` seconds at 16 kHz (32 KB a second), so its bytes are not all alike.
fn wav(secs: usize) -> Vec<u8> {
    let samples: Vec<i16> = (0..secs * 16_000)
        .map(|i| ((i as f64 * 440.0 * std::f64::consts::TAU / 16_000.0).sin() * 8000.0) as i16)
        .collect();
    pcm_wav(16_000, &samples)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Runs tests/tus/client.mjs (tus-js-client) with `options` and returns its report.
async fn tus_client(app: &TestApp, file: &std::path::Path, key: &str, options: Value) -> Value {
    let client = std::env::var_os("VOICEBIN_TUS_CLIENT").expect(
        "VOICEBIN_TUS_CLIENT is not set: run the suite with scripts/test, which installs \
         tus-js-client (or `source scripts/services/tus.sh && ensure_tus`)",
    );
    let mut options = options;
    options["endpoint"] = json!(app.url("/api/v1/uploads"));
    options["token"] = json!(key);
    options["file"] = json!(file);
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new("node")
            .arg(&client)
            .arg(options.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("tus-js-client took over two minutes")
    .unwrap_or_else(|e| panic!("running node {client:?}: {e}"));
    assert!(
        out.status.success(),
        "the tus client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the tus client printed no report ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The clip a completed upload names in `Content-Location`, read as its owner.
async fn item_at(url: &str, key: &str) -> Value {
    let res = unpooled().get(url).bearer_auth(key).send().await.unwrap();
    let (status, item) = json_of(res).await;
    assert_eq!(status, StatusCode::OK, "{item}");
    item
}

/// How many clips `key`'s account has.
async fn clip_count(app: &TestApp, key: &str) -> usize {
    let (status, page) = json_of(app.list(key, &[]).await).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"].as_array().unwrap().len()
}

async fn tus_js_client_uploads_resume_after_an_abort_and_after_cut_connections(backend: Backend) {
    let app = spawn_app_with(backend, Options::default()).await;
    let alice = app.alice();
    let dir = tempfile::tempdir().unwrap();
    let data = wav(60);
    let file = dir.path().join("long.wav");
    std::fs::write(&file, &data).unwrap();
    let len = data.len().to_string();

    // Stopped after two of four chunks (as a killed program), then resumed from its URL: the
    // second run asks where the upload stands and sends only the rest.
    let report = tus_client(
        &app,
        &file,
        &alice,
        json!({"chunkSize": 500_000, "abortAfter": 1_000_000}),
    )
    .await;
    assert_eq!(report["error"], Value::Null, "{report}");
    let requests: Vec<&str> = report["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    let resumed = requests
        .iter()
        .position(|r| *r == "-- aborted --")
        .expect("the upload was aborted");
    assert_eq!(requests[resumed + 1], "HEAD -> 204 1000000", "{report}");
    assert_eq!(
        requests[resumed + 2],
        "PATCH 1000000 -> 204 1500000",
        "{report}"
    );
    assert!(
        !requests[resumed..]
            .iter()
            .any(|r| r.starts_with("PATCH 0 ")),
        "nothing is sent twice: {report}"
    );
    assert_eq!(report["status"], 204);
    assert_eq!(report["offset"], json!(len));
    let item = item_at(report["contentLocation"].as_str().unwrap(), &alice).await;
    assert_eq!(item["sha256"], sha256_hex(&data));
    assert_eq!(item["size_bytes"], data.len());
    assert_eq!(item["filename"], "long.wav");
    let id = item["id"].as_str().unwrap().to_owned();
    assert_eq!(app.event_types(&id).await[0], "Uploaded");
    app.wait_scanned(&id, &alice).await;

    // Through a proxy that cuts the connection twice mid-body: the client retries by itself,
    // and the bytes that arrived before each cut are kept (it resumes past zero).
    let report = tus_client(&app, &file, &alice, json!({"cutAfter": 700_000, "cuts": 2})).await;
    assert_eq!(report["error"], Value::Null, "{report}");
    let resumed_at: Vec<u64> = report["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| {
            r.as_str()?
                .strip_prefix("PATCH ")?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .filter(|offset| *offset > 0)
        .collect();
    assert!(
        !resumed_at.is_empty(),
        "a PATCH resumed past byte 0: {report}"
    );
    let item = item_at(report["contentLocation"].as_str().unwrap(), &alice).await;
    assert_eq!(item["sha256"], sha256_hex(&data));

    // The first chunk with the creation (creation-with-upload): one request, 201.
    let report = tus_client(&app, &file, &alice, json!({"withUpload": true})).await;
    assert_eq!(report["error"], Value::Null, "{report}");
    assert_eq!(report["requests"], json!([format!("POST -> 201 {len}")]));
    let item = item_at(report["contentLocation"].as_str().unwrap(), &alice).await;
    assert_eq!(item["sha256"], sha256_hex(&data));

    // Checksums: a chunk matching its Upload-Checksum is kept; one that does not is 460 and
    // discarded, the upload's offset unchanged.
    let report = tus_client(
        &app,
        &file,
        &alice,
        json!({"chunkSize": 600_000, "checksum": "sha1"}),
    )
    .await;
    assert_eq!(report["error"], Value::Null, "{report}");
    let item = item_at(report["contentLocation"].as_str().unwrap(), &alice).await;
    assert_eq!(item["sha256"], sha256_hex(&data));
    let report = tus_client(
        &app,
        &file,
        &alice,
        json!({"chunkSize": 600_000, "checksum": "bad"}),
    )
    .await;
    assert_eq!(report["status"], 460, "{report}");
    let head = tus_head(report["url"].as_str().unwrap(), &alice).await;
    assert_eq!(head.status(), StatusCode::NO_CONTENT);
    assert_eq!(head.headers()["upload-offset"], "0");

    // Four uploads completed, four clips: none twice, and the failed one is not a clip.
    assert_eq!(clip_count(&app, &alice).await, 4);
}
on_both_backends!(tus_js_client_uploads_resume_after_an_abort_and_after_cut_connections);

async fn tus_head(url: &str, key: &str) -> Response {
    unpooled()
        .head(url)
        .bearer_auth(key)
        .header("tus-resumable", "1.0.0")
        .send()
        .await
        .unwrap()
}

/// The draft's upload creation: an empty `Upload-Complete: ?0` request; the upload's URL.
async fn draft_create(app: &TestApp, key: &str, headers: &[(&str, &str)]) -> String {
    let mut req = unpooled()
        .post(app.url("/api/v1/uploads"))
        .bearer_auth(key)
        .header("upload-draft-interop-version", DRAFT)
        .header("upload-complete", "?0");
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let headers = res.headers();
    assert_eq!(headers["upload-complete"], "?0");
    assert_eq!(headers["upload-offset"], "0");
    assert_eq!(headers["upload-draft-interop-version"], DRAFT);
    let limit = headers["upload-limit"].to_str().unwrap();
    assert!(limit.contains("max-size="), "{limit}");
    assert!(limit.contains("max-age="), "{limit}");
    app.url(headers["location"].to_str().unwrap())
}

async fn draft_head(url: &str, key: &str) -> Response {
    unpooled()
        .head(url)
        .bearer_auth(key)
        .header("upload-draft-interop-version", DRAFT)
        .send()
        .await
        .unwrap()
}

async fn draft_append(
    url: &str,
    key: &str,
    offset: usize,
    body: Vec<u8>,
    complete: bool,
) -> Response {
    unpooled()
        .patch(url)
        .bearer_auth(key)
        .header("upload-draft-interop-version", DRAFT)
        .header("content-type", "application/partial-upload")
        .header("upload-offset", offset.to_string())
        .header("upload-complete", if complete { "?1" } else { "?0" })
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Sends an append of `declared` bytes but only `sent` of them, then closes the connection:
/// a network that went away mid-upload.
async fn cut_append(url: &str, key: &str, offset: usize, body: &[u8], sent: usize) {
    let url = reqwest::Url::parse(url).unwrap();
    let mut stream = tokio::net::TcpStream::connect((url.host_str().unwrap(), url.port().unwrap()))
        .await
        .unwrap();
    let head = format!(
        "PATCH {} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {key}\r\n\
         Upload-Draft-Interop-Version: {DRAFT}\r\nContent-Type: application/partial-upload\r\n\
         Upload-Offset: {offset}\r\nUpload-Complete: ?1\r\nContent-Length: {}\r\n\r\n",
        url.path(),
        url.authority(),
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..sent]).await.unwrap();
    stream.flush().await.unwrap();
    stream.shutdown().await.unwrap();
    drop(stream);
}

/// Waits until the upload's offset reaches `want` (the server commits a cut append when it sees
/// the connection end); its last `Upload-Offset`.
async fn offset_reaches(url: &str, key: &str, want: usize) -> usize {
    let mut offset = 0;
    for _ in 0..100 {
        let res = draft_head(url, key).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        offset = res.headers()["upload-offset"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        if offset >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    offset
}

async fn the_draft_protocol_resumes_after_a_cut_connection(backend: Backend) {
    let app = spawn_app_with(backend, Options::default()).await;
    let alice = app.alice();
    let data = wav(40);
    let url = draft_create(&app, &alice, &[("x-title", "Drafted")]).await;

    // 700,000 of the bytes arrive, then the connection goes: they are kept, and nothing is a
    // clip yet.
    cut_append(&url, &alice, 0, &data, 700_000).await;
    assert_eq!(offset_reaches(&url, &alice, 700_000).await, 700_000);
    let head = draft_head(&url, &alice).await;
    assert_eq!(head.headers()["upload-complete"], "?0");
    assert_eq!(head.headers()["cache-control"], "no-store");
    assert!(head.headers()["upload-limit"]
        .to_str()
        .unwrap()
        .contains("max-size="));
    assert_eq!(clip_count(&app, &alice).await, 0);
    assert_eq!(
        app.total_events().await,
        0,
        "a partial upload records no event"
    );

    // Resuming from anywhere else is a 409 that says where the upload stands.
    let res = draft_append(&url, &alice, 0, data.clone(), true).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(res.headers()["upload-offset"], "700000");
    assert_eq!(res.headers()["upload-complete"], "?0");
    let (_, problem) = json_of(res).await;
    assert_eq!(
        problem["type"],
        "https://iana.org/assignments/http-problem-types#mismatching-upload-offset"
    );

    // The rest, in two appends; the last answers as `POST /api/v1/audio` does.
    let res = draft_append(
        &url,
        &alice,
        700_000,
        data[700_000..900_000].to_vec(),
        false,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(res.headers()["upload-complete"], "?0");
    assert_eq!(res.headers()["upload-offset"], "900000");
    let res = draft_append(&url, &alice, 900_000, data[900_000..].to_vec(), true).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["upload-complete"], "?1");
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let (_, item) = json_of(res).await;
    assert_eq!(item["sha256"], sha256_hex(&data));
    assert_eq!(item["size_bytes"], data.len());
    assert_eq!(item["title"], "Drafted");
    assert_eq!(
        location,
        app.url(&format!("/api/v1/items/{}", item["id"].as_str().unwrap()))
    );
    let id = item["id"].as_str().unwrap();
    assert_eq!(app.event_types(id).await, ["Uploaded"]);
    app.wait_scanned(id, &alice).await;

    // The completed upload still answers for itself, and a further append changes nothing.
    let head = draft_head(&url, &alice).await;
    assert_eq!(head.headers()["upload-complete"], "?1");
    assert_eq!(
        head.headers()["upload-offset"],
        data.len().to_string().as_str()
    );
    assert_eq!(
        head.headers()["upload-length"],
        data.len().to_string().as_str()
    );
    let res = draft_append(&url, &alice, data.len(), b"more".to_vec(), true).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(res.headers()["upload-complete"], "?1");
    // Forgetting the upload keeps the clip.
    let res = unpooled()
        .delete(&url)
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        draft_head(&url, &alice).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get_item(id, Some(&alice)).await.status(),
        StatusCode::OK
    );
    assert_eq!(clip_count(&app, &alice).await, 1);
}
on_both_backends!(the_draft_protocol_resumes_after_a_cut_connection);

/// Files in the blob store's partial area.
fn partial_files(app: &TestApp) -> usize {
    std::fs::read_dir(app.data_dir.path().join("blobs/.partial"))
        .map(|dir| dir.count())
        .unwrap_or(0)
}

async fn tus_create(app: &TestApp, key: &str, headers: &[(&str, &str)]) -> Response {
    let mut req = unpooled()
        .post(app.url("/api/v1/uploads"))
        .bearer_auth(key)
        .header("tus-resumable", "1.0.0");
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.unwrap()
}

async fn tus_append(url: &str, key: &str, offset: usize, body: Vec<u8>) -> Response {
    unpooled()
        .patch(url)
        .bearer_auth(key)
        .header("tus-resumable", "1.0.0")
        .header("content-type", "application/offset+octet-stream")
        .header("upload-offset", offset.to_string())
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn problem(res: Response, status: StatusCode, kind: &str) -> Value {
    let (got, body) = json_of(res).await;
    assert_eq!(got, status, "{body}");
    assert!(
        body["type"].as_str().unwrap().ends_with(kind),
        "{kind}: {body}"
    );
    body
}

async fn bad_uploads_are_refused_and_leave_nothing(backend: Backend) {
    let app = spawn_app_with(
        backend,
        Options {
            max_upload_bytes: 2_000_000,
            quotas: voicebin_domain::Limits {
                bytes: Some(1_500_000),
                clips: None,
            },
            resumable: voicebin::ResumableSettings {
                max_open: 3,
                ..Default::default()
            },
            ..Options::default()
        },
    )
    .await;
    let alice = app.alice();
    let bob = app.key("bob", crate::helpers::ALL_SCOPES);

    // Without a token; with an unknown tus version; speaking neither protocol.
    let res = unpooled()
        .post(app.url("/api/v1/uploads"))
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "10")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["tus-resumable"], "1.0.0");
    problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = unpooled()
        .post(app.url("/api/v1/uploads"))
        .bearer_auth(&alice)
        .header("tus-resumable", "0.2.2")
        .header("upload-length", "10")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["tus-version"], "1.0.0");
    problem(res, StatusCode::PRECONDITION_FAILED, "precondition-failed").await;
    let res = unpooled()
        .post(app.url("/api/v1/uploads"))
        .bearer_auth(&alice)
        .body(wav(1))
        .send()
        .await
        .unwrap();
    problem(res, StatusCode::BAD_REQUEST, "bad-request").await;

    // Past the size limit, or the quota, declared: refused before anything is kept.
    let res = tus_create(&app, &alice, &[("upload-length", "2000001")]).await;
    problem(res, StatusCode::PAYLOAD_TOO_LARGE, "too-large").await;
    let res = tus_create(&app, &alice, &[("upload-length", "1600000")]).await;
    problem(res, StatusCode::FORBIDDEN, "quota-exceeded").await;
    let res = tus_create(
        &app,
        &alice,
        &[("upload-metadata", "title !!!"), ("upload-length", "10")],
    )
    .await;
    problem(res, StatusCode::BAD_REQUEST, "bad-request").await;
    let res = tus_create(&app, &alice, &[("upload-length", "0")]).await;
    problem(res, StatusCode::UNSUPPORTED_MEDIA_TYPE, "not-audio").await;
    assert_eq!(partial_files(&app), 0);

    // Not audio by its first bytes: refused at the first append, and the upload is gone.
    let res = tus_create(&app, &alice, &[("upload-length", "100000")]).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let url = app.url(res.headers()["location"].to_str().unwrap());
    let mut html = b"<!doctype html><html><body>".to_vec();
    html.resize(70_000, b' ');
    let res = tus_append(&url, &alice, 0, html).await;
    problem(res, StatusCode::UNSUPPORTED_MEDIA_TYPE, "not-audio").await;
    assert_eq!(tus_head(&url, &alice).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(partial_files(&app), 0);

    // An upload is its owner's alone; bytes past its length and a wrong body type are refused.
    let data = wav(10);
    let len = data.len().to_string();
    let res = tus_create(&app, &alice, &[("upload-length", &len)]).await;
    let url = app.url(res.headers()["location"].to_str().unwrap());
    assert_eq!(tus_head(&url, &bob).await.status(), StatusCode::NOT_FOUND);
    let res = tus_append(&url, &bob, 0, data.clone()).await;
    problem(res, StatusCode::NOT_FOUND, "not-found").await;
    let res = unpooled()
        .delete(&url)
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    problem(res, StatusCode::NOT_FOUND, "not-found").await;
    let mut longer = data.clone();
    longer.extend_from_slice(b"extra");
    let res = tus_append(&url, &alice, 0, longer).await;
    problem(res, StatusCode::BAD_REQUEST, "inconsistent-upload-length").await;
    let res = unpooled()
        .patch(&url)
        .bearer_auth(&alice)
        .header("tus-resumable", "1.0.0")
        .header("content-type", "application/octet-stream")
        .header("upload-offset", "0")
        .body(data.clone())
        .send()
        .await
        .unwrap();
    problem(
        res,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
    )
    .await;
    let res = tus_head(&url, &alice).await;
    assert_eq!(res.headers()["upload-offset"], "0");

    // Half of it, then cancelled: the bytes go with it.
    let res = tus_append(&url, &alice, 0, data[..100_000].to_vec()).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(res.headers()["upload-offset"], "100000");
    assert!(res.headers().contains_key("upload-expires"));
    assert_eq!(partial_files(&app), 1);
    let res = unpooled()
        .delete(&url)
        .bearer_auth(&alice)
        .header("tus-resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(tus_head(&url, &alice).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(partial_files(&app), 0);

    // Open uploads are limited per account.
    for _ in 0..3 {
        let res = tus_create(&app, &alice, &[("upload-defer-length", "1")]).await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let res = tus_create(&app, &alice, &[("upload-defer-length", "1")]).await;
    problem(res, StatusCode::TOO_MANY_REQUESTS, "too-many-requests").await;
    // Bob's are his own count.
    let res = tus_create(&app, &bob, &[("upload-defer-length", "1")]).await;
    assert_eq!(res.status(), StatusCode::CREATED);

    assert_eq!(
        app.total_events().await,
        0,
        "no refused upload recorded anything"
    );
}
on_both_backends!(bad_uploads_are_refused_and_leave_nothing);

async fn an_upload_begun_on_one_replica_is_finished_on_another_and_expires_when_abandoned(
    backend: Backend,
) {
    let app = spawn_app_with(backend, Options::default()).await;
    let alice = app.alice();
    let data = wav(20);
    let len = data.len().to_string();
    let res = tus_create(&app, &alice, &[("upload-length", &len)]).await;
    let path = res.headers()["location"].to_str().unwrap().to_owned();
    let res = tus_append(&app.url(&path), &alice, 0, data[..300_000].to_vec()).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    // Another process over the same database and blobs (a replica, or this one restarted)
    // knows the upload and takes the rest.
    let (replica, _background) = spawn_replica(&app).await;
    let there = format!("{replica}{path}");
    let res = tus_head(&there, &alice).await;
    assert_eq!(res.headers()["upload-offset"], "300000");
    let res = tus_append(&there, &alice, 300_000, data[300_000..].to_vec()).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let location = res.headers()["content-location"]
        .to_str()
        .unwrap()
        .to_owned();
    let item = item_at(&location, &alice).await;
    assert_eq!(item["sha256"], sha256_hex(&data));

    // An abandoned upload expires: it stops answering at once, and the sweep removes its
    // bytes and its record.
    let res = tus_create(&app, &alice, &[("upload-length", &len)]).await;
    let url = app.url(res.headers()["location"].to_str().unwrap());
    tus_append(&url, &alice, 0, data[..100_000].to_vec()).await;
    assert_eq!(partial_files(&app), 1);
    let store = app.database.uploads();
    let blobs = voicebin_commands::LocalBlobStore::open(app.data_dir.path().join("blobs"))
        .await
        .unwrap();
    let resumable = voicebin_api::usecases::resumable::Resumable::new(
        store,
        std::sync::Arc::new(blobs),
        Default::default(),
    );
    crate::helpers::execute_sql(
        &app.database,
        "UPDATE resumable_uploads SET expires_at = 0 WHERE completed_at IS NULL",
    )
    .await;
    assert_eq!(tus_head(&url, &alice).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        voicebin_api::usecases::resumable::sweep(&resumable)
            .await
            .unwrap(),
        1
    );
    assert_eq!(partial_files(&app), 0);
    assert_eq!(clip_count(&app, &alice).await, 1);
}
on_both_backends!(an_upload_begun_on_one_replica_is_finished_on_another_and_expires_when_abandoned);

/// Production mode: PostgreSQL, S3 and a RabbitMQ worker. The upload is an S3 multipart
/// upload of the clip's key, continued by another replica from its committed parts and tail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_production_an_upload_goes_through_s3_multipart_across_replicas() {
    let app = crate::production::spawn_production().await;
    let alice = app.alice();
    // 8 MiB and a little: one whole 5 MiB part, then a tail.
    let data = wav(265);
    let len = data.len().to_string();
    let res = tus_create(&app, &alice, &[("upload-length", &len)]).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let path = res.headers()["location"].to_str().unwrap().to_owned();
    let res = tus_append(&app.url(&path), &alice, 0, data[..6_000_000].to_vec()).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(res.headers()["upload-offset"], "6000000");

    let (replica, _background) = spawn_replica(&app).await;
    let there = format!("{replica}{path}");
    let res = tus_append(&there, &alice, 6_000_000, data[6_000_000..].to_vec()).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let location = res.headers()["content-location"]
        .to_str()
        .unwrap()
        .to_owned();
    let item = item_at(&location, &alice).await;
    assert_eq!(item["sha256"], sha256_hex(&data));
    let id = item["id"].as_str().unwrap();
    let scanned = app.wait_scanned_within(id, &alice, 120).await;
    assert_eq!(scanned["scan_state"], "clean", "{scanned}");
    let res = unpooled()
        .get(app.url(&format!("/{id}/download")))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.bytes().await.unwrap() == data,
        "S3 holds exactly the bytes sent"
    );
}

/// A body sent chunked (no `Content-Length`), as a client streaming from a pipe sends it.
fn chunked(bytes: Vec<u8>) -> reqwest::Body {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(16 * 1024).map(|c| Ok(c.to_vec())).collect();
    reqwest::Body::wrap_stream(futures::stream::iter(chunks))
}

/// Found by the hostile review: a creation refused for its own headers (here an
/// `Upload-Checksum` naming an algorithm not taken) must not leave an upload behind that the
/// client was never told about; it would hold one of the account's open uploads for the
/// whole window.
async fn a_creation_refused_for_its_checksum_leaves_no_open_upload(backend: Backend) {
    let app = spawn_app_with(
        backend,
        Options {
            resumable: voicebin::ResumableSettings {
                max_open: 1,
                ..Default::default()
            },
            ..Options::default()
        },
    )
    .await;
    let alice = app.alice();
    let data = wav(2);
    let len = data.len().to_string();
    let res = unpooled()
        .post(app.url("/api/v1/uploads"))
        .bearer_auth(&alice)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", &len)
        .header("content-type", "application/offset+octet-stream")
        .header("upload-checksum", "md5 AAAA")
        .body(data)
        .send()
        .await
        .unwrap();
    assert!(!res.headers().contains_key("location"));
    problem(res, StatusCode::BAD_REQUEST, "bad-request").await;
    let res = tus_create(&app, &alice, &[("upload-length", &len)]).await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "the refused creation still holds the account's only open upload"
    );
}
on_both_backends!(a_creation_refused_for_its_checksum_leaves_no_open_upload);

/// Found by the hostile review: a chunked append that runs past the upload's length keeps
/// the first `length` bytes and is refused, and the upload is then left at its full offset
/// but not complete. tus-js-client, resuming it, sees `Upload-Offset` equal to
/// `Upload-Length` and reports success without another request: no clip is ever recorded.
async fn an_append_past_the_length_does_not_leave_a_full_upload_incomplete(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.alice();
    let data = wav(4);
    let len = data.len();
    let res = tus_create(&app, &alice, &[("upload-length", &len.to_string())]).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let url = app.url(res.headers()["location"].to_str().unwrap());
    let mut longer = data.clone();
    longer.extend_from_slice(&[0u8; 1000]);
    let res = unpooled()
        .patch(&url)
        .bearer_auth(&alice)
        .header("tus-resumable", "1.0.0")
        .header("content-type", "application/offset+octet-stream")
        .header("upload-offset", "0")
        .body(chunked(longer))
        .send()
        .await
        .unwrap();
    problem(res, StatusCode::BAD_REQUEST, "inconsistent-upload-length").await;
    let res = tus_head(&url, &alice).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let offset = res.headers()["upload-offset"].to_str().unwrap().to_owned();
    let complete = res.headers()["upload-complete"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        offset != len.to_string() || complete == "?1",
        "the upload stands at its full length ({offset} of {len}) but is not complete"
    );
}
on_both_backends!(an_append_past_the_length_does_not_leave_a_full_upload_incomplete);

/// Found by the hostile review: a draft append that says `Upload-Complete: ?1` with a chunked
/// body ends the upload wherever its bytes end, even short of the length declared at
/// creation: a clip of part of the file is recorded, and the answer says
/// `Upload-Offset` < `Upload-Length` with `Upload-Complete: ?1`.
async fn a_draft_completion_short_of_the_declared_length_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.alice();
    let data = wav(4);
    let len = data.len().to_string();
    let url = draft_create(&app, &alice, &[("upload-length", &len)]).await;
    let res = unpooled()
        .patch(&url)
        .bearer_auth(&alice)
        .header("upload-draft-interop-version", DRAFT)
        .header("content-type", "application/partial-upload")
        .header("upload-offset", "0")
        .header("upload-complete", "?1")
        .body(chunked(data[..data.len() / 2].to_vec()))
        .send()
        .await
        .unwrap();
    problem(res, StatusCode::BAD_REQUEST, "inconsistent-upload-length").await;
    assert_eq!(clip_count(&app, &alice).await, 0);
}
on_both_backends!(a_draft_completion_short_of_the_declared_length_is_refused);

async fn a_tus_upload_holding_all_its_bytes_always_becomes_a_clip(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.alice();
    let data = wav(3);
    let len = data.len().to_string();

    // The connection breaks after the last byte of a chunked append (before its end): every
    // byte is in, so the upload completes all the same.
    let res = tus_create(&app, &alice, &[("upload-length", &len)]).await;
    let url = app.url(res.headers()["location"].to_str().unwrap());
    let parsed = reqwest::Url::parse(&url).unwrap();
    let mut stream =
        tokio::net::TcpStream::connect((parsed.host_str().unwrap(), parsed.port().unwrap()))
            .await
            .unwrap();
    let head = format!(
        "PATCH {} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {alice}\r\n\
         Tus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\n\
         Upload-Offset: 0\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
        parsed.path(),
        parsed.authority(),
        data.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&data).await.unwrap();
    stream.write_all(b"\r\n").await.unwrap();
    stream.shutdown().await.unwrap();
    drop(stream);
    let mut clip = None;
    for _ in 0..100 {
        let res = tus_head(&url, &alice).await;
        if let Some(location) = res.headers().get("content-location") {
            clip = Some(location.to_str().unwrap().to_owned());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let item = item_at(&clip.expect("the upload completed"), &alice).await;
    assert_eq!(item["sha256"], sha256_hex(&data));

    // An upload left at its full length but not complete (the server stopped between the
    // two) completes when a tus client asks where it stands: it would send nothing more.
    let res = tus_create(&app, &alice, &[("upload-defer-length", "1")]).await;
    let url = app.url(res.headers()["location"].to_str().unwrap());
    let res = tus_append(&url, &alice, 0, data.clone()).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(res.headers()["upload-complete"], "?0");
    crate::helpers::execute_sql(
        &app.database,
        "UPDATE resumable_uploads SET length = upload_offset WHERE completed_at IS NULL",
    )
    .await;
    let res = tus_head(&url, &alice).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(res.headers()["upload-complete"], "?1");
    let item = item_at(res.headers()["content-location"].to_str().unwrap(), &alice).await;
    assert_eq!(item["sha256"], sha256_hex(&data));
    assert_eq!(clip_count(&app, &alice).await, 2);

    // A creation whose bytes never arrive whole leaves nothing: its client never learnt where
    // it was. tus-js-client then creates again, and the last try succeeds.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cut.wav");
    std::fs::write(&file, wav(4)).unwrap();
    let report = tus_client(
        &app,
        &file,
        &alice,
        json!({"withUpload": true, "cutAfter": 60_000, "cuts": 2}),
    )
    .await;
    assert_eq!(report["error"], Value::Null, "{report}");
    assert_eq!(clip_count(&app, &alice).await, 3);
    let mut left = usize::MAX;
    for _ in 0..50 {
        left = partial_files(&app);
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "an abandoned creation left its bytes");

    // Concatenation is not offered; concurrent creations cannot pass the open-upload limit;
    // an id no upload could have is not looked up.
    let res = tus_create(
        &app,
        &alice,
        &[("upload-concat", "partial"), ("upload-length", "10")],
    )
    .await;
    problem(res, StatusCode::BAD_REQUEST, "bad-request").await;
    let carol = app.key("carol", crate::helpers::ALL_SCOPES);
    let creations = (0..25).map(|_| tus_create(&app, &carol, &[("upload-defer-length", "1")]));
    let created = futures::future::join_all(creations)
        .await
        .iter()
        .filter(|res| res.status() == StatusCode::CREATED)
        .count();
    assert_eq!(created, 20, "exactly the default limit of open uploads");
    let res = tus_head(&app.url("/api/v1/uploads/a%00b"), &alice).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}
on_both_backends!(a_tus_upload_holding_all_its_bytes_always_becomes_a_clip);
