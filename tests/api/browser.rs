//! The pages in real browsers: `tests/browser/view.mjs` (the view page),
//! `tests/browser/embed.mjs` (the embeddable player in another site's iframe) and
//! `tests/browser/frames.mjs` (which pages another page may frame) drive Debian's chromium
//! through playwright-core and Debian's firefox-esr through puppeteer-core (all installed by
//! `scripts/services/browser.sh`, which `scripts/test` sources) against a live app. Never
//! skipped: a missing browser fails the test.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{fixture, spawn_app, Backend};

const SETUP_HINT: &str =
    "run scripts/test (or `source scripts/services/browser.sh && ensure_browser`) first";
/// The whole browser run, launch included; it takes a few seconds when healthy (Firefox takes
/// longer to start, ~10 s on a busy machine).
const BROWSER_TIMEOUT: Duration = Duration::from_secs(120);

pub(crate) fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A browser the scripts in `tests/browser/` can drive, and how to find it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Browser {
    Chromium,
    Firefox,
}

impl Browser {
    /// The name `view.mjs` takes, also used in artifact names and messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Browser::Chromium => "chromium",
            Browser::Firefox => "firefox",
        }
    }

    /// The variable `ensure_browser` exports with the executable, and the default it uses.
    fn executable(self) -> (&'static str, &'static str) {
        match self {
            Browser::Chromium => ("VOICEBIN_CHROMIUM", "/usr/bin/chromium"),
            Browser::Firefox => ("VOICEBIN_FIREFOX", "/usr/bin/firefox-esr"),
        }
    }

    /// The npm package that drives it.
    fn driver(self) -> &'static str {
        match self {
            Browser::Chromium => "playwright-core",
            Browser::Firefox => "puppeteer-core",
        }
    }
}

/// Where `ensure_browser` installs the npm drivers when the environment does not say.
fn default_node_path() -> Option<PathBuf> {
    let cache = match std::env::var_os("VOICEBIN_CACHE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".cache/voicebin"),
    };
    Some(cache.join("browser/node_modules"))
}

/// Runs `node tests/browser/view.mjs <url> <screenshot> <browser>`; returns (success, stdout,
/// stderr).
fn run_view_check(browser: Browser, url: &str, screenshot: &Path) -> (bool, String, String) {
    let url_and_screenshot = [url, screenshot.to_str().unwrap()];
    // The output files are named after the screenshot, so runs side by side keep their own.
    let stem = screenshot.file_stem().unwrap().to_str().unwrap().to_owned();
    run_script(
        browser,
        "view.mjs",
        &url_and_screenshot,
        screenshot.parent().unwrap(),
        &stem,
    )
}

/// Runs `node tests/browser/<script> <args…> <browser>`, its output kept in `dir` as
/// `<stem>.stdout.json` and `<stem>.stderr.log`; returns (success, stdout, stderr).
pub(crate) fn run_script(
    browser: Browser,
    script: &str,
    args: &[&str],
    dir: &Path,
    stem: &str,
) -> (bool, String, String) {
    let node_version = Command::new("node").arg("--version").output();
    if !node_version.is_ok_and(|o| o.status.success()) {
        panic!("`node` is not installed or does not run; {SETUP_HINT}");
    }
    let (variable, default) = browser.executable();
    let executable = std::env::var(variable).unwrap_or_else(|_| default.into());
    assert!(
        Path::new(&executable).exists(),
        "{} is not installed at {executable}; {SETUP_HINT}",
        browser.name()
    );
    let node_path = std::env::var_os("VOICEBIN_BROWSER_NODE_PATH")
        .map(PathBuf::from)
        .or_else(default_node_path)
        .unwrap_or_default();
    let driver = browser.driver();
    let has_driver = node_path.join(driver).join("package.json").exists()
        || std::env::var_os("NODE_PATH").is_some();
    assert!(
        has_driver,
        "{driver} is not installed (VOICEBIN_BROWSER_NODE_PATH={}); {SETUP_HINT}",
        node_path.display()
    );

    let stdout_path = dir.join(format!("{stem}.stdout.json"));
    let stderr_path = dir.join(format!("{stem}.stderr.log"));
    let mut command = Command::new("node");
    command
        .current_dir(repo())
        .arg(repo().join("tests/browser").join(script))
        .args(args)
        .arg(browser.name())
        .env("VOICEBIN_BROWSER_NODE_PATH", &node_path)
        .env(variable, &executable)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap());
    // Its own process group, so a hung run can be killed together with the browser.
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

/// Writes `config` as `<dir>/<name>.json`, runs `node tests/browser/<name>.mjs <that file>
/// <browser>` (its output kept in `test-artifacts/` as `<name>-<browser>.*`) and fails the test,
/// saying `what` and showing the output, unless it succeeds; returns what it printed (its
/// observations as JSON).
pub(crate) async fn run_with_config(
    browser: Browser,
    name: &str,
    config: &serde_json::Value,
    dir: &Path,
    what: &str,
) -> String {
    let config_path = dir.join(format!("{name}.json"));
    std::fs::write(&config_path, config.to_string()).unwrap();
    let artifacts = repo().join("test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let (script, stem) = (format!("{name}.mjs"), format!("{name}-{}", browser.name()));
    let started = Instant::now();
    let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || {
        run_script(
            browser,
            &script,
            &[config_path.to_str().unwrap()],
            &artifacts,
            &stem,
        )
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    assert!(
        ok,
        "{what} failed in {} after {:.1} s:\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        browser.name(),
        started.elapsed().as_secs_f64()
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_view_page_plays_seeks_and_draws_its_waveform_in_chromium() {
    check_view_page(Browser::Chromium).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_view_page_plays_seeks_and_draws_its_waveform_in_firefox() {
    check_view_page(Browser::Firefox).await;
}

/// Uploads a clip, waits for its scan, then runs `view.mjs` on its view page in `browser`.
async fn check_view_page(browser: Browser) {
    // hello.ogg: Vorbis, 3.57 s — long enough to play, seek to the middle and keep playing.
    check_view_page_of(browser, "hello.ogg", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aiff_clip_plays_from_its_rendition_on_the_view_page_in_chromium() {
    check_view_page_of(Browser::Chromium, "hello.aiff", Some("audio/flac")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aiff_clip_plays_from_its_rendition_on_the_view_page_in_firefox() {
    check_view_page_of(Browser::Firefox, "hello.aiff", Some("audio/flac")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alac_clip_plays_from_its_rendition_on_the_view_page_in_chromium() {
    check_view_page_of(Browser::Chromium, "hello-alac.m4a", Some("audio/flac")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alac_clip_plays_from_its_rendition_on_the_view_page_in_firefox() {
    check_view_page_of(Browser::Firefox, "hello-alac.m4a", Some("audio/flac")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aiff_clip_plays_from_an_opus_rendition_on_the_view_page_in_chromium() {
    check_view_page_of(Browser::Chromium, "hello.aiff", Some("audio/ogg")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aiff_clip_plays_from_an_opus_rendition_on_the_view_page_in_firefox() {
    check_view_page_of(Browser::Firefox, "hello.aiff", Some("audio/ogg")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alac_clip_plays_from_an_opus_rendition_on_the_view_page_in_chromium() {
    check_view_page_of(Browser::Chromium, "hello-alac.m4a", Some("audio/ogg")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alac_clip_plays_from_an_opus_rendition_on_the_view_page_in_firefox() {
    check_view_page_of(Browser::Firefox, "hello-alac.m4a", Some("audio/ogg")).await;
}

/// Uploads `name`, waits for its scan (and, when `rendition` names its type, its rendition:
/// `audio/flac`, or `audio/ogg` from an app set to make Opus renditions), then runs `view.mjs`
/// on its view page in `browser`: the player plays, seeks and draws, and every audio response
/// it got has the expected type.
async fn check_view_page_of(browser: Browser, name: &str, rendition: Option<&str>) {
    let app = match rendition {
        Some("audio/ogg") => {
            crate::renditions::spawn_rendering(
                Backend::Sqlite,
                crate::renditions::opus_renditions(),
            )
            .await
        }
        _ => spawn_app(Backend::Sqlite).await,
    };
    let alice = app.alice();
    let id = app
        .upload_ok(
            &alice,
            fixture(name),
            &[("x-title", "Hello from the browser test")],
        )
        .await;
    let scanned = app.wait_scanned(&id, &alice).await;
    assert_eq!(scanned["scan_state"], "clean", "{scanned}");
    if let Some(content_type) = rendition {
        let item = crate::renditions::wait_playback(&app, &id, &alice).await;
        assert_eq!(item["playback"]["content_type"], content_type, "{item}");
    }

    let artifacts = repo().join("test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    // test-artifacts/view-page-<browser>.png (view-page-<fixture>-<browser>.png for the
    // others), with the run's stdout and stderr next to it.
    let stem = match (name, rendition) {
        ("hello.ogg", _) => format!("view-page-{}", browser.name()),
        (other, Some("audio/ogg")) => format!(
            "view-page-{}-opus-{}",
            other.replace('.', "-"),
            browser.name()
        ),
        (other, _) => format!("view-page-{}-{}", other.replace('.', "-"), browser.name()),
    };
    let screenshot = artifacts.join(format!("{stem}.png"));
    let _ = std::fs::remove_file(&screenshot);
    let url = app.url(&format!("/{id}"));
    let started = Instant::now();
    let (ok, stdout, stderr) = {
        let screenshot = screenshot.clone();
        tokio::task::spawn_blocking(move || run_view_check(browser, &url, &screenshot))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    };
    assert!(
        ok,
        "the view page failed in {} after {:.1} s (screenshot, if any: {}):\n\
         --- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        browser.name(),
        started.elapsed().as_secs_f64(),
        screenshot.display()
    );
    assert!(
        screenshot.exists(),
        "no screenshot at {}",
        screenshot.display()
    );
    if let Some(content_type) = rendition {
        // The player's source is the rendition: every audio response it got says so.
        let observed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let audio: Vec<&serde_json::Value> = observed["responses"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["url"].as_str().is_some_and(|u| u.contains("/audio")))
            .collect();
        assert!(!audio.is_empty(), "the player fetched no audio:\n{stdout}");
        for response in audio {
            assert_eq!(response["contentType"], content_type, "{response}");
        }
    }
    // Playing, seeking to the middle and clicking the waveform is one playback: one download,
    // whatever ranges the browser asked for with the grant in the player's URL.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let (_, item) = crate::helpers::json(app.get_item(&id, Some(&alice)).await).await;
    assert_eq!(
        item["download_count"],
        1,
        "one playback in {} counted more than once:\n{stdout}",
        browser.name()
    );
    println!(
        "view page checked in {} in {:.1} s; screenshot: {}",
        browser.name(),
        started.elapsed().as_secs_f64(),
        screenshot.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_player_on_another_site_counts_one_playback_in_chromium() {
    check_embedded_player(Browser::Chromium).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_player_on_another_site_counts_one_playback_in_firefox() {
    check_embedded_player(Browser::Firefox).await;
}

/// Plays and seeks the embed player in an iframe of a page on another site (`localhost`
/// embedding `127.0.0.1`, where cookies are third-party), then checks one download was counted.
async fn check_embedded_player(browser: Browser) {
    let app = spawn_app(Backend::Sqlite).await;
    let alice = app.alice();
    // Ten minutes (9.6 MB) of 8 kHz audio: too long to be fetched whole before the seek, so
    // the seek to the middle asks for a new range.
    let tone: Vec<i16> = (0..8_000 * 600)
        .map(|i| ((i as f64 * 0.25).sin() * 8_000.0) as i16)
        .collect();
    let wav = crate::helpers::pcm_wav(8_000, &tone);
    let id = app.upload_ok(&alice, wav, &[]).await;
    let scanned = app.wait_scanned(&id, &alice).await;
    assert_eq!(scanned["scan_state"], "clean", "{scanned}");

    let host = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host_url = format!("http://localhost:{}/", host.local_addr().unwrap().port());
    let page = format!(
        "<!doctype html><html lang=\"en\"><title>Another site</title>\
         <iframe src=\"{}/{id}/embed\" width=\"480\" height=\"140\"></iframe></html>",
        app.base
    );
    host.set_nonblocking(true).unwrap();
    let acceptor = poem::listener::TcpAcceptor::from_std(host).unwrap();
    tokio::spawn(async move {
        let page = poem::endpoint::make_sync(move |_| poem::web::Html(page.clone()));
        let _ = poem::Server::new_with_acceptor(acceptor).run(page).await;
    });

    let artifacts = repo().join("test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let stem = format!("embed-{}", browser.name());
    let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || {
        run_script(browser, "embed.mjs", &[&host_url], &artifacts, &stem)
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    assert!(
        ok,
        "the embedded player failed in {}:\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        browser.name()
    );
    // The premise: the player asked for the audio more than once (the seek was a new range).
    let observed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let fetches = observed["responses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["url"].as_str().is_some_and(|u| u.contains("/audio")))
        .count();
    assert!(
        fetches >= 2,
        "the player fetched the audio only {fetches} time(s):\n{stdout}"
    );
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let (_, item) = crate::helpers::json(app.get_item(&id, Some(&alice)).await).await;
    assert_eq!(
        item["download_count"],
        1,
        "one playback in another site's iframe counted more than once in {}:\n{stdout}",
        browser.name()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_frames_the_embed_player_and_no_other_page() {
    check_frames(Browser::Chromium).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firefox_frames_the_embed_player_and_no_other_page() {
    check_frames(Browser::Firefox).await;
}

/// Runs `frames.mjs` in `browser` against a clean clip's pages and the text pages.
async fn check_frames(browser: Browser) {
    let app = spawn_app(Backend::Sqlite).await;
    let alice = app.alice();
    let id = app.upload_ok(&alice, fixture("hello.ogg"), &[]).await;
    let scanned = app.wait_scanned(&id, &alice).await;
    assert_eq!(scanned["scan_state"], "clean", "{scanned}");
    let artifacts = repo().join("test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let base = app.base.clone();
    let stem = format!("frames-{}", browser.name());
    let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || {
        run_script(browser, "frames.mjs", &[&base, &id], &artifacts, &stem)
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    assert!(
        ok,
        "framing in {}:\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        browser.name()
    );
}
