//! Speech search in the web app: `tests/browser/search.mjs` in Chromium and Firefox. My clips
//! shows where each clip matched and links a spoken hit to its moment; the view page plays
//! from `#t=`. The transcript is written through `ReadStore::replace_transcript` (no event
//! records one yet; see tests/api/search.rs).

use std::time::Instant;

use serde_json::json;
use voicebin_projections::TranscriptSegment;

use crate::browser::{repo, run_script, Browser};
use crate::helpers::{fixture, pcm_wav, spawn_app, Backend};

/// A 12-second 8 kHz tone, so there is somewhere to seek to.
fn twelve_seconds() -> Vec<u8> {
    let samples: Vec<i16> = (0..12 * 8000)
        .map(|i| ((i as f64 * 440.0 * std::f64::consts::TAU / 8000.0).sin() * 8000.0) as i16)
        .collect();
    pcm_wav(8000, &samples)
}

async fn check_search(browser: Browser) {
    let app = spawn_app(Backend::Sqlite).await;
    let alice = app.alice();
    let spoken = app
        .upload_ok(&alice, twelve_seconds(), &[("x-title", "Thursday call")])
        .await;
    let titled = app
        .upload_ok(&alice, fixture("hello.ogg"), &[("x-title", "Offsite plan")])
        .await;
    let unrelated = app
        .upload_ok(&alice, fixture("hello.wav"), &[("x-title", "Groceries")])
        .await;
    for id in [&spoken, &titled, &unrelated] {
        assert_eq!(app.wait_scanned(id, &alice).await["scan_state"], "clean");
    }
    let (views, _) = app.database.projections();
    views
        .replace_transcript(
            &spoken,
            &[
                TranscriptSegment {
                    start_ms: 0,
                    end_ms: 5_900,
                    text: "Hello, this is the Thursday call.".into(),
                },
                TranscriptSegment {
                    start_ms: 6_200,
                    end_ms: 11_000,
                    text: "The offsite <b>budget</b> is approved.".into(),
                },
            ],
        )
        .await
        .unwrap();

    let session = json!({ "token": alice, "scheme": "Bearer", "account": "alice",
        "scopes": crate::helpers::ALL_SCOPES, "expiresAt": null, "via": "key" });
    let artifacts = repo().join("test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let config = json!({
        "base": app.base,
        "owner": session,
        "clips": { "spoken": spoken, "titled": titled },
        "artifacts": artifacts,
    });
    let config_path = app.data_dir.path().join("search.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let stem = format!("search-{}", browser.name());
    let started = Instant::now();
    let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || {
        run_script(
            browser,
            "search.mjs",
            &[config_path.to_str().unwrap()],
            &artifacts,
            &stem,
        )
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    assert!(
        ok,
        "searching clips failed in {} after {:.1} s:\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        browser.name(),
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn my_clips_search_shows_where_and_the_view_page_plays_from_the_moment_in_chromium() {
    check_search(Browser::Chromium).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn my_clips_search_shows_where_and_the_view_page_plays_from_the_moment_in_firefox() {
    check_search(Browser::Firefox).await;
}
