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
    assert_eq!(app.clips_recorded().await, 1);
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

#[tokio::test]
async fn the_embedded_issuer_publishes_a_jwks_that_verifies_its_keys() {
    use std::sync::Arc;
    use voicebin_api::auth::{JwtVerifier, StaticJwks, TokenVerifier};
    let app = spawn_app(Backend::Sqlite).await;
    let res = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let jwks: serde_json::Value = res.json().await.unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    assert!(jwks["keys"][0].get("d").is_none(), "private key leaked");
    let verifier = JwtVerifier::new(
        app.base.clone(),
        vec![app.base.clone()],
        Arc::new(StaticJwks::from_value(&jwks).unwrap()),
    );
    let principal = verifier.verify(&app.alice()).await.unwrap();
    assert_eq!(principal.account, "alice");
    assert!(principal.has_scope("voice:delete"));
}

async fn external_issuer_app(
    jwks_url: Option<String>,
    jwks_file: Option<std::path::PathBuf>,
) -> crate::helpers::TestApp {
    crate::helpers::spawn_app_with(
        Backend::Sqlite,
        crate::helpers::Options {
            issuer: voicebin::IssuerSettings {
                issuer: Some("https://issuer.test".into()),
                jwks_url,
                jwks_file,
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await
}

fn external_key(issuer: &voicebin_api::auth::EmbeddedIssuer, audience: &str) -> String {
    issuer
        .mint(&voicebin_api::auth::MintRequest {
            account: "carol".into(),
            scopes: vec!["voice:create".into(), "voice:read".into()],
            audience: audience.into(),
            ttl: None,
        })
        .unwrap()
}

#[tokio::test]
async fn an_external_issuer_from_a_jwks_file_is_trusted_and_the_embedded_one_is_not() {
    let issuer_dir = tempfile::tempdir().unwrap();
    let external = voicebin_api::auth::EmbeddedIssuer::load_or_create(
        issuer_dir.path(),
        "https://issuer.test".into(),
    )
    .unwrap();
    let jwks_file = issuer_dir.path().join("jwks.json");
    std::fs::write(&jwks_file, external.jwks().to_string()).unwrap();
    let app = external_issuer_app(None, Some(jwks_file)).await;

    let key = external_key(&external, &app.base);
    assert_eq!(
        app.upload(&key, fixture("hello.ogg"), &[]).await.status(),
        StatusCode::CREATED
    );
    // The app's own data-dir issuer is not the configured one any more.
    assert_eq!(
        app.upload(&app.alice(), fixture("hello.ogg"), &[])
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // No embedded JWKS is published in this mode.
    let res = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_external_issuer_from_a_jwks_url_is_trusted() {
    use poem::{handler, listener::TcpListener, web::Data, EndpointExt, Route};
    let issuer_dir = tempfile::tempdir().unwrap();
    let external = voicebin_api::auth::EmbeddedIssuer::load_or_create(
        issuer_dir.path(),
        "https://issuer.test".into(),
    )
    .unwrap();
    #[handler]
    fn jwks(Data(body): Data<&String>) -> String {
        body.clone()
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let route = Route::new()
        .at("/jwks.json", poem::get(jwks))
        .data(external.jwks().to_string());
    tokio::spawn(poem::Server::new(TcpListener::bind(format!("127.0.0.1:{port}"))).run(route));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let app = external_issuer_app(Some(format!("http://127.0.0.1:{port}/jwks.json")), None).await;
    let key = external_key(&external, &app.base);
    let (status, body) = json(app.upload(&key, fixture("hello.ogg"), &[]).await).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let wrong_audience = external_key(&external, "https://voicebin.elsewhere");
    assert_eq!(
        app.upload(&wrong_audience, fixture("hello.ogg"), &[])
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}
