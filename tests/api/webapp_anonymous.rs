//! Anonymous uploads from the web app in Chromium and Firefox (`tests/browser/anonymous.mjs`):
//! signed out, the upload page offers an anonymous upload with the vendored ALTCHA widget,
//! which solves the server's challenge in a worker under the page's strict CSP; the page shows
//! the management link once, and the management page shows the clip and deletes it. Each state
//! is audited (axe, Tab, 360 px; screenshots in `test-artifacts/anonymous-<browser>/`).

use reqwest::StatusCode;
use serde_json::{json, Value};
use voicebin::{AnonymousSettings, Work};

use crate::browser::{repo, run_script, Browser};
use crate::helpers::{fixture_dir, spawn_app_with, Backend, Options};

#[tokio::test(flavor = "multi_thread")]
async fn an_anonymous_upload_solves_its_challenge_and_is_deleted_from_its_link_in_chromium() {
    check_anonymous_upload(Browser::Chromium).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_anonymous_upload_solves_its_challenge_and_is_deleted_from_its_link_in_firefox() {
    check_anonymous_upload(Browser::Firefox).await;
}

async fn check_anonymous_upload(browser: Browser) {
    let app = spawn_app_with(
        Backend::Sqlite,
        Options {
            anonymous: AnonymousSettings {
                enabled: true,
                // Easier than the default, so a loaded test machine solves it in a moment; the
                // widget's work is the same at any difficulty.
                work: Work {
                    cost: 100,
                    digits: 2,
                },
                ..AnonymousSettings::default()
            },
            ..Options::default()
        },
    )
    .await;
    let artifacts = repo().join("test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let config = json!({
        "base": app.url(""),
        "good": fixture_dir().join("hello.wav"),
        "artifacts": artifacts,
        "lifetimeWords": "1 day",
    })
    .to_string();
    let stem = format!("anonymous-{}", browser.name());
    let (ok, stdout, stderr) = {
        let artifacts = artifacts.clone();
        tokio::task::spawn_blocking(move || {
            run_script(browser, "anonymous.mjs", &[&config], &artifacts, &stem)
        })
        .await
        .unwrap()
    };
    assert!(
        ok,
        "anonymous uploads failed in {}:\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        browser.name()
    );
    let observed: Value = serde_json::from_str(&stdout).expect("the script prints JSON");
    let uploads = observed["uploads"].as_array().unwrap();
    assert_eq!(uploads.len(), 1, "{observed}");
    assert_eq!(uploads[0]["status"], 201, "{observed}");
    // The management link named the clip the page uploaded, which its page then deleted.
    let href = observed["manage"]["href"].as_str().unwrap();
    let id = href
        .strip_prefix(&app.url("/"))
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("{href}"));
    let res = app
        .client
        .get(app.url(&format!("/api/v1/items/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::GONE, "{id}");
}
