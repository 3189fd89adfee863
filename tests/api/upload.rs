use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{fixture, fixture_dir, json, spawn_app, spawn_app_with, Backend, Options};
use crate::on_both_backends;

fn facts() -> Vec<Value> {
    let raw = std::fs::read_to_string(fixture_dir().join("facts.json")).unwrap();
    serde_json::from_str(&raw).unwrap()
}

async fn every_fixture_uploads_and_gets_its_true_audio_facts(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = app.alice();
    let good: Vec<Value> = facts().into_iter().filter(|f| f["bad"].is_null()).collect();
    assert!(good.len() >= 12, "fixture set is incomplete");
    for fact in good {
        let name = fact["file"].as_str().unwrap();
        let id = app
            .upload_ok(&key, fixture(name), &[("x-filename", name)])
            .await;
        let view = app.wait_scanned(&id, &key).await;
        assert_eq!(view["scan_state"], "clean", "{name}: {view}");
        assert_eq!(view["container"], fact["container"], "{name}");
        assert_eq!(view["codec"], fact["codec"], "{name}");
        assert_eq!(view["sample_rate"], fact["sample_rate"], "{name}");
        assert_eq!(view["channels"], fact["channels"], "{name}");
        let got = view["duration_ms"].as_i64().unwrap();
        let want = fact["duration_ms"].as_i64().unwrap();
        assert!((got - want).abs() <= 80, "{name}: duration {got} vs {want}");
        assert_eq!(view["filename"], name);
        assert_eq!(view["size_bytes"], fixture(name).len() as i64);
        assert_eq!(app.event_types(&id).await, ["Uploaded", "ScanCompleted"]);

        // The waveform comes from the decoded audio, for every container (Opus included).
        let (status, peaks) = json(
            app.client
                .get(app.url(&format!("/api/v1/items/{id}/peaks")))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{name}: {peaks}");
        let levels: Vec<u64> = peaks["peaks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(levels.len(), 400, "{name}");
        assert!(levels.iter().all(|l| *l <= 255));
        assert!(
            *levels.iter().max().unwrap() >= 64,
            "{name}: speech should be loud"
        );
    }
}
on_both_backends!(every_fixture_uploads_and_gets_its_true_audio_facts);

async fn disguised_files_are_refused_and_leave_nothing_behind(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = app.alice();
    for name in [
        "not-audio.mp3",
        "elf-binary.mp3",
        "html-disguised.mp3",
        "empty.wav",
    ] {
        let (status, body) = json(
            app.upload(&key, fixture(name), &[("x-filename", name)])
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{name}: {body}");
        assert_eq!(body["type"], "urn:voicebin:problem:not-audio");
        assert_eq!(body["status"], 415);
    }
    assert_eq!(app.total_events().await, 0);
    assert_eq!(app.blob_files(), (0, 0));
}
on_both_backends!(disguised_files_are_refused_and_leave_nothing_behind);

/// The frame count an MP3's Xing/Info header declares: what the file claims about its length.
fn declared_frames(mp3: &[u8]) -> Option<u32> {
    let at = mp3
        .windows(4)
        .take(200)
        .position(|w| w == b"Info" || w == b"Xing")?;
    let word = |i: usize| Some(u32::from_be_bytes(mp3.get(i..i + 4)?.try_into().ok()?));
    let flags = word(at + 4)?;
    (flags & 1 == 1).then(|| word(at + 8)).flatten()
}

#[tokio::test]
async fn a_truncated_mp3_is_never_clean_with_a_made_up_duration() {
    let app = spawn_app(Backend::Sqlite).await;
    let key = app.alice();
    let full = fixture("hello.mp3");
    let full_ms = 3568;
    // The premise: hello.mp3's Info header declares every frame of the whole clip (MPEG-2
    // layer III at 22050 Hz: 576 samples a frame), and a cut copy keeps that header, so a
    // probe that believed it would report the full length.
    let frames = declared_frames(&full).expect("hello.mp3 has an Info header with a frame count");
    let declared_ms = u64::from(frames) * 576 * 1000 / 22050;
    assert!(
        declared_ms.abs_diff(full_ms) <= 100,
        "hello.mp3 declares {declared_ms} ms"
    );
    let cut = full[..full.len() / 3].to_vec();
    assert_eq!(declared_frames(&cut), Some(frames));
    assert_eq!(declared_frames(&fixture("truncated.mp3")), Some(frames));

    // The Info frame and a few bytes: accepted (its bytes start like MP3), then rejected,
    // since no audio is left to measure.
    let id = app.upload_ok(&key, fixture("truncated.mp3"), &[]).await;
    let view = app.wait_scanned(&id, &key).await;
    assert_eq!(view["scan_state"], "rejected", "{view}");
    assert!(view["duration_ms"].is_null(), "{view}");

    // The first third: accepted, and measured by the frames present, never by the header.
    let id = app.upload_ok(&key, cut, &[]).await;
    let view = app.wait_scanned(&id, &key).await;
    if view["scan_state"] == "clean" {
        let ms = view["duration_ms"].as_u64().unwrap();
        assert!(
            ms > 0 && ms <= full_ms * 4 / 10,
            "a third measured as {ms} ms: {view}"
        );
    } else {
        assert_eq!(view["scan_state"], "rejected", "{view}");
    }
}

#[tokio::test]
async fn an_upload_over_the_size_limit_is_413_and_leaves_nothing() {
    let app = spawn_app_with(
        Backend::Sqlite,
        Options {
            max_upload_bytes: 50_000,
            ..Options::default()
        },
    )
    .await;
    let key = app.alice();
    // hello.wav is larger than the limit: refused by Content-Length.
    let (status, body) = json(app.upload(&key, fixture("hello.wav"), &[]).await).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["type"], "urn:voicebin:problem:too-large");
    // Same without a Content-Length (chunked): refused while streaming.
    let bytes = fixture("hello.wav");
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(8192).map(|c| Ok(c.to_vec())).collect();
    let res = app
        .client
        .post(app.url("/api/v1/audio"))
        .bearer_auth(&key)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.total_events().await, 0);
    assert_eq!(app.blob_files(), (0, 0));
    // Something under the limit still works.
    app.upload_ok(&key, fixture("hello.ogg"), &[]).await;
    assert_eq!(app.blob_files(), (1, 0));
}

#[tokio::test]
async fn multipart_uploads_take_metadata_from_form_fields() {
    let app = spawn_app(Backend::Sqlite).await;
    let key = app.alice();
    let form = reqwest::multipart::Form::new()
        .text("title", "Form title")
        .text("description", "from a form")
        .text("download_limit", "3")
        .part(
            "file",
            reqwest::multipart::Part::bytes(fixture("hello.flac")).file_name("../../song.flac"),
        );
    let res = app
        .client
        .post(app.url("/api/v1/audio"))
        .bearer_auth(&key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, body) = json(res).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["title"], "Form title");
    assert_eq!(body["description"], "from a form");
    assert_eq!(body["filename"], "song.flac");
    assert_eq!(body["download_limit"], 3);
    assert_eq!(body["downloads_remaining"], 3);
    assert_eq!(body["content_type"], "audio/flac");
    assert_eq!(body["size_bytes"], fixture("hello.flac").len() as i64);
}

#[tokio::test]
async fn the_content_type_comes_from_the_bytes_not_the_client() {
    let app = spawn_app(Backend::Sqlite).await;
    let key = app.alice();
    let res = app
        .upload(&key, fixture("hello.ogg"), &[("content-type", "text/html")])
        .await;
    let (status, body) = json(res).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["content_type"], "audio/ogg");
    assert_eq!(body["scan_state"], "pending");
}

#[tokio::test]
async fn a_201_carries_location_and_the_owner_view() {
    let app = spawn_app(Backend::Sqlite).await;
    let key = app.alice();
    let res = app
        .upload(
            &key,
            fixture("hello.mp3"),
            &[("x-title", "Hi"), ("x-download-limit", "5")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    let id = body["id"].as_str().unwrap();
    assert_eq!(location, app.url(&format!("/api/v1/items/{id}")));
    assert_eq!(id.len(), 16);
    assert_eq!(body["scan_state"], "pending");
    assert_eq!(body["download_limit"], 5);
    assert_eq!(body["download_count"], 0);
    assert_eq!(body["urls"]["view"], app.url(&format!("/{id}")));
    assert_eq!(
        body["urls"]["download"],
        app.url(&format!("/{id}/download"))
    );
    assert_eq!(body["sha256"].as_str().unwrap().len(), 64);
}

#[tokio::test]
async fn invalid_metadata_is_a_400_problem_and_changes_nothing() {
    let app = spawn_app(Backend::Sqlite).await;
    let key = app.alice();
    let long_title = "t".repeat(201);
    let long_name = "n".repeat(10_000);
    let cases: Vec<(&str, &str, &str)> = vec![
        ("x-title", long_title.as_str(), "title"),
        ("x-filename", long_name.as_str(), "filename"),
        ("x-filename", "..", "filename"),
        ("x-download-limit", "0", "download_limit"),
        ("x-download-limit", "-4", "download_limit"),
        ("x-download-limit", "lots", "download_limit"),
        (
            "x-download-limit",
            "99999999999999999999999",
            "download_limit",
        ),
    ];
    for (header, value, field) in cases {
        let (status, body) = json(
            app.upload(&key, fixture("hello.ogg"), &[(header, value)])
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{header}: {body}");
        assert_eq!(body["field"], field, "{body}");
        assert_eq!(body["type"], "urn:voicebin:problem:invalid-field");
    }
    // Control characters in a header value cannot even be sent by reqwest; a form field can.
    let form = reqwest::multipart::Form::new()
        .text("filename", "evil\r\nSet-Cookie: a=b.mp3")
        .part(
            "file",
            reqwest::multipart::Part::bytes(fixture("hello.ogg")),
        );
    let res = app
        .client
        .post(app.url("/api/v1/audio"))
        .bearer_auth(&key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, body) = json(res).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "filename");
    assert_eq!(app.total_events().await, 0);
    assert_eq!(app.blob_files(), (0, 0));
}

#[tokio::test]
async fn hostile_filenames_never_reach_a_path_or_a_header_unescaped() {
    let app = spawn_app(Backend::Sqlite).await;
    let key = app.alice();
    let id = app
        .upload_ok(
            &key,
            fixture("hello.ogg"),
            &[("x-filename", "../../x\"; a=.ogg")],
        )
        .await;
    let view = app.wait_scanned(&id, &key).await;
    assert_eq!(view["filename"], "x\"; a=.ogg");
    // The blob lives under the clip id, nowhere near the client's name.
    assert!(app.data_dir.path().join("blobs/clips").join(&id).exists());
    let res = app
        .client
        .get(app.url(&format!("/{id}/download")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        disposition,
        "attachment; filename=\"x_; a=.ogg\"; filename*=UTF-8''x%22%3B%20a%3D.ogg"
    );
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(
        res.bytes().await.unwrap().as_ref(),
        fixture("hello.ogg").as_slice()
    );
}

/// The `Content-Disposition` filename (the ASCII fallback) of `GET {path}`.
async fn disposition(app: &crate::helpers::TestApp, path: &str) -> String {
    let res = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_clip_is_never_handed_out_under_an_extension_that_lies_about_its_type() {
    let app = spawn_app(Backend::Sqlite).await;
    let key = app.alice();
    for (sent, served) in [
        ("message.hta", "message.wav"),
        ("message.html", "message.wav"),
        ("message.svg", "message.wav"),
        ("message.js", "message.wav"),
        ("setup.exe", "setup.wav"),
        ("message", "message.wav"),
        ("message.WAV", "message.WAV"),
    ] {
        let res = app
            .upload(&key, fixture("hello.wav"), &[("x-filename", sent)])
            .await;
        let (status, item) = json(res).await;
        assert_eq!(status, StatusCode::CREATED, "{item}");
        assert_eq!(item["filename"], served, "{sent}");
        let id = item["id"].as_str().unwrap();
        app.wait_scanned(id, &key).await;
        let (_, public) = json(app.get_item(id, None).await).await;
        assert_eq!(public["filename"], served);
        for (path, kind) in [("download", "attachment"), ("audio", "inline")] {
            assert_eq!(
                disposition(&app, &format!("/{id}/{path}")).await,
                format!("{kind}; filename=\"{served}\"; filename*=UTF-8''{served}")
            );
        }
        // The history records the name it was stored under.
        let (_, history) = app.history(id, &key, &[]).await;
        assert_eq!(history["items"][0]["payload"]["filename"], served);
    }
    // The name of a multipart file part follows the same rule.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(fixture("hello.ogg")).file_name("evil.html"),
    );
    let res = app
        .client
        .post(app.url("/api/v1/audio"))
        .bearer_auth(&key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, item) = json(res).await;
    assert_eq!(status, StatusCode::CREATED, "{item}");
    assert_eq!(item["filename"], "evil.ogg");

    // Clips stored before the rule (a row, as an old `Uploaded` event left it) are served
    // safely too.
    let id = app
        .upload_ok(&key, fixture("hello.mp3"), &[("x-filename", "old.mp3")])
        .await;
    app.wait_scanned(&id, &key).await;
    let sql = format!("UPDATE clip_views SET filename = 'old\u{2067}lmth.hta' WHERE id = '{id}'");
    match &app.database {
        voicebin::Database::Sqlite(pool) => {
            sqlx::query(&sql).execute(pool).await.unwrap();
        }
        voicebin::Database::Postgres(pool) => {
            sqlx::query(&sql).execute(pool).await.unwrap();
        }
    }
    let (_, item) = json(app.get_item(&id, None).await).await;
    assert_eq!(item["filename"], "oldlmth.mp3");
    assert_eq!(
        disposition(&app, &format!("/{id}/download")).await,
        "attachment; filename=\"oldlmth.mp3\"; filename*=UTF-8''oldlmth.mp3"
    );
    let page = app
        .client
        .get(app.url(&format!("/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("oldlmth.mp3") && !page.contains(".hta"),
        "{page}"
    );
}

async fn format_characters_are_refused_in_filename_title_and_description(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = app.alice();
    let id = app.upload_ok(&key, fixture("hello.ogg"), &[]).await;
    app.wait_scanned(&id, &key).await;
    let before = app.total_events().await;
    let blobs = app.blob_files();
    let chars = [
        '\u{202E}',
        '\u{2066}',
        '\u{2067}',
        '\u{2068}',
        '\u{2069}',
        '\u{200E}',
        '\u{200F}',
        '\u{061C}',
        '\u{200B}',
        '\u{2060}',
        '\u{FEFF}',
        '\u{E0041}',
    ];
    for c in chars {
        let text = format!("evil{c}gpj.ogg");
        for (header, field) in [
            ("x-filename", "filename"),
            ("x-title", "title"),
            ("x-description", "description"),
        ] {
            // Sent as raw UTF-8 header bytes, the way clients send non-ASCII names.
            let res = app
                .client
                .post(app.url("/api/v1/audio"))
                .bearer_auth(&key)
                .header(
                    header,
                    reqwest::header::HeaderValue::from_bytes(text.as_bytes()).unwrap(),
                )
                .body(fixture("hello.ogg"))
                .send()
                .await
                .unwrap();
            let (status, problem) = json(res).await;
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{header} U+{:04X}: {problem}",
                c as u32
            );
            assert_eq!(problem["type"], "urn:voicebin:problem:invalid-field");
            assert_eq!(problem["field"], field);
        }
        for field in ["title", "description"] {
            let res = app
                .patch_item(&id, &key, serde_json::json!({ field: text }))
                .await;
            let (status, problem) = json(res).await;
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{field} U+{:04X}: {problem}",
                c as u32
            );
            assert_eq!(problem["field"], field);
        }
        let form = reqwest::multipart::Form::new()
            .text("title", text.clone())
            .part(
                "file",
                reqwest::multipart::Part::bytes(fixture("hello.ogg")),
            );
        let res = app
            .client
            .post(app.url("/api/v1/audio"))
            .bearer_auth(&key)
            .multipart(form)
            .send()
            .await
            .unwrap();
        let (status, problem) = json(res).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
        assert_eq!(problem["field"], "title");
    }
    assert_eq!(app.total_events().await, before);
    assert_eq!(app.blob_files(), blobs);
    // The joiners scripts and emoji need are accepted.
    let res = app
        .patch_item(
            &id,
            &key,
            serde_json::json!({ "title": "\u{1F469}\u{200D}\u{1F4BB} standup" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}
on_both_backends!(format_characters_are_refused_in_filename_title_and_description);
