//! Graceful shutdown, checked from outside on the real `voicebin` binary: on SIGTERM `serve`
//! reports draining in `/readyz` before it closes its listener, finishes a download in
//! flight and exits 0, and a scan in flight ends with exactly one verdict; `voicebin worker`
//! stops a job past its deadline, the job goes back to the queue, and another worker records
//! its one verdict. Also: `/metrics` on its own listener (`VOICEBIN_METRICS_LISTEN`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::helpers::{fresh_postgres_database, pcm_wav, Backend};
use crate::metrics::{promtool_check, value};
use crate::on_both_backends;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `voicebin` process; its log goes to a file in `logs`, shown when a test fails.
struct Process {
    child: Child,
    log: PathBuf,
}

impl Process {
    fn spawn(args: &[&str], env: &[(&str, String)], logs: &Path, name: &str) -> Self {
        let log = logs.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_voicebin"));
        command
            .args(args)
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(file);
        for (name, value) in env {
            command.env(name, value);
        }
        Process {
            child: command.spawn().unwrap(),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn sigterm(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// Waits for the process to exit (it was told to stop).
    async fn exited(&mut self) -> ExitStatus {
        for _ in 0..1200 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = self.child.kill();
        panic!("the process did not exit; its log:\n{}", self.log());
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `url` until it answers 200.
async fn wait_ok(client: &reqwest::Client, url: &str, process: &mut Process) {
    for _ in 0..600 {
        if client
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
        {
            return;
        }
        if let Some(status) = process.child.try_wait().unwrap() {
            panic!(
                "exited with {status} before {url} answered:\n{}",
                process.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} never answered 200:\n{}", process.log());
}

/// A WAV tone of `seconds` at 8 kHz (16 000 bytes a second).
fn tone(seconds: usize) -> Vec<u8> {
    let samples: Vec<i16> = (0..8_000 * seconds)
        .map(|i| ((i as f64 * 0.25).sin() * 8_000.0) as i16)
        .collect();
    pcm_wav(8_000, &samples)
}

/// The number of `ScanCompleted` events of `id`, from `voicebin history`.
fn verdicts(env: &[(&str, String)], id: &str) -> usize {
    let mut command = Command::new(env!("CARGO_BIN_EXE_voicebin"));
    command
        .args(["history", id, "--json"])
        .env_remove("DATABASE_URL");
    for (name, value) in env {
        command.env(name, value);
    }
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|event| {
            event
                .as_object()
                .is_some_and(|e| e.values().any(|v| v == "ScanCompleted"))
        })
        .count()
}

async fn upload(client: &reqwest::Client, base: &str, key: &str, body: Vec<u8>) -> String {
    let res = client
        .post(format!("{base}/api/v1/audio"))
        .bearer_auth(key)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn scan_state(client: &reqwest::Client, base: &str, key: &str, id: &str) -> String {
    let item: Value = client
        .get(format!("{base}/api/v1/items/{id}"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    item["scan_state"].as_str().unwrap().to_owned()
}

async fn wait_scanned(client: &reqwest::Client, base: &str, key: &str, id: &str) -> String {
    for _ in 0..1200 {
        let state = scan_state(client, base, key, id).await;
        if state != "pending" {
            return state;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("clip {id} still pending");
}

fn key(data_dir: &Path, public_url: &str) -> String {
    voicebin::embedded_issuer(data_dir, public_url)
        .unwrap()
        .mint(&voicebin_api::auth::MintRequest {
            account: "alice".into(),
            scopes: crate::helpers::ALL_SCOPES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            audience: public_url.to_owned(),
            ttl: None,
        })
        .unwrap()
}

async fn serve_drains_on_sigterm_finishing_a_download_and_a_scan(backend: Backend) {
    let data = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let (port, metrics_port) = (free_port(), free_port());
    let base = format!("http://127.0.0.1:{port}");
    let mut env = vec![
        ("VOICEBIN_DATA_DIR", data.path().display().to_string()),
        ("VOICEBIN_PUBLIC_URL", base.clone()),
    ];
    if backend == Backend::Postgres {
        env.push(("DATABASE_URL", fresh_postgres_database().await));
    }
    let mut serve_env = env.clone();
    serve_env.extend([
        ("VOICEBIN_LISTEN", format!("127.0.0.1:{port}")),
        (
            "VOICEBIN_METRICS_LISTEN",
            format!("127.0.0.1:{metrics_port}"),
        ),
        // Long enough to see `/readyz` draining while the listener is still open.
        ("VOICEBIN_SHUTDOWN_DELAY_SECS", "2".into()),
        ("VOICEBIN_SHUTDOWN_TIMEOUT_SECS", "60".into()),
    ]);
    let client = reqwest::Client::new();
    let mut serve = Process::spawn(&["serve"], &serve_env, logs.path(), "serve");
    wait_ok(&client, &format!("{base}/readyz"), &mut serve).await;
    let alice = key(data.path(), &base);

    // With a listener of its own, `/metrics` is served there and not on the main listener.
    let main = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(main.status(), StatusCode::NOT_FOUND);
    let metrics_url = format!("http://127.0.0.1:{metrics_port}/metrics");
    let scrape = client.get(&metrics_url).send().await.unwrap();
    assert_eq!(scrape.status(), StatusCode::OK);
    promtool_check(&scrape.text().await.unwrap());

    // A 16 MB clip, downloaded slowly: far more than the sockets' buffers hold, so the
    // download is in flight when SIGTERM arrives.
    let big = tone(1_000);
    let big_id = upload(&client, &base, &alice, big.clone()).await;
    assert_eq!(wait_scanned(&client, &base, &alice, &big_id).await, "clean");
    let download = client
        .get(format!("{base}/{big_id}/download"))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    let mut body = download.bytes_stream();
    let mut received = body.next().await.unwrap().unwrap().to_vec();
    assert!(received.len() < big.len());
    // A clip whose scan is (most likely) running when SIGTERM arrives.
    let scanned_id = upload(&client, &base, &alice, tone(180)).await;

    serve.sigterm();
    // Out of rotation at once, while the listener is still open.
    let mut draining = None;
    for _ in 0..100 {
        if let Ok(res) = client.get(format!("{base}/readyz")).send().await {
            if res.status() == StatusCode::SERVICE_UNAVAILABLE {
                draining = Some(res.json::<Value>().await.unwrap());
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        draining,
        Some(serde_json::json!({"status": "draining"})),
        "{}",
        serve.log()
    );
    // The download in flight completes, byte for byte.
    while let Some(chunk) = body.next().await {
        received.extend_from_slice(&chunk.expect("the download completes"));
    }
    assert_eq!(received.len(), big.len());
    assert_eq!(Sha256::digest(&received), Sha256::digest(&big));
    let status = serve.exited().await;
    assert!(
        status.success(),
        "serve exited with {status}:\n{}",
        serve.log()
    );
    let log = serve.log();
    assert!(log.contains("shutting down: draining"), "{log}");

    // Started again, the clip whose scan was in flight ends with exactly one verdict
    // (recorded before the exit, or scanned now because the relay publishes it again).
    let mut again_env = env.clone();
    again_env.push(("VOICEBIN_LISTEN", format!("127.0.0.1:{port}")));
    let mut again = Process::spawn(&["serve"], &again_env, logs.path(), "serve-again");
    wait_ok(&client, &format!("{base}/readyz"), &mut again).await;
    assert_eq!(
        wait_scanned(&client, &base, &alice, &scanned_id).await,
        "clean"
    );
    again.sigterm();
    let status = again.exited().await;
    assert!(status.success(), "{}", again.log());
    assert_eq!(verdicts(&env, &scanned_id), 1);
    assert_eq!(verdicts(&env, &big_id), 1);
}
on_both_backends!(serve_drains_on_sigterm_finishing_a_download_and_a_scan);

/// The environment of a `voicebin worker` for the production `settings`.
fn worker_env(settings: &voicebin::Settings) -> Vec<(&'static str, String)> {
    let s3 = settings.s3.as_ref().expect("S3 settings");
    let amqp = settings.amqp.as_ref().expect("RabbitMQ settings");
    let clamd = settings.clamd.as_ref().expect("clamd settings");
    vec![
        ("VOICEBIN_DATA_DIR", settings.data_dir.display().to_string()),
        (
            "DATABASE_URL",
            settings
                .database_url
                .as_ref()
                .expect("a database URL")
                .expose_secret()
                .to_owned(),
        ),
        ("VOICEBIN_S3_ENDPOINT", s3.endpoint.clone()),
        ("VOICEBIN_S3_BUCKET", s3.bucket.clone()),
        ("VOICEBIN_S3_REGION", s3.region.clone()),
        ("VOICEBIN_S3_ACCESS_KEY", s3.access_key.clone()),
        (
            "VOICEBIN_S3_SECRET_KEY",
            s3.secret_key.expose_secret().to_owned(),
        ),
        ("VOICEBIN_AMQP_URL", amqp.url.expose_secret().to_owned()),
        ("VOICEBIN_SCAN_QUEUE", amqp.queue.clone()),
        ("VOICEBIN_CLAMD_ADDR", clamd.addr.clone()),
    ]
}

/// Whether a scan of `id` has started (the worker counts an attempt before scanning).
async fn scan_started(database: &voicebin::Database, id: &str) -> bool {
    let voicebin::Database::Postgres(pool) = database else {
        panic!("production mode runs on PostgreSQL");
    };
    let started: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM scan_attempts WHERE clip_id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap();
    started > 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_stopped_mid_scan_hands_the_job_back_and_the_clip_gets_one_verdict() {
    let app = crate::helpers::spawn_with_settings(|dir, url| {
        Box::pin(crate::production::production_settings(dir, url))
    })
    .await;
    let logs = tempfile::tempdir().unwrap();
    let alice = app.alice();
    let metrics_port = free_port();
    let mut env = worker_env(&app.settings);
    env.extend([
        // Past the deadline at once: a job in flight is stopped, never finished.
        ("VOICEBIN_SHUTDOWN_TIMEOUT_SECS", "0".into()),
        (
            "VOICEBIN_METRICS_LISTEN",
            format!("127.0.0.1:{metrics_port}"),
        ),
    ]);
    let mut first = Process::spawn(&["worker"], &env, logs.path(), "worker-1");
    let client = reqwest::Client::new();
    let metrics_url = format!("http://127.0.0.1:{metrics_port}/metrics");
    wait_ok(&client, &metrics_url, &mut first).await;

    // Ten minutes of audio: its scan (analysis and clamd) is still running when SIGTERM comes.
    let id = app.upload_ok(&alice, tone(600), &[]).await;
    let mut started = false;
    for _ in 0..600 {
        if scan_started(&app.database, &id).await {
            started = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(started, "the scan never started:\n{}", first.log());
    first.sigterm();
    let status = first.exited().await;
    assert!(
        status.success(),
        "worker exited with {status}:\n{}",
        first.log()
    );
    let log = first.log();
    assert!(
        log.contains("jobs still running at the shutdown deadline"),
        "the scan was not stopped:\n{log}"
    );

    // Another worker picks the job up (the broker requeued it, or the relay republishes it)
    // and records the one verdict.
    env.retain(|(name, _)| *name != "VOICEBIN_SHUTDOWN_TIMEOUT_SECS");
    let mut second = Process::spawn(&["worker"], &env, logs.path(), "worker-2");
    let scanned = app.wait_scanned_within(&id, &alice, 120).await;
    assert_eq!(scanned["scan_state"], "clean", "{}", second.log());
    let types = app.event_types(&id).await;
    assert_eq!(
        types.iter().filter(|t| *t == "ScanCompleted").count(),
        1,
        "{types:?}"
    );
    // The second worker's own metrics count the verdict it recorded.
    let text = client
        .get(&metrics_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    promtool_check(&text);
    assert_eq!(
        value(&text, r#"voicebin_scans_total{outcome="clean"}"#),
        1.0
    );
    // `serve` reads the broker's queues at scrape time: nothing waits, nothing died.
    let text = client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    promtool_check(&text);
    assert_eq!(value(&text, r#"voicebin_dead_letters{queue="scan"}"#), 0.0);
    assert!(
        text.contains(r#"voicebin_queue_depth{queue="scan"}"#),
        "{text}"
    );
    second.sigterm();
    let status = second.exited().await;
    assert!(status.success(), "{}", second.log());
}

async fn serve_cuts_what_is_still_running_at_the_deadline_and_exits_0(backend: Backend) {
    let data = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut env = vec![
        ("VOICEBIN_DATA_DIR", data.path().display().to_string()),
        ("VOICEBIN_PUBLIC_URL", base.clone()),
        ("VOICEBIN_LISTEN", format!("127.0.0.1:{port}")),
        ("VOICEBIN_SHUTDOWN_TIMEOUT_SECS", "1".into()),
    ];
    if backend == Backend::Postgres {
        env.push(("DATABASE_URL", fresh_postgres_database().await));
    }
    let client = reqwest::Client::new();
    let mut serve = Process::spawn(&["serve"], &env, logs.path(), "serve");
    wait_ok(&client, &format!("{base}/readyz"), &mut serve).await;
    let alice = key(data.path(), &base);

    // An upload whose client stops sending halfway and never finishes.
    let (tx, rx) = futures::channel::mpsc::unbounded::<Result<Vec<u8>, std::io::Error>>();
    let wav = tone(60);
    tx.unbounded_send(Ok(wav[..wav.len() / 2].to_vec()))
        .unwrap();
    let stalled = tokio::spawn({
        let (client, base) = (client.clone(), base.clone());
        async move {
            client
                .post(format!("{base}/api/v1/audio"))
                .bearer_auth(alice)
                .header("content-length", wav.len().to_string())
                .body(reqwest::Body::wrap_stream(rx))
                .send()
                .await
        }
    });
    // The server is storing it once its temporary blob file has some bytes.
    let tmp = data.path().join("blobs").join(".tmp");
    let mut storing = false;
    for _ in 0..600 {
        storing = std::fs::read_dir(&tmp).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.metadata().is_ok_and(|m| m.len() > 0))
        });
        if storing {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        storing,
        "the upload never reached the blob store:\n{}",
        serve.log()
    );
    serve.sigterm();
    let status = serve.exited().await;
    assert!(
        status.success(),
        "serve exited with {status}:\n{}",
        serve.log()
    );
    // The upload was cut, not answered.
    let answered = stalled.await.unwrap();
    assert!(answered.is_err(), "{answered:?}");
    drop(tx);
}
on_both_backends!(serve_cuts_what_is_still_running_at_the_deadline_and_exits_0);
