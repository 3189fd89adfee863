//! Abuse reports, the moderators' queue and decisions (block, restore, remove), and what owners,
//! the public and moderators each see of them.

use reqwest::StatusCode;
use serde_json::{json, Value};
use voicebin::ModerationSettings;
use voicebin_projections::{Rate, RateLimits, Take};

use crate::helpers::{
    fixture, json, spawn_app, spawn_app_with, spawn_replica, Backend, Options, TestApp,
};
use crate::on_both_backends;

const MODERATE: &[&str] = &["voice:moderate"];

fn with_threshold(hide_threshold: u32) -> Options {
    Options {
        moderation: ModerationSettings {
            hide_threshold,
            reports_per_hour_per_ip: 0,
            reports_per_hour_per_account: 0,
            trust_forwarded_for: false,
        },
        ..Options::default()
    }
}

impl TestApp {
    async fn report(&self, id: &str, key: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut req = self
            .client
            .post(self.url(&format!("/api/v1/items/{id}/reports")))
            .json(&body);
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        json(req.send().await.unwrap()).await
    }

    async fn decide(
        &self,
        id: &str,
        key: &str,
        decision: &str,
        reason: &str,
    ) -> (StatusCode, Value) {
        json(
            self.client
                .post(self.url(&format!("/api/v1/moderation/items/{id}/{decision}")))
                .bearer_auth(key)
                .json(&json!({ "reason": reason }))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    async fn queue(&self, key: &str, query: &[(&str, &str)]) -> (StatusCode, Value) {
        json(
            self.client
                .get(self.url("/api/v1/moderation/reports"))
                .bearer_auth(key)
                .query(query)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// The history's events, asserting 200.
    async fn history_items(&self, id: &str, key: &str) -> Vec<Value> {
        let (status, body) = self.history(id, key, &[]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["items"].as_array().unwrap().clone()
    }

    async fn clean_clip(&self, key: &str, name: &str) -> String {
        let id = self.upload_ok(key, fixture(name), &[]).await;
        assert_eq!(self.wait_scanned(&id, key).await["scan_state"], "clean");
        id
    }

    async fn download_status(&self, id: &str, key: Option<&str>) -> StatusCode {
        let mut req = self.client.get(self.url(&format!("/{id}/download")));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        req.send().await.unwrap().status()
    }
}

fn actor(entry: &Value) -> (String, Option<String>) {
    (
        entry["actor"]["kind"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        entry["actor"]["id"].as_str().map(str::to_owned),
    )
}

async fn reports_past_the_threshold_hide_a_clip_until_a_moderator_restores_it(backend: Backend) {
    let app = spawn_app_with(backend, with_threshold(2)).await;
    let alice = app.alice();
    let bob = app.key("bob", &["voice:read"]);
    let moderator = app.key("mod", MODERATE);
    let id = app.clean_clip(&alice, "hello.wav").await;

    // Bob reports twice: one reporter counts once, so the clip stays public.
    for _ in 0..2 {
        let (status, body) = app
            .report(&id, Some(&bob), json!({"reason": "spam", "note": "ads"}))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["reason"], "spam");
    }
    assert_eq!(app.get_item(&id, None).await.status(), StatusCode::OK);
    // Someone without an account reports too: two distinct reporters hide it.
    let (status, _) = app.report(&id, None, json!({"reason": "malware"})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        app.get_item(&id, None).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.download_status(&id, None).await, StatusCode::NOT_FOUND);
    let (_, owner_view) = json(app.get_item(&id, Some(&alice)).await).await;
    assert_eq!(owner_view["moderation"]["state"], "hidden");
    let why = owner_view["moderation"]["reason"].as_str().unwrap();
    assert!(
        why.contains("2 people") && why.contains("malware, spam"),
        "{why}"
    );

    // The queue shows the clip once, with both reporters.
    let (status, queue) = app.queue(&moderator, &[]).await;
    assert_eq!(status, StatusCode::OK, "{queue}");
    let items = queue["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["clip"]["id"], id);
    assert_eq!(items[0]["owner"], "alice");
    assert_eq!(items[0]["report_count"], 2);
    assert_eq!(items[0]["clip"]["moderation"]["state"], "hidden");
    let reports = items[0]["reports"].as_array().unwrap();
    assert_eq!(reports[0]["reporter"], "account:bob");
    assert_eq!(reports[0]["note"], "ads");
    assert!(reports[1]["reporter"]
        .as_str()
        .unwrap()
        .starts_with("anonymous:"));
    assert!(!reports[1]["reporter"]
        .as_str()
        .unwrap()
        .contains("127.0.0.1"));

    let (status, restored) = app
        .decide(&id, &moderator, "restore", "reviewed: harmless")
        .await;
    assert_eq!(status, StatusCode::OK, "{restored}");
    assert_eq!(restored["moderation"]["state"], "visible");
    assert_eq!(restored["moderation"]["reason"], "reviewed: harmless");
    assert_eq!(app.get_item(&id, None).await.status(), StatusCode::OK);
    let (_, open) = app.queue(&moderator, &[]).await;
    assert_eq!(open["items"], json!([]));
    let (_, resolved) = app.queue(&moderator, &[("state", "resolved")]).await;
    assert_eq!(resolved["items"][0]["reports"][0]["resolution"], "restored");
    assert_eq!(resolved["items"][0]["reports"][1]["state"], "resolved");

    // The moderator's history names everyone.
    let history = app.history_items(&id, &moderator).await;
    let types: Vec<&str> = history
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "Uploaded",
            "ScanCompleted",
            "Reported",
            "Reported",
            "AutoHidden",
            "Restored"
        ]
    );
    let actors: Vec<(String, Option<String>)> = history.iter().map(actor).collect();
    assert_eq!(actors[0], ("account".into(), Some("alice".into())));
    assert_eq!(actors[1].0, "system");
    assert_eq!(actors[2], ("account".into(), Some("bob".into())));
    assert_eq!(actors[3].0, "anonymous");
    assert!(actors[3].1.is_some());
    assert_eq!(actors[4], ("system".into(), Some("moderation".into())));
    assert_eq!(actors[5], ("account".into(), Some("mod".into())));
    assert_eq!(history[2]["payload"]["reporter"], "account:bob");
    assert_eq!(history[4]["payload"]["reporters"], 2);
    assert_eq!(history[5]["payload"]["by"], "mod");
    assert_eq!(history[5]["payload"]["reason"], "reviewed: harmless");

    // The owner's history shows what happened, not who reported or moderated.
    let owner_history = app.history_items(&id, &alice).await;
    assert_eq!(owner_history.len(), 6);
    for entry in &owner_history[2..] {
        let text = entry.to_string();
        assert!(
            !text.contains("bob") && !text.contains("anonymous:") && !text.contains("\"mod\""),
            "{text}"
        );
        assert!(entry["payload"].get("reporter").is_none());
        assert!(entry["payload"].get("note").is_none());
        if entry["actor"]["kind"] != "system" {
            assert!(entry["actor"].get("id").is_none(), "{entry}");
        }
    }
    assert_eq!(owner_history[2]["payload"]["reason"], "spam");
    assert_eq!(owner_history[5]["payload"]["reason"], "reviewed: harmless");
}
on_both_backends!(reports_past_the_threshold_hide_a_clip_until_a_moderator_restores_it);

async fn a_takedown_purges_the_audio_and_refuses_the_same_bytes_with_451(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.alice();
    let bob = app.key("bob", &["voice:read", "voice:create"]);
    let moderator = app.key("mod", MODERATE);
    let id = app.clean_clip(&alice, "hello.wav").await;
    let blobs_before = app.blob_files().0;

    let (status, removed) = app
        .decide(&id, &moderator, "remove", "copyright takedown #42")
        .await;
    assert_eq!(status, StatusCode::OK, "{removed}");
    assert_eq!(removed["moderation"]["state"], "removed");
    assert_eq!(app.blob_files().0, blobs_before - 1, "the blob is purged");

    // The owner sees why; nobody can fetch it any more.
    let (status, owner_view) = json(app.get_item(&id, Some(&alice)).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(owner_view["moderation"]["state"], "removed");
    assert_eq!(owner_view["moderation"]["reason"], "copyright takedown #42");
    let (_, listing) = json(app.list(&alice, &[]).await).await;
    assert_eq!(listing["items"][0]["moderation"]["state"], "removed");
    let (status, problem) = json(app.get_item(&id, None).await).await;
    assert_eq!(status, StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS);
    assert_eq!(problem["type"], "urn:voicebin:problem:removed");
    for key in [None, Some(alice.as_str()), Some(moderator.as_str())] {
        assert_eq!(
            app.download_status(&id, key).await,
            StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS
        );
    }
    let page = app
        .client
        .get(app.url(&format!("/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS);

    // The same bytes, from anyone, are refused and leave nothing behind.
    let events = app.total_events().await;
    let blobs = app.blob_files();
    let res = app.upload(&bob, fixture("hello.wav"), &[]).await;
    let (status, problem) = json(res).await;
    assert_eq!(
        status,
        StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS,
        "{problem}"
    );
    assert_eq!(problem["type"], "urn:voicebin:problem:removed");
    assert_eq!(problem["status"], 451);
    assert_eq!(app.total_events().await, events);
    assert_eq!(app.blob_files(), blobs);
    // Different audio is fine.
    app.clean_clip(&bob, "hello.ogg").await;

    // A removal is final.
    for decision in ["block", "restore", "remove"] {
        let (status, _) = app.decide(&id, &moderator, decision, "again").await;
        assert_eq!(status, StatusCode::CONFLICT, "{decision}");
    }
    let history = app.history_items(&id, &moderator).await;
    let last = history.last().unwrap();
    assert_eq!(last["type"], "Removed");
    assert_eq!(last["payload"]["by"], "mod");
    assert_eq!(last["payload"]["sha256"], owner_view["sha256"]);
}
on_both_backends!(a_takedown_purges_the_audio_and_refuses_the_same_bytes_with_451);

async fn a_removed_clip_stays_removed_whatever_its_owner_does(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.alice();
    let moderator = app.key("mod", MODERATE);
    let id = app.clean_clip(&alice, "hello.wav").await;
    let (status, _) = app.decide(&id, &moderator, "remove", "takedown").await;
    assert_eq!(status, StatusCode::OK);
    let events = app.event_count(&id).await;

    for body in [
        json!({"title": "nothing to see"}),
        json!({"description": "x"}),
        json!({"download_limit": 3}),
        json!({"download_limit": null}),
    ] {
        let (status, problem) = json(app.patch_item(&id, &alice, body.clone()).await).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}: {problem}");
        assert_eq!(problem["type"], "urn:voicebin:problem:conflict");
        assert_eq!(problem["status"], 409);
    }
    let (status, problem) = json(app.delete_item(&id, &alice).await).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("removal is final"),
        "{problem}"
    );
    assert_eq!(app.event_count(&id).await, events, "nothing recorded");

    // The public keeps being told a moderator removed it; the owner keeps seeing why.
    let (status, problem) = json(app.get_item(&id, None).await).await;
    assert_eq!(status, StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS);
    assert_eq!(problem["type"], "urn:voicebin:problem:removed");
    assert_eq!(
        app.download_status(&id, None).await,
        StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS
    );
    let (status, owner_view) = json(app.get_item(&id, Some(&alice)).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(owner_view["moderation"]["state"], "removed");
    assert_eq!(owner_view["moderation"]["reason"], "takedown");
    let (_, listing) = json(app.list(&alice, &[]).await).await;
    assert_eq!(listing["items"][0]["id"], id.as_str());
}
on_both_backends!(a_removed_clip_stays_removed_whatever_its_owner_does);

async fn a_blocked_clip_is_hidden_and_moderators_download_without_counting(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.alice();
    let moderator = app.key("mod", MODERATE);
    let id = app
        .upload_ok(&alice, fixture("hello.wav"), &[("x-download-limit", "1")])
        .await;
    app.wait_scanned(&id, &alice).await;

    let (status, blocked) = app.decide(&id, &moderator, "block", "under review").await;
    assert_eq!(status, StatusCode::OK, "{blocked}");
    assert_eq!(blocked["moderation"]["state"], "blocked");
    let (status, _) = app.decide(&id, &moderator, "block", "twice").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        app.get_item(&id, None).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.download_status(&id, None).await, StatusCode::NOT_FOUND);
    let page = app
        .client
        .get(app.url(&format!("/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    // Anyone's report on a clip they cannot see is refused like any other request for it.
    let (status, _) = app.report(&id, None, json!({"reason": "spam"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Owner and moderators still read and fetch it; neither counts as a download.
    let (_, owner_view) = json(app.get_item(&id, Some(&alice)).await).await;
    assert_eq!(owner_view["moderation"]["reason"], "under review");
    let (status, moderator_view) = json(app.get_item(&id, Some(&moderator)).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(moderator_view["sha256"], owner_view["sha256"]);
    for _ in 0..3 {
        assert_eq!(
            app.download_status(&id, Some(&moderator)).await,
            StatusCode::OK
        );
    }
    assert_eq!(app.download_status(&id, Some(&alice)).await, StatusCode::OK);
    let (_, after) = json(app.get_item(&id, Some(&alice)).await).await;
    assert_eq!(after["download_count"], 0);

    let (status, _) = app.decide(&id, &moderator, "restore", "fine").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.download_status(&id, None).await, StatusCode::OK);
    let (_, after) = json(app.get_item(&id, Some(&alice)).await).await;
    assert_eq!(after["download_count"], 1);
    let (status, _) = app
        .decide(&id, &moderator, "restore", "nothing to do")
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}
on_both_backends!(a_blocked_clip_is_hidden_and_moderators_download_without_counting);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_moderators_get_403_on_every_moderation_route() {
    let app = spawn_app(Backend::Sqlite).await;
    let alice = app.alice();
    let id = app.clean_clip(&alice, "hello.wav").await;
    let everything = app.key("alice", &["voice:read", "voice:create", "voice:delete"]);
    let routes: Vec<(reqwest::Method, String, Option<Value>)> = vec![
        (
            reqwest::Method::GET,
            "/api/v1/moderation/reports".into(),
            None,
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/moderation/items/{id}/block"),
            Some(json!({"reason": "x"})),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/moderation/items/{id}/restore"),
            Some(json!({"reason": "x"})),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/moderation/items/{id}/remove"),
            Some(json!({"reason": "x"})),
        ),
    ];
    for (method, path, body) in routes {
        for key in [Some(everything.as_str()), None] {
            let mut req = app.client.request(method.clone(), app.url(&path));
            if let Some(body) = &body {
                req = req.json(body);
            }
            if let Some(key) = key {
                req = req.bearer_auth(key);
            }
            let res = req.send().await.unwrap();
            let expected = if key.is_some() {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::UNAUTHORIZED
            };
            assert_eq!(res.status(), expected, "{method} {path}");
            assert_eq!(res.headers()["content-type"], "application/problem+json");
            let problem: Value = res.json().await.unwrap();
            if key.is_some() {
                assert_eq!(problem["required_scope"], "voice:moderate");
            }
        }
    }
    // Nothing changed.
    assert_eq!(app.event_types(&id).await, ["Uploaded", "ScanCompleted"]);
    assert_eq!(app.get_item(&id, None).await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_reports_and_bad_decisions_change_nothing() {
    let app = spawn_app(Backend::Sqlite).await;
    let alice = app.alice();
    let moderator = app.key("mod", MODERATE);
    let id = app.clean_clip(&alice, "hello.wav").await;
    let cases = [
        json!({"reason": "boring"}),
        json!({"reason": 7}),
        json!({}),
        json!({"reason": "spam", "note": "x".repeat(1001)}),
        json!({"reason": "spam", "note": "bell\u{7}"}),
        json!({"reason": "spam", "extra": true}),
    ];
    for body in cases {
        let (status, problem) = app.report(&id, None, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {problem}");
        assert_eq!(problem["status"], 400);
    }
    let (status, _) = app
        .report("AAAAAAAAAAAAAAAA", None, json!({"reason": "spam"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, problem) = app
        .report(&id, Some(&alice), json!({"reason": "spam"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    for reason in ["", "   ", &"x".repeat(501)] {
        let (status, problem) = app.decide(&id, &moderator, "block", reason).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
        assert_eq!(problem["field"], "reason");
    }
    let (status, _) = app
        .decide("AAAAAAAAAAAAAAAA", &moderator, "block", "x")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(app.event_types(&id).await, ["Uploaded", "ScanCompleted"]);
    let (status, _) = app.queue(&moderator, &[("cursor", "garbage")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app.queue(&moderator, &[("reason", "boring")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_are_rate_limited_per_address_and_per_account() {
    let app = spawn_app_with(
        Backend::Sqlite,
        Options {
            moderation: ModerationSettings {
                hide_threshold: 0,
                reports_per_hour_per_ip: 3,
                reports_per_hour_per_account: 2,
                trust_forwarded_for: false,
            },
            ..Options::default()
        },
    )
    .await;
    let alice = app.alice();
    let bob = app.key("bob", &["voice:read"]);
    let mut clips = Vec::new();
    for name in ["hello.wav", "hello.ogg", "hello.mp3", "hello.flac"] {
        clips.push(app.clean_clip(&alice, name).await);
    }
    // Bob's account allows two reports an hour.
    for clip in &clips[..2] {
        assert_eq!(
            app.report(clip, Some(&bob), json!({"reason": "spam"}))
                .await
                .0,
            StatusCode::ACCEPTED
        );
    }
    let res = app
        .client
        .post(app.url(&format!("/api/v1/items/{}/reports", clips[2])))
        .bearer_auth(&bob)
        .json(&json!({"reason": "spam"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry));
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["type"], "urn:voicebin:problem:too-many-requests");
    assert_eq!(
        app.event_types(&clips[2]).await,
        ["Uploaded", "ScanCompleted"]
    );
    // This address has made three reports; the fourth is refused even without an account.
    let (status, _) = app.report(&clips[3], None, json!({"reason": "spam"})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        app.event_types(&clips[3]).await,
        ["Uploaded", "ScanCompleted"]
    );
}

/// Reports allowed per hour per address and per account; no hiding.
fn report_limits(per_ip: u32, per_account: u32) -> Options {
    Options {
        moderation: ModerationSettings {
            hide_threshold: 0,
            reports_per_hour_per_ip: per_ip,
            reports_per_hour_per_account: per_account,
            trust_forwarded_for: false,
        },
        ..Options::default()
    }
}

/// An hour in milliseconds, the unit of the shared allowance.
const HOUR_MS: i64 = 3_600_000;

/// How many of `attempts` takes on `key` at `at_ms` the shared allowance lets through.
async fn taken(limits: &dyn RateLimits, key: &str, rate: Rate, at_ms: i64, attempts: u32) -> u32 {
    let mut taken = 0;
    for _ in 0..attempts {
        if limits.take(key, rate, at_ms).await.unwrap().is_taken() {
            taken += 1;
        }
    }
    taken
}

on_both_backends!(the_report_allowance_has_no_window_edge_to_burst_across);
async fn the_report_allowance_has_no_window_edge_to_burst_across(backend: Backend) {
    let app = spawn_app(backend).await;
    let limits = app.rate_limits.as_ref();
    let rate = Rate::per(3, HOUR_MS).unwrap();
    // A moment on an hour boundary, which a fixed hourly window restarts at (in the future,
    // where the app's own forgetting of full buckets, at the real time, leaves it alone).
    let edge = 4_900_000 * HOUR_MS;
    let key = "report:ip:edge";

    // Three at once is the allowance; a burst at the end of one hour and another at the start
    // of the next get three in all, not six.
    assert_eq!(taken(limits, key, rate, edge - 1_000, 10).await, 3);
    assert_eq!(taken(limits, key, rate, edge, 10).await, 0);
    assert_eq!(taken(limits, key, rate, edge + 1_000, 10).await, 0);
    match limits.take(key, rate, edge + 1_000).await.unwrap() {
        // The next report is possible 20 minutes after the burst, not at the next hour.
        Take::Refused { retry_after_ms } => assert_eq!(retry_after_ms, HOUR_MS / 3 - 2_000),
        Take::Taken { .. } => panic!("the allowance is used up"),
    }
    // Then one per 20 minutes: three an hour in the long run.
    assert_eq!(
        taken(limits, key, rate, edge - 1_000 + HOUR_MS / 3, 10).await,
        1
    );
    assert_eq!(
        taken(limits, key, rate, edge - 1_000 + 2 * HOUR_MS / 3, 10).await,
        1
    );
    assert_eq!(
        taken(limits, key, rate, edge - 2_000 + HOUR_MS, 10).await,
        0
    );
    // Left alone for an hour, the allowance is whole again, and that key's row can go.
    let later = edge + 3 * HOUR_MS;
    assert!(limits.purge_full(later).await.unwrap() >= 1);
    assert_eq!(taken(limits, key, rate, later, 10).await, 3);
    // Other keys have their own allowance.
    assert_eq!(taken(limits, "report:ip:other", rate, edge, 10).await, 3);
}

on_both_backends!(concurrent_reports_through_two_replicas_never_exceed_the_allowance);
async fn concurrent_reports_through_two_replicas_never_exceed_the_allowance(backend: Backend) {
    let app = spawn_app_with(backend, report_limits(4, 0)).await;
    let (replica, _replica_tasks) = spawn_replica(&app).await;
    let alice = app.alice();
    let clips = [
        app.clean_clip(&alice, "hello.wav").await,
        app.clean_clip(&alice, "hello.ogg").await,
    ];
    // Twenty anonymous reports from this one address at once, half through each replica.
    let reports = (0..20).map(|i| {
        let base = if i % 2 == 0 { &app.base } else { &replica };
        let url = format!("{base}/api/v1/items/{}/reports", clips[i % 4 / 2]);
        let client = app.client.clone();
        async move {
            client
                .post(url)
                .json(&json!({"reason": "spam"}))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let statuses = futures::future::join_all(reports).await;
    let accepted = statuses
        .iter()
        .filter(|s| **s == StatusCode::ACCEPTED)
        .count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((accepted, limited), (4, 16), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reporting_ones_own_clip_is_refused_without_using_the_allowance() {
    let app = spawn_app_with(Backend::Sqlite, report_limits(2, 2)).await;
    let alice = app.alice();
    let bob = app.key("bob", &["voice:read", "voice:create"]);
    let own = app.clean_clip(&alice, "hello.wav").await;
    let bobs = app.clean_clip(&bob, "hello.ogg").await;
    for _ in 0..3 {
        let (status, problem) = app
            .report(&own, Some(&alice), json!({"reason": "spam"}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    }
    // Neither alice's account nor this address has used any of its two reports.
    for _ in 0..2 {
        let (status, problem) = app
            .report(&bobs, Some(&alice), json!({"reason": "spam"}))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{problem}");
    }
    let (status, _) = app
        .report(&bobs, Some(&alice), json!({"reason": "spam"}))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.event_types(&own).await, ["Uploaded", "ScanCompleted"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_is_grouped_oldest_first_filtered_and_paged() {
    let app = spawn_app_with(Backend::Sqlite, with_threshold(0)).await;
    let alice = app.alice();
    let moderator = app.key("mod", MODERATE);
    let reporters: Vec<String> = (0..3)
        .map(|i| app.key(&format!("r{i}"), &["voice:read"]))
        .collect();
    let mut clips = Vec::new();
    for name in ["hello.wav", "hello.ogg", "hello.mp3"] {
        clips.push(app.clean_clip(&alice, name).await);
    }
    // clips[0]: spam ×2; clips[1]: copyright; clips[2]: spam — filed in that order.
    let filed = [
        (0, 0, "spam"),
        (1, 0, "copyright"),
        (0, 1, "spam"),
        (2, 2, "spam"),
    ];
    for (clip, reporter, reason) in filed {
        let (status, _) = app
            .report(
                &clips[clip],
                Some(&reporters[reporter]),
                json!({"reason": reason}),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["clip"]["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, all) = app.queue(&moderator, &[]).await;
    assert_eq!(ids(&all), clips);
    assert_eq!(all["items"][0]["report_count"], 2);
    let (_, spam) = app.queue(&moderator, &[("reason", "spam")]).await;
    assert_eq!(ids(&spam), [clips[0].clone(), clips[2].clone()]);
    let (_, copyright) = app.queue(&moderator, &[("reason", "copyright")]).await;
    assert_eq!(ids(&copyright), [clips[1].clone()]);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("limit", "1".to_owned())];
        if let Some(c) = &cursor {
            query.push(("cursor", c.clone()));
        }
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, page) = app.queue(&moderator, &query).await;
        assert_eq!(status, StatusCode::OK);
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, clips);

    // Deciding on one clip closes its reports: it leaves the open queue.
    app.decide(&clips[0], &moderator, "restore", "ok").await;
    let (_, open) = app.queue(&moderator, &[]).await;
    assert_eq!(ids(&open), [clips[1].clone(), clips[2].clone()]);
    let (_, both) = app.queue(&moderator, &[("state", "all")]).await;
    assert_eq!(ids(&both), clips);
    // Deleting a clip closes its reports too.
    app.delete_item(&clips[1], &alice).await;
    let (_, open) = app.queue(&moderator, &[]).await;
    assert_eq!(ids(&open), [clips[2].clone()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_abuse_page_form_files_a_report() {
    let app = spawn_app(Backend::Sqlite).await;
    let alice = app.alice();
    let id = app.clean_clip(&alice, "hello.wav").await;
    let page = app
        .client
        .get(app.url(&format!("/abuse?clip={id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("form-action 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<form method="post" action="/abuse">"#));
    assert!(html.contains(&format!(r#"value="{id}""#)));
    assert!(html.contains(r#"<option value="illegal_content">"#));

    let post =
        |form: Vec<(&'static str, String)>| app.client.post(app.url("/abuse")).form(&form).send();
    let res = post(vec![
        ("clip", app.url(&format!("/{id}"))),
        ("reason", "copyright".into()),
        ("note", "my song <b>".into()),
    ])
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert!(res.text().await.unwrap().contains("Thank you"));
    assert_eq!(
        app.event_types(&id).await,
        ["Uploaded", "ScanCompleted", "Reported",]
    );
    let moderator = app.key("mod", MODERATE);
    let (_, queue) = app.queue(&moderator, &[]).await;
    assert_eq!(queue["items"][0]["reports"][0]["note"], "my song <b>");
    assert_eq!(queue["items"][0]["reports"][0]["reason"], "copyright");

    let res = post(vec![("clip", id.clone()), ("reason", "boring".into())])
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let html = res.text().await.unwrap();
    assert!(html.contains("Report not sent") && html.contains("<form"));
    let res = post(vec![("clip", "<script>".into()), ("reason", "spam".into())])
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(!res.text().await.unwrap().contains("<script>"));
    // Another site's page cannot file reports from its visitors' browsers.
    let res = app
        .client
        .post(app.url("/abuse"))
        .header("origin", "https://evil.example")
        .form(&[("clip", id.as_str()), ("reason", "spam")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app
        .client
        .post(app.url("/abuse"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("clip={id}&reason=spam&note={}", "x".repeat(20_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.event_count(&id).await, 3);
}

async fn an_expired_clips_open_reports_are_closed_as_expired(backend: Backend) {
    let app = spawn_app_with(backend, with_threshold(0)).await;
    let alice = app.alice();
    let moderator = app.key("mod", MODERATE);
    let id = app
        .upload_ok(&alice, fixture("hello.wav"), &[("x-expires-in", "PT1H")])
        .await;
    assert_eq!(app.wait_scanned(&id, &alice).await["scan_state"], "clean");
    let (status, body) = app.report(&id, None, json!({"reason": "spam"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (_, open) = app.queue(&moderator, &[]).await;
    assert_eq!(open["items"][0]["clip"]["id"], id.as_str(), "{open}");

    // Its owner brings the expiry forward to a moment from now; once it has passed, the sweeper
    // records it, and nothing is left to decide.
    let soon = chrono::Utc::now() + chrono::Duration::seconds(2);
    let (status, body) = json(
        app.patch_item(&id, &alice, json!({"expires_at": soon.to_rfc3339()}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sweeper = crate::expiry::replica_sweeper(&app).await;
    let mut swept = false;
    for _ in 0..200 {
        if chrono::Utc::now() > soon && sweeper.sweep_once(chrono::Utc::now()).await.expired == 1 {
            swept = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(swept, "{:?}", app.event_types(&id).await);
    let (_, open) = app.queue(&moderator, &[]).await;
    assert_eq!(open["items"], json!([]), "{open}");
    let (_, resolved) = app.queue(&moderator, &[("state", "resolved")]).await;
    assert_eq!(
        resolved["items"][0]["clip"]["id"],
        id.as_str(),
        "{resolved}"
    );
    assert_eq!(
        resolved["items"][0]["reports"][0]["resolution"], "expired",
        "{resolved}"
    );
}
on_both_backends!(an_expired_clips_open_reports_are_closed_as_expired);
