//! The composition root of voicebin: reads settings, connects the adapters (SQLite or
//! PostgreSQL, the local blob directory, the embedded or an external token issuer), and hands
//! them to the API and the workers. The `voicebin` binary is a thin clap layer over this.
#![forbid(unsafe_code)]

pub mod telemetry;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use voicebin_api::auth::{
    EmbeddedIssuer, JwtVerifier, KeySource, RemoteJwks, StaticJwks, DEFAULT_REFRESH_MIN_INTERVAL,
};
use voicebin_api::AppState;
use voicebin_commands::{
    postgres_bus, sqlite_bus, ClipService, ClipStore, InProcessQueue, LocalBlobStore, ScanJobs,
    ScanQueue, Scanner,
};
use voicebin_projections::{ClipProjector, EventLog, PostgresStore, ReadStore, SqliteStore};
use voicebin_workers::{AudioProbeScanner, EmbeddedWorker};

/// Default upload size limit: 100 MiB.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 100 * 1024 * 1024;

/// Where the event store and read models live.
#[derive(Clone)]
pub enum Database {
    /// Embedded: a SQLite file in the data directory.
    Sqlite(SqlitePool),
    /// Production: PostgreSQL.
    Postgres(PgPool),
}

impl Database {
    /// Connects to PostgreSQL when `url` is given, else opens (creating) the SQLite file in
    /// `data_dir`.
    pub async fn connect(data_dir: &Path, url: Option<&SecretString>) -> anyhow::Result<Self> {
        match url {
            Some(url) => {
                let url = url.expose_secret();
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                    bail!(
                        "DATABASE_URL must be a postgres:// URL (unset it for the embedded store)"
                    );
                }
                let pool = PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect(url)
                    .await
                    .context("connecting to PostgreSQL")?;
                Ok(Database::Postgres(pool))
            }
            None => {
                std::fs::create_dir_all(data_dir)
                    .with_context(|| format!("creating data directory {}", data_dir.display()))?;
                let options = SqliteConnectOptions::from_str("sqlite:")?
                    .filename(data_dir.join("voicebin.sqlite3"))
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10));
                let pool = SqlitePoolOptions::new()
                    .max_connections(8)
                    .connect_with(options)
                    .await
                    .context("opening the embedded SQLite database")?;
                Ok(Database::Sqlite(pool))
            }
        }
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Database::Sqlite(pool) => voicebin_migrations::SQLITE.run(pool).await?,
            Database::Postgres(pool) => voicebin_migrations::POSTGRES.run(pool).await?,
        }
        Ok(())
    }

    /// A short name for logs.
    pub fn describe(&self) -> &'static str {
        match self {
            Database::Sqlite(_) => "SQLite (embedded)",
            Database::Postgres(_) => "PostgreSQL",
        }
    }

    /// The read-model store and event log over this database.
    pub fn projections(&self) -> (Arc<dyn ReadStore>, Arc<dyn EventLog>) {
        match self {
            Database::Sqlite(pool) => {
                let store = Arc::new(SqliteStore::new(pool.clone()));
                (store.clone(), store)
            }
            Database::Postgres(pool) => {
                let store = Arc::new(PostgresStore::new(pool.clone()));
                (store.clone(), store)
            }
        }
    }

    /// The command side, dispatching committed events to `projector`.
    pub fn command_store(&self, projector: ClipProjector) -> Arc<dyn ClipStore> {
        match self {
            Database::Sqlite(pool) => Arc::new(sqlite_bus(pool.clone(), vec![Box::new(projector)])),
            Database::Postgres(pool) => {
                Arc::new(postgres_bus(pool.clone(), vec![Box::new(projector)]))
            }
        }
    }
}

/// Which issuer's tokens the API trusts.
#[derive(Debug, Clone, Default)]
pub struct IssuerSettings {
    /// The issuer (`iss`) of external tokens; defaults to the public URL (embedded issuer).
    pub issuer: Option<String>,
    /// The issuer's JWKS URL.
    pub jwks_url: Option<String>,
    /// A JWKS file.
    pub jwks_file: Option<PathBuf>,
}

/// Everything `serve` needs.
#[derive(Clone)]
pub struct Settings {
    /// Data directory (SQLite file, blobs, embedded issuer key).
    pub data_dir: PathBuf,
    /// PostgreSQL URL; `None` for the embedded store.
    pub database_url: Option<SecretString>,
    /// Canonical public URL, no trailing slash.
    pub public_url: String,
    /// Upload size limit.
    pub max_upload_bytes: u64,
    /// Token issuer.
    pub issuer: IssuerSettings,
}

/// Normalises and checks a public URL (`http(s)://host[:port][/path]`, no trailing slash).
pub fn normalize_public_url(raw: &str) -> anyhow::Result<String> {
    let url = raw.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .context("the public URL must start with http:// or https://")?;
    if rest.is_empty() || rest.contains(['?', '#', ' ']) {
        bail!("the public URL must be an absolute URL without query or fragment");
    }
    Ok(url.to_owned())
}

/// The issuer key of the embedded mode, created on first use.
pub fn embedded_issuer(data_dir: &Path, public_url: &str) -> anyhow::Result<EmbeddedIssuer> {
    EmbeddedIssuer::load_or_create(data_dir, public_url.to_owned())
        .with_context(|| format!("loading the issuer key in {}", data_dir.display()))
}

/// A built application: its state, plus the embedded worker to run beside it.
pub struct App {
    /// Shared state for the HTTP layer.
    pub state: AppState,
    /// The database, for operator commands and tests.
    pub database: Database,
    /// The embedded scan worker.
    pub worker: EmbeddedWorker,
    /// Its queue and job stream.
    pub queue: (Arc<dyn ScanQueue>, ScanJobs),
}

/// Connects every adapter and builds the application (migrating the store first).
pub async fn build(settings: &Settings) -> anyhow::Result<App> {
    let database = Database::connect(&settings.data_dir, settings.database_url.as_ref()).await?;
    database.migrate().await.context("applying migrations")?;
    let (views, log) = database.projections();
    let store = database.command_store(ClipProjector::new(views.clone(), log));
    let blobs = Arc::new(
        LocalBlobStore::open(settings.data_dir.join("blobs"))
            .await
            .context("opening the blob directory")?,
    );
    let (queue, jobs) = InProcessQueue::new();
    let queue: Arc<dyn ScanQueue> = Arc::new(queue);
    let service = ClipService::new(store, blobs, queue.clone(), settings.max_upload_bytes);

    let (keys, issuer, jwks): (Arc<dyn KeySource>, String, _) =
        match (&settings.issuer.jwks_url, &settings.issuer.jwks_file) {
            (Some(_), Some(_)) => bail!("set either a JWKS URL or a JWKS file, not both"),
            (Some(url), None) => (
                Arc::new(RemoteJwks::new(url, DEFAULT_REFRESH_MIN_INTERVAL)?),
                settings
                    .issuer
                    .issuer
                    .clone()
                    .context("VOICEBIN_ISSUER is required with a JWKS URL")?,
                None,
            ),
            (None, Some(file)) => (
                Arc::new(StaticJwks::from_file(file)?),
                settings
                    .issuer
                    .issuer
                    .clone()
                    .context("VOICEBIN_ISSUER is required with a JWKS file")?,
                None,
            ),
            (None, None) => {
                let embedded = embedded_issuer(&settings.data_dir, &settings.public_url)?;
                (
                    embedded.key_source(),
                    settings.public_url.clone(),
                    Some(embedded.jwks()),
                )
            }
        };
    let verifier = Arc::new(JwtVerifier::new(
        issuer,
        vec![settings.public_url.clone()],
        keys,
    ));
    let scanner: Arc<dyn Scanner> = Arc::new(AudioProbeScanner);
    let state = AppState {
        service: service.clone(),
        views: views.clone(),
        verifier,
        public_url: settings.public_url.clone(),
        jwks,
        scanner: scanner.describe(),
    };
    let worker = EmbeddedWorker {
        service,
        views,
        scanner,
    };
    Ok(App {
        state,
        database,
        worker,
        queue: (queue, jobs),
    })
}
