//! Every page of the web app, signed out and signed in, in Chromium and Firefox
//! (`tests/browser/pages.mjs`): axe-core finds no serious or critical violation, every control
//! is reachable with Tab, nothing scrolls sideways at 360 px, nothing is fetched from another
//! site, no CSP violation or console error; screenshots of each at desktop and phone width are
//! kept in `test-artifacts/pages-<browser>/`.

use std::time::Instant;

use serde_json::{json, Value};

use crate::browser::{repo, run_script, Browser};
use crate::helpers::{fixture, spawn_app, Backend, TestApp};

/// A session as `api/static/app/session.js` keeps it, for a key minted by the test.
pub(crate) fn session_for(account: &str, key: &str, scopes: &[&str]) -> Value {
    json!({
        "token": key,
        "scheme": "Bearer",
        "account": account,
        "scopes": scopes,
        "expiresAt": null,
        "via": "key",
    })
}

async fn visits(app: &TestApp) -> Value {
    let alice = app.alice();
    let id = app
        .upload_ok(
            &alice,
            fixture("hello.ogg"),
            &[("x-title", "Standup notes"), ("x-description", "Monday")],
        )
        .await;
    app.wait_scanned(&id, &alice).await;
    let reported = app
        .upload_ok(&alice, fixture("hello.ogg"), &[("x-title", "Reported")])
        .await;
    app.wait_scanned(&reported, &alice).await;
    let res = app
        .client
        .post(app.url(&format!("/api/v1/items/{reported}/reports")))
        .json(&json!({"reason": "spam", "note": "test report"}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "report: {}", res.status());

    let owner_scopes = ["voice:read", "voice:create", "voice:delete"];
    let alice_session = session_for("alice", &alice, &owner_scopes);
    let moderator_key = app.key("mo", &["voice:read", "voice:moderate"]);
    let moderator = session_for("mo", &moderator_key, &["voice:read", "voice:moderate"]);
    let visit = |label: &str, path: String, session: Option<&Value>| json!({ "label": label, "path": path, "session": session, "ready": null });
    json!([
        visit("upload-signed-out", "/".into(), None),
        visit("upload", "/".into(), Some(&alice_session)),
        visit("signin", "/signin".into(), None),
        visit("clips-signed-out", "/clips".into(), None),
        visit("clips", "/clips".into(), Some(&alice_session)),
        visit("moderation", "/moderation".into(), Some(&moderator)),
        visit("view", format!("/{id}"), None),
        visit("view-owner", format!("/{id}"), Some(&alice_session)),
    ])
}

async fn check_pages(browser: Browser) {
    let app = spawn_app(Backend::Sqlite).await;
    let artifacts = repo()
        .join("test-artifacts")
        .join(format!("pages-{}", browser.name()));
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).unwrap();
    let config = json!({
        "origin": app.url("").trim_end_matches('/'),
        "artifacts": artifacts,
        "visits": visits(&app).await,
    });
    let config_path = artifacts.join("visits.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let started = Instant::now();
    let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || {
        let config = config_path.to_str().unwrap().to_owned();
        run_script(browser, "pages.mjs", &[&config], &artifacts, "pages")
    })
    .await
    .unwrap();
    assert!(
        ok,
        "the pages failed their checks in {} after {:.1} s:\n--- stdout ---\n{stdout}\n\
         --- stderr ---\n{stderr}",
        browser.name(),
        started.elapsed().as_secs_f64()
    );
    let observed: Value = serde_json::from_str(&stdout).unwrap();
    let visits = observed["visits"].as_array().map_or(0, Vec::len);
    assert_eq!(visits, 8, "every visit was audited: {stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_is_accessible_and_self_contained_in_chromium() {
    check_pages(Browser::Chromium).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_is_accessible_and_self_contained_in_firefox() {
    check_pages(Browser::Firefox).await;
}
