//! The view page in a real browser: `tests/browser/view.mjs` drives Debian's chromium through
//! playwright-core (both installed by `scripts/services/browser.sh`, which `scripts/test`
//! sources) against a live app. Never skipped: a missing browser fails the test.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{fixture, spawn_app, Backend};

const SETUP_HINT: &str =
    "run scripts/test (or `source scripts/services/browser.sh && ensure_browser`) first";
/// The whole browser run, launch included; it takes a few seconds when healthy.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(120);

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Where `ensure_browser` installs playwright-core when the environment does not say.
fn default_node_path() -> Option<PathBuf> {
    let cache = match std::env::var_os("VOICEBIN_CACHE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".cache/voicebin"),
    };
    Some(cache.join("browser/node_modules"))
}

/// Runs `node tests/browser/view.mjs <url> <screenshot>`; returns (success, stdout, stderr).
fn run_view_check(url: &str, screenshot: &Path) -> (bool, String, String) {
    let node_version = Command::new("node").arg("--version").output();
    if !node_version.is_ok_and(|o| o.status.success()) {
        panic!("`node` is not installed or does not run; {SETUP_HINT}");
    }
    let chromium =
        std::env::var("VOICEBIN_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "chromium is not installed at {chromium}; {SETUP_HINT}"
    );
    let node_path = std::env::var_os("VOICEBIN_BROWSER_NODE_PATH")
        .map(PathBuf::from)
        .or_else(default_node_path)
        .unwrap_or_default();
    let has_playwright = node_path.join("playwright-core/package.json").exists()
        || std::env::var_os("NODE_PATH").is_some();
    assert!(
        has_playwright,
        "playwright-core is not installed (VOICEBIN_BROWSER_NODE_PATH={}); {SETUP_HINT}",
        node_path.display()
    );

    let dir = screenshot.parent().unwrap();
    let stdout_path = dir.join("view-page.stdout.json");
    let stderr_path = dir.join("view-page.stderr.log");
    let mut command = Command::new("node");
    command
        .current_dir(repo())
        .arg(repo().join("tests/browser/view.mjs"))
        .arg(url)
        .arg(screenshot)
        .env("VOICEBIN_BROWSER_NODE_PATH", &node_path)
        .env("VOICEBIN_CHROMIUM", &chromium)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap());
    // Its own process group, so a hung run can be killed together with chromium.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node: {e}; {SETUP_HINT}"));
    let deadline = Instant::now() + BROWSER_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    let mut stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    if status.is_none() {
        stderr.push_str(&format!(
            "\nkilled: no result after {} s",
            BROWSER_TIMEOUT.as_secs()
        ));
    }
    (status.is_some_and(|s| s.success()), stdout, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_view_page_plays_seeks_and_draws_its_waveform_in_chromium() {
    let app = spawn_app(Backend::Sqlite).await;
    let alice = app.alice();
    // hello.ogg: Vorbis, 3.57 s — long enough to play, seek to the middle and keep playing.
    let id = app
        .upload_ok(
            &alice,
            fixture("hello.ogg"),
            &[("x-title", "Hello from the browser test")],
        )
        .await;
    let scanned = app.wait_scanned(&id, &alice).await;
    assert_eq!(scanned["scan_state"], "clean", "{scanned}");

    let artifacts = repo().join("test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let screenshot = artifacts.join("view-page.png");
    let _ = std::fs::remove_file(&screenshot);
    let url = app.url(&format!("/{id}"));
    let started = Instant::now();
    let (ok, stdout, stderr) = {
        let screenshot = screenshot.clone();
        tokio::task::spawn_blocking(move || run_view_check(&url, &screenshot))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    };
    assert!(
        ok,
        "the view page failed in chromium after {:.1} s (screenshot, if any: {}):\n\
         --- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        started.elapsed().as_secs_f64(),
        screenshot.display()
    );
    assert!(
        screenshot.exists(),
        "no screenshot at {}",
        screenshot.display()
    );
    println!(
        "view page checked in chromium in {:.1} s; screenshot: {}",
        started.elapsed().as_secs_f64(),
        screenshot.display()
    );
}
