//! Nothing acknowledged is lost when a process stops at the wrong moment.

use std::time::Duration;

use bytes::Bytes;
use secrecy::SecretString;
use voicebin::{build, Database, IssuerSettings, Settings, DEFAULT_MAX_UPLOAD_BYTES};
use voicebin_commands::UploadRequest;
use voicebin_domain::{AccountId, ScanState};

use crate::helpers::{fixture, fresh_postgres_database, Backend};
use crate::on_both_backends;

fn upload_request() -> UploadRequest {
    UploadRequest {
        owner: AccountId::parse("alice").unwrap(),
        title: None,
        description: None,
        filename: None,
        download_limit: None,
        lifetime: None,
        request_id: None,
        declared_bytes: None,
        max_bytes: None,
    }
}

async fn wait_for_state(views: &dyn voicebin_projections::ReadStore, id: &str) -> ScanState {
    for _ in 0..200 {
        if let Some(view) = views.get(id).await.unwrap() {
            if view.scan_state != ScanState::Pending {
                return view.scan_state;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{id} still pending after 10 s");
}

async fn pending_clips_left_by_a_stopped_process_are_scanned_after_restart(backend: Backend) {
    let data_dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        data_dir: data_dir.path().to_owned(),
        database_url: match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(SecretString::from(fresh_postgres_database().await)),
        },
        public_url: "http://127.0.0.1:9".into(),
        max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
        issuer: IssuerSettings::default(),
        site: Default::default(),
        moderation: Default::default(),
        s3: None,
        amqp: None,
        clamd: None,
        sweeper: Default::default(),
        lifetimes: Default::default(),
        expiry: Default::default(),

        sandbox: crate::helpers::sandbox_settings(),

        rendition: Some(Default::default()),
        transcription: None,
        quotas: Default::default(),
        rate_limits: Default::default(),
        anonymous: Default::default(),
        resumable: Default::default(),
        read_cache: Default::default(),
        download_buffer_bytes: voicebin_commands::ReadBudget::DEFAULT_BYTES as u64,
        s3_cache_bytes: 0,
    };

    // First process: accepts two uploads but never runs its background tasks, as if killed
    // right after answering 201. For the second clip the projection is lost too (a crash between
    // the event commit and the read-model write).
    let first = build(&settings).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let body =
            futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from(fixture("hello.ogg")))]);
        let id = first
            .state
            .service
            .upload(upload_request(), Box::pin(body))
            .await
            .unwrap();
        ids.push(id.into_inner());
    }
    let forget = "DELETE FROM clip_views WHERE id = $1";
    match &first.database {
        Database::Sqlite(pool) => {
            sqlx::query(forget)
                .bind(&ids[1])
                .execute(pool)
                .await
                .unwrap();
        }
        Database::Postgres(pool) => {
            sqlx::query(forget)
                .bind(&ids[1])
                .execute(pool)
                .await
                .unwrap();
        }
    }
    assert!(first.state.views.get(&ids[1]).await.unwrap().is_none());
    drop(first);

    // Second process on the same store: repairs the view and scans both clips.
    let second = build(&settings).await.unwrap();
    let views = second.state.views.clone();
    let _background = second.background.start();
    for id in &ids {
        assert_eq!(wait_for_state(views.as_ref(), id).await, ScanState::Clean);
    }
}
on_both_backends!(pending_clips_left_by_a_stopped_process_are_scanned_after_restart);

#[tokio::test]
async fn the_sweeper_removes_orphaned_deleted_and_removed_blobs_and_keeps_live_ones() {
    use voicebin_workers::{BlobSweeper, SweeperSettings};
    let app = crate::helpers::spawn_app(Backend::Sqlite).await;
    let alice = app.alice();
    let live = app.upload_ok(&alice, fixture("hello.ogg"), &[]).await;
    let deleted = app.upload_ok(&alice, fixture("hello.flac"), &[]).await;
    app.wait_scanned(&deleted, &alice).await;
    assert_eq!(app.delete_item(&deleted, &alice).await.status(), 204);
    let removed = app.upload_ok(&alice, fixture("hello.mp3"), &[]).await;
    app.wait_scanned(&removed, &alice).await;
    let res = app
        .client
        .post(app.url(&format!("/api/v1/moderation/items/{removed}/remove")))
        .bearer_auth(app.key("mod", &["voice:moderate"]))
        .json(&serde_json::json!({"reason": "takedown"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let blobs_dir = app.data_dir.path().join("blobs/clips");
    // Purges that failed (the blobs came back), and bytes stored by a process that died
    // before recording the upload.
    std::fs::write(blobs_dir.join(&deleted), b"left over").unwrap();
    std::fs::write(blobs_dir.join(&removed), b"left over").unwrap();
    std::fs::write(blobs_dir.join("AAAAAAAAAAAAAAAA"), b"orphan").unwrap();

    let settings = voicebin::Settings::embedded(app.data_dir.path().to_owned(), app.base.clone());
    let database = voicebin::Database::connect(&settings.data_dir, None)
        .await
        .unwrap();
    let (_, log) = database.projections();
    let blobs = std::sync::Arc::new(
        voicebin_commands::LocalBlobStore::open(app.data_dir.path().join("blobs"))
            .await
            .unwrap(),
    );
    let young = BlobSweeper::new(blobs.clone(), log.clone(), SweeperSettings::default());
    assert_eq!(
        young.sweep_once().await,
        0,
        "blobs inside the grace period were swept"
    );
    let sweeper = BlobSweeper::new(
        blobs,
        log,
        SweeperSettings {
            grace: Duration::ZERO,
            ..SweeperSettings::default()
        },
    );
    assert_eq!(sweeper.sweep_once().await, 3);
    assert!(blobs_dir.join(&live).exists());
    assert!(!blobs_dir.join(&deleted).exists());
    assert!(!blobs_dir.join(&removed).exists());
    assert!(!blobs_dir.join("AAAAAAAAAAAAAAAA").exists());
}
