//! Clip expiry (issue 15, ADR 0019): `x-expires-in` on upload, `expires_at` in `PATCH`, the
//! operator's maximum and default, the sweeper that records `Expired` once across replicas and
//! purges the bytes, 410 on every surface, and the rebuild.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use voicebin_domain::{Lifetime, Lifetimes};
use voicebin_workers::{ExpiryReport, ExpirySettings, ExpirySweeper};

use crate::helpers::{fixture, json, spawn_app, spawn_app_with, Backend, Options, TestApp};
use crate::on_both_backends;

fn instant(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap_or_else(|| panic!("{value}")))
        .unwrap()
        .with_timezone(&Utc)
}

/// Seconds from the item's upload to its expiry.
fn lifetime_secs(item: &Value) -> i64 {
    (instant(&item["expires_at"]) - instant(&item["created_at"])).num_seconds()
}

async fn upload_expiring(app: &TestApp, key: &str, expires_in: &str) -> Value {
    let (status, item) = json(
        app.upload(key, fixture("hello.wav"), &[("x-expires-in", expires_in)])
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{expires_in}: {item}");
    item
}

/// Waits until the clip's expiry has passed by the server's clock (its item answers 410).
async fn wait_gone(app: &TestApp, id: &str, key: &str) {
    for _ in 0..200 {
        if app.get_item(id, Some(key)).await.status() == StatusCode::GONE {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("clip {id} never expired");
}

fn expired_events(types: &[String]) -> usize {
    types.iter().filter(|t| *t == "Expired").count()
}

async fn uploads_take_whole_seconds_or_iso_durations_and_both_views_show_the_expiry(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let key = app.alice();
    for (sent, secs) in [
        ("3600", 3600),
        ("PT1H", 3600),
        ("P7D", 7 * 86_400),
        ("P1DT12H", 36 * 3600),
        ("P2W", 14 * 86_400),
        (" PT1H30M15S ", 5415),
    ] {
        let item = upload_expiring(&app, &key, sent).await;
        assert_eq!(lifetime_secs(&item), secs, "{sent}: {item}");
    }
    let item = upload_expiring(&app, &key, "PT1H").await;
    let id = item["id"].as_str().unwrap();
    let owner = app.wait_scanned(id, &key).await;
    assert_eq!(owner["expires_at"], item["expires_at"]);
    let (status, public) = json(app.get_item(id, None).await).await;
    assert_eq!(status, StatusCode::OK, "{public}");
    assert_eq!(public["expires_at"], item["expires_at"], "{public}");
    assert_eq!(
        app.event_types(id).await.first().map(String::as_str),
        Some("Uploaded")
    );
    // The view page says when, in words and as a machine-readable instant.
    let page = app
        .client
        .get(app.url(&format!("/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let instant_attr = format!(
        "expires <time datetime=\"{}\"",
        instant(&item["expires_at"]).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    assert!(page.contains(&instant_attr), "{page}");
    assert!(page.contains("minutes</time>"), "{page}");

    // Without the header (and no operator default) a clip never expires: null, not absent.
    let (_, forever) = json(app.upload(&key, fixture("hello.wav"), &[]).await).await;
    assert!(
        forever.get("expires_at").is_some_and(Value::is_null),
        "{forever}"
    );
}
on_both_backends!(uploads_take_whole_seconds_or_iso_durations_and_both_views_show_the_expiry);

async fn malformed_lifetimes_are_400_problems_and_store_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = app.alice();
    for bad in [
        "",
        "abc",
        "0",
        "PT0S",
        "-5",
        "+5",
        "1.5",
        "PT1.5S",
        "P",
        "PT",
        "P1M",
        "P1Y",
        "1h",
        "pt1h",
        "PT1M1H",
        "99999999999999999999999",
        "P99999999999999999D",
        "P36501D",
    ] {
        // A small body: the answer comes before it is read, and a large one could still be
        // in flight when the server closes the connection.
        let res = app
            .upload(&key, fixture("hello.ogg"), &[("x-expires-in", bad)])
            .await;
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "{bad:?}"
        );
        let (status, problem) = json(res).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad:?}: {problem}");
        assert_eq!(problem["type"], "urn:voicebin:problem:invalid-field");
        assert_eq!(problem["field"], "expires_in", "{problem}");
    }
    // Years and months say why they are refused.
    let (_, problem) = json(
        app.upload(&key, fixture("hello.ogg"), &[("x-expires-in", "P1M")])
            .await,
    )
    .await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("no fixed length"),
        "{problem}"
    );
    assert_eq!(app.total_events().await, 0);
    assert_eq!(app.blob_files(), (0, 0));
}
on_both_backends!(malformed_lifetimes_are_400_problems_and_store_nothing);

async fn the_operator_maximum_refuses_longer_lifetimes_and_the_default_applies(backend: Backend) {
    let week = Lifetime::parse("P7D").unwrap();
    let day = Lifetime::parse("P1D").unwrap();
    let app = spawn_app_with(
        backend,
        Options {
            lifetimes: Lifetimes::new(Some(week), Some(day)).unwrap(),
            ..Options::default()
        },
    )
    .await;
    let key = app.alice();
    let (status, problem) = json(
        app.upload(&key, fixture("hello.ogg"), &[("x-expires-in", "P8D")])
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["field"], "expires_in");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("maximum lifetime of P7D"),
        "{problem}"
    );
    assert_eq!(app.total_events().await, 0);
    assert_eq!(app.blob_files(), (0, 0));

    // Exactly the maximum is fine; no header gets the default.
    let longest = upload_expiring(&app, &key, "604800").await;
    assert_eq!(lifetime_secs(&longest), 7 * 86_400);
    let (status, defaulted) = json(app.upload(&key, fixture("hello.wav"), &[]).await).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(lifetime_secs(&defaulted), 86_400, "{defaulted}");

    // PATCH is held to the same maximum, counted from now.
    let id = defaulted["id"].as_str().unwrap();
    let too_far = (Utc::now() + chrono::Duration::days(8)).to_rfc3339();
    let (status, problem) = json(
        app.patch_item(id, &key, json!({"expires_at": too_far}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["field"], "expires_at");
    assert!(
        problem["detail"].as_str().unwrap().contains("P7D"),
        "{problem}"
    );
    assert!(!app
        .event_types(id)
        .await
        .iter()
        .any(|t| t == "ExpiryChanged"));
}
on_both_backends!(the_operator_maximum_refuses_longer_lifetimes_and_the_default_applies);

async fn owners_set_keep_and_clear_the_expiry_with_patch(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = app.alice();
    let id = app.upload_ok(&key, fixture("hello.wav"), &[]).await;
    let at = (Utc::now() + chrono::Duration::hours(1)).trunc_subsecs(3);
    let (status, item) = json(
        app.patch_item(&id, &key, json!({"expires_at": at.to_rfc3339()}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{item}");
    assert_eq!(instant(&item["expires_at"]), at);

    // Absent keeps it.
    let (status, item) = json(app.patch_item(&id, &key, json!({"title": "kept"})).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(instant(&item["expires_at"]), at);

    // Malformed and not-a-string values are 400 problems on the field; an instant already
    // past is well-formed, so 422. Neither changes anything.
    let past = (Utc::now() - chrono::Duration::seconds(5)).to_rfc3339();
    for (bad, expected) in [
        (json!("tomorrow"), StatusCode::BAD_REQUEST),
        (json!("2026-13-01T00:00:00Z"), StatusCode::BAD_REQUEST),
        (json!("2030-01-01"), StatusCode::BAD_REQUEST),
        (json!(3600), StatusCode::BAD_REQUEST),
        (json!(past), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (status, problem) = json(
            app.patch_item(&id, &key, json!({ "expires_at": bad }))
                .await,
        )
        .await;
        assert_eq!(status, expected, "{bad}: {problem}");
        assert_eq!(
            problem["type"] != "urn:voicebin:problem:bad-request",
            problem["field"] == "expires_at",
            "{problem}"
        );
    }
    let types = app.event_types(&id).await;
    assert_eq!(types.iter().filter(|t| *t == "ExpiryChanged").count(), 1);

    // Null clears it: the clip never expires.
    let (status, item) = json(app.patch_item(&id, &key, json!({"expires_at": null})).await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(item["expires_at"].is_null(), "{item}");
    let types = app.event_types(&id).await;
    assert_eq!(
        types.iter().filter(|t| *t == "ExpiryChanged").count(),
        2,
        "{types:?}"
    );

    // Someone else's PATCH finds nothing.
    let bob = app.key("bob", crate::helpers::ALL_SCOPES);
    let res = app
        .patch_item(&id, &bob, json!({"expires_at": at.to_rfc3339()}))
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}
on_both_backends!(owners_set_keep_and_clear_the_expiry_with_patch);

/// An expiry sweeper of a separate app instance over the test app's database and blobs (the
/// state another replica would have).
pub(crate) async fn replica_sweeper(app: &TestApp) -> ExpirySweeper {
    let replica = voicebin::build(&app.settings).await.expect("build replica");
    ExpirySweeper::new(
        replica.state.service.clone(),
        replica.database.expiry_index(),
        replica.state.events.clone(),
        ExpirySettings::default(),
    )
}

async fn two_sweepers_racing_record_expired_once_per_clip_and_purge_the_bytes(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = app.alice();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let item = upload_expiring(&app, &key, "2").await;
        ids.push(item["id"].as_str().unwrap().to_owned());
    }
    let keeper = app.upload_ok(&key, fixture("hello.wav"), &[]).await;
    let later = upload_expiring(&app, &key, "P1D").await;
    for id in &ids {
        wait_gone(&app, id, &key).await;
    }
    // Wait for scans to settle so the only events racing are the sweepers'.
    app.wait_scanned(&keeper, &key).await;
    let (one, two) = (replica_sweeper(&app).await, replica_sweeper(&app).await);
    let now = Utc::now();
    let (a, b) = tokio::join!(one.sweep_once(now), two.sweep_once(now));
    // Each expiration is counted (in the metrics) by the one sweeper that recorded it.
    assert_eq!(a.expired + b.expired, ids.len(), "{a:?} {b:?}");
    for report in [a, b] {
        assert_eq!(report.failed, 0, "{report:?}");
        assert_eq!(report.purged, report.due, "{report:?}");
    }
    for id in &ids {
        let types = app.event_types(id).await;
        assert_eq!(expired_events(&types), 1, "{id}: {types:?}");
        assert_eq!(types.last().map(String::as_str), Some("Expired"));
    }
    // Only the clips that never expire, or not yet, keep their bytes.
    assert_eq!(app.blob_files().0, 2);
    for id in [&keeper, &later["id"].as_str().unwrap().to_owned()] {
        assert_eq!(app.get_item(id, Some(&key)).await.status(), StatusCode::OK);
        assert_eq!(expired_events(&app.event_types(id).await), 0);
    }
    // A later sweep finds nothing left to do.
    assert_eq!(one.sweep_once(Utc::now()).await, ExpiryReport::default());
}
on_both_backends!(two_sweepers_racing_record_expired_once_per_clip_and_purge_the_bytes);

async fn a_clip_whose_expiry_moved_after_the_sweeper_read_it_is_not_expired(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = app.alice();
    let item = upload_expiring(&app, &key, "P1D").await;
    let id = item["id"].as_str().unwrap();
    let sweeper = replica_sweeper(&app).await;
    // The read model says it is due a day from now; the owner keeps it alive meanwhile.
    let in_two_days = Utc::now() + chrono::Duration::days(2);
    let (status, _) = json(
        app.patch_item(id, &key, json!({"expires_at": in_two_days.to_rfc3339()}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let report = sweeper
        .sweep_once(Utc::now() + chrono::Duration::hours(25))
        .await;
    assert_eq!(report.purged, 0, "{report:?}");
    assert_eq!(expired_events(&app.event_types(id).await), 0);
    assert_eq!(app.blob_files().0, 1);
    assert_eq!(app.get_item(id, Some(&key)).await.status(), StatusCode::OK);
}
on_both_backends!(a_clip_whose_expiry_moved_after_the_sweeper_read_it_is_not_expired);

async fn status_of(app: &TestApp, path: &str, key: Option<&str>) -> (StatusCode, String, String) {
    let mut req = app.client.get(app.url(path));
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let content_type = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, res.text().await.unwrap())
}

async fn an_expired_clip_answers_410_on_every_surface(backend: Backend) {
    let app = spawn_app_with(
        backend,
        Options {
            expiry: ExpirySettings {
                interval: Duration::from_secs(1),
                ..ExpirySettings::default()
            },
            ..Options::default()
        },
    )
    .await;
    let key = app.alice();
    let item = upload_expiring(&app, &key, "2").await;
    let id = item["id"].as_str().unwrap().to_owned();
    let control = app
        .upload_ok(&key, fixture("hello.wav"), &[("x-title", "hello control")])
        .await;

    // The background sweeper records it (polling, never a fixed sleep).
    let mut expired = false;
    for _ in 0..300 {
        if expired_events(&app.event_types(&id).await) == 1 {
            expired = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(expired, "{:?}", app.event_types(&id).await);

    let moderator = app.key("mod", &["voice:moderate"]);
    for caller in [None, Some(key.as_str()), Some(moderator.as_str())] {
        for path in [
            format!("/api/v1/items/{id}"),
            format!("/api/v1/items/{id}/peaks"),
            format!("/api/v1/items/{id}/transcript"),
            format!("/{id}/audio"),
            format!("/{id}/download"),
            format!("/{id}/transcript.vtt"),
        ] {
            let (status, content_type, body) = status_of(&app, &path, caller).await;
            assert_eq!(status, StatusCode::GONE, "{path} {caller:?}: {body}");
            assert_eq!(content_type, "application/problem+json", "{path}");
            assert!(body.contains("expired"), "{path}: {body}");
        }
    }
    for path in [format!("/{id}"), format!("/{id}/embed")] {
        let (status, content_type, body) = status_of(&app, &path, None).await;
        assert_eq!(status, StatusCode::GONE, "{path}: {body}");
        assert!(content_type.starts_with("text/html"), "{path}");
        assert!(body.contains("This clip has expired"), "{path}: {body}");
    }
    // Nothing more changes it; its owner no longer lists it.
    let (status, problem) = json(app.patch_item(&id, &key, json!({"title": "late"})).await).await;
    assert_eq!(status, StatusCode::GONE, "{problem}");
    assert_eq!(app.delete_item(&id, &key).await.status(), StatusCode::GONE);
    let listed_ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, listed) = json(app.list(&key, &[]).await).await;
    assert_eq!(listed_ids(&listed), vec![control.clone()]);
    // Both clips are named hello.wav: search finds the live one only.
    let (_, found) = json(app.list(&key, &[("q", "hello")]).await).await;
    assert_eq!(listed_ids(&found), vec![control.clone()]);
    assert_eq!(app.blob_files().0, 1);

    // oEmbed answers the same problem.
    let (status, problem) = json(
        app.client
            .get(app.url("/oembed"))
            .query(&[("url", app.url(&format!("/{id}")))])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::GONE, "{problem}");

    // MCP: the tool answers a 410 problem as a tool error; the clip's resource cannot be read.
    let client = crate::mcp::connect(&app, &key).await;
    let result = crate::mcp::call(&client, "get_audio", json!({"id": id})).await;
    assert_eq!(result.is_error, Some(true), "{result:?}");
    let text = &result.content[0].as_text().unwrap().text;
    assert!(text.contains("410") && text.contains("expired"), "{text}");
    assert!(crate::mcp::read(&client, app.url(&format!("/{id}")))
        .await
        .is_err());
    client.cancel().await.unwrap();
}
on_both_backends!(an_expired_clip_answers_410_on_every_surface);

async fn a_rebuild_reproduces_expiry_state_from_events(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = app.alice();
    let gone = upload_expiring(&app, &key, "1").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let pending = upload_expiring(&app, &key, "P3D").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cleared = upload_expiring(&app, &key, "P3D").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.patch_item(&cleared, &key, json!({"expires_at": null}))
        .await;
    app.wait_scanned(&pending, &key).await;
    app.wait_scanned(&cleared, &key).await;
    wait_gone(&app, &gone, &key).await;
    replica_sweeper(&app).await.sweep_once(Utc::now()).await;

    let (views, log) = app.database.projections();
    let live = views.all().await.unwrap();
    let state = |id: &str| {
        let v = live.iter().find(|v| v.id == id).unwrap();
        (v.expires_at.is_some(), v.expired_at.is_some())
    };
    assert_eq!(state(&gone), (true, true));
    assert_eq!(state(&pending), (true, false));
    assert_eq!(state(&cleared), (false, false));

    crate::helpers::execute_sql(
        &app.database,
        "UPDATE clip_views SET expires_at = NULL, expired_at = NULL, version = 0",
    )
    .await;
    voicebin_projections::rebuild(log.as_ref(), views.as_ref())
        .await
        .unwrap();
    assert_eq!(views.all().await.unwrap(), live);
}
on_both_backends!(a_rebuild_reproduces_expiry_state_from_events);

/// Production mode: an expired clip's original and rendition are purged from S3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_clips_original_and_rendition_are_purged_from_s3() {
    use voicebin_commands::BlobStore;

    let app = crate::production::spawn_production().await;
    let key = app.alice();
    let id = app
        .upload_ok(&key, fixture("hello-alac.m4a"), &[("x-expires-in", "P1D")])
        .await;
    crate::renditions::wait_playback(&app, &id, &key).await;
    let store = voicebin_commands::S3BlobStore::connect(app.settings.s3.clone().unwrap())
        .await
        .unwrap();
    let objects = [format!("clips/{id}"), format!("renditions/{id}")];
    for object in &objects {
        assert!(store.exists(object).await.unwrap(), "{object}");
    }
    // Bring the expiry two seconds ahead, then wait for it.
    let soon = (Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let (status, item) = json(app.patch_item(&id, &key, json!({"expires_at": soon})).await).await;
    assert_eq!(status, StatusCode::OK, "{item}");
    wait_gone(&app, &id, &key).await;

    let report = replica_sweeper(&app).await.sweep_once(Utc::now()).await;
    assert_eq!((report.due, report.purged, report.failed), (1, 1, 0));
    for object in &objects {
        assert!(!store.exists(object).await.unwrap(), "{object} still in S3");
    }
    assert_eq!(expired_events(&app.event_types(&id).await), 1);
}

async fn a_form_field_gives_the_lifetime_and_a_header_wins_over_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = app.alice();
    let send = |header: Option<&'static str>, field: &'static str| {
        let form = reqwest::multipart::Form::new()
            .text("expires_in", field)
            .part(
                "file",
                reqwest::multipart::Part::bytes(fixture("hello.ogg")).file_name("hello.ogg"),
            );
        let mut req = app
            .client
            .post(app.url("/api/v1/audio"))
            .bearer_auth(&key)
            .multipart(form);
        if let Some(value) = header {
            req = req.header("x-expires-in", value);
        }
        req.send()
    };
    let (status, item) = json(send(None, "PT2H").await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{item}");
    assert_eq!(lifetime_secs(&item), 7200);
    let (status, item) = json(send(Some("60"), "PT2H").await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{item}");
    assert_eq!(lifetime_secs(&item), 60);
    let (status, problem) = json(send(None, "P1Y").await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["field"], "expires_in");
    // Two clips recorded, the refused one not (their scans may have been recorded too).
    assert_eq!(app.clips_recorded().await, 2);
}
on_both_backends!(a_form_field_gives_the_lifetime_and_a_header_wins_over_it);

async fn an_expired_clips_transcript_is_neither_stored_nor_found(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = app.alice();
    let id = upload_expiring(&app, &key, "P1D").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .client
        .put(app.url(&format!("/api/v1/items/{id}/transcript")))
        .bearer_auth(&key)
        .json(&json!({"segments": [{"start_ms": 0, "end_ms": 900, "text": "quarterly zebra"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let found = |page: Value| page["items"].as_array().map_or(0, Vec::len);
    let (_, page) = json(app.list(&key, &[("q", "zebra")]).await).await;
    assert_eq!(found(page), 1);
    let (views, _) = app.database.projections();
    assert_eq!(views.transcript(&id).await.unwrap().len(), 1);

    let soon = (Utc::now() + chrono::Duration::seconds(1)).to_rfc3339();
    let (status, _) = json(app.patch_item(&id, &key, json!({"expires_at": soon})).await).await;
    assert_eq!(status, StatusCode::OK);
    wait_gone(&app, &id, &key).await;
    replica_sweeper(&app).await.sweep_once(Utc::now()).await;

    assert!(views.transcript(&id).await.unwrap().is_empty());
    let (_, page) = json(app.list(&key, &[("q", "zebra")]).await).await;
    assert_eq!(found(page), 0);
    assert!(!views
        .all_search_entries()
        .await
        .unwrap()
        .iter()
        .any(|e| e.contains("zebra")));
}
on_both_backends!(an_expired_clips_transcript_is_neither_stored_nor_found);
