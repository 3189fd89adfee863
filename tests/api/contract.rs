//! The REST contract, fuzzed: schemathesis runs against the live server with a key holding every
//! scope, with all its checks, schema-valid and schema-invalid data, and the stateful phase that
//! follows the OpenAPI links from `POST /api/v1/audio`. Any failure fails the test.
//!
//! Run alone: `cargo test --test api contract` (with `VOICEBIN_SCHEMATHESIS` naming `st`, as
//! `scripts/test` sets it). Configuration and hooks: `tests/api/schemathesis/`. Reports (JUnit,
//! NDJSON): `test-artifacts/schemathesis/`.

use std::path::Path;
use std::time::Instant;

use serde_json::json;

use crate::helpers::{fixture, json, spawn_app, Backend, ALL_SCOPES};

/// Test cases per operation and phase, and the time budget of the whole run (seconds).
const MAX_EXAMPLES: &str = "40";
const MAX_TIME: &str = "150";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_contract_violations() {
    let st = std::env::var("VOICEBIN_SCHEMATHESIS").unwrap_or_else(|_| "st".into());
    let app = spawn_app(Backend::Sqlite).await;
    let key = app.key("schemathesis", ALL_SCOPES);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let reports = root.join("test-artifacts/schemathesis");
    std::fs::create_dir_all(&reports).unwrap();

    let started = Instant::now();
    let output = tokio::process::Command::new(&st)
        .current_dir(root)
        .args(["--no-color", "--config-file", "tests/api/schemathesis/schemathesis.toml"])
        .arg("run")
        .arg(app.url("/api/v1/openapi.json"))
        .args(["--checks", "all", "--mode", "all"])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--max-examples", MAX_EXAMPLES, "--max-time", MAX_TIME])
        .args(["--generation-database", "none"])
        .arg("--header")
        .arg(format!("Authorization: Bearer {key}"))
        .args(["--report", "junit,ndjson", "--report-dir"])
        .arg(&reports)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| {
            panic!("cannot run `{st}` ({e}); scripts/test installs schemathesis and sets VOICEBIN_SCHEMATHESIS")
        });
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!(
        "schemathesis ran for {:.0?}:\n{stdout}{stderr}",
        started.elapsed()
    );
    assert!(
        output.status.success(),
        "schemathesis found contract violations (reports in {}):\n{stdout}{stderr}",
        reports.display()
    );
}

/// What schemathesis found, pinned down with fixed inputs.
#[tokio::test]
async fn contract_regressions_stay_fixed() {
    let app = spawn_app(Backend::Sqlite).await;
    let key = app.alice();
    let id = app.upload_ok(&key, fixture("hello.wav"), &[]).await;

    // A title is a JSON string: poem-openapi alone would store `42` as "42".
    for body in [json!({"title": 42}), json!({"description": true})] {
        let (status, problem) = json(app.patch_item(&id, &key, body).await).await;
        assert_eq!(status, 400, "{problem}");
        assert_eq!(problem["type"], "urn:voicebin:problem:bad-request");
    }
    // `5.0` is an integer in JSON Schema; `1.5` is not.
    let (status, item) = json(
        app.patch_item(&id, &key, json!({"download_limit": 5.0}))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{item}");
    assert_eq!(item["download_limit"], 5);
    let (status, problem) = json(
        app.patch_item(&id, &key, json!({"download_limit": 1.5}))
            .await,
    )
    .await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["field"], "download_limit");
    // Fields an item always carries are present, null until known.
    let (_, item) = json(app.get_item(&id, Some(&key)).await).await;
    assert!(item["title"].is_null(), "{item}");

    // A 405 says which methods the resource has (RFC 9110).
    let res = app
        .client
        .request(
            reqwest::Method::TRACE,
            app.url(&format!("/api/v1/items/{id}")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "DELETE, GET, PATCH, HEAD");
    assert_eq!(res.headers()["content-type"], "application/problem+json");
}
