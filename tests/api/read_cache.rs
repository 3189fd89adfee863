//! Reads without credentials answered from views read moments ago (ADR 0026): whatever is
//! cached stays correct. Another replica's delete, removal, used-up limit or expiry is honoured
//! once the longest age an entry is served at has passed, and the owner sees their own change
//! at once on every replica; the public metadata document written of a view (ADR 0028) is
//! never sent for a newer one.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{fixture, json, spawn_app, spawn_replica, Backend, TestApp};
use crate::on_both_backends;

/// The longest age a cached view is served at (`voicebin_projections::RecentViews`'s cap, and
/// the contract: one second).
const MAX_AGE: Duration = Duration::from_secs(1);

/// Hits of `base`'s read cache so far, from its `/metrics`.
async fn hits(app: &TestApp, base: &str) -> u64 {
    let text = app
        .client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with("voicebin_read_cache_lookups_total{outcome=\"hit\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0, |v| v.parse().unwrap())
}

/// Status of an anonymous GET of `path` on `base`.
async fn public(app: &TestApp, base: &str, path: &str) -> StatusCode {
    app.client
        .get(format!("{base}{path}"))
        .send()
        .await
        .unwrap()
        .status()
}

/// Reads `path` anonymously on `base` until a read is answered from the cache (so the replica
/// holds the clip's view as it is now): the premise of every check below.
async fn cached_on(app: &TestApp, base: &str, path: &str, expect: StatusCode) {
    for _ in 0..20 {
        let before = hits(app, base).await;
        assert_eq!(public(app, base, path).await, expect, "{path} on {base}");
        assert_eq!(public(app, base, path).await, expect, "{path} on {base}");
        if hits(app, base).await > before {
            return;
        }
    }
    panic!("{base} never answered {path} from its cache");
}

async fn clean(app: &TestApp, headers: &[(&str, &str)]) -> String {
    let alice = app.alice();
    let id = app.upload_ok(&alice, fixture("hello.ogg"), headers).await;
    app.wait_scanned(&id, &alice).await;
    id
}

async fn every_replica_honours_changes_within_a_second_and_owners_see_theirs_at_once(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (replica, _replica_tasks) = spawn_replica(&app).await;
    let alice = app.alice();
    let moderator = app.key("mod", &["voice:moderate"]);
    let item = |id: &str| format!("/api/v1/items/{id}");

    // The owner's edit on one replica shows to the owner on the other at once, though that
    // replica answers the public from what it read before the edit.
    let edited = clean(&app, &[("x-title", "before")]).await;
    cached_on(&app, &replica, &item(&edited), StatusCode::OK).await;
    let res = app
        .patch_item(&edited, &alice, json!({ "title": "after" }))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let owner = app
        .client
        .get(format!("{replica}{}", item(&edited)))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    let (status, owner) = json(owner).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(owner["title"], "after", "the owner saw a cached view");
    // The replica that made the change forgets what it had read at once.
    let (_, here) = json(app.get_item(&edited, None).await).await;
    assert_eq!(here["title"], "after");

    // A delete, a removal and a used-up limit on one replica, each of a clip the other replica
    // had just read: a second later the other refuses it to the public too.
    let deleted = clean(&app, &[]).await;
    let removed = clean(&app, &[]).await;
    let limited = clean(&app, &[("x-download-limit", "1")]).await;

    for id in [&deleted, &removed, &limited] {
        cached_on(&app, &replica, &item(id), StatusCode::OK).await;
        cached_on(&app, &replica, &format!("/{id}"), StatusCode::OK).await;
    }
    assert_eq!(
        app.delete_item(&deleted, &alice).await.status(),
        StatusCode::NO_CONTENT
    );
    let res = app
        .client
        .post(app.url(&format!("/api/v1/moderation/items/{removed}/remove")))
        .bearer_auth(&moderator)
        .json(&json!({ "reason": "copyright takedown" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .client
        .get(app.url(&format!("/{limited}/download")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // A download on the other replica is counted through the clip itself: refused at once.
    let res = app
        .client
        .get(format!("{replica}/{limited}/download"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::GONE,
        "the used-up limit on the replica"
    );

    tokio::time::sleep(MAX_AGE).await;
    // The public document the replica wrote of the edited clip's old view (ADR 0028) is not
    // sent for its new one.
    let (status, seen) = json(
        app.client
            .get(format!("{replica}{}", item(&edited)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        seen["title"], "after",
        "the public got the document of an old view a second later"
    );
    for id in [&deleted, &removed, &limited] {
        for path in [item(id), format!("/{id}"), format!("/{id}/download")] {
            let status = public(&app, &replica, &path).await;
            assert!(
                status == StatusCode::GONE || status == StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS,
                "{path} on the replica a second later: {status}"
            );
        }
    }

    // Expiry needs no message at all: the replica, having read the clip moments before it
    // expires, refuses it from the moment it does.
    let expiring = app
        .upload_ok(&alice, fixture("hello.wav"), &[("x-expires-in", "4")])
        .await;
    app.wait_scanned(&expiring, &alice).await;
    let (_, owner) = json(app.get_item(&expiring, Some(&alice)).await).await;
    let expires_at = chrono::DateTime::parse_from_rfc3339(owner["expires_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    let until =
        |at: chrono::DateTime<chrono::Utc>| (at - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(until(expires_at - chrono::Duration::milliseconds(300))).await;
    cached_on(&app, &replica, &item(&expiring), StatusCode::OK).await;
    tokio::time::sleep(until(expires_at) + Duration::from_millis(20)).await;
    assert_eq!(
        public(&app, &replica, &item(&expiring)).await,
        StatusCode::GONE
    );
}
on_both_backends!(every_replica_honours_changes_within_a_second_and_owners_see_theirs_at_once);
