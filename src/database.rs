//! Where the event store and read models live: the embedded SQLite file or PostgreSQL, and the
//! stores each offers over one pool.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use voicebin_commands::{postgres_bus, sqlite_bus, ClipStore};
use voicebin_projections::{
    ClipProjector, EventLog, ExpiryIndex, PlaybackGrants, PostgresStore, QuotaStore, RateLimits,
    ReadStore, RedeemedLinks, ReplayCache, ScanDispatch, SqliteStore, StageDispatch,
};

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

    /// The scan-job claim table over this database.
    pub fn dispatch(&self) -> Arc<dyn ScanDispatch> {
        match self {
            Database::Sqlite(pool) => Arc::new(SqliteStore::new(pool.clone())),
            Database::Postgres(pool) => Arc::new(PostgresStore::new(pool.clone())),
        }
    }

    /// The clips due to expire, over this database's read model.
    pub fn expiry_index(&self) -> Arc<dyn ExpiryIndex> {
        match self {
            Database::Sqlite(pool) => Arc::new(SqliteStore::new(pool.clone())),
            Database::Postgres(pool) => Arc::new(PostgresStore::new(pool.clone())),
        }
    }

    /// The post-clean stages' claim and attempt tables over this database.
    pub fn stage_dispatch(&self) -> Arc<dyn StageDispatch> {
        match self {
            Database::Sqlite(pool) => Arc::new(SqliteStore::new(pool.clone())),
            Database::Postgres(pool) => Arc::new(PostgresStore::new(pool.clone())),
        }
    }

    /// Paid playback grants over this database (shared by every API replica).
    pub fn playback_grants(&self) -> Arc<dyn PlaybackGrants> {
        match self {
            Database::Sqlite(pool) => Arc::new(SqliteStore::new(pool.clone())),
            Database::Postgres(pool) => Arc::new(PostgresStore::new(pool.clone())),
        }
    }

    /// The DPoP proof-id cache over this database (shared by every API replica).
    pub fn replay_cache(&self) -> Arc<dyn ReplayCache> {
        match self {
            Database::Sqlite(pool) => Arc::new(SqliteStore::new(pool.clone())),
            Database::Postgres(pool) => Arc::new(PostgresStore::new(pool.clone())),
        }
    }

    /// The redeemed one-time sign-in links over this database (shared by every API replica).
    pub fn redeemed_links(&self) -> Arc<dyn RedeemedLinks> {
        match self {
            Database::Sqlite(pool) => Arc::new(SqliteStore::new(pool.clone())),
            Database::Postgres(pool) => Arc::new(PostgresStore::new(pool.clone())),
        }
    }

    /// The rate-limit buckets over this database (shared by every API replica).
    pub fn rate_limits(&self) -> Arc<dyn RateLimits> {
        match self {
            Database::Sqlite(pool) => Arc::new(SqliteStore::new(pool.clone())),
            Database::Postgres(pool) => Arc::new(PostgresStore::new(pool.clone())),
        }
    }

    /// Per-account quotas over this database: usage from the views, operators' overrides and
    /// the room uploads in progress hold (shared by every API replica).
    pub fn quotas(&self) -> Arc<dyn QuotaStore> {
        match self {
            Database::Sqlite(pool) => Arc::new(SqliteStore::new(pool.clone())),
            Database::Postgres(pool) => Arc::new(PostgresStore::new(pool.clone())),
        }
    }

    /// Resumable uploads in progress (ADR 0025).
    pub fn uploads(&self) -> Arc<dyn voicebin_projections::UploadStore> {
        match self {
            Database::Sqlite(pool) => Arc::new(SqliteStore::new(pool.clone())),
            Database::Postgres(pool) => Arc::new(PostgresStore::new(pool.clone())),
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
