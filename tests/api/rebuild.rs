use crate::helpers::{fixture, spawn_app, Backend, ALL_SCOPES};
use crate::on_both_backends;
use voicebin::Database;

async fn a_rebuild_from_events_equals_the_live_read_models(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.alice();
    let bob = app.key("bob", ALL_SCOPES);
    let mut ids = Vec::new();
    for (i, name) in ["hello.ogg", "hello.wav", "hello.mp3", "hello.flac"]
        .iter()
        .enumerate()
    {
        let key = if i % 2 == 0 { &alice } else { &bob };
        let id = app
            .upload_ok(key, fixture(name), &[("x-title", &format!("clip {i}"))])
            .await;
        app.wait_scanned(&id, key).await;
        ids.push((id, key.clone()));
    }
    app.patch_item(
        &ids[0].0,
        &alice,
        serde_json::json!({"title": "edited", "download_limit": 4}),
    )
    .await;
    app.delete_item(&ids[1].0, &bob).await;
    let mut damaged = fixture("hello.wav");
    damaged.truncate(44);
    let rejected = app.upload_ok(&alice, damaged, &[]).await;
    app.wait_scanned(&rejected, &alice).await;

    let (views, log) = app.database.projections();
    let live = views.all().await.unwrap();
    assert_eq!(live.len(), 5);

    // Wreck the read model, then rebuild it from the event store.
    let wreck = "UPDATE clip_views SET title = 'wrong', version = 0";
    match &app.database {
        Database::Sqlite(pool) => {
            sqlx::query(wreck).execute(pool).await.unwrap();
        }
        Database::Postgres(pool) => {
            sqlx::query(wreck).execute(pool).await.unwrap();
        }
    }
    assert_ne!(views.all().await.unwrap(), live);
    let stats = voicebin_projections::rebuild(log.as_ref(), views.as_ref())
        .await
        .unwrap();
    assert_eq!(stats.views, 5);
    assert_eq!(stats.events as i64, app.total_events().await);
    assert_eq!(
        views.all().await.unwrap(),
        live,
        "rebuilt rows differ from live rows"
    );
}
on_both_backends!(a_rebuild_from_events_equals_the_live_read_models);
