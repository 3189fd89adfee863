//! `GET /api/v1/items/{id}/history` and `voicebin history`: the audit view of a clip.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{fixture, spawn_app, Backend, TestApp};

/// Upload, scan, edit, one counted download, delete: five kinds of events, three actors.
async fn clip_with_a_life(app: &TestApp) -> String {
    let alice = app.alice();
    let res = app
        .client
        .post(app.url("/api/v1/audio"))
        .bearer_auth(&alice)
        .header("x-request-id", "req-upload-1")
        .header("x-download-limit", "5")
        .body(fixture("hello.ogg"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_scanned(&id, &alice).await;
    let res = app
        .patch_item(&id, &alice, json!({"title": "Renamed"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .client
        .get(app.url(&format!("/{id}/download")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.bytes().await.unwrap();
    id
}

crate::on_both_backends!(the_owner_sees_every_event_in_order_with_actors_and_request_ids);
async fn the_owner_sees_every_event_in_order_with_actors_and_request_ids(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = clip_with_a_life(&app).await;
    let (status, before) = app.history(&id, &app.alice(), &[]).await;
    assert_eq!(status, StatusCode::OK, "{before}");
    assert_eq!(before["items"].as_array().unwrap().len(), 4);
    assert_eq!(
        app.delete_item(&id, &app.alice()).await.status(),
        StatusCode::NO_CONTENT
    );

    // For the owner a deleted clip is gone; moderators still read its whole history.
    let (status, _) = app.history(&id, &app.alice(), &[]).await;
    assert_eq!(status, StatusCode::GONE);
    let (status, page) = app
        .history(&id, &app.key("mod", &["voice:moderate"]), &[])
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["id"], id.as_str());
    let items = page["items"].as_array().unwrap();
    let types: Vec<&str> = items.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "Uploaded",
            "ScanCompleted",
            "MetadataEdited",
            "Downloaded",
            "Deleted"
        ]
    );
    let sequences: Vec<i64> = items
        .iter()
        .map(|e| e["sequence"].as_i64().unwrap())
        .collect();
    assert_eq!(sequences, [1, 2, 3, 4, 5]);
    assert!(items
        .iter()
        .all(|e| e["version"] == "1.0" && e["time"].is_string()));
    assert_eq!(items[0]["actor"], json!({"kind": "account", "id": "alice"}));
    assert_eq!(items[0]["request_id"], "req-upload-1");
    assert_eq!(items[0]["payload"]["owner"], "alice");
    assert_eq!(items[1]["actor"]["kind"], "system");
    assert_eq!(items[2]["payload"]["title"], "Renamed");
    assert_eq!(
        items[3]["actor"],
        json!({"kind": "system", "id": "downloads"})
    );
    assert_eq!(items[4]["actor"], json!({"kind": "account", "id": "alice"}));
    assert!(page.get("next_cursor").is_none_or(Value::is_null));
}

#[tokio::test]
async fn history_pages_follow_the_cursor_without_gaps() {
    let app = spawn_app(Backend::Sqlite).await;
    let id = clip_with_a_life(&app).await;
    let (_, all) = app.history(&id, &app.alice(), &[]).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("limit", "2".to_owned())];
        if let Some(c) = &cursor {
            query.push(("cursor", c.clone()));
        }
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, page) = app.history(&id, &app.alice(), &query).await;
        assert_eq!(status, StatusCode::OK);
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(Value::Array(seen), all["items"]);

    let (status, body) = app
        .history(&id, &app.alice(), &[("cursor", "not-a-cursor")])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "cursor");
    let (status, _) = app.history(&id, &app.alice(), &[("limit", "0")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn only_the_owner_and_moderators_may_read_a_history() {
    let app = spawn_app(Backend::Sqlite).await;
    let id = clip_with_a_life(&app).await;
    // Someone else: as if the clip did not exist.
    let (status, _) = app
        .history(&id, &app.key("bob", &["voice:read"]), &[])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The owner needs voice:read.
    let (status, body) = app
        .history(&id, &app.key("alice", &["voice:create"]), &[])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["required_scope"], "voice:read");
    // A moderator reads any clip's history.
    let (status, page) = app
        .history(&id, &app.key("mod", &["voice:moderate"]), &[])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 4);
    // Anonymous: 401.
    let res = app
        .client
        .get(app.url(&format!("/api/v1/items/{id}/history")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = app.history("AAAAAAAAAAAAAAAA", &app.alice(), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_history_command_prints_the_same_events_from_the_store() {
    let app = spawn_app(Backend::Sqlite).await;
    let id = clip_with_a_life(&app).await;
    let (_, page) = app
        .history(&id, &app.key("mod", &["voice:moderate"]), &[])
        .await;

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_voicebin"))
        .args(["history", &id, "--json"])
        .env("VOICEBIN_DATA_DIR", app.data_dir.path())
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(Value::Array(lines), page["items"]);

    let table = std::process::Command::new(env!("CARGO_BIN_EXE_voicebin"))
        .args(["history", &id])
        .env("VOICEBIN_DATA_DIR", app.data_dir.path())
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(
        text.contains("Uploaded")
            && text.contains("account:alice")
            && text.contains("req-upload-1")
    );

    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_voicebin"))
        .args(["history", "AAAAAAAAAAAAAAAA"])
        .env("VOICEBIN_DATA_DIR", app.data_dir.path())
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(!missing.status.success());
}
