//! A clip's outcomes in the web app, in Chromium and Firefox (`tests/browser/outcomes.mjs`),
//! on an app that scans with clamd (`scripts/services/clamd.sh`, its one test signature for the
//! EICAR string): a dropped file uploads and becomes clean; the upload page words a clip the
//! audio check refuses and one carrying malware; the owner panel deletes a clip; Moderation
//! restores a blocked one. Then the API says the same.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::browser::{repo, run_with_config, Browser};
use crate::helpers::{fixture, fixture_dir, json, spawn_with_settings, TestApp, ALL_SCOPES};
use crate::production::eicar;
use crate::webapp_pages::session_for;

/// An embedded app whose scans also go through clamd.
async fn spawn_scanning_for_malware() -> TestApp {
    spawn_with_settings(|dir, base| {
        Box::pin(async move {
            let mut settings = voicebin::Settings::embedded(dir.to_owned(), base);
            settings.clamd = Some(voicebin::ClamdSettings {
                addr: std::env::var("VOICEBIN_TEST_CLAMD_ADDR")
                    .unwrap_or_else(|_| "127.0.0.1:3311".into()),
                max_stream_bytes: 100 * 1024 * 1024,
            });
            settings.sandbox = crate::helpers::sandbox_settings();
            settings
        })
    })
    .await
}

async fn check_outcomes(browser: Browser) {
    let app = spawn_scanning_for_malware().await;
    let alice = app.alice();
    let moderator = app.key("mod", &["voice:moderate", "voice:read"]);
    // A clip of alice's, reported and blocked, for Moderation to restore.
    let restorable = app
        .upload_ok(&alice, fixture("hello.flac"), &[("x-title", "Restorable")])
        .await;
    assert_eq!(
        app.wait_scanned(&restorable, &alice).await["scan_state"],
        "clean"
    );
    let res = app
        .client
        .post(app.url(&format!("/api/v1/items/{restorable}/reports")))
        .json(&json!({ "reason": "spam" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let res = app
        .client
        .post(app.url(&format!("/api/v1/moderation/items/{restorable}/block")))
        .bearer_auth(&moderator)
        .json(&json!({ "reason": "Looks like spam" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    // And one a moderator removed.
    let taken = app
        .upload_ok(&alice, fixture("hello.opus"), &[("x-title", "Taken down")])
        .await;
    app.wait_scanned(&taken, &alice).await;
    for (path, body) in [
        (
            format!("/api/v1/items/{taken}/reports"),
            json!({ "reason": "spam" }),
        ),
        (
            format!("/api/v1/moderation/items/{taken}/remove"),
            json!({ "reason": "Spam" }),
        ),
    ] {
        let res = app
            .client
            .post(app.url(&path))
            .bearer_auth(&moderator)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{path}: {}", res.status());
    }

    let mut infected = fixture("hello.wav");
    infected.extend_from_slice(&eicar());
    let infected_path = app.data_dir.path().join("infected.wav");
    std::fs::write(&infected_path, infected).unwrap();
    let file = |name: &str| fixture_dir().join(name).to_str().unwrap().to_owned();
    let config = json!({
        "base": app.base,
        "sessions": {
            "alice": session_for("alice", &alice, ALL_SCOPES),
            "mod": session_for("mod", &moderator, &["voice:moderate", "voice:read"]),
        },
        "files": {
            "dropped": file("hello.mp3"),
            "rejected": file("truncated.mp3"),
            "infected": infected_path,
        },
        "restorable": restorable,
        "artifacts": repo().join("test-artifacts"),
    });
    let stdout = run_with_config(
        browser,
        "outcomes",
        &config,
        app.data_dir.path(),
        "clip outcomes",
    )
    .await;

    // What the browser did, as the API sees it.
    let observed: Value = serde_json::from_str(&stdout).unwrap();
    let dropped = observed["clean"]["share"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.get_item(&dropped, Some(&alice)).await.status(),
        StatusCode::GONE,
        "the owner panel deleted the dropped clip"
    );
    let (status, page) = json(
        app.client
            .get(app.url("/api/v1/account/items"))
            .bearer_auth(&alice)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let states: Vec<(String, String)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["title"].as_str().unwrap().to_owned(),
                i["scan_state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("Carries EICAR", "infected"),
        ("Cut short", "rejected"),
        ("Taken down", "clean"),
        ("Restorable", "clean"),
    ]
    .map(|(t, s)| (t.to_owned(), s.to_owned()));
    assert_eq!(states, expected, "{page}");
    let (_, item) = json(app.get_item(&restorable, Some(&alice)).await).await;
    assert_eq!(item["moderation"]["state"], "visible", "{item}");
    assert_eq!(
        app.get_item(&restorable, None).await.status(),
        StatusCode::OK,
        "restored: public again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_refused_infected_deleted_and_restored_clips_in_chromium() {
    check_outcomes(Browser::Chromium).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_refused_infected_deleted_and_restored_clips_in_firefox() {
    check_outcomes(Browser::Firefox).await;
}
