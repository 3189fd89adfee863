//! Transcripts (docs/adr/0018-transcripts.md): after a clean verdict the real speech-to-text
//! engine (faster-whisper with Whisper tiny.en, installed by scripts/services/stt.sh) writes
//! down what was said; the transcript is served as JSON, as WebVTT captions and over MCP, is
//! found by search at the moment it was said, survives a rebuild, and goes with the clip. The
//! owner may correct it; a transcription that fails leaves the clip clean and playable.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use voicebin_workers::stage::transcript::whisper::WhisperSettings;
use voicebin_workers::stage::transcript::{TranscribeSettings, TranscriptionSettings};

use crate::browser::{repo, run_with_config, Browser};
use crate::helpers::{
    fixture, json, pcm_wav, spawn_app, spawn_app_with, Backend, Options, TestApp,
};
use crate::on_both_backends;

/// The real engine, as `scripts/test` installs it (`VOICEBIN_TRANSCRIBE_PYTHON`).
pub(crate) fn engine(max_duration_ms: u64) -> TranscriptionSettings {
    let python = std::env::var_os("VOICEBIN_TRANSCRIBE_PYTHON").expect(
        "VOICEBIN_TRANSCRIBE_PYTHON is not set: run the suite with scripts/test, which installs \
         the speech-to-text engine (or `source scripts/services/stt.sh && ensure_stt`)",
    );
    TranscriptionSettings {
        required: true,
        whisper: WhisperSettings {
            python: python.into(),
            model: None,
            threads: 2,
            beam_size: 1,
            timeout: Duration::from_secs(300),
        },
        job: TranscribeSettings {
            language: None,
            max_duration_ms,
        },
    }
}

async fn with_engine(backend: Backend, max_duration_ms: u64) -> TestApp {
    spawn_app_with(
        backend,
        Options {
            transcription: Some(engine(max_duration_ms)),
            ..Options::default()
        },
    )
    .await
}

/// The project's spoken fixture ("Hello from voicebin. This is a short test clip.", 22.05 kHz
/// mono) after three seconds of silence.
fn speech_after_silence() -> Vec<u8> {
    let wav = fixture("hello.wav");
    // The fixture is a canonical 44-byte-header PCM WAV.
    let speech: Vec<i16> = wav[44..]
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let mut samples = vec![0i16; 3 * 22_050];
    samples.extend(speech);
    pcm_wav(22_050, &samples)
}

async fn transcript(app: &TestApp, id: &str, key: Option<&str>) -> (StatusCode, Value) {
    let mut request = app
        .client
        .get(app.url(&format!("/api/v1/items/{id}/transcript")));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    json(request.send().await.unwrap()).await
}

/// Waits until `id`'s transcript is no longer pending.
pub(crate) async fn settled_transcript(app: &TestApp, id: &str, key: &str) -> Value {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(240) {
        let (status, doc) = transcript(app, id, Some(key)).await;
        assert_eq!(status, StatusCode::OK, "{doc}");
        if doc["state"] != "pending" {
            return doc;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!(
        "clip {id} is still pending transcription after 240 s; events: {:?}",
        app.event_types(id).await
    );
}

async fn put_transcript(app: &TestApp, id: &str, key: &str, body: Value) -> (StatusCode, Value) {
    json(
        app.client
            .put(app.url(&format!("/api/v1/items/{id}/transcript")))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn vtt(app: &TestApp, id: &str) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/{id}/transcript.vtt")))
        .send()
        .await
        .unwrap()
}

pub(crate) fn words(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

async fn a_spoken_clip_is_transcribed_found_by_what_was_said_and_rebuilt(backend: Backend) {
    let app = with_engine(backend, TranscribeSettings::DEFAULT_MAX_DURATION_MS).await;
    let alice = app.alice();
    let id = app
        .upload_ok(
            &alice,
            speech_after_silence(),
            &[("x-title", "Tuesday"), ("x-filename", "memo.wav")],
        )
        .await;
    assert_eq!(app.wait_scanned(&id, &alice).await["scan_state"], "clean");
    let doc = settled_transcript(&app, &id, &alice).await;
    assert_eq!(doc["state"], "completed", "{doc}");
    assert_eq!(doc["source"], "engine", "{doc}");
    assert_eq!(doc["language"], "en", "{doc}");
    let segments = doc["segments"].as_array().unwrap();
    let said: String = segments
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(words(&said).contains("short test clip"), "{doc}");
    // The speech starts after three seconds of silence.
    let first = segments[0]["start_ms"].as_u64().unwrap();
    assert!((2_000..=4_000).contains(&first), "{doc}");

    // Captions, public like the clip.
    let res = vtt(&app, &id).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/vtt; charset=utf-8");
    let captions = res.text().await.unwrap();
    assert!(captions.starts_with("WEBVTT\n"), "{captions}");
    assert!(words(&captions).contains("short test clip"), "{captions}");
    let (status, public) = transcript(&app, &id, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(public["segments"], doc["segments"]);

    // Search finds the clip by a word only said in it, at the moment it was said.
    let (_, page) = json(app.list(&alice, &[("q", "short")]).await).await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    assert_eq!(items[0]["id"], id.as_str());
    assert_eq!(items[0]["match"]["field"], "transcript", "{page}");
    let at = items[0]["match"]["at_ms"].as_u64().unwrap();
    assert!((2_000..=4_000).contains(&at), "{page}");

    // The view page shows it under the player, with a captions track.
    let page = app
        .client
        .get(app.url(&format!("/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"<track kind="captions""#), "{page}");
    assert!(page.contains(r#"<section id="transcript""#), "{page}");

    // An agent reads it over MCP: the tool and the captions resource.
    let client = crate::mcp::connect(&app, &alice).await;
    let over_mcp =
        crate::mcp::ok(crate::mcp::call(&client, "get_transcript", json!({"id": id})).await);
    assert_eq!(over_mcp["segments"], doc["segments"]);
    let read = crate::mcp::read(&client, app.url(&format!("/{id}/transcript.vtt")))
        .await
        .unwrap();
    match read.contents.as_slice() {
        [rmcp::model::ResourceContents::TextResourceContents {
            mime_type, text, ..
        }] => {
            assert_eq!(mime_type.as_deref(), Some("text/vtt"));
            assert_eq!(text, &captions);
        }
        other => panic!("expected WebVTT text, got {other:?}"),
    }
    client.cancel().await.unwrap();

    // A rebuild from the events gives the same transcript and the same search answer.
    let (views, log) = app.database.projections();
    let before = views.all_transcripts().await.unwrap();
    voicebin_projections::rebuild(log.as_ref(), views.as_ref())
        .await
        .unwrap();
    assert_eq!(views.all_transcripts().await.unwrap(), before);
    assert_eq!(transcript(&app, &id, Some(&alice)).await.1, doc);
    let (_, again) = json(app.list(&alice, &[("q", "short")]).await).await;
    assert_eq!(again["items"][0]["match"], items[0]["match"]);

    // Deleting the clip takes its words with it.
    assert_eq!(
        app.delete_item(&id, &alice).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(vtt(&app, &id).await.status(), StatusCode::GONE);
    assert!(views.transcript(&id).await.unwrap().is_empty());
    let (_, page) = json(app.list(&alice, &[("q", "short")]).await).await;
    assert!(page["items"].as_array().unwrap().is_empty(), "{page}");
}
on_both_backends!(a_spoken_clip_is_transcribed_found_by_what_was_said_and_rebuilt);

async fn a_failed_transcription_leaves_the_clip_clean_and_playable(backend: Backend) {
    // Clips longer than one second are not transcribed here: the fixture (3.6 s) fails.
    let app = with_engine(backend, 1_000).await;
    let alice = app.alice();
    let id = app.upload_ok(&alice, fixture("hello.ogg"), &[]).await;
    assert_eq!(app.wait_scanned(&id, &alice).await["scan_state"], "clean");
    let doc = settled_transcript(&app, &id, &alice).await;
    assert_eq!(doc["state"], "failed", "{doc}");
    assert!(
        doc["detail"].as_str().unwrap().contains("longer than"),
        "{doc}"
    );
    assert_eq!(doc["segments"], json!([]));
    assert!(doc.get("vtt_url").is_none(), "{doc}");
    assert!(app
        .event_types(&id)
        .await
        .contains(&"TranscriptFailed".to_owned()));
    let (_, item) = json(app.get_item(&id, None).await).await;
    assert_eq!(item["id"], id.as_str(), "the clip is still public: {item}");
    let res = app
        .client
        .get(app.url(&format!("/{id}/download")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap().as_ref(), fixture("hello.ogg"));
    assert_eq!(vtt(&app, &id).await.status(), StatusCode::NOT_FOUND);
    let page = app
        .client
        .get(app.url(&format!("/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("<track"), "{page}");
    assert!(page.contains(r#"<audio id="player""#), "{page}");
}
on_both_backends!(a_failed_transcription_leaves_the_clip_clean_and_playable);

async fn the_owner_corrects_a_transcript_and_nobody_else_can(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.alice();
    let bob = app.key("bob", crate::helpers::ALL_SCOPES);
    let id = app.upload_ok(&alice, fixture("hello.ogg"), &[]).await;
    assert_eq!(app.wait_scanned(&id, &alice).await["scan_state"], "clean");
    // This deployment transcribes nothing.
    let (_, doc) = transcript(&app, &id, Some(&alice)).await;
    assert_eq!(doc["state"], "off", "{doc}");
    assert_eq!(vtt(&app, &id).await.status(), StatusCode::NOT_FOUND);

    let body = json!({"language": "en", "segments": [
        {"start_ms": 0, "end_ms": 1500, "text": " Hello from voicebin. "},
        {"start_ms": 1500, "end_ms": 3500, "text": "A <b>bold</b> claim --> & more"},
    ]});
    let (status, doc) = put_transcript(&app, &id, &alice, body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_eq!(doc["state"], "completed");
    assert_eq!(doc["source"], "owner");
    assert_eq!(doc["segments"][0]["text"], "Hello from voicebin.");
    let captions = vtt(&app, &id).await.text().await.unwrap();
    assert_eq!(
        captions,
        "WEBVTT\n\n1\n00:00:00.000 --> 00:00:01.500\nHello from voicebin.\n\n\
         2\n00:00:01.500 --> 00:00:03.500\nA &lt;b&gt;bold&lt;/b&gt; claim --&gt; &amp; more\n"
    );
    let (_, page) = json(app.list(&alice, &[("q", "claim")]).await).await;
    assert_eq!(page["items"][0]["match"]["at_ms"], 1500, "{page}");
    assert!(app
        .event_types(&id)
        .await
        .contains(&"TranscriptCorrected".to_owned()));

    // Someone else's clip is not theirs to correct; malformed transcripts change nothing.
    let (status, problem) = put_transcript(&app, &id, &bob, body).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    for (bad, field) in [
        (
            json!({"segments": [{"start_ms": 10, "end_ms": 5, "text": "backwards"}]}),
            "segments",
        ),
        (
            json!({"segments": [{"start_ms": 0, "end_ms": 5, "text": "   "}]}),
            "segments[].text",
        ),
        (
            json!({"segments": [{"start_ms": 0, "end_ms": 5, "text": "two\nlines"}]}),
            "segments",
        ),
        (json!({"language": "english", "segments": []}), "language"),
    ] {
        let (status, problem) = put_transcript(&app, &id, &alice, bad.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {problem}");
        assert_eq!(problem["field"], field, "{bad}: {problem}");
    }
    let (status, problem) = put_transcript(&app, &id, &alice, json!({"segments": "no"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    let (_, after) = transcript(&app, &id, Some(&alice)).await;
    assert_eq!(after["segments"], doc["segments"]);
}
on_both_backends!(the_owner_corrects_a_transcript_and_nobody_else_can);

fn twelve_seconds() -> Vec<u8> {
    let samples: Vec<i16> = (0..12 * 8000)
        .map(|i| ((i as f64 * 330.0 * std::f64::consts::TAU / 8000.0).sin() * 6000.0) as i16)
        .collect();
    pcm_wav(8000, &samples)
}

async fn check_view_page_transcript(browser: Browser) {
    let app = spawn_app(Backend::Sqlite).await;
    let alice = app.alice();
    let id = app
        .upload_ok(&alice, twelve_seconds(), &[("x-title", "Standup")])
        .await;
    assert_eq!(app.wait_scanned(&id, &alice).await["scan_state"], "clean");
    let segments = json!([
        {"start_ms": 0, "end_ms": 3800, "text": "Good morning, everyone."},
        {"start_ms": 4000, "end_ms": 7900, "text": "The <b>budget</b> --> approved & signed."},
        {"start_ms": 8000, "end_ms": 11500, "text": "That's all for today."},
    ]);
    let (status, doc) = put_transcript(
        &app,
        &id,
        &alice,
        json!({"language": "en", "segments": segments}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{doc}");

    let artifacts = repo().join("test-artifacts");
    let config =
        json!({ "base": app.base, "clip": id, "segments": segments, "artifacts": artifacts });
    run_with_config(
        browser,
        "transcript",
        &config,
        app.data_dir.path(),
        "the transcript on the view page",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_view_page_shows_the_transcript_plays_from_a_segment_and_its_captions_parse_in_chromium(
) {
    check_view_page_transcript(Browser::Chromium).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_view_page_shows_the_transcript_plays_from_a_segment_and_its_captions_parse_in_firefox()
{
    check_view_page_transcript(Browser::Firefox).await;
}
