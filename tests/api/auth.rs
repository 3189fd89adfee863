use reqwest::StatusCode;
use serde_json::json as j;

use crate::helpers::{fixture, json, spawn_app, Backend};

#[tokio::test]
async fn missing_or_bad_tokens_get_401_with_a_bearer_challenge() {
    let app = spawn_app(Backend::Sqlite).await;
    let res = app
        .client
        .post(app.url("/api/v1/audio"))
        .body(fixture("hello.ogg"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    assert_eq!(res.headers()["content-type"], "application/problem+json");

    for bad in ["garbage", "pbca_live_x.y.z", "Bearer", ""] {
        let res = app.upload(bad, fixture("hello.ogg"), &[]).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{bad}");
        let challenge = res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(challenge.contains("invalid_token"), "{challenge}");
    }
    // A token sent to a public route is still checked.
    let res = app.get_item("AAAAAAAAAAAAAAAA", Some("garbage")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.total_events().await, 0);
}

#[tokio::test]
async fn a_key_for_another_audience_is_rejected_however_valid_its_signature() {
    let app = spawn_app(Backend::Sqlite).await;
    let now = chrono::Utc::now().timestamp();
    let claims = |aud: &str, iss: &str| {
        j!({"iss": iss, "sub": "alice", "aud": aud, "scope": "voice:read voice:create voice:delete",
            "jti": "t1", "iat": now})
    };
    let other_site = app
        .issuer
        .mint_with_claims(&claims("https://elsewhere.example", &app.base));
    let (status, body) = json(app.upload(&other_site, fixture("hello.ogg"), &[]).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("audience"));

    let other_issuer = app
        .issuer
        .mint_with_claims(&claims(&app.base, "https://evil.example"));
    assert_eq!(
        app.upload(&other_issuer, fixture("hello.ogg"), &[])
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );

    let expired = app
        .issuer
        .mint_with_claims(&j!({"iss": app.base, "sub": "alice", "aud": app.base,
        "scope": "voice:create", "jti": "t2", "iat": now - 7200, "exp": now - 3600}));
    assert_eq!(
        app.upload(&expired, fixture("hello.ogg"), &[])
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );

    let good = app.issuer.mint_with_claims(&claims(&app.base, &app.base));
    assert_eq!(
        app.upload(&good, fixture("hello.ogg"), &[]).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(app.total_events().await, 1);
}

#[tokio::test]
async fn each_route_requires_its_scope() {
    let app = spawn_app(Backend::Sqlite).await;
    let alice = app.alice();
    let id = app.upload_ok(&alice, fixture("hello.ogg"), &[]).await;

    let read_only = app.key("alice", &["voice:read"]);
    let (status, body) = json(app.upload(&read_only, fixture("hello.ogg"), &[]).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["required_scope"], "voice:create");
    assert_eq!(body["type"], "urn:voicebin:problem:insufficient-scope");
    let res = app.delete_item(&id, &read_only).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let challenge = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.contains("insufficient_scope") && challenge.contains("voice:delete"));

    let create_only = app.key("alice", &["voice:create"]);
    assert_eq!(
        app.list(&create_only, &[]).await.status(),
        StatusCode::FORBIDDEN
    );
    // Without voice:read the owner gets only the public view (and a pending clip is hidden).
    let res = app.get_item(&id, Some(&create_only)).await;
    if res.status() == StatusCode::OK {
        let body: serde_json::Value = res.json().await.unwrap();
        assert!(body.get("scan_state").is_none());
    } else {
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(app.list(&read_only, &[]).await.status(), StatusCode::OK);
    assert_eq!(app.event_types(&id).await[0], "Uploaded");
    assert!(!app.event_types(&id).await.contains(&"Deleted".to_owned()));
}
