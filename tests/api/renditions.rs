//! Playback renditions (docs/adr/0016-playback-renditions.md): a clean clip that browsers cannot
//! play (AIFF, ALAC, CAF) gets a FLAC rendition (or Ogg Opus, when the operator chooses it) made
//! in the sandboxed child; players are served
//! it with the usual validators and ranges, the download still serves the original bytes, a
//! failed rendition leaves the clip as it was, and a rebuild reproduces all of it.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{fixture, json, spawn_app, spawn_with_settings, Backend, TestApp};
use crate::on_both_backends;
use voicebin::Database;

/// Waits until the owner's view of `id` names a rendition; returns that view.
pub(crate) async fn wait_playback(app: &TestApp, id: &str, key: &str) -> Value {
    for _ in 0..600 {
        let (_, item) = json(app.get_item(id, Some(key)).await).await;
        if !item["playback"].is_null() {
            return item;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "clip {id} got no rendition in 30 s; events: {:?}",
        app.event_types(id).await
    );
}

/// Waits until `id` has recorded `event`.
async fn wait_event(app: &TestApp, id: &str, event: &str) {
    for _ in 0..600 {
        if app.event_types(id).await.iter().any(|e| e == event) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "clip {id} recorded no {event} in 30 s; events: {:?}",
        app.event_types(id).await
    );
}

/// The rendition state column of a clip's view, as stored.
async fn rendition_state(database: &Database, id: &str) -> Option<String> {
    let sql = "SELECT rendition_state FROM clip_views WHERE id = $1";
    match database {
        Database::Sqlite(pool) => sqlx::query_scalar(sql)
            .bind(id)
            .fetch_one(pool)
            .await
            .unwrap(),
        Database::Postgres(pool) => sqlx::query_scalar(sql)
            .bind(id)
            .fetch_one(pool)
            .await
            .unwrap(),
    }
}

async fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = app.client.get(app.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

async fn aiff_alac_and_caf_play_from_a_flac_rendition_and_download_as_uploaded(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.alice();
    for name in ["hello.aiff", "hello-alac.m4a", "hello.caf"] {
        let original = fixture(name);
        let id = app.upload_ok(&alice, original.clone(), &[]).await;
        let scanned = app.wait_scanned(&id, &alice).await;
        assert_eq!(scanned["scan_state"], "clean", "{name}: {scanned}");
        let item = wait_playback(&app, &id, &alice).await;
        assert_eq!(item["playback"]["content_type"], "audio/flac", "{name}");
        // The clip's own facts are the original's.
        assert_ne!(item["content_type"], "audio/flac", "{name}");
        let size = item["playback"]["size_bytes"].as_u64().unwrap();
        assert!(
            app.event_types(&id)
                .await
                .contains(&"RenditionCompleted".to_owned()),
            "{name}"
        );
        // The public sees the rendition too.
        let (_, public) = json(app.get_item(&id, None).await).await;
        assert_eq!(public["playback"], item["playback"], "{name}");

        // The player's source is the rendition.
        let audio = get(&app, &format!("/{id}/audio"), &[]).await;
        assert_eq!(audio.status(), StatusCode::OK, "{name}");
        assert_eq!(audio.headers()["content-type"], "audio/flac", "{name}");
        let etag = audio.headers()["etag"].to_str().unwrap().to_owned();
        let disposition = audio.headers()["content-disposition"].to_str().unwrap();
        assert!(disposition.contains(".flac"), "{name}: {disposition}");
        let flac = audio.bytes().await.unwrap();
        assert_eq!(flac.len() as u64, size, "{name}");
        assert_eq!(&flac[..4], b"fLaC", "{name}");
        assert_ne!(
            etag,
            format!("\"{}\"", item["sha256"].as_str().unwrap()),
            "{name}: the rendition has its own validator"
        );

        // The download is the original, byte for byte.
        let download = get(&app, &format!("/{id}/download"), &[]).await;
        assert_eq!(download.status(), StatusCode::OK, "{name}");
        assert_eq!(
            download.headers()["etag"],
            format!("\"{}\"", item["sha256"].as_str().unwrap()).as_str()
        );
        assert_eq!(
            download.bytes().await.unwrap().as_ref(),
            original.as_slice(),
            "{name}"
        );

        // Ranges and conditional requests against the rendition's own validators.
        let part = get(&app, &format!("/{id}/audio"), &[("range", "bytes=4-99")]).await;
        assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT, "{name}");
        assert_eq!(
            part.headers()["content-range"],
            format!("bytes 4-99/{size}").as_str()
        );
        assert_eq!(part.bytes().await.unwrap().as_ref(), &flac[4..100]);
        let cached = get(&app, &format!("/{id}/audio"), &[("if-none-match", &etag)]).await;
        assert_eq!(cached.status(), StatusCode::NOT_MODIFIED, "{name}");
        // A range resumed against the original's validator gets the whole rendition.
        let original_etag = format!("\"{}\"", item["sha256"].as_str().unwrap());
        let resumed = get(
            &app,
            &format!("/{id}/audio"),
            &[("range", "bytes=10-"), ("if-range", &original_etag)],
        )
        .await;
        assert_eq!(resumed.status(), StatusCode::OK, "{name}");
        assert_eq!(resumed.bytes().await.unwrap(), flac);
        let stale = get(
            &app,
            &format!("/{id}/audio"),
            &[("if-match", &original_etag)],
        )
        .await;
        assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED, "{name}");

        // The view page announces what the player plays.
        let page = get(&app, &format!("/{id}"), &[])
            .await
            .text()
            .await
            .unwrap();
        assert!(
            page.contains(r#"<meta property="og:audio:type" content="audio/flac">"#),
            "{name}"
        );
    }
    // A clip browsers play gets none.
    let wav = app.upload_ok(&alice, fixture("hello.wav"), &[]).await;
    app.wait_scanned(&wav, &alice).await;
    assert_eq!(rendition_state(&app.database, &wav).await, None);
    let (_, item) = json(app.get_item(&wav, Some(&alice)).await).await;
    assert!(item["playback"].is_null(), "{item}");
    let audio = get(&app, &format!("/{wav}/audio"), &[]).await;
    assert_eq!(audio.headers()["content-type"], "audio/wav");
}
on_both_backends!(aiff_alac_and_caf_play_from_a_flac_rendition_and_download_as_uploaded);

/// An app whose renditions are made with `rendition` (on PostgreSQL for that backend).
pub(crate) async fn spawn_rendering(
    backend: Backend,
    rendition: voicebin_workers::RenditionSettings,
) -> TestApp {
    spawn_with_settings(move |dir, base| {
        Box::pin(async move {
            let mut settings = voicebin::Settings::embedded(dir.to_owned(), base);
            if backend == Backend::Postgres {
                settings.database_url = Some(secrecy::SecretString::from(
                    crate::helpers::fresh_postgres_database().await,
                ));
            }
            settings.rendition = Some(rendition);
            settings
        })
    })
    .await
}

/// What an operator who sets `VOICEBIN_RENDITIONS=opus` gets.
pub(crate) fn opus_renditions() -> voicebin_workers::RenditionSettings {
    voicebin_workers::RenditionSettings {
        format: voicebin_workers::RenditionFormat::Opus {
            bitrate_bps: 64_000,
        },
        ..Default::default()
    }
}

async fn an_operator_who_chooses_opus_gets_ogg_opus_renditions_as_long_as_the_clip(
    backend: Backend,
) {
    let app = spawn_rendering(backend, opus_renditions()).await;
    let alice = app.alice();
    for name in ["hello.aiff", "hello-alac.m4a"] {
        let original = fixture(name);
        let id = app.upload_ok(&alice, original.clone(), &[]).await;
        let item = wait_playback(&app, &id, &alice).await;
        assert_eq!(item["playback"]["content_type"], "audio/ogg", "{name}");
        let size = item["playback"]["size_bytes"].as_u64().unwrap();
        // 3.6 s at 64 kbit/s: far smaller than the lossless original.
        assert!(
            size < item["size_bytes"].as_u64().unwrap() / 2,
            "{name}: {item}"
        );

        let audio = get(&app, &format!("/{id}/audio"), &[]).await;
        assert_eq!(audio.status(), StatusCode::OK, "{name}");
        assert_eq!(audio.headers()["content-type"], "audio/ogg", "{name}");
        let disposition = audio.headers()["content-disposition"].to_str().unwrap();
        assert!(disposition.contains(".ogg"), "{name}: {disposition}");
        let etag = audio.headers()["etag"].to_str().unwrap().to_owned();
        let ogg = audio.bytes().await.unwrap();
        assert_eq!(ogg.len() as u64, size, "{name}");
        assert_eq!(&ogg[..4], b"OggS", "{name}");
        assert_eq!(&ogg[28..36], b"OpusHead", "{name}");
        let part = get(&app, &format!("/{id}/audio"), &[("range", "bytes=4-99")]).await;
        assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT, "{name}");
        assert_eq!(part.bytes().await.unwrap().as_ref(), &ogg[4..100]);
        let cached = get(&app, &format!("/{id}/audio"), &[("if-none-match", &etag)]).await;
        assert_eq!(cached.status(), StatusCode::NOT_MODIFIED, "{name}");

        // The scan's own analysis reads it as Opus in Ogg, as long as the clip.
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &ogg).unwrap();
        let facts = voicebin_workers::audio::analyse(file.path(), 0)
            .unwrap()
            .facts;
        assert_eq!(
            (facts.container.as_str(), facts.codec.as_str()),
            ("ogg", "opus"),
            "{name}"
        );
        assert!(
            facts
                .duration_ms
                .abs_diff(item["duration_ms"].as_u64().unwrap())
                <= 1,
            "{name}: {} ms, the clip {item}",
            facts.duration_ms
        );

        // The download is still the original, byte for byte.
        let download = get(&app, &format!("/{id}/download"), &[]).await;
        assert_eq!(
            download.bytes().await.unwrap().as_ref(),
            original.as_slice(),
            "{name}"
        );
        let page = get(&app, &format!("/{id}"), &[])
            .await
            .text()
            .await
            .unwrap();
        assert!(
            page.contains(r#"<meta property="og:audio:type" content="audio/ogg">"#),
            "{name}"
        );
    }
}
on_both_backends!(an_operator_who_chooses_opus_gets_ogg_opus_renditions_as_long_as_the_clip);

async fn deleting_a_clip_purges_its_rendition_with_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.alice();
    let id = app.upload_ok(&alice, fixture("hello.aiff"), &[]).await;
    wait_playback(&app, &id, &alice).await;
    // The original and the rendition.
    assert_eq!(app.blob_files(), (2, 0));
    let res = app.delete_item(&id, &alice).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.blob_files(), (0, 0));
    let audio = get(&app, &format!("/{id}/audio"), &[]).await;
    assert_eq!(audio.status(), StatusCode::GONE);
}
on_both_backends!(deleting_a_clip_purges_its_rendition_with_it);

async fn a_failed_rendition_leaves_the_clip_clean_and_its_original_played(backend: Backend) {
    // Renditions may be at most 1 MiB; a 30-second 48 kHz stereo 24-bit AIFF needs more.
    let app = spawn_rendering(
        backend,
        voicebin_workers::RenditionSettings {
            max_bytes: 1024 * 1024,
            ..Default::default()
        },
    )
    .await;
    let alice = app.alice();
    let aiff = noisy_aiff(48_000, 30);
    let id = app.upload_ok(&alice, aiff.clone(), &[]).await;
    let scanned = app.wait_scanned(&id, &alice).await;
    assert_eq!(scanned["scan_state"], "clean", "{scanned}");
    wait_event(&app, &id, "RenditionFailed").await;
    let (_, item) = json(app.get_item(&id, Some(&alice)).await).await;
    assert_eq!(item["scan_state"], "clean", "{item}");
    assert!(item["playback"].is_null(), "{item}");
    assert_eq!(
        rendition_state(&app.database, &id).await.as_deref(),
        Some("failed")
    );
    let (_, history) = app.history(&id, &alice, &[]).await;
    let failed = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "RenditionFailed")
        .unwrap_or_else(|| panic!("{history}"));
    let reason = failed["payload"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("larger than 1 MiB"), "{failed}");
    // Served as before: the original, to everyone.
    let audio = get(&app, &format!("/{id}/audio"), &[]).await;
    assert_eq!(audio.status(), StatusCode::OK);
    assert_eq!(audio.headers()["content-type"], "audio/aiff");
    assert_eq!(audio.bytes().await.unwrap().as_ref(), aiff.as_slice());
    // No partial rendition was left behind.
    assert_eq!(app.blob_files(), (1, 0));
}
on_both_backends!(a_failed_rendition_leaves_the_clip_clean_and_its_original_played);

async fn a_rebuild_reproduces_renditions_and_their_states(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.alice();
    let aiff = app.upload_ok(&alice, fixture("hello.aiff"), &[]).await;
    let caf = app.upload_ok(&alice, fixture("hello.caf"), &[]).await;
    let wav = app.upload_ok(&alice, fixture("hello.wav"), &[]).await;
    wait_playback(&app, &aiff, &alice).await;
    wait_playback(&app, &caf, &alice).await;
    app.wait_scanned(&wav, &alice).await;
    let (views, log) = app.database.projections();
    let live = views.all().await.unwrap();
    assert_eq!(
        live.iter().filter(|v| v.playback().is_some()).count(),
        2,
        "{live:?}"
    );
    crate::helpers::execute_sql(
        &app.database,
        "UPDATE clip_views SET rendition = NULL, rendition_state = NULL, version = 0",
    )
    .await;
    assert_ne!(views.all().await.unwrap(), live);
    voicebin_projections::rebuild(log.as_ref(), views.as_ref())
        .await
        .unwrap();
    assert_eq!(views.all().await.unwrap(), live, "rebuilt rows differ");
    let audio = get(&app, &format!("/{aiff}/audio"), &[]).await;
    assert_eq!(audio.headers()["content-type"], "audio/flac");
}
on_both_backends!(a_rebuild_reproduces_renditions_and_their_states);

/// A 24-bit stereo AIFF of `secs` seconds of noise at `rate` (noise does not compress, so its
/// FLAC is about as large as the AIFF).
pub(crate) fn noisy_aiff(rate: u32, secs: u32) -> Vec<u8> {
    let frames = rate * secs;
    let data_len = frames * 2 * 3;
    let mut out = Vec::with_capacity(data_len as usize + 64);
    out.extend_from_slice(b"FORM");
    out.extend_from_slice(&(4 + 26 + 16 + data_len).to_be_bytes());
    out.extend_from_slice(b"AIFFCOMM");
    out.extend_from_slice(&18u32.to_be_bytes());
    out.extend_from_slice(&2u16.to_be_bytes());
    out.extend_from_slice(&frames.to_be_bytes());
    out.extend_from_slice(&24u16.to_be_bytes());
    out.extend_from_slice(&extended(rate));
    out.extend_from_slice(b"SSND");
    out.extend_from_slice(&(8 + data_len).to_be_bytes());
    out.extend_from_slice(&[0; 8]);
    let mut x: u32 = 0x1234_5678;
    for _ in 0..frames * 2 {
        // xorshift: deterministic noise at about a quarter of full scale.
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let sample = ((x >> 8) as i32 - (1 << 23)) / 4;
        out.extend_from_slice(&sample.to_be_bytes()[1..]);
    }
    out
}

/// `rate` as the 80-bit IEEE 754 extended float AIFF's COMM chunk holds.
fn extended(rate: u32) -> [u8; 10] {
    let exponent = 31 - rate.leading_zeros();
    let mantissa = u64::from(rate) << (63 - exponent);
    let mut out = [0u8; 10];
    out[..2].copy_from_slice(&((16383 + exponent) as u16).to_be_bytes());
    out[2..].copy_from_slice(&mantissa.to_be_bytes());
    out
}
