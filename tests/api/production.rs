//! Production mode end to end: PostgreSQL events, S3 blobs (moto), RabbitMQ scan jobs consumed
//! by a `voicebin worker`, ClamAV scanning — all real services started by `scripts/test`.

use std::time::Duration;

use rand::Rng;
use reqwest::StatusCode;
use secrecy::SecretString;
use voicebin::{AmqpSettings, ClamdSettings, Settings, Worker};
use voicebin_commands::S3Settings;

use crate::helpers::{fixture, fresh_postgres_database, json, spawn_with_settings, TestApp};

/// The EICAR test string, assembled here so no file in the repository carries it.
pub fn eicar() -> Vec<u8> {
    let mut s = String::from("X5O!P%@AP[4\\PZX54(P^)7CC)7}$");
    s.push_str("EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*");
    s.into_bytes()
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

pub(crate) async fn production_settings(
    data_dir: &std::path::Path,
    public_url: String,
) -> Settings {
    let suffix = format!(
        "{:012x}",
        rand::thread_rng().gen::<u64>() & 0xffff_ffff_ffff
    );
    let mut settings = Settings::embedded(data_dir.to_owned(), public_url);
    settings.database_url = Some(SecretString::from(fresh_postgres_database().await));
    settings.s3 = Some(S3Settings {
        endpoint: env_or("VOICEBIN_TEST_S3_ENDPOINT", "http://127.0.0.1:9090"),
        bucket: format!("vbtest-{suffix}"),
        region: "us-east-1".into(),
        access_key: "test".into(),
        secret_key: SecretString::from("test"),
    });
    settings.amqp = Some(AmqpSettings {
        url: SecretString::from(env_or(
            "VOICEBIN_TEST_AMQP_URL",
            "amqp://guest:guest@127.0.0.1:5672/%2f",
        )),
        queue: format!("vbtest.scan.{suffix}"),
    });
    settings.clamd = Some(ClamdSettings {
        addr: env_or("VOICEBIN_TEST_CLAMD_ADDR", "127.0.0.1:3311"),
        max_stream_bytes: 100 * 1024 * 1024,
    });
    settings.s3_cache_bytes = 64 * 1024 * 1024;
    settings
}

pub(crate) async fn spawn_production() -> TestApp {
    let app = spawn_with_settings(|dir, url| Box::pin(production_settings(dir, url))).await;
    let worker = Worker::build(&app.settings).await.expect("worker starts");
    tokio::spawn(async move {
        let _ = worker.run(2, std::future::pending()).await;
    });
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_upload_is_scanned_by_a_worker_and_served_from_s3() {
    let app = spawn_production().await;
    let alice = app.alice();
    let id = app.upload_ok(&alice, fixture("hello.flac"), &[]).await;
    let view = app.wait_scanned(&id, &alice).await;
    assert_eq!(view["scan_state"], "clean", "{view}");
    assert_eq!(view["codec"], "flac");
    // Nothing on local disk: the bytes live in S3.
    assert_eq!(app.blob_files(), (0, 0));
    let res = app
        .client
        .get(app.url(&format!("/{id}/download")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.bytes().await.unwrap().as_ref(),
        fixture("hello.flac").as_slice()
    );
    assert_eq!(app.event_types(&id).await, ["Uploaded", "ScanCompleted"]);

    let (status, ready) = json(app.client.get(app.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    for dependency in ["database", "blob_store", "clamd", "rabbitmq"] {
        assert_eq!(ready["checks"][dependency]["status"], "ok", "{ready}");
    }

    // Deleting purges the object from S3.
    let s3 = app.settings.s3.clone().unwrap();
    let store = voicebin_commands::S3BlobStore::connect(s3).await.unwrap();
    use voicebin_commands::BlobStore;
    let key = format!("clips/{id}");
    assert!(store.exists(&key).await.unwrap());
    assert_eq!(
        app.delete_item(&id, &alice).await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(
        !store.exists(&key).await.unwrap(),
        "deleted clip's object still in S3"
    );
}

/// A copy of clip `id` holding `bytes`, in the directory of any process under `s3-cache`.
fn copy_of(app: &TestApp, id: &str, bytes: &[u8]) -> Option<std::path::PathBuf> {
    std::fs::read_dir(app.settings.data_dir.join("s3-cache"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("clips").join(id))
        .find(|p| std::fs::read(p).ok().as_deref() == Some(bytes))
}

/// Waits (at most 10 s) for a copy of clip `id` holding `bytes`.
async fn copied(app: &TestApp, id: &str, bytes: &[u8]) -> std::path::PathBuf {
    for _ in 0..100 {
        if let Some(copy) = copy_of(app, id, bytes) {
            return copy;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("clip {id} was never copied");
}

/// ADR 0030: after its first download, a clip kept in S3 is copied to the local disk and the
/// next downloads are served from the copy; deleting the clip drops it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_from_s3_are_served_from_a_local_copy_until_the_clip_is_deleted() {
    use voicebin_commands::BlobStore;
    let app = spawn_production().await;
    let alice = app.alice();
    let bytes = fixture("hello.flac");
    let id = app.upload_ok(&alice, bytes.clone(), &[]).await;
    app.wait_scanned(&id, &alice).await;
    let url = app.url(&format!("/{id}/download"));
    let download = || async {
        let res = app.client.get(&url).send().await.unwrap();
        let status = res.status();
        (status, res.bytes().await.unwrap())
    };
    assert!(
        copy_of(&app, &id, &bytes).is_none(),
        "copied before any download"
    );
    assert_eq!(download().await, (StatusCode::OK, bytes.clone().into()));
    let copy = copied(&app, &id, &bytes).await;
    // The object gone from S3 behind the service's back: the copy still answers.
    let s3 = voicebin_commands::S3BlobStore::connect(app.settings.s3.clone().unwrap())
        .await
        .unwrap();
    s3.delete(&format!("clips/{id}")).await.unwrap();
    let (status, body) = download().await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.as_ref() == bytes.as_slice(), "the copy's bytes differ");
    assert_eq!(
        app.delete_item(&id, &alice).await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(!copy.exists(), "a deleted clip's copy is kept");
    assert_eq!(download().await.0, StatusCode::GONE);
}

/// Outcome 4 of the read caches (ADR 0026) with the copies (ADR 0030): a replica holding a
/// clip's copy and its view refuses the clip within a second of its deletion on another
/// replica, though the copy is still on its disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_with_a_copy_refuses_a_clip_deleted_elsewhere_within_a_second() {
    let app = spawn_production().await;
    let (replica, _replica_tasks) = crate::helpers::spawn_replica(&app).await;
    let alice = app.alice();
    let bytes = fixture("hello.flac");
    let id = app.upload_ok(&alice, bytes.clone(), &[]).await;
    app.wait_scanned(&id, &alice).await;
    let url = format!("{replica}/{id}/download");
    let get = || async {
        let res = app.client.get(&url).send().await.unwrap();
        (res.status(), res.bytes().await.unwrap())
    };
    assert_eq!(get().await, (StatusCode::OK, bytes.clone().into()));
    // Only the replica has downloaded the clip: its copy is the only one.
    copied(&app, &id, &bytes).await;
    // Served from the copy, with the view the replica read moments ago.
    assert_eq!(get().await, (StatusCode::OK, bytes.clone().into()));
    assert_eq!(
        app.delete_item(&id, &alice).await.status(),
        StatusCode::NO_CONTENT
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(
        copy_of(&app, &id, &bytes).is_some(),
        "the premise: the replica's copy is still on disk"
    );
    assert_eq!(
        get().await.0,
        StatusCode::GONE,
        "a deleted clip served from a copy"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eicar_carrying_upload_ends_infected_and_is_never_served() {
    let app = spawn_production().await;
    let alice = app.alice();
    let mut bytes = fixture("hello.wav");
    bytes.extend_from_slice(&eicar());
    let id = app.upload_ok(&alice, bytes, &[]).await;
    let view = app.wait_scanned(&id, &alice).await;
    assert_eq!(view["scan_state"], "infected", "{view}");
    assert!(
        view["scan_detail"].as_str().unwrap().contains("malware"),
        "{view}"
    );
    assert_eq!(
        app.get_item(&id, None).await.status(),
        StatusCode::NOT_FOUND
    );
    let res = app
        .client
        .get(app.url(&format!("/{id}/download")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // Redelivery or a second worker never records a second verdict.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.event_types(&id).await, ["Uploaded", "ScanCompleted"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alac_clip_gets_its_rendition_from_a_worker_through_rabbitmq_and_s3() {
    let app = spawn_production().await;
    let alice = app.alice();
    let original = fixture("hello-alac.m4a");
    let id = app.upload_ok(&alice, original.clone(), &[]).await;
    let view = app.wait_scanned(&id, &alice).await;
    assert_eq!(view["scan_state"], "clean", "{view}");
    // The serve process relays the job to `<scan queue>.rendition`; the worker makes it.
    let item = crate::renditions::wait_playback(&app, &id, &alice).await;
    assert_eq!(item["playback"]["content_type"], "audio/flac", "{item}");
    assert_eq!(
        app.event_types(&id).await,
        ["Uploaded", "ScanCompleted", "RenditionCompleted"]
    );
    // Both live in S3, nothing on local disk.
    assert_eq!(app.blob_files(), (0, 0));
    let s3 = app.settings.s3.clone().unwrap();
    let store = voicebin_commands::S3BlobStore::connect(s3).await.unwrap();
    use voicebin_commands::BlobStore;
    let rendition = format!("renditions/{id}");
    assert!(store.exists(&rendition).await.unwrap());
    let audio = app
        .client
        .get(app.url(&format!("/{id}/audio")))
        .header("range", "bytes=0-3")
        .send()
        .await
        .unwrap();
    assert_eq!(audio.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(audio.headers()["content-type"], "audio/flac");
    assert_eq!(audio.bytes().await.unwrap().as_ref(), b"fLaC");
    let download = app
        .client
        .get(app.url(&format!("/{id}/download")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        download.bytes().await.unwrap().as_ref(),
        original.as_slice()
    );
    // Deleting purges both objects.
    assert_eq!(
        app.delete_item(&id, &alice).await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(!store.exists(&rendition).await.unwrap());
    assert!(!store.exists(&format!("clips/{id}")).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clip_is_transcribed_by_a_worker_through_rabbitmq() {
    use voicebin_workers::stage::transcript::TranscribeSettings;
    let engine = crate::transcripts::engine(TranscribeSettings::DEFAULT_MAX_DURATION_MS);
    let app = spawn_with_settings(move |dir, url| {
        Box::pin(async move {
            let mut settings = production_settings(dir, url).await;
            settings.transcription = Some(engine);
            settings
        })
    })
    .await;
    let worker = Worker::build(&app.settings).await.expect("worker starts");
    tokio::spawn(async move {
        let _ = worker.run(2, std::future::pending()).await;
    });
    let alice = app.alice();
    let id = app.upload_ok(&alice, fixture("hello.ogg"), &[]).await;
    assert_eq!(app.wait_scanned(&id, &alice).await["scan_state"], "clean");
    // The serve process relays the job to `<scan queue>.transcript`; the worker runs the engine.
    let doc = crate::transcripts::settled_transcript(&app, &id, &alice).await;
    assert_eq!(doc["state"], "completed", "{doc}");
    let said = doc["segments"][0]["text"].as_str().unwrap();
    assert!(
        crate::transcripts::words(said).contains("short test clip"),
        "{doc}"
    );
    assert!(app
        .event_types(&id)
        .await
        .contains(&"TranscriptCompleted".to_owned()));
}
