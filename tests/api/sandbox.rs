//! The scan sandbox with real files: clips that need more CPU or memory than the analyser may
//! use are rejected with the reason, and the server (which scans in process in embedded mode)
//! keeps serving. (`tests/faults` does the same against a `voicebin worker` process.)

use std::process::{Command, Stdio};

use reqwest::StatusCode;
use voicebin_workers::SandboxSettings;

use crate::helpers::{analyser, fixture, spawn_with_settings, TestApp};

/// `copies` links of hello.opus chained (`cat a.opus b.opus …`): a valid Ogg Opus file that
/// plays for `copies` × 3.6 s, and whose waveform takes about 4 s of CPU per minute of audio to
/// decode in pure Rust, in any build.
pub fn long_opus(copies: usize) -> Vec<u8> {
    fixture("hello.opus").repeat(copies)
}

/// hello.wav with a LIST/INFO chunk of `tag_bytes` bytes before its samples: a valid WAV file
/// whose title tag the demuxer reads into memory whole (and copies), so analysing it needs about
/// twice `tag_bytes` beyond the analyser's own size.
pub fn wav_with_huge_tag(tag_bytes: u32) -> Vec<u8> {
    let wav = fixture("hello.wav");
    // hello.wav is the canonical 44-byte header: RIFF, `fmt ` (16 bytes), `data`.
    assert_eq!(&wav[12..16], b"fmt ", "hello.wav is not a canonical WAV");
    assert_eq!(&wav[36..40], b"data", "hello.wav is not a canonical WAV");
    let (fmt, data) = (&wav[12..36], &wav[36..]);
    let mut list = b"INFO".to_vec();
    list.extend_from_slice(b"INAM");
    list.extend_from_slice(&tag_bytes.to_le_bytes());
    list.resize(list.len() + tag_bytes as usize, b'A');
    let mut body = b"WAVE".to_vec();
    body.extend_from_slice(fmt);
    body.extend_from_slice(b"LIST");
    body.extend_from_slice(&(list.len() as u32).to_le_bytes());
    body.extend_from_slice(&list);
    body.extend_from_slice(data);
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// An embedded-mode app whose sandbox has the given limits.
async fn spawn_with_limits(limit: impl FnOnce(&mut SandboxSettings) + Send + 'static) -> TestApp {
    spawn_with_settings(move |dir, base| {
        Box::pin(async move {
            let mut settings = voicebin::Settings::embedded(dir.to_owned(), base);
            limit(&mut settings.sandbox);
            settings
        })
    })
    .await
}

/// The clip ended `rejected` with a reason containing `why`; then the server still answers
/// and still scans the next clip clean.
async fn rejected_and_still_serving(app: &TestApp, key: &str, id: &str, why: &str) {
    let view = app.wait_scanned_within(id, key, 60).await;
    assert_eq!(view["scan_state"], "rejected", "{view}");
    let detail = view["scan_detail"].as_str().unwrap_or_default();
    assert!(detail.contains(why), "{view}");
    assert!(view["duration_ms"].is_null(), "{view}");

    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let next = app.upload_ok(key, fixture("hello.ogg"), &[]).await;
    assert_eq!(app.wait_scanned(&next, key).await["scan_state"], "clean");
}

#[tokio::test]
async fn a_clip_that_needs_more_cpu_than_the_limit_is_rejected_and_the_server_keeps_serving() {
    let app = spawn_with_limits(|sandbox| sandbox.max_cpu_secs = 1).await;
    let key = app.alice();
    // Three and a half minutes of Opus: about 14 s of CPU to draw, far past 1 s.
    let id = app.upload_ok(&key, long_opus(60), &[]).await;
    rejected_and_still_serving(&app, &key, &id, "1 s of CPU time").await;
}

#[tokio::test]
async fn a_clip_that_needs_more_memory_than_the_limit_is_rejected_and_the_server_keeps_serving() {
    // 160 MiB of address space holds the analyser and any real clip in a debug build; an
    // 80 MiB title tag, read and copied, does not fit.
    let app = spawn_with_limits(|sandbox| sandbox.max_memory_bytes = 160 * 1024 * 1024).await;
    let key = app.alice();
    let ok = app.upload_ok(&key, fixture("hello.wav"), &[]).await;
    assert_eq!(
        app.wait_scanned(&ok, &key).await["scan_state"],
        "clean",
        "the limit is too low for any clip: the test proves nothing"
    );
    let id = app
        .upload_ok(&key, wav_with_huge_tag(80 * 1024 * 1024), &[])
        .await;
    rejected_and_still_serving(&app, &key, &id, "160 MiB of memory").await;
}

#[test]
fn the_analyser_dies_of_the_limits_it_sets_itself_not_the_caller() {
    // The child as the scanner runs it: no environment, piped output. Past the CPU limit the
    // kernel ends it with SIGXCPU; the caller (this test) is untouched.
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.opus");
    std::fs::write(&path, long_opus(60)).unwrap();
    let output = Command::new(analyser())
        .args(["analyse-sandboxed", "--max-memory-bytes"])
        .arg((1u64 << 30).to_string())
        .args(["--max-cpu-secs", "1", "--"])
        .arg(&path)
        .env_clear()
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.signal(), Some(24), "{:?}", output); // SIGXCPU
    assert!(output.stdout.is_empty());

    // Within its limits it answers with a report.
    let path = dir.path().join("hello.wav");
    std::fs::write(&path, fixture("hello.wav")).unwrap();
    let output = Command::new(analyser())
        .args(["analyse-sandboxed", "--max-memory-bytes"])
        .arg((1u64 << 30).to_string())
        .args(["--max-cpu-secs", "30", "--"])
        .arg(&path)
        .env_clear()
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["outcome"]["verdict"], "clean", "{report}");
    assert_eq!(report["outcome"]["audio"]["duration_ms"], 3568, "{report}");
}

#[test]
fn the_analyser_subcommand_is_hidden_from_help() {
    let output = Command::new(analyser()).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("serve"), "{help}");
    assert!(!help.contains("analyse-sandboxed"), "{help}");
}

async fn scan_attempts_are_counted_per_clip_reset_by_a_retry_and_pruned_once_scanned(
    backend: crate::helpers::Backend,
) {
    let app = crate::helpers::spawn_app(backend).await;
    let key = app.alice();
    let id = app.upload_ok(&key, fixture("hello.ogg"), &[]).await;
    assert_eq!(app.wait_scanned(&id, &key).await["scan_state"], "clean");
    let attempts = app.database.dispatch();
    // The scan that made it clean counted as the first attempt.
    assert_eq!(attempts.start_attempt(&id).await.unwrap(), 2);
    assert_eq!(attempts.start_attempt("another-clip").await.unwrap(), 1);
    attempts.reset_attempts(&id).await.unwrap();
    assert_eq!(attempts.start_attempt(&id).await.unwrap(), 1);
    // A clip that is no longer pending needs no count (nor does one that does not exist).
    assert!(attempts.prune().await.unwrap() >= 2);
    assert_eq!(attempts.start_attempt(&id).await.unwrap(), 1);
}

crate::on_both_backends!(
    scan_attempts_are_counted_per_clip_reset_by_a_retry_and_pruned_once_scanned
);
