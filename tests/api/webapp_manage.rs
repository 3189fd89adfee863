//! Managing and moderating clips from the browser: playback passes (`POST
//! /api/v1/items/{id}/playback`, which let an `<audio>` element play a clip as its owner or a
//! moderator), the view page as signed-out visitors get it, and `tests/browser/manage.mjs` (My
//! clips, the view page's owner panel, Moderation) in Chromium and Firefox, checked through the
//! API afterwards.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::browser::{repo, run_script, Browser};
use crate::helpers::{fixture, json, spawn_app, Backend, TestApp};

const MODERATOR: &[&str] = &["voice:moderate"];
const FIREFOX_UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const OTHER_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0 Safari/537.36";

/// `POST /api/v1/items/{id}/playback` as `key` from a client with user agent `agent`.
async fn playback(
    app: &TestApp,
    id: &str,
    key: Option<&str>,
    agent: &str,
    query: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut req = app
        .client
        .post(app.url(&format!("/api/v1/items/{id}/playback")))
        .header("user-agent", agent)
        .query(query);
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    json(req.send().await.unwrap()).await
}

/// GET `url` (the whole clip) from a client with user agent `agent`: the status and body.
async fn fetch(app: &TestApp, url: &str, agent: &str) -> (StatusCode, Vec<u8>) {
    let res = app
        .client
        .get(url)
        .header("user-agent", agent)
        .send()
        .await
        .unwrap();
    (res.status(), res.bytes().await.unwrap().to_vec())
}

async fn block(app: &TestApp, id: &str, moderator: &str, reason: &str) {
    let res = app
        .client
        .post(app.url(&format!("/api/v1/moderation/items/{id}/block")))
        .bearer_auth(moderator)
        .json(&json!({ "reason": reason }))
        .send()
        .await
        .unwrap();
    let (status, body) = json(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["moderation"]["state"], "blocked", "{body}");
}

async fn item(app: &TestApp, id: &str, key: &str) -> Value {
    let (status, body) = json(app.get_item(id, Some(key)).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_playback_url_plays_a_blocked_clip_for_the_moderators_browser_only_and_uncounted() {
    let app = spawn_app(Backend::Sqlite).await;
    let alice = app.alice();
    let moderator = app.key("mod", MODERATOR);
    let bytes = fixture("hello.ogg");
    let id = app.upload_ok(&alice, bytes.clone(), &[]).await;
    assert_eq!(app.wait_scanned(&id, &alice).await["scan_state"], "clean");
    block(&app, &id, &moderator, "under review").await;
    // The public gets nothing of a blocked clip.
    let (status, _) = fetch(&app, &app.url(&format!("/{id}/audio")), FIREFOX_UA).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, pass) = playback(&app, &id, Some(&moderator), FIREFOX_UA, &[]).await;
    assert_eq!(status, StatusCode::CREATED, "{pass}");
    let url = pass["url"].as_str().unwrap();
    assert!(
        url.starts_with(&app.url(&format!("/{id}/audio?playback="))),
        "{url}"
    );
    assert!(!url.contains(&moderator), "the token is never in the URL");
    let expires = chrono::DateTime::parse_from_rfc3339(pass["expires_at"].as_str().unwrap())
        .expect("expires_at is RFC 3339");
    let left = expires.timestamp() - chrono::Utc::now().timestamp();
    assert!((590..=620).contains(&left), "{pass}");

    // The moderator's browser plays it (the whole clip, and a range), as often as it likes.
    for _ in 0..2 {
        let (status, body) = fetch(&app, url, FIREFOX_UA).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, bytes);
    }
    let res = app
        .client
        .get(url)
        .header("user-agent", FIREFOX_UA)
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.bytes().await.unwrap().as_ref(), &bytes[100..200]);
    // Another browser (another user agent) presenting the same URL is refused.
    let res = app
        .client
        .get(url)
        .header("user-agent", OTHER_UA)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        res.headers()["content-type"],
        "application/problem+json",
        "a problem, not audio"
    );
    // Nothing was counted.
    let after = item(&app, &id, &alice).await;
    assert_eq!(after["download_count"], 0, "{after}");
    assert_eq!(after["moderation"]["state"], "blocked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_playback_url_stops_working_when_it_expires() {
    let app = spawn_app(Backend::Sqlite).await;
    let alice = app.alice();
    let id = app.upload_ok(&alice, fixture("hello.wav"), &[]).await;
    app.wait_scanned(&id, &alice).await;
    let (status, pass) = playback(&app, &id, Some(&alice), FIREFOX_UA, &[("ttl", "1")]).await;
    assert_eq!(status, StatusCode::CREATED, "{pass}");
    let url = pass["url"].as_str().unwrap().to_owned();
    let (status, _) = fetch(&app, &url, FIREFOX_UA).await;
    assert_eq!(status, StatusCode::OK, "works before it expires");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, body) = fetch(&app, &url, FIREFOX_UA).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let problem: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("expired"),
        "{problem}"
    );
    // A tampered deadline is no pass either.
    let forged = url.replacen("playback=", "playback=9", 1);
    let (status, _) = fetch(&app, &forged, FIREFOX_UA).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Out-of-range lifetimes are refused.
    for ttl in ["0", "21601", "soon"] {
        let (status, problem) =
            playback(&app, &id, Some(&alice), FIREFOX_UA, &[("ttl", ttl)]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{ttl}: {problem}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owner_or_a_moderator_gets_a_playback_url() {
    let app = spawn_app(Backend::Sqlite).await;
    let alice = app.alice();
    let bob = app.key("bob", crate::helpers::ALL_SCOPES);
    let moderator = app.key("mod", MODERATOR);
    let id = app.upload_ok(&alice, fixture("hello.mp3"), &[]).await;
    app.wait_scanned(&id, &alice).await;
    // While it is not public (blocked here; pending is the same rule, but a scan can finish
    // before the next request) only its owner can play it: with a pass, uncounted.
    block(&app, &id, &moderator, "under review").await;
    let (status, pass) = playback(&app, &id, Some(&alice), FIREFOX_UA, &[]).await;
    assert_eq!(status, StatusCode::CREATED, "{pass}");
    let (status, _) = fetch(&app, pass["url"].as_str().unwrap(), FIREFOX_UA).await;
    assert!(
        status == StatusCode::OK,
        "the owner plays a blocked clip: {status}"
    );
    let (status, problem) = playback(&app, &id, Some(&bob), FIREFOX_UA, &[]).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a clip that is not public is not there for others: {problem}"
    );
    let restored = app
        .client
        .post(app.url(&format!("/api/v1/moderation/items/{id}/restore")))
        .bearer_auth(&moderator)
        .json(&serde_json::json!({"reason": "fine after all"}))
        .send()
        .await
        .unwrap();
    assert_eq!(restored.status(), StatusCode::OK);
    // Public now: others play it as the public does, from its view page.
    let (status, problem) = playback(&app, &id, Some(&bob), FIREFOX_UA, &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    assert_eq!(problem["status"], 403);
    // No token: 401. The owner without voice:read: 403 naming the scope.
    let (status, _) = playback(&app, &id, None, FIREFOX_UA, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let writer = app.key("alice", &["voice:create"]);
    let (status, problem) = playback(&app, &id, Some(&writer), FIREFOX_UA, &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    assert_eq!(problem["required_scope"], "voice:read", "{problem}");
    // Unknown and deleted clips.
    let (status, _) = playback(&app, "AAAAAAAAAAAAAAAA", Some(&alice), FIREFOX_UA, &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, pass) = playback(&app, &id, Some(&alice), FIREFOX_UA, &[]).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = fetch(&app, pass["url"].as_str().unwrap(), FIREFOX_UA).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(item(&app, &id, &alice).await["download_count"], 0);
    assert_eq!(
        app.delete_item(&id, &alice).await.status(),
        StatusCode::NO_CONTENT
    );
    let (status, _) = fetch(&app, pass["url"].as_str().unwrap(), FIREFOX_UA).await;
    assert_eq!(status, StatusCode::GONE, "a pass does not outlive its clip");
    let (status, _) = playback(&app, &id, Some(&alice), FIREFOX_UA, &[]).await;
    assert_eq!(status, StatusCode::GONE);
}

/// The view page a signed-out visitor gets, with what differs between runs (the clip's id, the
/// player's grant, the site's address, the upload date) replaced by placeholders.
fn normalized(html: &str, app: &TestApp, id: &str) -> String {
    let grant = regex_lite_find(html, "?grant=", '"');
    let day = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let created = regex_lite_find(html, "<time datetime=\"", '"');
    let encoded_base = app.base.replace(':', "%3A").replace('/', "%2F");
    html.replace(&grant, "GRANT")
        .replace(&created, "CREATED")
        .replace(&app.base, "http://SITE")
        .replace(&encoded_base, "http%3A%2F%2FSITE")
        .replace(id, "CLIPID")
        .replace(&day, "DAY")
}

/// The text after the first `start` in `s`, up to `end`.
fn regex_lite_find(s: &str, start: &str, end: char) -> String {
    let from = s.find(start).unwrap_or_else(|| panic!("no {start} in {s}")) + start.len();
    s[from..].split(end).next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_out_visitors_get_the_view_page_they_always_got_plus_an_empty_owner_panel() {
    let app = spawn_app(Backend::Sqlite).await;
    let alice = app.alice();
    let id = app
        .upload_ok(
            &alice,
            fixture("hello.ogg"),
            &[
                ("x-title", "Hello <world>"),
                ("x-description", "Said once."),
            ],
        )
        .await;
    app.wait_scanned(&id, &alice).await;
    let res = app
        .client
        .get(app.url(&format!("/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        csp,
        "default-src 'none'; script-src 'self'; style-src 'self'; media-src 'self'; \
         img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'",
        "the policy as before, with API calls to this site allowed"
    );
    let html = normalized(&res.text().await.unwrap(), &app, &id);
    let panel = r#"<section id="owner-panel" class="owner-panel" aria-labelledby="owner-heading" data-clip="CLIPID" data-base="" hidden></section>"#;
    let module = r#"<script type="module" src="/static/app/owner.js"></script>"#;
    assert!(html.contains(&format!("\n{panel}\n")), "{html}");
    assert!(html.contains(&format!("\n{module}\n")), "{html}");
    // Without those two lines, the page is the one signed-out visitors got before the owner
    // panel existed (tests/api/snapshots/view-page-signed-out.html, taken from that version).
    let before = html
        .replace(&format!("{panel}\n"), "")
        .replace(&format!("{module}\n"), "");
    let snapshot = repo().join("tests/api/snapshots/view-page-signed-out.html");
    if std::env::var_os("VOICEBIN_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&snapshot, &before).unwrap();
    }
    let expected = std::fs::read_to_string(&snapshot).unwrap();
    assert_eq!(before, expected, "the signed-out view page changed");
}

/// My clips, the owner panel and Moderation in `browser`; then the API says what happened.
async fn check_manage(browser: Browser) {
    let app = spawn_app(Backend::Sqlite).await;
    let alice = app.alice();
    let moderator = app.key("mod", &["voice:moderate", "voice:read"]);
    let mut ids = Vec::new();
    for (title, file) in [
        ("Alpha song", "hello.ogg"),
        ("Beta talk", "hello.mp3"),
        ("Gamma memo", "hello.wav"),
        ("Delta rant", "hello.flac"),
        ("Epsilon rant", "hello.m4a"),
    ] {
        ids.push(
            app.upload_ok(&alice, fixture(file), &[("x-title", title)])
                .await,
        );
    }
    for id in &ids {
        assert_eq!(app.wait_scanned(id, &alice).await["scan_state"], "clean");
    }
    let (alpha, beta, gamma, delta, epsilon) = (&ids[0], &ids[1], &ids[2], &ids[3], &ids[4]);
    for (id, reason) in [(delta, "spam"), (epsilon, "harassment")] {
        let res = app
            .client
            .post(app.url(&format!("/api/v1/items/{id}/reports")))
            .json(&json!({ "reason": reason, "note": "links to a shop" }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }

    let session = |token: &str, account: &str, scopes: &[&str]| {
        json!({ "token": token, "scheme": "Bearer", "account": account, "scopes": scopes,
                "expiresAt": null, "via": "key" })
    };
    let artifacts = repo().join("test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let config = json!({
        "base": app.base,
        "owner": session(&alice, "alice", crate::helpers::ALL_SCOPES),
        "moderator": session(&moderator, "mod", &["voice:moderate", "voice:read"]),
        "clips": { "alpha": alpha, "beta": beta, "gamma": gamma, "delta": delta, "epsilon": epsilon },
        "artifacts": artifacts,
    });
    let config_path = app.data_dir.path().join("manage.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let stem = format!("manage-{}", browser.name());
    let started = Instant::now();
    let (ok, stdout, stderr) = {
        let (config_path, artifacts) = (config_path.clone(), artifacts.clone());
        tokio::task::spawn_blocking(move || {
            run_script(
                browser,
                "manage.mjs",
                &[config_path.to_str().unwrap()],
                &artifacts,
                &stem,
            )
        })
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    };
    assert!(
        ok,
        "managing clips failed in {} after {:.1} s:\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        browser.name(),
        started.elapsed().as_secs_f64()
    );

    // What the browser did, as the API sees it.
    let a = item(&app, alpha, &alice).await;
    assert_eq!(a["title"], "Alpha from the view page", "{a}");
    assert_eq!(a["download_limit"], 7, "{a}");
    assert_eq!(
        app.get_item(gamma, Some(&alice)).await.status(),
        StatusCode::GONE,
        "gamma was deleted"
    );
    let b = item(&app, beta, &alice).await;
    assert_eq!(
        b["download_count"], 0,
        "playing in place is not a download: {b}"
    );
    // Opened by its address in Moderation, blocked, then restored.
    let beta_events = app.event_types(beta).await;
    assert!(
        beta_events.ends_with(&["Blocked".to_owned(), "Restored".to_owned()]),
        "{beta_events:?}"
    );
    assert_eq!(b["moderation"]["state"], "visible", "{b}");
    let d = item(&app, delta, &alice).await;
    assert_eq!(d["moderation"]["state"], "blocked", "{d}");
    assert_eq!(d["moderation"]["reason"], "Spam links in the audio", "{d}");
    assert_eq!(d["download_count"], 0, "{d}");
    assert_eq!(
        app.get_item(delta, None).await.status(),
        StatusCode::NOT_FOUND,
        "the blocked clip is gone for the public"
    );
    let (status, _) = fetch(&app, &app.url(&format!("/{delta}/audio")), OTHER_UA).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let e = item(&app, epsilon, &alice).await;
    assert_eq!(e["moderation"]["state"], "removed", "{e}");
    assert_eq!(
        e["moderation"]["reason"], "Harassment of a named person",
        "{e}"
    );
    assert_eq!(
        app.get_item(epsilon, None).await.status(),
        StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS,
        "the removed clip is 451 for the public"
    );
    println!(
        "managed clips in {} in {:.1} s",
        browser.name(),
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn my_clips_the_owner_panel_and_moderation_work_in_chromium() {
    check_manage(Browser::Chromium).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn my_clips_the_owner_panel_and_moderation_work_in_firefox() {
    check_manage(Browser::Firefox).await;
}
