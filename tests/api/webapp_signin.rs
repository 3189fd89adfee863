//! Signing in from a browser, at the API: one-time sign-in links (`voicebin keys login-link`,
//! `POST /api/v1/session/login-link`), on both backends. The pages themselves, in real
//! browsers, are tested by `webapp_signin_browser.rs`.

use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use voicebin::IssuerSettings;
use voicebin_api::auth::{EmbeddedIssuer, MintRequest};

use crate::helpers::{spawn_app, spawn_app_with, Backend, Options, TestApp};
use crate::on_both_backends;

const SCOPES: &[&str] = &["voice:read", "voice:create"];

fn link(app: &TestApp, account: &str) -> String {
    app.issuer
        .mint_login_link(&MintRequest {
            account: account.into(),
            scopes: SCOPES.iter().map(|s| s.to_string()).collect(),
            audience: app.settings.public_url.clone(),
            ttl: Some(Duration::from_secs(600)),
        })
        .unwrap()
}

async fn redeem(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/session/login-link"))
        .json(&json!({ "token": token }))
        .send()
        .await
        .unwrap()
}

async fn problem(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    response.json().await.unwrap()
}

async fn a_link_signs_in_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = link(&app, "alice");

    let response = redeem(&app, &token).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let session: Value = response.json().await.unwrap();
    assert_eq!(session["account"], "alice");
    assert_eq!(session["scope"], "voice:read voice:create");
    assert_eq!(session["token_type"], "Bearer");
    assert_eq!(session["expires_in"], 8 * 3600);
    let key = session["access_token"].as_str().unwrap();
    assert!(key.starts_with("pbca_live_"), "{key}");

    // The session key works as the account, and expires.
    let listed = app
        .client
        .get(app.url("/api/v1/account/items"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    let claims = app.issuer.verify_login_link(key, &app.base);
    assert!(claims.is_err(), "a session key is not a link");

    // Used up: a second redemption is refused and mints nothing.
    let again = problem(redeem(&app, &token).await, StatusCode::CONFLICT).await;
    assert_eq!(again["type"], "urn:voicebin:problem:conflict");
    assert!(
        again["detail"].as_str().unwrap().contains("already used"),
        "{again}"
    );

    // The link's token is no credential by itself.
    let as_bearer = app
        .client
        .get(app.url("/api/v1/account/items"))
        .bearer_auth(link(&app, "alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(as_bearer.status(), StatusCode::UNAUTHORIZED);
}
on_both_backends!(a_link_signs_in_once);

async fn concurrent_redemptions_of_one_link_sign_in_once(backend: Backend) {
    let app = spawn_app(backend).await;
    for _ in 0..3 {
        let token = link(&app, "alice");
        let (a, b) = tokio::join!(redeem(&app, &token), redeem(&app, &token));
        let mut statuses = [a.status(), b.status()];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);
    }
}
on_both_backends!(concurrent_redemptions_of_one_link_sign_in_once);

async fn bad_links_are_refused_and_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = |exp: u64, aud: &str| {
        json!({
            "iss": app.settings.public_url,
            "sub": "alice",
            "aud": aud,
            "scope": "voice:read",
            "jti": format!("jti-{exp}-{aud}"),
            "iat": now - 700,
            "exp": exp,
        })
    };
    let expired = app
        .issuer
        .mint_login_link_with_claims(&claims(now - 100, &app.settings.public_url));
    let body = problem(redeem(&app, &expired).await, StatusCode::UNAUTHORIZED).await;
    assert!(
        body["detail"].as_str().unwrap().contains("expired"),
        "{body}"
    );

    let elsewhere = app
        .issuer
        .mint_login_link_with_claims(&claims(now + 600, "https://elsewhere.example"));
    let body = problem(redeem(&app, &elsewhere).await, StatusCode::UNAUTHORIZED).await;
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("not for this site"));

    // Signed by a key that is not this site's.
    let other_dir = tempfile::tempdir().unwrap();
    let other =
        EmbeddedIssuer::load_or_create(other_dir.path(), app.settings.public_url.clone()).unwrap();
    let forged = other
        .mint_login_link(&MintRequest {
            account: "alice".into(),
            scopes: vec!["voice:read".into()],
            audience: app.settings.public_url.clone(),
            ttl: None,
        })
        .unwrap();
    problem(redeem(&app, &forged).await, StatusCode::UNAUTHORIZED).await;

    // An API key (another token type) is not a link, whatever it grants.
    let key = app.alice();
    let body = problem(redeem(&app, &key).await, StatusCode::UNAUTHORIZED).await;
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("not a sign-in link"));
    problem(redeem(&app, "not.a.token").await, StatusCode::UNAUTHORIZED).await;

    // A body that is not the operation's.
    let response = app
        .client
        .post(app.url("/api/v1/session/login-link"))
        .json(&json!({ "token": "" }))
        .send()
        .await
        .unwrap();
    problem(response, StatusCode::BAD_REQUEST).await;

    // None of these used up a link: a fresh one still works once.
    assert_eq!(
        redeem(&app, &link(&app, "alice")).await.status(),
        StatusCode::OK
    );
}
on_both_backends!(bad_links_are_refused_and_change_nothing);

async fn redeemed_links_are_pruned_once_expired(backend: Backend) {
    let app = spawn_app(backend).await;
    let redeemed = app.database.redeemed_links();
    assert!(redeemed.redeem("old", 1_000).await.unwrap());
    assert!(!redeemed.redeem("old", 1_000).await.unwrap());
    assert!(redeemed.redeem("live", 3_000).await.unwrap());
    assert_eq!(redeemed.purge_expired(2_000).await.unwrap(), 1);
    assert!(!redeemed.redeem("live", 3_000).await.unwrap(), "still held");
    assert_eq!(redeemed.purge_expired(2_000).await.unwrap(), 0);
}
on_both_backends!(redeemed_links_are_pruned_once_expired);

#[tokio::test]
async fn an_external_issuer_deployment_has_no_links() {
    let keys_dir = tempfile::tempdir().unwrap();
    let external =
        EmbeddedIssuer::load_or_create(keys_dir.path(), "https://id.example".into()).unwrap();
    let jwks_file = keys_dir.path().join("jwks.json");
    std::fs::write(&jwks_file, external.jwks().to_string()).unwrap();
    let app = spawn_app_with(
        Backend::Sqlite,
        Options {
            issuer: IssuerSettings {
                issuer: Some("https://id.example".into()),
                jwks_file: Some(jwks_file),
                ..IssuerSettings::default()
            },
            ..Options::default()
        },
    )
    .await;
    // Even a link the data directory's key would sign is refused: there is no embedded issuer.
    let body = problem(
        redeem(&app, &link(&app, "alice")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("OAuth issuer"));
}

#[tokio::test]
async fn the_login_link_command_prints_a_link_the_site_redeems() {
    let app = spawn_app(Backend::Sqlite).await;
    let output = Command::new(env!("CARGO_BIN_EXE_voicebin"))
        .args([
            "keys",
            "login-link",
            "--account",
            "bob",
            "--ttl-minutes",
            "5",
        ])
        .args(["--scopes", "voice:read"])
        .env("VOICEBIN_DATA_DIR", app.data_dir.path())
        .env("VOICEBIN_PUBLIC_URL", &app.base)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let url = String::from_utf8(output.stdout).unwrap();
    let prefix = format!("{}/signin#login=", app.base);
    let token = url
        .trim()
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{url:?} does not start with {prefix}"));
    let verified = app.issuer.verify_login_link(token, &app.base).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((verified.expires_at - now - 300).abs() <= 5, "{verified:?}");

    let session: Value = redeem(&app, token).await.json().await.unwrap();
    assert_eq!(session["account"], "bob");
    assert_eq!(session["scope"], "voice:read");

    let refused = Command::new(env!("CARGO_BIN_EXE_voicebin"))
        .args([
            "keys",
            "login-link",
            "--account",
            "bob",
            "--scopes",
            "voice:nope",
        ])
        .env("VOICEBIN_DATA_DIR", app.data_dir.path())
        .env("VOICEBIN_PUBLIC_URL", &app.base)
        .output()
        .unwrap();
    assert!(!refused.status.success());
}
