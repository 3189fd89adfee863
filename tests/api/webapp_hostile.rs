//! The web app against hostile text, in Chromium and Firefox (`tests/browser/hostile.mjs`).
//! Titles, descriptions, file names, an account name, report notes and a moderator's reason
//! carry markup, `javascript:` URLs, very long unbroken strings, emoji and newlines; My clips,
//! Moderation (with the clips' histories), the view page with its owner panel, the embed page,
//! the upload page's share link and the text pages must show them as text: no element, handler
//! or script of theirs in the page, no dialog, no CSP violation, nothing wider than the window.
//! Then what comes back after signing in must stay on this site (however the stored return-to
//! path is crafted), and a sign-in link opened in a tab already on /signin signs it in.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use voicebin_api::auth::MintRequest;

use crate::browser::{repo, run_with_config, Browser};
use crate::helpers::{fixture, spawn_app, Backend, TestApp, ALL_SCOPES};
use crate::webapp_pages::session_for;

/// Markup that would run or draw something if a page parsed it as HTML.
const IMG: &str = "<img src=x onerror=alert(1)>";
const SVG: &str = "\"><svg onload=alert(2)>";
const SCRIPT: &str = "</textarea></title><script>alert(3)</script>";
const JS_URL: &str = "javascript:alert(4)";
/// Emoji joined by ZWJ, and Persian with a ZWNJ (both allowed), on several lines.
const EMOJI: &str = "👩\u{200d}👩\u{200d}👧 🎙️ می\u{200c}خواهم\nsecond line\n\nthird";

/// Uploads `file` as `key` with the metadata as form fields (newlines and all); its id once
/// scanned clean.
async fn upload(app: &TestApp, key: &str, file: &str, fields: &[(&str, String)]) -> String {
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in fields {
        form = form.text(name.to_string(), value.clone());
    }
    form = form.part(
        "file",
        reqwest::multipart::Part::bytes(fixture(file)).file_name("upload.bin"),
    );
    let res = app
        .client
        .post(app.url("/api/v1/audio"))
        .bearer_auth(key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(app.wait_scanned(&id, key).await["scan_state"], "clean");
    id
}

async fn report(app: &TestApp, id: &str, key: Option<&str>, note: &str) {
    let mut req = app
        .client
        .post(app.url(&format!("/api/v1/items/{id}/reports")))
        .json(&json!({ "reason": "other", "note": note }));
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    let res = req.send().await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::ACCEPTED,
        "{}",
        res.text().await.unwrap()
    );
}

async fn check_hostile(browser: Browser) {
    let app = spawn_app(Backend::Sqlite).await;
    let alice = app.alice();
    let evil_name = "<img src=x onerror=alert(7)>";
    let evil = app.key(evil_name, ALL_SCOPES);
    let moderator = app.key("mod", &["voice:moderate", "voice:read"]);
    let long_title = "W".repeat(200);
    let markup = upload(
        &app,
        &alice,
        "hello.ogg",
        &[
            ("title", IMG.into()),
            ("description", format!("{SVG}\n{SCRIPT}")),
            ("filename", format!("{IMG}.ogg")),
        ],
    )
    .await;
    let url = upload(
        &app,
        &alice,
        "hello.mp3",
        &[
            ("title", JS_URL.into()),
            ("description", JS_URL.into()),
            ("filename", format!("{SVG}.mp3")),
        ],
    )
    .await;
    let long = upload(
        &app,
        &alice,
        "hello.wav",
        &[
            ("title", long_title.clone()),
            ("description", "D".repeat(5000)),
            ("filename", format!("{}.wav", "F".repeat(251))),
        ],
    )
    .await;
    let emoji = upload(
        &app,
        &alice,
        "hello.flac",
        &[
            ("title", EMOJI.replace('\n', " ")),
            ("description", EMOJI.into()),
        ],
    )
    .await;
    let evils = upload(
        &app,
        &evil,
        "hello.m4a",
        &[("title", SVG.into()), ("description", IMG.into())],
    )
    .await;
    // Reports: anonymous and from the account with the markup name; on the long clip a note
    // of a thousand characters in one word.
    report(&app, &markup, None, &format!("{SVG}\n{SCRIPT}")).await;
    report(&app, &markup, Some(&evil), IMG).await;
    report(&app, &long, Some(&evil), &"N".repeat(1000)).await;
    report(&app, &evils, Some(&alice), SCRIPT).await;
    let res = app
        .client
        .post(app.url(&format!("/api/v1/moderation/items/{evils}/block")))
        .bearer_auth(&moderator)
        .json(&json!({ "reason": format!("{IMG}\n{}", "R".repeat(400)) }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let link = app
        .issuer
        .mint_login_link(&MintRequest {
            account: "linked".into(),
            scopes: ALL_SCOPES.iter().map(|s| s.to_string()).collect(),
            audience: app.settings.public_url.clone(),
            ttl: Some(Duration::from_secs(600)),
        })
        .unwrap();

    let config = json!({
        "base": app.base,
        "sessions": {
            "alice": session_for("alice", &alice, ALL_SCOPES),
            "evil": session_for(evil_name, &evil, ALL_SCOPES),
            "mod": session_for("mod", &moderator, &["voice:moderate", "voice:read"]),
        },
        "clips": { "markup": markup, "url": url, "long": long, "emoji": emoji, "evil": evils },
        "texts": [IMG, SVG, SCRIPT, JS_URL, evil_name],
        "longTitle": long_title,
        "link": format!("{}/signin#login={link}", app.base),
        "upload": fixture_path("hello.opus"),
        "artifacts": repo().join("test-artifacts"),
    });
    run_with_config(
        browser,
        "hostile",
        &config,
        app.data_dir.path(),
        "hostile text stays text",
    )
    .await;
    // The upload page's clip, and the link's account, as the API sees them.
    let linked = app.key("linked", &["voice:read"]);
    let (status, page) = crate::helpers::json(
        app.client
            .get(app.url("/api/v1/account/items"))
            .bearer_auth(&linked)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"][0]["title"], format!("{SVG}{IMG}"), "{page}");
}

fn fixture_path(name: &str) -> String {
    crate::helpers::fixture_dir()
        .join(name)
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_stays_text_in_chromium() {
    check_hostile(Browser::Chromium).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_stays_text_in_firefox() {
    check_hostile(Browser::Firefox).await;
}
