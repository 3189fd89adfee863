use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{fixture, json, spawn_app, Backend, ALL_SCOPES};
use crate::on_both_backends;

async fn ids_of(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn listing_is_newest_first_searchable_and_private(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.alice();
    let bob = app.key("bob", ALL_SCOPES);
    let a = app
        .upload_ok(
            &alice,
            fixture("hello.ogg"),
            &[("x-title", "Morning Standup")],
        )
        .await;
    let b = app
        .upload_ok(
            &alice,
            fixture("hello.ogg"),
            &[("x-description", "notes about 50%_off deals")],
        )
        .await;
    let c = app
        .upload_ok(
            &alice,
            fixture("hello.ogg"),
            &[("x-filename", "podcast-ep1.ogg")],
        )
        .await;
    app.upload_ok(&bob, fixture("hello.ogg"), &[("x-title", "Morning bob")])
        .await;

    let (status, page) = json(app.list(&alice, &[]).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids_of(&page).await, [c.clone(), b.clone(), a.clone()]);
    assert!(page["items"][0]["scan_state"].as_str().is_some());

    let (_, page) = json(app.list(&alice, &[("q", "morning")]).await).await;
    assert_eq!(ids_of(&page).await, [a.as_str()]);
    let (_, page) = json(app.list(&alice, &[("q", "50%_OFF")]).await).await;
    assert_eq!(ids_of(&page).await, [b.as_str()]);
    // Search is by words (docs/adr/0017-speech-search.md): punctuation alone finds nothing
    // to search for.
    let (status, body) = json(app.list(&alice, &[("q", "%")]).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "q");
    let (_, page) = json(app.list(&alice, &[("q", "PODCAST")]).await).await;
    assert_eq!(ids_of(&page).await, [c.as_str()]);
    let (_, page) = json(app.list(&bob, &[("q", "standup")]).await).await;
    assert!(ids_of(&page).await.is_empty());
}
on_both_backends!(listing_is_newest_first_searchable_and_private);

async fn pagination_has_no_duplicates_or_gaps_while_clips_are_added(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.alice();
    let mut uploaded = Vec::new();
    for i in 0..7 {
        uploaded.push(
            app.upload_ok(
                &alice,
                fixture("hello.ogg"),
                &[("x-title", &format!("clip {i}"))],
            )
            .await,
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut added_during = Vec::new();
    loop {
        let mut query = vec![("limit", "3".to_owned())];
        if let Some(c) = &cursor {
            query.push(("cursor", c.clone()));
        }
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, page) = json(app.list(&alice, &query).await).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let ids = ids_of(&page).await;
        assert!(ids.len() <= 3);
        seen.extend(ids);
        // New clips arrive between page fetches; they are newer than the cursor, so they must
        // not shift later pages.
        added_during.push(app.upload_ok(&alice, fixture("hello.ogg"), &[]).await);
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "duplicates in {seen:?}");
    let mut expected = uploaded.clone();
    expected.reverse();
    assert_eq!(seen, expected);
    let (_, page) = json(app.list(&alice, &[("limit", "100")]).await).await;
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        uploaded.len() + added_during.len()
    );
}
on_both_backends!(pagination_has_no_duplicates_or_gaps_while_clips_are_added);

#[tokio::test]
async fn bad_listing_parameters_are_400_problems() {
    let app = spawn_app(Backend::Sqlite).await;
    let alice = app.alice();
    let long_q = "q".repeat(201);
    for query in [
        vec![("limit", "0")],
        vec![("limit", "101")],
        vec![("limit", "ten")],
        vec![("limit", "-1")],
        vec![("cursor", "garbage!")],
        vec![("cursor", "MTIzOmFiYw")],
        vec![("q", long_q.as_str())],
    ] {
        let (status, body) = json(app.list(&alice, &query).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query:?}: {body}");
        assert_eq!(body["status"], 400);
        // The handler's own checks name the field, as every validation error does.
        if query[0].0 != "limit" {
            assert_eq!(body["field"], query[0].0, "{query:?}: {body}");
        }
    }
}
