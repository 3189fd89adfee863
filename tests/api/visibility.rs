use reqwest::StatusCode;

use crate::helpers::{fixture, json, spawn_app, Backend, ALL_SCOPES};
use crate::on_both_backends;

async fn owner_sees_scan_state_but_public_does_not(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.alice();
    let id = app
        .upload_ok(&alice, fixture("hello.wav"), &[("x-title", "Hi")])
        .await;
    app.wait_scanned(&id, &alice).await;

    let (status, owner) = json(app.get_item(&id, Some(&alice)).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(owner["scan_state"], "clean");
    assert!(owner.get("download_count").is_some());

    let (status, public) = json(app.get_item(&id, None).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(public["title"], "Hi");
    assert!(public.get("scan_state").is_none(), "{public}");
    assert!(public.get("download_count").is_none());
    assert!(public.get("sha256").is_none());

    let bob = app.key("bob", ALL_SCOPES);
    let (status, other) = json(app.get_item(&id, Some(&bob)).await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(other.get("scan_state").is_none());
}
on_both_backends!(owner_sees_scan_state_but_public_does_not);

async fn a_clip_that_is_not_clean_is_404_to_everyone_but_its_owner(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.alice();
    // Valid container, damaged stream: accepted at upload, rejected by the scan.
    let mut bytes = fixture("hello.wav");
    bytes.truncate(44);
    bytes[4..8].copy_from_slice(&36u32.to_le_bytes());
    let id = app.upload_ok(&alice, bytes, &[]).await;
    let owner = app.wait_scanned(&id, &alice).await;
    assert_eq!(owner["scan_state"], "rejected", "{owner}");
    assert!(owner["scan_detail"].is_string());

    let (status, body) = json(app.get_item(&id, None).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["type"], "urn:voicebin:problem:not-found");
    let bob = app.key("bob", ALL_SCOPES);
    assert_eq!(
        app.get_item(&id, Some(&bob)).await.status(),
        StatusCode::NOT_FOUND
    );
    let res = app
        .client
        .get(app.url(&format!("/{id}/download")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}
on_both_backends!(a_clip_that_is_not_clean_is_404_to_everyone_but_its_owner);

async fn a_deleted_clip_is_410_to_everyone_and_its_blob_is_purged(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.alice();
    let id = app.upload_ok(&alice, fixture("hello.ogg"), &[]).await;
    app.wait_scanned(&id, &alice).await;
    assert_eq!(app.blob_files().0, 1);

    let bob = app.key("bob", ALL_SCOPES);
    assert_eq!(
        app.delete_item(&id, &bob).await.status(),
        StatusCode::NOT_FOUND
    );
    let res = app.delete_item(&id, &alice).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    assert_eq!(app.get_item(&id, None).await.status(), StatusCode::GONE);
    assert_eq!(
        app.get_item(&id, Some(&alice)).await.status(),
        StatusCode::GONE
    );
    assert_eq!(
        app.delete_item(&id, &alice).await.status(),
        StatusCode::GONE
    );
    let res = app
        .client
        .get(app.url(&format!("/{id}/download")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::GONE);
    let res = app
        .patch_item(&id, &alice, serde_json::json!({"title": "x"}))
        .await;
    assert_eq!(res.status(), StatusCode::GONE);
    assert_eq!(app.blob_files(), (0, 0));
    assert_eq!(
        app.event_types(&id).await,
        ["Uploaded", "ScanCompleted", "Deleted"]
    );
    let (_, list) = json(app.list(&alice, &[]).await).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
}
on_both_backends!(a_deleted_clip_is_410_to_everyone_and_its_blob_is_purged);

#[tokio::test]
async fn another_accounts_clip_cannot_be_edited_or_deleted() {
    let app = spawn_app(Backend::Sqlite).await;
    let alice = app.alice();
    let bob = app.key("bob", ALL_SCOPES);
    let id = app
        .upload_ok(&alice, fixture("hello.ogg"), &[("x-title", "mine")])
        .await;
    let res = app
        .patch_item(&id, &bob, serde_json::json!({"title": "stolen"}))
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        app.delete_item(&id, &bob).await.status(),
        StatusCode::NOT_FOUND
    );
    let owner = app.wait_scanned(&id, &alice).await;
    assert_eq!(owner["title"], "mine");
    assert_eq!(app.event_types(&id).await, ["Uploaded", "ScanCompleted"]);
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_404_problems() {
    let app = spawn_app(Backend::Sqlite).await;
    for id in ["AAAAAAAAAAAAAAAA", "nope", "..%2F..%2Fetc"] {
        let (status, body) = json(app.get_item(id, None).await).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}");
        assert_eq!(body["status"], 404);
    }
    let res = app
        .client
        .get(app.url("/no/such/route"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn patch_edits_title_description_and_limit_and_validates_them() {
    let app = spawn_app(Backend::Sqlite).await;
    let alice = app.alice();
    let id = app
        .upload_ok(&alice, fixture("hello.ogg"), &[("x-title", "old")])
        .await;
    app.wait_scanned(&id, &alice).await;
    let (status, body) = json(
        app.patch_item(
            &id,
            &alice,
            serde_json::json!({"title": "new", "description": "desc", "download_limit": 7}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["title"], "new");
    assert_eq!(body["description"], "desc");
    assert_eq!(body["download_limit"], 7);
    let (status, body) = json(
        app.patch_item(
            &id,
            &alice,
            serde_json::json!({"description": null, "download_limit": null}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["description"].is_null());
    assert!(body.get("download_limit").is_none() || body["download_limit"].is_null());
    assert_eq!(body["title"], "new");

    for bad in [
        serde_json::json!({"title": "x".repeat(201)}),
        serde_json::json!({"title": "a\u{0007}b"}),
        serde_json::json!({"download_limit": 0}),
        serde_json::json!({"download_limit": "ten"}),
        serde_json::json!({"unknown": 1}),
        serde_json::json!([1, 2]),
    ] {
        let (status, body) = json(app.patch_item(&id, &alice, bad.clone()).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:voicebin:problem:"));
    }
    let res = app
        .client
        .patch(app.url(&format!("/api/v1/items/{id}")))
        .bearer_auth(&alice)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.event_types(&id).await.len(), 6);
}

/// One access rule: a moderator reads a clip that is not public on every surface its owner does
/// (the view page used to leave moderators out), and everyone else gets 404 there too.
#[tokio::test]
async fn moderators_see_a_clip_that_is_not_public_on_every_surface_its_owner_does() {
    let app = spawn_app(Backend::Sqlite).await;
    let alice = app.alice();
    let mut bytes = fixture("hello.wav");
    bytes.truncate(44);
    bytes[4..8].copy_from_slice(&36u32.to_le_bytes());
    let id = app.upload_ok(&alice, bytes, &[]).await;
    assert_eq!(
        app.wait_scanned(&id, &alice).await["scan_state"],
        "rejected"
    );
    let moderator = app.key("mod", &["voice:moderate"]);
    let bob = app.key("bob", ALL_SCOPES);
    for path in [
        format!("/{id}"),
        format!("/{id}/embed"),
        format!("/{id}/download"),
        format!("/api/v1/items/{id}"),
        format!("/api/v1/items/{id}/history"),
    ] {
        for (who, key, expected) in [
            ("owner", Some(&alice), StatusCode::OK),
            ("moderator", Some(&moderator), StatusCode::OK),
            ("another account", Some(&bob), StatusCode::NOT_FOUND),
            ("anonymous", None, StatusCode::NOT_FOUND),
        ] {
            if key.is_none() && path.ends_with("/history") {
                continue; // the history needs a token: 401, tested in history.rs
            }
            let mut req = app.client.get(app.url(&path));
            if let Some(key) = key {
                req = req.bearer_auth(key);
            }
            let status = req.send().await.unwrap().status();
            assert_eq!(status, expected, "{who} GET {path}");
        }
    }
}
