//! The upload page resumes interrupted uploads, in Chromium and Firefox
//! (`tests/browser/resume.mjs`): the browser reaches the app through a TCP proxy that cuts
//! connections mid-upload. A file cut twice carries on by itself; a recording cut with the
//! network down carries on after its page is closed and reopened; a file cut while the token
//! stops being accepted carries on after signing in again. The script checks the page's side
//! (one creation, HEAD, PATCH from where the server stands); this test checks the server's:
//! each clip stored once with the bytes that were sent, created once, and the bytes it
//! received not much more than the clips' sizes (sending a clip again from its start would be
//! a third of it more, at least).

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::browser::{run_with_config, Browser};
use crate::helpers::{fixture_dir, spawn_app, Backend, ALL_SCOPES};
use crate::metrics::value;

/// A WAV file of `seconds` of a `hz` tone, 16 kHz 16-bit mono (32 kB a second).
fn tone_wav(seconds: u32, hz: f64) -> Vec<u8> {
    let rate = 16_000u32;
    let samples = rate * seconds;
    let data = samples * 2;
    let mut wav = Vec::with_capacity(44 + data as usize);
    wav.extend(b"RIFF");
    wav.extend((36 + data).to_le_bytes());
    wav.extend(b"WAVEfmt ");
    wav.extend(16u32.to_le_bytes());
    wav.extend(1u16.to_le_bytes()); // PCM
    wav.extend(1u16.to_le_bytes()); // mono
    wav.extend(rate.to_le_bytes());
    wav.extend((rate * 2).to_le_bytes());
    wav.extend(2u16.to_le_bytes());
    wav.extend(16u16.to_le_bytes());
    wav.extend(b"data");
    wav.extend(data.to_le_bytes());
    for i in 0..samples {
        let phase = 2.0 * std::f64::consts::PI * hz * f64::from(i) / f64::from(rate);
        wav.extend(((8000.0 * phase.sin()) as i16).to_le_bytes());
    }
    wav
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_uploads_resume_in_chromium() {
    check_resuming(Browser::Chromium).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_uploads_resume_in_firefox() {
    check_resuming(Browser::Firefox).await;
}

async fn check_resuming(browser: Browser) {
    if matches!(browser, Browser::Firefox) {
        // The recording's level meter needs a sound server in Firefox (see webapp_upload.rs).
        let pulse = std::process::Command::new("pactl").arg("info").output();
        assert!(
            pulse.is_ok_and(|o| o.status.success()),
            "no sound server answers `pactl info`; run `source scripts/services/browser.sh && \
             ensure_browser` (it installs and starts PulseAudio with a null sink)"
        );
    }
    let app = spawn_app(Backend::Sqlite).await;
    let alice = app.alice();
    let scratch = tempfile::tempdir().unwrap();
    // Six and three MB: two and one 5 MiB PATCHes, long enough to cut in the middle.
    let large = tone_wav(190, 440.0);
    let medium = tone_wav(100, 660.0);
    let (large_path, medium_path) = (
        scratch.path().join("large.wav"),
        scratch.path().join("medium.wav"),
    );
    std::fs::write(&large_path, &large).unwrap();
    std::fs::write(&medium_path, &medium).unwrap();
    let config = json!({
        "base": app.url(""),
        "token": alice,
        "account": "alice",
        "scopes": ALL_SCOPES,
        "speech": fixture_dir().join("hello.wav"),
        "large": large_path,
        "medium": medium_path,
        "artifacts": crate::browser::repo().join("test-artifacts"),
    });
    let stdout = run_with_config(
        browser,
        "resume",
        &config,
        scratch.path(),
        "resuming uploads",
    )
    .await;
    let observed: Value = serde_json::from_str(&stdout).unwrap();
    let recording = &observed["recording"];

    // Three clips, each the bytes that were sent, scanned clean.
    let list: Value = app.list(&alice, &[]).await.json().await.unwrap();
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 3, "{list}");
    let recorded_size = recording["size"].as_u64().expect("the recording's size");
    for (title, size, sha256) in [
        ("Cut twice", large.len() as u64, sha256_hex(&large)),
        (
            "Recorded, then cut",
            recorded_size,
            recording["sha256"].as_str().unwrap().to_owned(),
        ),
        ("Signed in again", medium.len() as u64, sha256_hex(&medium)),
    ] {
        let item = items
            .iter()
            .find(|i| i["title"] == title)
            .unwrap_or_else(|| panic!("no clip {title:?} in {list}"));
        assert_eq!(item["size_bytes"].as_u64(), Some(size), "{item}");
        assert_eq!(item["sha256"].as_str(), Some(sha256.as_str()), "{item}");
        assert_eq!(item["scan_state"], "clean", "{item}");
    }
    // The stored bytes are the file's, not only their digest.
    let cut_twice = items.iter().find(|i| i["title"] == "Cut twice").unwrap();
    let stored = app
        .client
        .get(app.url(&format!("/{}/download", cut_twice["id"].as_str().unwrap())))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(
        stored[..] == large[..],
        "the stored clip differs from the file"
    );
    // Nothing half-written is left: three blobs, no partial upload's file.
    assert_eq!(app.blob_files(), (3, 0));

    // The server's side, from its own request metrics.
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let created = value(
        &metrics,
        r#"voicebin_http_requests_total{method="POST",route="/api/v1/uploads",status="201"}"#,
    );
    assert_eq!(
        created, 3.0,
        "each clip's upload is created once:\n{metrics}"
    );
    let heads = value(
        &metrics,
        r#"voicebin_http_requests_total{method="HEAD",route="/api/v1/uploads/{id}",status="204"}"#,
    );
    // At least one per clip: a browser may send a request whose connection broke once more by
    // itself, so two cuts need not mean two HEADs.
    assert!(
        heads >= 3.0,
        "a HEAD after each clip's interruption:\n{metrics}"
    );
    let received = value(
        &metrics,
        r#"voicebin_http_request_body_bytes_total{method="PATCH",route="/api/v1/uploads/{id}"}"#,
    );
    let total = (large.len() + medium.len()) as f64 + recorded_size as f64;
    // Each cut came a third of a clip or more into its bytes: sent again from the start, a
    // clip would cost that much more. What was cut off is kept, so little is sent twice.
    assert!(
        received >= total && received < total + 1024.0 * 1024.0,
        "the server received {received} bytes for clips of {total}:\n{metrics}"
    );
}
