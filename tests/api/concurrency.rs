use reqwest::StatusCode;

use crate::helpers::{fixture, json, spawn_app, Backend};
use crate::on_both_backends;

async fn concurrent_patches_are_all_applied(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.alice();
    let id = app.upload_ok(&alice, fixture("hello.ogg"), &[]).await;
    app.wait_scanned(&id, &alice).await;
    let before = app.event_count(&id).await;

    // Sixteen writers race on one clip: each sets a distinct title, and one changes only the
    // description. Every PATCH must succeed (conflicts are retried) and be recorded.
    let mut tasks = Vec::new();
    for i in 0..16 {
        let client = app.client.clone();
        let url = app.url(&format!("/api/v1/items/{id}"));
        let key = alice.clone();
        let body = if i == 0 {
            serde_json::json!({"description": "set by the racer"})
        } else {
            serde_json::json!({"title": format!("title {i}")})
        };
        tasks.push(tokio::spawn(async move {
            client
                .patch(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    let after = app.event_count(&id).await;
    assert_eq!(after - before, 16, "one event per PATCH");
    let (_, owner) = json(app.get_item(&id, Some(&alice)).await).await;
    assert_eq!(owner["description"], "set by the racer");
    assert!(owner["title"].as_str().unwrap().starts_with("title "));
}
on_both_backends!(concurrent_patches_are_all_applied);
