//! The upload page (`/`): that it refuses in the page what the API would refuse, in the API's
//! words (its sniff is a port of the server's: `api/static/app/sniff.js` against
//! `voicebin_domain::sniff`), that it stays small, and what it does in Chromium and Firefox
//! (`tests/browser/upload.mjs`: record from a fake microphone, upload, scan, play; choose a
//! file; refuse a file that is not audio without sending it; each state audited by
//! `tests/browser/harness.mjs`, screenshots in `test-artifacts/upload-<browser>/`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use reqwest::StatusCode;
use serde_json::{json, Value};
use voicebin_domain::sniff::{sniff_audio, SNIFF_LEN};

use crate::browser::{repo, run_script, Browser};
use crate::helpers::{
    fixture, fixture_dir, spawn_app, spawn_app_with, Backend, Options, ALL_SCOPES,
};

/// Runs `tests/browser/sniff.mjs` (the page's sniff.js in node) over every file in `dir`;
/// returns file name -> media type (or null), and the page's refusal words.
fn page_sniff(dir: &Path, max: u64) -> (BTreeMap<String, Option<String>>, Value) {
    let output = Command::new("node")
        .current_dir(repo())
        .arg(repo().join("tests/browser/sniff.mjs"))
        .arg(dir)
        .arg(max.to_string())
        .output()
        .unwrap_or_else(|e| panic!("cannot run node (is it installed?): {e}"));
    assert!(
        output.status.success(),
        "sniff.mjs failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    let types = answer["types"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned)))
        .collect();
    (types, answer["refusals"].clone())
}

/// An ID3v2.4 tag with `body_len` zero bytes.
fn id3_tag(body_len: usize) -> Vec<u8> {
    let s = body_len as u32;
    let mut tag = b"ID3\x04\x00\x00".to_vec();
    tag.extend([
        (s >> 21) as u8 & 0x7F,
        (s >> 14) as u8 & 0x7F,
        (s >> 7) as u8 & 0x7F,
        s as u8 & 0x7F,
    ]);
    tag.extend(std::iter::repeat_n(0u8, body_len));
    tag
}

/// An ISO BMFF `ftyp` box with the given brands (the first is the major brand).
fn ftyp(brands: &[&[u8; 4]]) -> Vec<u8> {
    let size = 16 + 4 * (brands.len() - 1);
    let mut b = (size as u32).to_be_bytes().to_vec();
    b.extend(b"ftyp");
    b.extend(brands[0]);
    b.extend([0, 0, 2, 0]);
    for brand in &brands[1..] {
        b.extend(*brand);
    }
    b.extend(b"\0\0\0\x08free");
    b
}

/// Every fixture, crafted edge cases of each rule, and each fixture cut short and with each of
/// its first 16 bytes changed: bytes the two sniffs must judge alike.
fn sniff_cases() -> Vec<(String, Vec<u8>)> {
    let mut cases = Vec::new();
    let mut fixtures: Vec<_> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "facts.json")
        .collect();
    fixtures.sort();
    for name in &fixtures {
        let bytes = fixture(name);
        for cut in [3, 4, 5, 8, 11, 12, 16, 100, 417, 418] {
            if cut < bytes.len() {
                cases.push((format!("{name}.cut{cut}"), bytes[..cut].to_vec()));
            }
        }
        for i in 0..16.min(bytes.len()) {
            for delta in [1u8, 0x80] {
                let mut changed = bytes[..bytes.len().min(4096)].to_vec();
                changed[i] = changed[i].wrapping_add(delta);
                cases.push((format!("{name}.byte{i}+{delta}"), changed));
            }
        }
        cases.push((name.clone(), bytes));
    }
    let mp3 = fixture("hello.mp3");
    let flac = fixture("hello.flac");
    let with_tag = |tag: Vec<u8>, rest: &[u8]| [tag, rest.to_vec()].concat();
    cases.extend([
        ("id3+mp3".into(), with_tag(id3_tag(100), &mp3)),
        ("id3+flac".into(), with_tag(id3_tag(100), &flac)),
        ("id3+html".into(), with_tag(id3_tag(100), b"<html></html>")),
        (
            "id3+zeros+mp3".into(),
            with_tag(id3_tag(10), &[vec![0; 300], mp3.clone()].concat()),
        ),
        (
            "id3 past the prefix".into(),
            id3_tag(SNIFF_LEN + 10)[..SNIFF_LEN].to_vec(),
        ),
        (
            "five id3 tags".into(),
            [
                id3_tag(1),
                id3_tag(1),
                id3_tag(1),
                id3_tag(1),
                id3_tag(1),
                mp3.clone(),
            ]
            .concat(),
        ),
        ("m4a".into(), ftyp(&[b"M4A ", b"isom"])),
        ("heic".into(), ftyp(&[b"heic", b"mif1"])),
        ("m4a + avif".into(), ftyp(&[b"M4A ", b"avif"])),
        ("qt only".into(), ftyp(&[b"qt  "])),
        (
            "ogg version 1".into(),
            b"OggS\x01\x02\0\0\0\0\0\0\0\0".to_vec(),
        ),
        ("caf version 2".into(), b"caff\x00\x02\x00\x00".to_vec()),
        ("aifc".into(), b"FORM\0\0\0\x10AIFCFVER".to_vec()),
        ("ebml".into(), vec![0x1A, 0x45, 0xDF, 0xA3, 0x9F]),
        ("mpeg2 layer3 frame".into(), vec![0xFF, 0xF3, 0x48, 0xC4]),
        (
            "mpeg free format".into(),
            vec![0xFF, 0xFB, 0x00, 0x44, 1, 2, 3],
        ),
        (
            "mp3 broken second frame".into(),
            [mp3[..417].to_vec(), vec![0; 8]].concat(),
        ),
        ("text".into(), b"just some text, not audio at all".to_vec()),
    ]);
    cases
}

#[test]
fn the_pages_sniff_judges_every_case_as_the_server_does() {
    let dir = tempfile::tempdir().unwrap();
    let cases = sniff_cases();
    for (i, (_, bytes)) in cases.iter().enumerate() {
        std::fs::write(dir.path().join(format!("{i:05}")), bytes).unwrap();
    }
    let (page, _) = page_sniff(dir.path(), 1);
    assert_eq!(page.len(), cases.len());
    let mut accepted = 0;
    for (i, (name, bytes)) in cases.iter().enumerate() {
        let server = sniff_audio(&bytes[..bytes.len().min(SNIFF_LEN)]);
        accepted += usize::from(server.is_some());
        assert_eq!(
            page[&format!("{i:05}")].as_deref(),
            server,
            "{name}: the page and the server disagree"
        );
    }
    // The cases exercise both answers, not one.
    assert!(
        accepted > 50 && accepted < cases.len() - 50,
        "{accepted} of {}",
        cases.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_refuses_in_the_apis_own_words() {
    let max = 50_000;
    let app = spawn_app_with(
        Backend::Sqlite,
        Options {
            max_upload_bytes: max,
            ..Default::default()
        },
    )
    .await;
    let alice = app.alice();
    let dir = tempfile::tempdir().unwrap();
    let (_, page) = page_sniff(dir.path(), max);
    let too_large = {
        let mut wav = fixture("hello.wav");
        wav.resize(max as usize + 1, 0);
        wav
    };
    for (refusal, body) in [
        ("empty", Vec::new()),
        ("notAudio", fixture("not-audio.mp3")),
        ("tooLarge", too_large),
    ] {
        let res = app.upload(&alice, body, &[]).await;
        let status = res.status();
        let problem: Value = res.json().await.unwrap();
        assert!(
            status == StatusCode::UNSUPPORTED_MEDIA_TYPE || status == StatusCode::PAYLOAD_TOO_LARGE,
            "{refusal}: {status} {problem}"
        );
        for field in ["title", "detail"] {
            assert_eq!(
                page[refusal][field], problem[field],
                "{refusal}: the page's {field} differs from the API's"
            );
        }
    }
}

/// What `/` makes a browser load: the HTML, its stylesheets and its module graph. (The tus
/// client, `vendor/tus/tus.min.js`, 87 KB, is loaded by `tus.js` at the first signed-in
/// upload, and the ALTCHA widget only when anonymous uploads are on: neither is counted.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upload_page_transfers_under_150_kb() {
    let app = spawn_app(Backend::Sqlite).await;
    let client = reqwest::Client::new();
    let html = client
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut total = html.len();
    let attr = |tag: &str, name: &str| -> Vec<String> {
        html.split(tag)
            .skip(1)
            .filter_map(|rest| {
                let end = rest.find('>')?;
                let start = rest[..end].find(&format!("{name}=\""))? + name.len() + 2;
                let len = rest[start..].find('"')?;
                Some(rest[start..start + len].to_owned())
            })
            .collect()
    };
    let mut queue: Vec<String> = attr("<link rel=\"stylesheet\"", "href");
    queue.extend(attr("<script", "src"));
    assert!(queue.iter().any(|u| u.ends_with("/upload.js")), "{queue:?}");
    assert!(
        queue.iter().any(|u| u.ends_with("/upload.css")),
        "{queue:?}"
    );
    let mut seen = std::collections::BTreeSet::new();
    while let Some(url) = queue.pop() {
        if !seen.insert(url.clone()) {
            continue;
        }
        let res = client.get(app.url(&url)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{url}");
        let body = res.text().await.unwrap();
        total += body.len();
        if url.ends_with(".js") {
            // Static imports: `from "./x.js"` and `import "./x.js"`.
            let dir = &url[..url.rfind('/').unwrap() + 1];
            for part in body.split("\"./").skip(1) {
                let Some(end) = part.find('"') else { continue };
                let target = &part[..end];
                if target.ends_with(".js") {
                    queue.push(format!("{dir}{target}"));
                }
            }
        }
    }
    for module in [
        "session.js",
        "ui.js",
        "nav.js",
        "sniff.js",
        "recorder.js",
        "drafts.js",
        "tus.js",
    ] {
        assert!(
            seen.iter().any(|u| u.ends_with(module)),
            "{module} not found in {seen:?}"
        );
    }
    assert!(total < 150 * 1024, "/ loads {total} bytes: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upload_page_records_uploads_and_refuses_in_chromium() {
    check_upload_page(Browser::Chromium).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upload_page_records_uploads_and_refuses_in_firefox() {
    check_upload_page(Browser::Firefox).await;
}

async fn check_upload_page(browser: Browser) {
    if matches!(browser, Browser::Firefox) {
        // Firefox's content process dies when the page's AudioContext (the level meter) starts
        // without a sound server; `ensure_browser` starts PulseAudio with a null sink.
        let pulse = Command::new("pactl").arg("info").output();
        assert!(
            pulse.is_ok_and(|o| o.status.success()),
            "no sound server answers `pactl info`; run `source scripts/services/browser.sh && \
             ensure_browser` (it installs and starts PulseAudio with a null sink)"
        );
    }
    let app = spawn_app(Backend::Sqlite).await;
    let alice = app.alice();
    // The API's words for a file that is not audio, which the page must repeat without asking.
    let res = app.upload(&alice, fixture("not-audio.mp3"), &[]).await;
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let problem: Value = res.json().await.unwrap();
    let refusal = format!(
        "{}: {}",
        problem["title"].as_str().unwrap(),
        problem["detail"].as_str().unwrap()
    );
    let artifacts = repo().join("test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let fixtures = fixture_dir();
    // 48 MB of WAV (the spoken sentence, then silence): long enough on the wire to cancel.
    let scratch = tempfile::tempdir().unwrap();
    let large = scratch.path().join("large.wav");
    let mut wav = fixture("hello.wav");
    wav.resize(48 * 1024 * 1024, 0);
    std::fs::write(&large, wav).unwrap();
    let config = json!({
        "base": app.url(""),
        "token": alice,
        "account": "alice",
        "scopes": ALL_SCOPES,
        // The spoken sentence (espeak-ng, scripts/make-fixtures.sh), as the microphone's input.
        "speech": fixtures.join("hello.wav"),
        "good": fixtures.join("hello.m4a"),
        "bad": fixtures.join("not-audio.mp3"),
        "refusal": refusal,
        "large": large,
        "artifacts": artifacts,
    })
    .to_string();
    let stem = format!("upload-page-{}", browser.name());
    let started = Instant::now();
    let (ok, stdout, stderr) = {
        let artifacts = artifacts.clone();
        tokio::task::spawn_blocking(move || {
            run_script(browser, "upload.mjs", &[&config], &artifacts, &stem)
        })
        .await
        .unwrap()
    };
    assert!(
        ok,
        "the upload page failed in {} after {:.1} s (screenshots in {}/upload-{}):\n\
         --- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        browser.name(),
        started.elapsed().as_secs_f64(),
        artifacts.display(),
        browser.name()
    );
    // What the browser uploaded is on the server: two recordings (WebM/Opus from both
    // engines; one kept across sign-in) and the chosen file, all scanned clean.
    let list: Value = app.list(&alice, &[]).await.json().await.unwrap();
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 3, "{list}");
    let recorded = items
        .iter()
        .find(|i| i["title"] == format!("Recorded in {}", browser.name()))
        .unwrap_or_else(|| panic!("no recording in {list}"));
    assert!(
        recorded["filename"]
            .as_str()
            .is_some_and(|f| f.starts_with("recording-") && f.ends_with(".webm")),
        "{recorded}"
    );
    assert!(
        items
            .iter()
            .any(|i| i["title"] == "Kept across sign-in" && i["scan_state"] == "clean"),
        "{list}"
    );
    assert_eq!(recorded["scan_state"], "clean", "{recorded}");
    // "In 1 week" was chosen for the recording: it expires seven days after its upload.
    let at = |field: &str| {
        chrono::DateTime::parse_from_rfc3339(recorded[field].as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{field}: {e} in {recorded}"))
    };
    assert_eq!(
        (at("expires_at") - at("created_at")).num_seconds(),
        7 * 86_400,
        "{recorded}"
    );
    let duration = recorded["duration_ms"].as_i64().unwrap();
    assert!((2500..=4500).contains(&duration), "{recorded}");
    assert!(
        items
            .iter()
            .any(|i| i["filename"] == "hello.m4a" && i["scan_state"] == "clean"),
        "{list}"
    );
    // The cancelled upload left nothing: no clip (above: three), no stored or half-written blob.
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (stored, temporary) = app.blob_files();
        if stored == 3 && temporary == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{stored} blobs stored (3 expected) and {temporary} temporary files left after a cancelled upload"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
