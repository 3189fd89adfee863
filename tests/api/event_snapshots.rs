//! Aggregate snapshots: the command side stores one every 100 events and loads clips from it.

use cqrs_es::persist::PersistedEventStore;
use cqrs_es::EventStore;
use reqwest::StatusCode;
use serde_json::json;
use voicebin::Database;
use voicebin_domain::Clip;

use crate::helpers::{fixture, spawn_app, Backend, TestApp};
use crate::on_both_backends;

async fn download(app: &TestApp, id: &str) -> StatusCode {
    let res = app
        .client
        .get(app.url(&format!("/{id}/download")))
        .send()
        .await
        .unwrap();
    let status = res.status();
    res.bytes().await.unwrap();
    status
}

async fn download_times(app: &TestApp, id: &str, n: usize) {
    for i in 0..n {
        let status = download(app, id).await;
        let events = app.event_count(id).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "download {i} of {n}, {events} events"
        );
    }
}

/// `(last_sequence, current_snapshot)` of every snapshot row of the clip.
async fn snapshot_rows(app: &TestApp, id: &str) -> Vec<(i64, i64)> {
    let sql = "SELECT last_sequence, current_snapshot FROM snapshots \
               WHERE aggregate_type = 'Clip' AND aggregate_id = $1";
    match &app.database {
        Database::Sqlite(pool) => sqlx::query_as(sql).bind(id).fetch_all(pool).await.unwrap(),
        Database::Postgres(pool) => sqlx::query_as(sql).bind(id).fetch_all(pool).await.unwrap(),
    }
}

/// The clip as the command side loads it (snapshot plus later events), and as a full replay
/// of its events rebuilds it, with the sequence each load ends at.
async fn loaded_both_ways(app: &TestApp, id: &str) -> ((Clip, usize), (Clip, usize)) {
    match &app.database {
        Database::Sqlite(pool) => {
            let snapshots = voicebin_commands::sqlite_event_store(pool.clone());
            let replay = PersistedEventStore::<_, Clip>::new_event_store(
                sqlite_es::SqliteEventRepository::new(pool.clone()),
            );
            let a = snapshots.load_aggregate(id).await.unwrap();
            let b = replay.load_aggregate(id).await.unwrap();
            (
                (a.aggregate, a.current_sequence),
                (b.aggregate, b.current_sequence),
            )
        }
        Database::Postgres(pool) => {
            let snapshots = voicebin_commands::postgres_event_store(pool.clone());
            let replay = PersistedEventStore::<_, Clip>::new_event_store(
                postgres_es::PostgresEventRepository::new(pool.clone()),
            );
            let a = snapshots.load_aggregate(id).await.unwrap();
            let b = replay.load_aggregate(id).await.unwrap();
            (
                (a.aggregate, a.current_sequence),
                (b.aggregate, b.current_sequence),
            )
        }
    }
}

async fn a_clip_with_hundreds_of_events_is_loaded_from_a_snapshot_equal_to_a_full_replay(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let alice = app.alice();
    let id = app
        .upload_ok(
            &alice,
            fixture("hello.ogg"),
            &[("x-download-limit", "1000")],
        )
        .await;
    app.wait_scanned(&id, &alice).await;
    assert_eq!(app.event_count(&id).await, 2, "Uploaded, ScanCompleted");

    // Up to event 99; then one edit writes events 100 and 101, straddling the first snapshot.
    download_times(&app, &id, 97).await;
    assert_eq!(app.event_count(&id).await, 99);
    assert!(snapshot_rows(&app, &id).await.is_empty());
    let res = app
        .patch_item(&id, &alice, json!({"title": "hot", "download_limit": 260}))
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(app.event_count(&id).await, 101);
    assert_eq!(snapshot_rows(&app, &id).await, vec![(101, 1)]);

    // Downloads up to the new limit of 260 (events from 102 on, the second snapshot at 200),
    // then the limit, which came in the same commit as the first snapshot, refuses more.
    let mut refused = None;
    for _ in 0..200 {
        let status = download(&app, &id).await;
        if status != StatusCode::OK {
            refused = Some(status);
            break;
        }
    }
    assert_eq!(refused, Some(StatusCode::GONE));
    let events = app.event_count(&id).await;
    // Exactly the limit: 97 + 163 downloads, after Uploaded, ScanCompleted and the two edits.
    assert_eq!(events, 264);
    assert_eq!(snapshot_rows(&app, &id).await, vec![(200, 2)]);

    let ((from_snapshot, snapshot_seq), (replayed, replay_seq)) = loaded_both_ways(&app, &id).await;
    assert_eq!(from_snapshot, replayed);
    assert_eq!(
        (snapshot_seq, replay_seq),
        (events as usize, events as usize)
    );
    assert_eq!(from_snapshot.download_count(), 260);
}
on_both_backends!(a_clip_with_hundreds_of_events_is_loaded_from_a_snapshot_equal_to_a_full_replay);
