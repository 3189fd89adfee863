//! Per-account quotas (ADR 0022): an upload past the account's bytes or clips is refused with
//! 403 `quota-exceeded`, carrying `usage` and `limits`, before its bytes are kept; uploads in
//! flight on any replica cannot jointly pass a limit; deleting frees room; the operator's
//! overrides from `voicebin quota` beat the defaults; `GET /api/v1/account` shows it all.

use std::process::Output;

use futures::StreamExt;
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use voicebin_domain::Limits;

use crate::helpers::{
    json, pcm_wav, spawn_app_with, spawn_replica, Backend, Options, TestApp, ALL_SCOPES,
};
use crate::on_both_backends;

/// A silent 8 kHz WAV of exactly `bytes` bytes (even, at least 44).
fn wav_of(bytes: usize) -> Vec<u8> {
    let wav = pcm_wav(8000, &vec![0i16; (bytes - 44) / 2]);
    assert_eq!(wav.len(), bytes);
    wav
}

async fn with_quotas(backend: Backend, bytes: Option<u64>, clips: Option<u64>) -> TestApp {
    spawn_app_with(
        backend,
        Options {
            quotas: Limits { bytes, clips },
            ..Options::default()
        },
    )
    .await
}

async fn account(app: &TestApp, key: &str) -> (StatusCode, Value) {
    json(
        app.client
            .get(app.url("/api/v1/account"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// `voicebin <args>` over the app's database.
fn voicebin(app: &TestApp, args: &[&str]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_voicebin"));
    command
        .args(args)
        .env("VOICEBIN_DATA_DIR", app.data_dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("VOICEBIN_QUOTA_BYTES")
        .env_remove("VOICEBIN_QUOTA_CLIPS");
    if let Some(url) = &app.settings.database_url {
        command.env("DATABASE_URL", url.expose_secret());
    }
    command.output().unwrap()
}

fn succeeded(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn assert_quota_problem(status: StatusCode, body: &Value, usage: Value, limits: Value) {
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        body["type"], "urn:voicebin:problem:quota-exceeded",
        "{body}"
    );
    assert_eq!(body["status"], 403);
    assert_eq!(body["usage"], usage, "{body}");
    assert_eq!(body["limits"], limits, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("quota"), "{body}");
}

async fn an_upload_past_the_bytes_quota_is_refused_before_its_bytes_are_kept(backend: Backend) {
    let app = with_quotas(backend, Some(10_000), None).await;
    let key = app.alice();
    let id = app.upload_ok(&key, wav_of(6_000), &[]).await;
    // Its scan records an event too: let it finish before counting.
    app.wait_scanned(&id, &key).await;
    let events = app.total_events().await;
    let blobs = app.blob_files();

    // Declared too long for the 4 000 bytes left: refused before the body is read.
    let (status, body) = json(app.upload(&key, wav_of(5_000), &[]).await).await;
    assert_quota_problem(
        status,
        &body,
        json!({"bytes": 6000, "clips": 1}),
        json!({"bytes": 10000, "clips": null}),
    );
    // No length declared: refused once the stream passes what is left.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        wav_of(5_000).chunks(1000).map(|c| Ok(c.to_vec())).collect();
    let (status, body) = json(
        app.client
            .post(app.url("/api/v1/audio"))
            .bearer_auth(&key)
            .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_quota_problem(
        status,
        &body,
        json!({"bytes": 6000, "clips": 1}),
        json!({"bytes": 10000, "clips": null}),
    );
    // Nothing was kept or recorded, and no room stays held.
    assert_eq!(app.total_events().await, events);
    assert_eq!(app.blob_files(), blobs);
    // What fits still goes in, to the byte.
    app.upload_ok(&key, wav_of(4_000), &[]).await;
    let (_, body) = account(&app, &key).await;
    assert_eq!(body["usage"], json!({"bytes": 10000, "clips": 2}));
    // Other accounts have their own room.
    app.upload_ok(&app.key("bob", ALL_SCOPES), wav_of(6_000), &[])
        .await;
}
on_both_backends!(an_upload_past_the_bytes_quota_is_refused_before_its_bytes_are_kept);

async fn an_upload_past_the_clips_quota_is_refused(backend: Backend) {
    let app = with_quotas(backend, None, Some(2)).await;
    let key = app.alice();
    for _ in 0..2 {
        let id = app.upload_ok(&key, wav_of(1_000), &[]).await;
        app.wait_scanned(&id, &key).await;
    }
    let events = app.total_events().await;
    let (status, body) = json(app.upload(&key, wav_of(1_000), &[]).await).await;
    assert_quota_problem(
        status,
        &body,
        json!({"bytes": 2000, "clips": 2}),
        json!({"bytes": null, "clips": 2}),
    );
    assert!(body["detail"].as_str().unwrap().contains("2 of 2 clips"));
    assert_eq!(app.total_events().await, events);
    assert_eq!(app.blob_files(), (2, 0));
}
on_both_backends!(an_upload_past_the_clips_quota_is_refused);

async fn concurrent_uploads_on_two_replicas_cannot_jointly_pass_the_quota(backend: Backend) {
    // Room for one 4 000-byte clip, not two.
    let app = with_quotas(backend, Some(6_000), None).await;
    let (replica, _background) = spawn_replica(&app).await;
    let key = app.alice();
    // Every body holds back its second half until the other uploads have been answered, so
    // all of them are in flight together: a check that did not hold room would let every
    // one through (and then none would be answered before the others finish).
    let (release, released) = tokio::sync::watch::channel(false);
    // Should the uploads all be waiting (nothing refused), let them finish so the test fails
    // on their statuses instead of hanging.
    let failsafe = release.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(20)).await;
        failsafe.send_replace(true);
    });
    let uploads = (0..4).map(|i| {
        let base = if i % 2 == 0 {
            app.base.clone()
        } else {
            replica.clone()
        };
        let mut released = released.clone();
        let wav = wav_of(4_000);
        let (head, tail) = (wav[..2_000].to_vec(), wav[2_000..].to_vec());
        let body = futures::stream::once(async move { Ok::<_, std::io::Error>(head) }).chain(
            futures::stream::once(async move {
                let _ = released.wait_for(|r| *r).await;
                Ok(tail)
            }),
        );
        app.client
            .post(format!("{base}/api/v1/audio"))
            .bearer_auth(&key)
            .header("content-length", "4000")
            .body(reqwest::Body::wrap_stream(body))
            .send()
    });
    let mut pending: futures::stream::FuturesUnordered<_> = uploads.collect();
    let mut statuses = Vec::new();
    while let Some(res) = pending.next().await {
        let (status, body) = json(res.unwrap()).await;
        if status != StatusCode::CREATED {
            assert_eq!(
                body["type"], "urn:voicebin:problem:quota-exceeded",
                "{body}"
            );
        }
        statuses.push(status);
        if statuses.len() == 3 {
            release.send_replace(true);
        }
    }
    statuses.sort();
    assert_eq!(
        statuses,
        [
            StatusCode::CREATED,
            StatusCode::FORBIDDEN,
            StatusCode::FORBIDDEN,
            StatusCode::FORBIDDEN
        ]
    );
    let (_, body) = account(&app, &key).await;
    assert_eq!(body["usage"], json!({"bytes": 4000, "clips": 1}));
    assert_eq!(app.blob_files(), (1, 0));
}
on_both_backends!(concurrent_uploads_on_two_replicas_cannot_jointly_pass_the_quota);

async fn deleting_a_clip_frees_its_room(backend: Backend) {
    let app = with_quotas(backend, Some(5_000), Some(1)).await;
    let key = app.alice();
    let id = app.upload_ok(&key, wav_of(4_000), &[]).await;
    let (status, _) = json(app.upload(&key, wav_of(1_000), &[]).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.delete_item(&id, &key).await.status(),
        StatusCode::NO_CONTENT
    );
    let (_, body) = account(&app, &key).await;
    assert_eq!(body["usage"], json!({"bytes": 0, "clips": 0}));
    app.upload_ok(&key, wav_of(5_000), &[]).await;
}
on_both_backends!(deleting_a_clip_frees_its_room);

/// The account's usage once it is empty, or as it still is after 10 s.
async fn usage_once_empty(app: &TestApp, key: &str) -> Value {
    let mut usage = Value::Null;
    for _ in 0..200 {
        usage = account(app, key).await.1["usage"].clone();
        if usage == json!({"bytes": 0, "clips": 0}) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    usage
}

async fn an_expired_clip_frees_its_room(backend: Backend) {
    let app = spawn_app_with(
        backend,
        Options {
            quotas: Limits {
                bytes: Some(5_000),
                clips: Some(1),
            },
            expiry: voicebin_workers::ExpirySettings {
                interval: std::time::Duration::from_secs(1),
                ..Default::default()
            },
            ..Options::default()
        },
    )
    .await;
    let key = app.alice();
    let id = app
        .upload_ok(&key, wav_of(4_000), &[("x-expires-in", "1")])
        .await;
    let (status, _) = json(app.upload(&key, wav_of(1_000), &[]).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the clip still counts");
    // Once the sweeper has recorded `Expired` (and its view shows it), the clip still does
    // not count.
    let mut events = Vec::new();
    for _ in 0..300 {
        events = app.event_types(&id).await;
        if events.iter().any(|e| e == "Expired") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(events.iter().any(|e| e == "Expired"), "{events:?}");
    assert_eq!(
        usage_once_empty(&app, &key).await,
        json!({"bytes": 0, "clips": 0})
    );
    app.upload_ok(&key, wav_of(5_000), &[]).await;
}
on_both_backends!(an_expired_clip_frees_its_room);

async fn a_clip_stops_counting_at_its_expiry_not_at_the_sweep(backend: Backend) {
    // The sweeper runs once a minute here: the room comes back when the clip stops being
    // served, before its `Expired` is recorded.
    let app = with_quotas(backend, Some(5_000), Some(1)).await;
    let key = app.alice();
    let id = app
        .upload_ok(&key, wav_of(4_000), &[("x-expires-in", "1")])
        .await;
    assert_eq!(
        usage_once_empty(&app, &key).await,
        json!({"bytes": 0, "clips": 0})
    );
    app.upload_ok(&key, wav_of(5_000), &[]).await;
    assert!(
        !app.event_types(&id).await.iter().any(|e| e == "Expired"),
        "the sweeper had not run yet"
    );
}
on_both_backends!(a_clip_stops_counting_at_its_expiry_not_at_the_sweep);

async fn the_account_shows_usage_and_limits_to_any_owner_key(backend: Backend) {
    let app = with_quotas(backend, Some(2_000_000), None).await;
    let key = app.alice();
    let (status, body) = account(&app, &key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({
            "account": "alice",
            "usage": {"bytes": 0, "clips": 0},
            "limits": {"bytes": 2_000_000, "clips": null},
        })
    );
    app.upload_ok(&key, wav_of(3_000), &[]).await;
    app.upload_ok(&key, wav_of(1_044), &[]).await;
    app.upload_ok(&app.key("bob", ALL_SCOPES), wav_of(2_000), &[])
        .await;
    // An uploading key sees its room too.
    let (status, body) = account(&app, &app.key("alice", &["voice:create"])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["usage"], json!({"bytes": 4044, "clips": 2}));
    // A key for neither reading nor uploading does not; nor does no key.
    let (status, body) = account(&app, &app.key("alice", &["voice:delete"])).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["type"], "urn:voicebin:problem:insufficient-scope");
    assert_eq!(body["required_scope"], "voice:read");
    let res = app
        .client
        .get(app.url("/api/v1/account"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}
on_both_backends!(the_account_shows_usage_and_limits_to_any_owner_key);

async fn an_override_from_the_cli_beats_the_default(backend: Backend) {
    let app = with_quotas(backend, Some(1_000_000), Some(1)).await;
    let key = app.alice();
    app.upload_ok(&key, wav_of(1_000), &[]).await;
    let (status, _) = json(app.upload(&key, wav_of(1_000), &[]).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    succeeded(&voicebin(
        &app,
        &[
            "quota",
            "set",
            "alice",
            "--clips",
            "2",
            "--bytes",
            "unlimited",
        ],
    ));
    let (_, body) = account(&app, &key).await;
    assert_eq!(body["limits"], json!({"bytes": null, "clips": 2}));
    app.upload_ok(&key, wav_of(1_000), &[]).await;
    let (status, body) = json(app.upload(&key, wav_of(1_000), &[]).await).await;
    assert_quota_problem(
        status,
        &body,
        json!({"bytes": 2000, "clips": 2}),
        json!({"bytes": null, "clips": 2}),
    );
    // Others keep the defaults.
    let (_, body) = account(&app, &app.key("bob", ALL_SCOPES)).await;
    assert_eq!(body["limits"], json!({"bytes": 1_000_000, "clips": 1}));

    let shown = succeeded(&voicebin(
        &app,
        &["quota", "show", "alice", "--quota-clips", "1"],
    ));
    assert!(
        shown.contains("clips\t2\t2\toverride")
            && shown.contains("bytes\t2000 (2 KB)\tnone\toverride"),
        "{shown}"
    );

    succeeded(&voicebin(&app, &["quota", "clear", "alice"]));
    let (_, body) = account(&app, &key).await;
    assert_eq!(body["limits"], json!({"bytes": 1_000_000, "clips": 1}));
    let (status, _) = json(app.upload(&key, wav_of(1_000), &[]).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
on_both_backends!(an_override_from_the_cli_beats_the_default);

#[tokio::test]
async fn malformed_quota_values_are_refused_with_a_clear_error() {
    let app = with_quotas(Backend::Sqlite, None, None).await;
    for (args, says) in [
        (&["quota", "set", "alice", "--bytes", "5XB"][..], "bytes"),
        (&["quota", "set", "alice", "--bytes=-1"][..], "bytes"),
        (&["quota", "set", "alice", "--clips", "1.5"][..], "clips"),
        (&["quota", "set", "alice"][..], "--bytes and/or --clips"),
        (&["quota", "set", "", "--clips", "3"][..], "account"),
        (
            &["quota", "show", "alice", "--quota-bytes", "lots"][..],
            "bytes",
        ),
    ] {
        let out = voicebin(&app, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} accepted");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    // The defaults come from the environment too, and are checked the same way.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_voicebin"))
        .args(["quota", "show", "alice"])
        .env("VOICEBIN_DATA_DIR", app.data_dir.path())
        .env_remove("DATABASE_URL")
        .env("VOICEBIN_QUOTA_CLIPS", "many")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("VOICEBIN_QUOTA_CLIPS"));
    // Nothing was stored by the refused commands.
    let (_, body) = account(&app, &app.alice()).await;
    assert_eq!(body["limits"], json!({"bytes": null, "clips": null}));
}

async fn clips_a_moderator_removed_stop_counting(backend: Backend) {
    let app = with_quotas(backend, None, Some(1)).await;
    let key = app.alice();
    let id = app.upload_ok(&key, wav_of(2_000), &[]).await;
    let moderator = app.key("mod", &["voice:moderate"]);
    let res = app
        .client
        .post(app.url(&format!("/api/v1/moderation/items/{id}/remove")))
        .bearer_auth(&moderator)
        .json(&json!({"reason": "malware"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    let (_, body) = account(&app, &key).await;
    assert_eq!(body["usage"], json!({"bytes": 0, "clips": 0}));
    // Other bytes than the removed ones (which are blocklisted).
    app.upload_ok(&key, wav_of(2_002), &[]).await;
}
on_both_backends!(clips_a_moderator_removed_stop_counting);

async fn agents_see_the_quota_and_its_refusal_over_mcp(backend: Backend) {
    use base64::Engine;
    let app = with_quotas(backend, Some(3_000), None).await;
    let client = crate::mcp::connect(&app, &app.alice()).await;
    let upload = |bytes: usize| json!({"data": base64::engine::general_purpose::STANDARD.encode(wav_of(bytes))});
    let first = crate::mcp::ok(crate::mcp::call(&client, "upload_audio", upload(2_000)).await);
    app.wait_scanned(first["id"].as_str().unwrap(), &app.alice())
        .await;
    let account = crate::mcp::ok(crate::mcp::call(&client, "get_account", json!({})).await);
    assert_eq!(
        account,
        json!({
            "account": "alice",
            "usage": {"bytes": 2000, "clips": 1},
            "limits": {"bytes": 3000, "clips": null},
        })
    );
    let events = app.total_events().await;
    let refused = crate::mcp::call(&client, "upload_audio", upload(1_002)).await;
    assert_eq!(refused.is_error, Some(true), "{refused:?}");
    let text = &refused.content[0].as_text().unwrap().text;
    assert!(
        text.contains("urn:voicebin:problem:quota-exceeded") && text.contains("2 KB of 3 KB"),
        "{text}"
    );
    // Refused before anything was kept.
    assert_eq!(app.total_events().await, events);
    assert_eq!(app.blob_files(), (1, 0));
    client.cancel().await.unwrap();
}
on_both_backends!(agents_see_the_quota_and_its_refusal_over_mcp);

/// My clips and the upload page of an account whose quota is full, in `browser`.
async fn check_web_app(browser: crate::browser::Browser) {
    use crate::browser::{repo, run_script};
    let app = with_quotas(Backend::Sqlite, None, Some(1)).await;
    let key = app.alice();
    app.upload_ok(&key, crate::helpers::fixture("hello.ogg"), &[])
        .await;
    let session = json!({ "token": key, "scheme": "Bearer", "account": "alice",
        "scopes": ALL_SCOPES, "expiresAt": null, "via": "key" });
    let artifacts = repo().join("test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let config = json!({
        "base": app.base,
        "owner": session,
        "file": crate::helpers::fixture_dir().join("hello.m4a"),
        "artifacts": artifacts,
    });
    let config_path = app.data_dir.path().join("quota.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let stem = format!("quota-{}", browser.name());
    let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || {
        run_script(
            browser,
            "quota.mjs",
            &[config_path.to_str().unwrap()],
            &artifacts,
            &stem,
        )
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    assert!(
        ok,
        "the quota in the web app failed in {}:\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        browser.name()
    );
    // Nothing more was uploaded.
    let (_, body) = account(&app, &key).await;
    assert_eq!(body["usage"]["clips"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_app_shows_a_full_quota_and_refuses_uploads_in_chromium() {
    check_web_app(crate::browser::Browser::Chromium).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_app_shows_a_full_quota_and_refuses_uploads_in_firefox() {
    check_web_app(crate::browser::Browser::Firefox).await;
}

async fn an_abandoned_upload_gives_its_room_back(backend: Backend) {
    let app = with_quotas(backend, Some(10_000), None).await;
    let key = app.alice();
    // Without a length, an upload holds all the room left while it runs.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let head = wav_of(4_000)[..2_000].to_vec();
    let body = futures::stream::once(async move { Ok::<_, std::io::Error>(head) }).chain(
        futures::stream::once(async move {
            let _ = stopped.await;
            Err(std::io::Error::other("the client gives up"))
        }),
    );
    let abandoned = tokio::spawn(
        app.client
            .post(app.url("/api/v1/audio"))
            .bearer_auth(&key)
            .body(reqwest::Body::wrap_stream(body))
            .send(),
    );
    // Once it holds the room (its reservation is written), there is none for anything else.
    assert!(
        wait_for_reservations(&app, 1).await,
        "the upload in progress never held room"
    );
    let (status, body) = json(app.upload(&key, wav_of(1_000), &[]).await).await;
    assert_quota_problem(
        status,
        &body,
        json!({"bytes": 0, "clips": 0}),
        json!({"bytes": 10000, "clips": null}),
    );
    // The client goes away mid-body: the room comes back, whole.
    stop.send(()).unwrap();
    let _ = abandoned.await;
    assert!(
        wait_for_reservations(&app, 0).await,
        "the abandoned upload still holds room"
    );
    app.upload_ok(&key, wav_of(10_000), &[]).await;
    assert_eq!(app.blob_files(), (1, 0));
}

/// Waits (up to ten seconds) until `n` reservations are held; whether they were.
async fn wait_for_reservations(app: &TestApp, n: i64) -> bool {
    let sql = "SELECT COUNT(*) FROM quota_reservations";
    for _ in 0..400 {
        let held: i64 = match &app.database {
            voicebin::Database::Sqlite(pool) => {
                sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
            }
            voicebin::Database::Postgres(pool) => {
                sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
            }
        };
        if held == n {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    false
}
on_both_backends!(an_abandoned_upload_gives_its_room_back);
