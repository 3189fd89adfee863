//! Signing in from a browser: one-time sign-in links (`voicebin keys login-link`,
//! `POST /api/v1/session/login-link`) at the API on both backends, then `/signin` in real
//! browsers (Chromium and Firefox, `tests/browser/signin.mjs`): a link signs in once, and OAuth
//! 2.1 with PKCE and DPoP against a real authorization server (oidc-provider, installed by
//! `scripts/services/oidc.sh`, configured by `tests/oidc/server.mjs`). Never skipped: a missing
//! tool fails the test with a hint.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt as _;
use voicebin::{BrowserClient, IssuerSettings, ModerationSettings, NoncePolicy, Settings};
use voicebin_api::auth::{EmbeddedIssuer, MintRequest};
use voicebin_api::usecases::signin::REDEMPTIONS_PER_HOUR_PER_IP;

use crate::browser::{repo, run_script, Browser};
use crate::helpers::{
    sandbox_settings, spawn_app, spawn_app_with, spawn_with_settings, Backend, Options, TestApp,
};
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
    // Its own kind of problem: nothing to do with a clip's state.
    assert_eq!(again["type"], "urn:voicebin:problem:link-used");
    assert_eq!(again["title"], "Sign-in link already used");
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

async fn redemptions_are_limited_per_network_address(backend: Backend) {
    // Behind a proxy that names the client (X-Forwarded-For), so two addresses can be tried.
    let app = spawn_app_with(
        backend,
        Options {
            moderation: ModerationSettings {
                trust_forwarded_for: true,
                ..ModerationSettings::default()
            },
            ..Options::default()
        },
    )
    .await;
    let from = |address: &'static str, token: String| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/api/v1/session/login-link"))
                .header("x-forwarded-for", address)
                .json(&json!({ "token": token }))
                .send()
                .await
                .unwrap()
        }
    };
    // Guessing: every try counts, good or bad, up to the allowance.
    for n in 0..REDEMPTIONS_PER_HOUR_PER_IP {
        let guess = format!("{}x", link(&app, "alice"));
        let status = from("192.0.2.1", guess).await.status();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "try {n}");
    }
    let token = link(&app, "alice");
    let refused = from("192.0.2.1", token.clone()).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=120).contains(&wait),
        "one more try within two minutes: {wait}"
    );
    let body = problem(refused, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(body["type"], "urn:voicebin:problem:too-many-requests");
    // The refusal used nothing up: the same link signs in from another address, once.
    assert_eq!(
        from("192.0.2.2", token.clone()).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        from("192.0.2.3", token).await.status(),
        StatusCode::CONFLICT
    );
}
on_both_backends!(redemptions_are_limited_per_network_address);

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

// ---- In real browsers ------------------------------------------------------------------------

const OIDC_HINT: &str =
    "run scripts/test (or `source scripts/services/oidc.sh && ensure_oidc`) first";

fn artifacts() -> PathBuf {
    let dir = repo().join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `tests/browser/signin.mjs <mode> <site> <arg> <artifacts> <issuer>` in `browser`; fails
/// the test with its report unless every check passed.
async fn run_signin_script(
    browser: Browser,
    mode: &'static str,
    site: String,
    arg: String,
    issuer: String,
) {
    let dir = artifacts();
    let stem = format!("signin-{mode}-{}", browser.name());
    let started = Instant::now();
    let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || {
        let args = [
            mode,
            site.as_str(),
            arg.as_str(),
            dir.to_str().unwrap(),
            issuer.as_str(),
        ];
        run_script(browser, "signin.mjs", &args, &dir, &stem)
    })
    .await
    .unwrap();
    assert!(
        ok,
        "sign-in ({mode}) failed in {} after {:.1} s (screenshots in test-artifacts/):\n\
         --- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        browser.name(),
        started.elapsed().as_secs_f64(),
    );
}

async fn a_link_signs_a_browser_in_once(browser: Browser) {
    let app = spawn_app(Backend::Sqlite).await;
    let url = format!("{}/signin#login={}", app.base, link(&app, "alice"));
    // Opened later in alice's signed-in tab: the page asks before switching accounts.
    let other = format!("{}/signin#login={}", app.base, link(&app, "mallory"));
    run_signin_script(
        browser,
        "link",
        app.base.clone(),
        format!("{url} {other}"),
        "-".into(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_signs_chromium_in_once() {
    a_link_signs_a_browser_in_once(Browser::Chromium).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_signs_firefox_in_once() {
    a_link_signs_a_browser_in_once(Browser::Firefox).await;
}

/// What `tests/oidc/server.mjs` prints once it listens.
struct Oidc {
    issuer: String,
    jwks_uri: String,
    metadata: String,
    /// Killed when the test ends.
    _process: tokio::process::Child,
}

/// Starts oidc-provider on a free port as the issuer for voicebin at `site`.
async fn start_oidc(site: &str) -> Oidc {
    let dir = std::env::var_os("VOICEBIN_OIDC_DIR")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from(std::env::var_os("HOME")?).join(".cache/voicebin/oidc")))
        .unwrap();
    assert!(
        dir.join("node_modules/oidc-provider/package.json").exists(),
        "oidc-provider is not installed in {}; {OIDC_HINT}",
        dir.display()
    );
    let mut process = tokio::process::Command::new("node")
        .arg(repo().join("tests/oidc/server.mjs"))
        .args([
            "--port",
            "0",
            "--resource",
            site,
            "--client",
            "voicebin-web",
        ])
        .env("VOICEBIN_OIDC_DIR", &dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(artifacts().join("oidc-provider.stderr.log")).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node: {e}; {OIDC_HINT}"));
    let mut lines = tokio::io::BufReader::new(process.stdout.take().unwrap()).lines();
    // Generous: Node starting next to two browsers and the rest of the suite on two cores once
    // took more than 30 s.
    let line = tokio::time::timeout(Duration::from_secs(120), lines.next_line())
        .await
        .expect(
            "oidc-provider did not start within 120 s (see test-artifacts/oidc-provider.stderr.log)",
        )
        .unwrap()
        .expect("oidc-provider exited (see test-artifacts/oidc-provider.stderr.log)");
    let ready: Value = serde_json::from_str(&line).unwrap();
    // Keep draining stdout, so the server never writes into a closed pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Oidc {
        issuer: ready["issuer"].as_str().unwrap().to_owned(),
        jwks_uri: ready["jwks_uri"].as_str().unwrap().to_owned(),
        metadata: ready["metadata"].as_str().unwrap().to_owned(),
        _process: process,
    }
}

async fn oauth_signs_a_browser_in_with_dpop(browser: Browser) {
    let oidc: Arc<Mutex<Option<Oidc>>> = Arc::default();
    let started = oidc.clone();
    let app = spawn_with_settings(move |dir, base| {
        Box::pin(async move {
            let issuer = start_oidc(&base).await;
            let settings = Settings {
                data_dir: dir.to_owned(),
                database_url: None,
                public_url: base,
                max_upload_bytes: voicebin::DEFAULT_MAX_UPLOAD_BYTES,
                issuer: IssuerSettings {
                    issuer: Some(issuer.issuer.clone()),
                    jwks_url: Some(issuer.jwks_uri.clone()),
                    browser: Some(BrowserClient {
                        client_id: "voicebin-web".into(),
                        metadata_url: Some(issuer.metadata.clone()),
                        scope: "voice:read voice:create voice:delete".into(),
                    }),
                    // Every proof needs this site's nonce: the page must retry once with it.
                    dpop_nonce: NoncePolicy::Required,
                    ..IssuerSettings::default()
                },
                site: Default::default(),
                moderation: Default::default(),
                s3: None,
                amqp: None,
                clamd: None,
                sweeper: Default::default(),
                lifetimes: Default::default(),
                expiry: Default::default(),
                sandbox: sandbox_settings(),
                rendition: Some(Default::default()),
                transcription: None,
                quotas: Default::default(),
                rate_limits: Default::default(),
                anonymous: Default::default(),
                resumable: Default::default(),
                read_cache: Default::default(),
                download_buffer_bytes: voicebin_commands::ReadBudget::DEFAULT_BYTES as u64,
                s3_cache_bytes: 0,
            };
            *started.lock().unwrap() = Some(issuer);
            settings
        })
    })
    .await;
    let issuer = oidc.lock().unwrap().as_ref().unwrap().issuer.clone();

    // The shell names the client and lets the page reach the issuer, and nothing else.
    let page = app.client.get(app.url("/signin")).send().await.unwrap();
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains(&format!("connect-src 'self' {issuer};")),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"data-oauth-client="voicebin-web""#),
        "{html}"
    );
    assert!(!html.contains("data-links"), "no embedded issuer, no links");

    run_signin_script(browser, "oauth", app.base.clone(), "carol".into(), issuer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_with_pkce_and_dpop_signs_chromium_in() {
    oauth_signs_a_browser_in_with_dpop(Browser::Chromium).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_with_pkce_and_dpop_signs_firefox_in() {
    oauth_signs_a_browser_in_with_dpop(Browser::Firefox).await;
}
