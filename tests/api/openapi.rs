use std::process::Command;

use serde_json::Value;

use crate::helpers::{spawn_app, Backend};

const SNAPSHOT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/api/snapshots/openapi.json"
);

async fn served_document() -> Value {
    let app = spawn_app(Backend::Sqlite).await;
    let res = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut doc: Value = res.json().await.unwrap();
    // The server URL carries the test's random port.
    doc["servers"][0]["url"] = Value::String("http://voicebin.test".into());
    doc
}

#[tokio::test]
async fn the_openapi_document_is_3_1_and_passes_an_independent_validator() {
    let doc = served_document().await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/audio",
        "/api/v1/items/{id}",
        "/api/v1/account/items",
    ] {
        assert!(paths.contains_key(path), "{path} missing");
    }
    let text = doc.to_string();
    assert!(!text.contains("\"nullable\""), "3.0 leftovers");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let validator = std::env::var("VOICEBIN_OPENAPI_VALIDATOR")
        .unwrap_or_else(|_| "openapi-spec-validator".into());
    let output = Command::new(&validator)
        .args(["--schema", "3.1", "--validation-errors", "all"])
        .arg(file.path())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `{validator}` ({e}); scripts/test installs openapi-spec-validator")
        });
    assert!(
        output.status.success(),
        "validator rejected the document:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Every contract change shows up in review: update with `VOICEBIN_UPDATE_SNAPSHOTS=1`.
#[tokio::test]
async fn the_openapi_document_matches_its_snapshot() {
    let doc = served_document().await;
    let pretty = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    if std::env::var_os("VOICEBIN_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(SNAPSHOT, &pretty).unwrap();
    }
    let expected = std::fs::read_to_string(SNAPSHOT)
        .expect("snapshot missing: run with VOICEBIN_UPDATE_SNAPSHOTS=1");
    assert!(
        pretty == expected,
        "the OpenAPI document changed; review the diff and rerun with VOICEBIN_UPDATE_SNAPSHOTS=1"
    );
}
