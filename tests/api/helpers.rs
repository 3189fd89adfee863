//! Spawning the real application on port 0 with a fresh database and data directory per test,
//! plus typed helpers for the calls tests make.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::Rng;
use reqwest::{Response, StatusCode};
use secrecy::SecretString;
use serde_json::Value;
use voicebin::{
    build, Database, IssuerSettings, ModerationSettings, Settings, DEFAULT_MAX_UPLOAD_BYTES,
};
use voicebin_api::auth::{EmbeddedIssuer, MintRequest};

/// Which event store and read-model backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs an async test body once per backend.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::helpers::Backend::Postgres).await;
            }
        }
    };
}

pub const ALL_SCOPES: &[&str] = &["voice:read", "voice:create", "voice:delete"];

pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audio")
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture_dir().join(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// A 16-bit mono PCM WAV file of `samples` at `sample_rate` Hz.
pub fn pcm_wav(sample_rate: u32, samples: &[i16]) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut wav = Vec::with_capacity(44 + data_len as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&sample_rate.to_le_bytes());
    wav.extend_from_slice(&(sample_rate * 2).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        wav.extend_from_slice(&s.to_le_bytes());
    }
    wav
}

/// The PostgreSQL server the tests create their databases in.
pub fn admin_database_url() -> String {
    std::env::var("VOICEBIN_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Creates an empty database and returns its URL.
pub async fn fresh_postgres_database() -> String {
    use sqlx::Connection;
    let admin = admin_database_url();
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL at {admin} is needed for these tests (run scripts/test): {e}")
        });
    let name = format!("vbtest_{:016x}", rand::thread_rng().gen::<u64>());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let (base, _) = admin.rsplit_once('/').expect("database URL has a path");
    format!("{base}/{name}")
}

pub struct TestApp {
    pub settings: Settings,
    pub base: String,
    pub client: reqwest::Client,
    pub issuer: EmbeddedIssuer,
    pub data_dir: tempfile::TempDir,
    pub database: Database,
    /// The store of the app's report and sign-in-link allowances (the database, or Redis).
    pub rate_limits: std::sync::Arc<dyn voicebin_projections::RateLimits>,
    /// Keeps the relay and worker running for the test's lifetime.
    pub _background: voicebin::BackgroundHandle,
}

pub struct Options {
    pub max_upload_bytes: u64,
    pub issuer: IssuerSettings,
    pub moderation: ModerationSettings,
    /// Speech-to-text; off unless a test turns it on ([`transcription_settings`]).
    pub transcription: Option<voicebin_workers::stage::transcript::TranscriptionSettings>,
    /// The default per-account quotas (none unless a test sets them).
    pub quotas: voicebin_domain::Limits,
    /// The operator's clip lifetimes (default: no maximum, no default).
    pub lifetimes: voicebin_domain::Lifetimes,
    /// The expiry sweeper's timing (default: a sweep a minute, which no test waits for).
    pub expiry: voicebin_workers::ExpirySettings,
    /// Rate limits (the defaults unless a test sets its own).
    pub rate_limits: voicebin::RateLimiting,
    /// Anonymous uploads (off, as by default).
    pub anonymous: voicebin::AnonymousSettings,
    /// Resumable uploads (the defaults).
    pub resumable: voicebin::ResumableSettings,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            issuer: IssuerSettings::default(),
            moderation: ModerationSettings::default(),
            transcription: None,
            quotas: voicebin_domain::Limits::UNLIMITED,
            lifetimes: Default::default(),
            expiry: Default::default(),
            rate_limits: Default::default(),
            anonymous: Default::default(),
            resumable: Default::default(),
        }
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, Options::default()).await
}

pub async fn spawn_app_with(backend: Backend, options: Options) -> TestApp {
    let Options {
        max_upload_bytes,
        issuer,
        moderation,
        transcription,
        quotas,
        lifetimes,
        expiry,
        rate_limits,
        anonymous,
        resumable,
    } = options;
    spawn_with_settings(move |dir, base| {
        Box::pin(async move {
            let database_url = match backend {
                Backend::Sqlite => None,
                Backend::Postgres => Some(SecretString::from(fresh_postgres_database().await)),
            };
            Settings {
                data_dir: dir.to_owned(),
                database_url,
                public_url: base,
                max_upload_bytes,
                issuer,
                site: Default::default(),
                moderation,
                s3: None,
                amqp: None,
                clamd: None,
                sweeper: Default::default(),
                lifetimes,
                expiry,

                sandbox: sandbox_settings(),

                rendition: Some(Default::default()),
                transcription,
                quotas,
                rate_limits,
                anonymous,
                resumable,
                read_cache: Default::default(),
                download_buffer_bytes: voicebin_commands::ReadBudget::DEFAULT_BYTES as u64,
                s3_cache_bytes: 0,
            }
        })
    })
    .await
}

/// The `voicebin` binary, which the scan sandbox runs as its child.
pub fn analyser() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_BIN_EXE_voicebin"))
}

/// The default scan sandbox, running the real `voicebin` binary.
pub fn sandbox_settings() -> voicebin_workers::SandboxSettings {
    voicebin_workers::SandboxSettings::new(analyser())
}

type SettingsFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Settings> + Send + 'a>>;

/// Serves `app` on `listener` with the server `voicebin serve` runs, for the test's lifetime.
fn serve_on(
    listener: std::net::TcpListener,
    app: impl poem::Endpoint<Output = poem::Response> + 'static,
) {
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    let forever = std::future::pending();
    tokio::spawn(voicebin::server::serve(
        listener,
        app,
        forever,
        Duration::ZERO,
    ));
}

/// Spawns the app with settings made from its data directory and base URL.
pub async fn spawn_with_settings(
    make: impl for<'a> FnOnce(&'a Path, String) -> SettingsFuture<'a>,
) -> TestApp {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let data_dir = tempfile::tempdir().unwrap();
    let mut settings = make(data_dir.path(), base.clone()).await;
    // In process, "this binary" is the test harness: the sandbox runs the real `voicebin`.
    settings.sandbox.program = analyser();
    let app = build(&settings).await.expect("build app");
    let database = app.database.clone();
    let rate_limits = app.state.limits.allowances().clone();
    let background = app.background.start();
    serve_on(listener, voicebin_api::app(app.state));
    let issuer = voicebin::embedded_issuer(data_dir.path(), &settings.public_url).unwrap();
    TestApp {
        settings,
        base,
        client: reqwest::Client::new(),
        issuer,
        data_dir,
        database,
        rate_limits,
        _background: background,
    }
}

/// A second API process over the same database and blobs (another replica); returns its base URL.
pub async fn spawn_replica(app: &TestApp) -> (String, voicebin::BackgroundHandle) {
    spawn_replica_flushing_every(app, std::time::Duration::from_secs(1)).await
}

/// [`spawn_replica`] whose batched download counts are recorded every `flush` (and when its
/// background is stopped).
pub async fn spawn_replica_flushing_every(
    app: &TestApp,
    flush: std::time::Duration,
) -> (String, voicebin::BackgroundHandle) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let replica = build(&app.settings).await.expect("build replica");
    let background = replica.background.flush_downloads_every(flush).start();
    serve_on(listener, voicebin_api::app(replica.state));
    (format!("http://127.0.0.1:{port}"), background)
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn key(&self, account: &str, scopes: &[&str]) -> String {
        self.issuer
            .mint(&MintRequest {
                account: account.to_owned(),
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
                audience: self.settings.public_url.clone(),
                ttl: None,
            })
            .unwrap()
    }

    pub fn alice(&self) -> String {
        self.key("alice", ALL_SCOPES)
    }

    pub async fn upload(&self, key: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> Response {
        let mut req = self
            .client
            .post(self.url("/api/v1/audio"))
            .bearer_auth(key)
            .body(body);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        req.send().await.unwrap()
    }

    /// Uploads and returns the new clip's id, asserting 201.
    pub async fn upload_ok(&self, key: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> String {
        let res = self.upload(key, body, headers).await;
        let status = res.status();
        let text = res.text().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{text}");
        let json: Value = serde_json::from_str(&text).unwrap();
        json["id"].as_str().unwrap().to_owned()
    }

    pub async fn get_item(&self, id: &str, key: Option<&str>) -> Response {
        let mut req = self.client.get(self.url(&format!("/api/v1/items/{id}")));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        req.send().await.unwrap()
    }

    pub async fn patch_item(&self, id: &str, key: &str, body: Value) -> Response {
        self.client
            .patch(self.url(&format!("/api/v1/items/{id}")))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete_item(&self, id: &str, key: &str) -> Response {
        self.client
            .delete(self.url(&format!("/api/v1/items/{id}")))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
    }

    pub async fn list(&self, key: &str, query: &[(&str, &str)]) -> Response {
        self.client
            .get(self.url("/api/v1/account/items"))
            .bearer_auth(key)
            .query(query)
            .send()
            .await
            .unwrap()
    }

    /// `GET /api/v1/items/{id}/history` with `key` and `query`.
    pub async fn history(
        &self,
        id: &str,
        key: &str,
        query: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let res = self
            .client
            .get(self.url(&format!("/api/v1/items/{id}/history")))
            .query(query)
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        json(res).await
    }

    /// Polls the owner view until the scan has finished; returns the owner view.
    pub async fn wait_scanned(&self, id: &str, key: &str) -> Value {
        self.wait_scanned_within(id, key, 10).await
    }

    /// Waits up to `secs` seconds for the clip to leave `pending`; returns the owner's view.
    pub async fn wait_scanned_within(&self, id: &str, key: &str, secs: u64) -> Value {
        for _ in 0..secs * 20 {
            let json: Value = self.get_item(id, Some(key)).await.json().await.unwrap();
            if json["scan_state"] != "pending" {
                return json;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("clip {id} still pending after {secs} s");
    }

    /// Number of events stored for a clip.
    pub async fn event_count(&self, id: &str) -> i64 {
        let sql = "SELECT COUNT(*) FROM events WHERE aggregate_id = $1";
        match &self.database {
            Database::Sqlite(pool) => sqlx::query_scalar(sql)
                .bind(id)
                .fetch_one(pool)
                .await
                .unwrap(),
            Database::Postgres(pool) => sqlx::query_scalar(sql)
                .bind(id)
                .fetch_one(pool)
                .await
                .unwrap(),
        }
    }

    /// Event types stored for a clip, in order.
    pub async fn event_types(&self, id: &str) -> Vec<String> {
        let sql = "SELECT event_type FROM events WHERE aggregate_id = $1 ORDER BY sequence";
        match &self.database {
            Database::Sqlite(pool) => sqlx::query_scalar(sql)
                .bind(id)
                .fetch_all(pool)
                .await
                .unwrap(),
            Database::Postgres(pool) => sqlx::query_scalar(sql)
                .bind(id)
                .fetch_all(pool)
                .await
                .unwrap(),
        }
    }

    /// Total events in the store.
    pub async fn total_events(&self) -> i64 {
        let sql = "SELECT COUNT(*) FROM events";
        match &self.database {
            Database::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
            Database::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        }
    }

    /// How many clips have been recorded (their `Uploaded` events): unlike the total, not
    /// raised by the background scans of clips already uploaded.
    pub async fn clips_recorded(&self) -> i64 {
        let sql = "SELECT COUNT(*) FROM events WHERE event_type = 'Uploaded'";
        match &self.database {
            Database::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
            Database::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        }
    }

    /// The text of an anonymous `GET` of `path` (a page, `/metrics`).
    pub async fn get_text(&self, path: &str) -> String {
        let res = self.client.get(self.url(path)).send().await.unwrap();
        res.text().await.unwrap()
    }

    /// Files under the blob directory (excluding the temp area), and temp files.
    pub fn blob_files(&self) -> (usize, usize) {
        fn count(dir: &Path) -> usize {
            std::fs::read_dir(dir)
                .map(|entries| {
                    entries
                        .flatten()
                        .map(|e| {
                            let p = e.path();
                            if p.is_dir() {
                                if p.file_name().is_some_and(|n| n == ".tmp") {
                                    0
                                } else {
                                    count(&p)
                                }
                            } else {
                                1
                            }
                        })
                        .sum()
                })
                .unwrap_or(0)
        }
        let root = self.data_dir.path().join("blobs");
        (count(&root), count(&root.join(".tmp")))
    }
}

/// Runs `sql` (one or more statements) against `database`.
pub async fn execute_sql(database: &Database, sql: &str) {
    match database {
        Database::Sqlite(pool) => {
            sqlx::raw_sql(sql).execute(pool).await.unwrap();
        }
        Database::Postgres(pool) => {
            sqlx::raw_sql(sql).execute(pool).await.unwrap();
        }
    }
}

pub async fn json(res: Response) -> (StatusCode, Value) {
    let status = res.status();
    let text = res.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// A client that opens a connection per request: the server closes one whose request body it
/// did not read (a refused upload), and a pooled connection could be reused just as it closes.
pub fn unpooled() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}
