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
use tokio::sync::watch;
use tokio::task::JoinHandle;
use voicebin_api::auth::dpop::DpopVerifier;
pub use voicebin_api::auth::dpop::NoncePolicy;
use voicebin_api::auth::Trust;
pub use voicebin_api::auth::{embedded_issuer, IntrospectionSettings, IssuerSettings};
use voicebin_api::discovery::Discovery;
pub use voicebin_api::moderation::ModerationSettings;
use voicebin_api::AppState;
use voicebin_api::ReadinessCheck;
use voicebin_commands::{
    postgres_bus, sqlite_bus, BlobStore, Blocklist, ClipService, ClipStore, DownloadCounter,
    InProcessQueue, LocalBlobStore, S3BlobStore, S3Settings, ScanJobs, ScanQueue, Scanner,
};
use voicebin_projections::{
    ClipProjector, EventLog, PostgresStore, RateLimits, ReadStore, ReplayCache, ScanDispatch,
    SqliteStore,
};
use voicebin_workers::rabbit::{JobOutcome, ScanJobHandler};
use voicebin_workers::{
    Attempt, AudioProbeScanner, BlobSweeper, ClamdClient, ClamdScanner, EmbeddedWorker,
    RabbitQueue, RelaySettings, ScanJobRunner, ScanRelay, SweeperSettings,
};

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

    /// The scan-job claim table over this database.
    pub fn dispatch(&self) -> Arc<dyn ScanDispatch> {
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

    /// The rate-limit counters over this database (shared by every API replica).
    pub fn rate_limits(&self) -> Arc<dyn RateLimits> {
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

/// What the deployment says about itself on `/privacy`, `/abuse` and in the agent card.
#[derive(Debug, Clone, Default)]
pub struct SiteSettings {
    /// Where to report abuse (an e-mail address or URL).
    pub abuse_contact: Option<String>,
    /// Who operates this deployment.
    pub operator: Option<String>,
}

/// The RabbitMQ scan queue (production mode).
#[derive(Clone)]
pub struct AmqpSettings {
    /// `amqp://user:pass@host:5672/vhost`.
    pub url: SecretString,
    /// The work queue's name (its dead-letter queue is `<name>.dead`).
    pub queue: String,
}

/// The clamd malware scanner.
#[derive(Debug, Clone)]
pub struct ClamdSettings {
    /// `host:port` of clamd's TCP socket.
    pub addr: String,
    /// Must equal clamd's `StreamMaxLength`; larger clips are never reported clean.
    pub max_stream_bytes: u64,
}

/// Everything `serve` and `worker` need.
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
    /// Operator contacts shown on the public pages.
    pub site: SiteSettings,
    /// S3 blob storage; `None` keeps blobs in the data directory.
    pub s3: Option<S3Settings>,
    /// RabbitMQ; `None` scans in process.
    pub amqp: Option<AmqpSettings>,
    /// clamd; `None` validates audio only.
    pub clamd: Option<ClamdSettings>,
    /// The orphan-blob sweeper's timing.
    pub sweeper: SweeperSettings,
    /// Abuse-report limits and the auto-hide threshold.
    pub moderation: ModerationSettings,
}

impl Settings {
    /// Embedded-mode settings for `data_dir` and `public_url`, everything else default.
    pub fn embedded(data_dir: PathBuf, public_url: String) -> Self {
        Settings {
            data_dir,
            database_url: None,
            public_url,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            issuer: IssuerSettings::default(),
            site: SiteSettings::default(),
            s3: None,
            amqp: None,
            clamd: None,
            sweeper: SweeperSettings::default(),
            moderation: ModerationSettings::default(),
        }
    }
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

/// A built application: its state, plus the background tasks to run beside it.
pub struct App {
    /// Shared state for the HTTP layer.
    pub state: AppState,
    /// The database, for operator commands and tests.
    pub database: Database,
    /// The scan-job relay and, in embedded mode, the scan worker.
    pub background: Background,
}

/// Background tasks, not yet started.
pub struct Background {
    relay: ScanRelay,
    sweeper: BlobSweeper,
    downloads: Arc<DownloadCounter>,
    worker: Option<(EmbeddedWorker, ScanJobs)>,
}

/// Running background tasks; dropping it (or [`BackgroundHandle::stop`]) stops them.
pub struct BackgroundHandle {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    // Returns on `stop` or when the handle is dropped.
    let _ = rx.wait_for(|stop| *stop).await;
}

impl Background {
    /// Starts the tasks on the current runtime.
    pub fn start(self) -> BackgroundHandle {
        let (stop, rx) = watch::channel(false);
        let mut tasks = vec![
            tokio::spawn(self.relay.run(stopped(rx.clone()))),
            tokio::spawn(self.sweeper.run(stopped(rx.clone()))),
            tokio::spawn(
                self.downloads
                    .run(Duration::from_secs(1), stopped(rx.clone())),
            ),
        ];
        if let Some((worker, jobs)) = self.worker {
            tasks.push(tokio::spawn(worker.run(jobs, stopped(rx))));
        }
        BackgroundHandle { stop, tasks }
    }
}

impl BackgroundHandle {
    /// Stops the tasks and waits for scans in flight.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// The adapters both `serve` and `worker` use.
struct Adapters {
    database: Database,
    views: Arc<dyn ReadStore>,
    log: Arc<dyn EventLog>,
    store: Arc<dyn ClipStore>,
    blobs: Arc<dyn BlobStore>,
    scanner: Arc<dyn Scanner>,
    rabbit: Option<Arc<RabbitQueue>>,
    readiness: Vec<Arc<dyn ReadinessCheck>>,
}

struct ClamdCheck(ClamdClient);

#[async_trait::async_trait]
impl ReadinessCheck for ClamdCheck {
    fn name(&self) -> &'static str {
        "clamd"
    }
    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|e| e.to_string())
    }
}

struct RabbitCheck(Arc<RabbitQueue>);

#[async_trait::async_trait]
impl ReadinessCheck for RabbitCheck {
    fn name(&self) -> &'static str {
        "rabbitmq"
    }
    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|e| e.to_string())
    }
}

async fn adapters(settings: &Settings) -> anyhow::Result<Adapters> {
    let database = Database::connect(&settings.data_dir, settings.database_url.as_ref()).await?;
    database.migrate().await.context("applying migrations")?;
    let (views, log) = database.projections();
    let store = database.command_store(ClipProjector::new(views.clone(), log.clone()));
    let blobs: Arc<dyn BlobStore> = match &settings.s3 {
        Some(s3) => Arc::new(
            S3BlobStore::connect(s3.clone())
                .await
                .with_context(|| format!("connecting to S3 at {}", s3.endpoint))?,
        ),
        None => Arc::new(
            LocalBlobStore::open(settings.data_dir.join("blobs"))
                .await
                .context("opening the blob directory")?,
        ),
    };
    let mut readiness: Vec<Arc<dyn ReadinessCheck>> = Vec::new();
    let scanner: Arc<dyn Scanner> = match &settings.clamd {
        Some(clamd) => {
            let client =
                ClamdClient::new(clamd.addr.clone()).with_max_stream_bytes(clamd.max_stream_bytes);
            readiness.push(Arc::new(ClamdCheck(client.clone())));
            Arc::new(ClamdScanner::new(AudioProbeScanner, client))
        }
        None => Arc::new(AudioProbeScanner),
    };
    let rabbit = match &settings.amqp {
        Some(amqp) => {
            let queue = RabbitQueue::connect(amqp.url.expose_secret(), &amqp.queue)
                .await
                .context("connecting to RabbitMQ")?;
            let queue = Arc::new(queue);
            readiness.push(Arc::new(RabbitCheck(queue.clone())));
            Some(queue)
        }
        None => None,
    };
    Ok(Adapters {
        database,
        views,
        log,
        store,
        blobs,
        scanner,
        rabbit,
        readiness,
    })
}

/// The blocklist read model, as the upload path consults it.
struct ViewsBlocklist(Arc<dyn ReadStore>);

#[async_trait::async_trait]
impl Blocklist for ViewsBlocklist {
    async fn is_blocked(&self, sha256: &voicebin_domain::Sha256Digest) -> Result<bool, String> {
        self.0
            .blocked(sha256.as_str())
            .await
            .map(|entry| entry.is_some())
            .map_err(|e| e.to_string())
    }
}

fn random_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Connects every adapter and builds the application (migrating the store first).
pub async fn build(settings: &Settings) -> anyhow::Result<App> {
    let Adapters {
        database,
        views,
        log,
        store,
        blobs,
        scanner,
        rabbit,
        readiness,
    } = adapters(settings).await?;
    // Embedded mode scans in process; with RabbitMQ, `voicebin worker` processes do.
    let (queue, jobs): (Arc<dyn ScanQueue>, Option<ScanJobs>) = match rabbit {
        Some(rabbit) => (rabbit, None),
        None => {
            let (queue, jobs) = InProcessQueue::new();
            (Arc::new(queue), Some(jobs))
        }
    };
    let relay = ScanRelay::new(
        database.dispatch(),
        queue,
        ClipProjector::new(views.clone(), log.clone()),
        RelaySettings::default(),
    );
    let sweeper = BlobSweeper::new(blobs.clone(), log.clone(), settings.sweeper);
    let service = ClipService::new(
        store,
        blobs,
        Arc::new(relay.trigger()),
        Arc::new(ViewsBlocklist(views.clone())),
        settings.max_upload_bytes,
    );

    let Trust {
        verifier,
        issuer,
        jwks,
    } = settings
        .issuer
        .trust(&settings.data_dir, &settings.public_url)?;
    let replay = database.replay_cache();
    let nonce_secret = views
        .shared_secret("dpop-nonces", &random_secret())
        .await
        .context("reading the DPoP nonce secret")?;
    let dpop = DpopVerifier::new(
        &settings.public_url,
        replay,
        nonce_secret.as_bytes(),
        settings.issuer.dpop_nonce,
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let discovery = Discovery {
        issuer,
        authorization_endpoint: settings.issuer.authorization_endpoint.clone(),
        token_endpoint: settings.issuer.token_endpoint.clone(),
        abuse_contact: settings.site.abuse_contact.clone(),
        operator: settings.site.operator.clone(),
    };
    let grant_secret = views
        .shared_secret("playback-grants", &random_secret())
        .await
        .context("reading the playback-grant secret")?;
    let reporter_secret = views
        .shared_secret("reporter-tags", &random_secret())
        .await
        .context("reading the reporter-tag secret")?;
    let downloads = service.downloads().clone();
    let state = AppState {
        service: service.clone(),
        views: views.clone(),
        events: log,
        verifier,
        public_url: settings.public_url.clone(),
        jwks,
        scanner: scanner.describe(),
        readiness,
        grants: Arc::new(voicebin_api::download::Grants::new(grant_secret.as_bytes())),
        dpop: Arc::new(dpop),
        discovery,
        moderation: settings.moderation.clone(),
        rate_limits: database.rate_limits(),
        reporter_tags: Arc::new(voicebin_api::moderation::ReporterTags::new(
            reporter_secret.as_bytes(),
        )),
    };
    let worker = jobs.map(|jobs| {
        let worker = EmbeddedWorker {
            runner: ScanJobRunner {
                service,
                views,
                scanner,
            },
        };
        (worker, jobs)
    });
    Ok(App {
        state,
        database,
        background: Background {
            relay,
            sweeper,
            downloads,
            worker,
        },
    })
}

/// A `voicebin worker` process: consumes scan jobs from RabbitMQ.
pub struct Worker {
    queue: Arc<RabbitQueue>,
    handler: Arc<RabbitHandler>,
    /// What the worker scans with, for start-up logs.
    pub scanner: String,
    /// Where the worker stores and reads, for start-up logs.
    pub database: Database,
}

struct RabbitHandler {
    runner: ScanJobRunner,
    delivery_limit: u32,
}

#[async_trait::async_trait]
impl ScanJobHandler for RabbitHandler {
    async fn handle(&self, clip: &voicebin_domain::ClipId, delivery_count: u32) -> JobOutcome {
        match self.runner.attempt(clip).await {
            Attempt::Done => JobOutcome::Done,
            // The broker dead-letters the job after the delivery limit; record `failed` on the
            // last delivery so the owner sees it instead of an endless `pending`.
            Attempt::Retry(why) if delivery_count + 1 >= self.delivery_limit => {
                tracing::error!(clip.id = %clip, error = %why, "scan keeps failing; giving up");
                match self.runner.give_up(clip, &why).await {
                    Attempt::Done => JobOutcome::GiveUp,
                    Attempt::Retry(_) => JobOutcome::Retry,
                }
            }
            Attempt::Retry(why) => {
                // Hold the job a while before handing it back: a requeue is immediate, and a
                // scanner that is down for a minute must not burn all deliveries at once.
                let backoff = Duration::from_secs(1 << delivery_count.min(5));
                tracing::warn!(clip.id = %clip, delivery_count, error = %why, ?backoff, "scan failed; will retry");
                tokio::time::sleep(backoff).await;
                JobOutcome::Retry
            }
        }
    }
}

impl Worker {
    /// Connects the worker's adapters.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let adapters = adapters(settings).await?;
        let queue = adapters.rabbit.context(
            "`voicebin worker` needs VOICEBIN_AMQP_URL (embedded mode scans inside `serve`)",
        )?;
        let runner = ScanJobRunner {
            service: ClipService::new(
                adapters.store,
                adapters.blobs,
                // Workers never upload, so they never trigger the relay.
                queue.clone(),
                Arc::new(ViewsBlocklist(adapters.views.clone())),
                settings.max_upload_bytes,
            ),
            views: adapters.views,
            scanner: adapters.scanner.clone(),
        };
        Ok(Worker {
            handler: Arc::new(RabbitHandler {
                runner,
                delivery_limit: voicebin_workers::rabbit::RabbitOptions::default().delivery_limit,
            }),
            queue,
            scanner: adapters.scanner.describe(),
            database: adapters.database,
        })
    }

    /// Consumes jobs until `shutdown`.
    pub async fn run(
        self,
        prefetch: u16,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        self.queue
            .consume(self.handler, prefetch, shutdown)
            .await
            .map_err(|e| anyhow::anyhow!(e))
    }

    /// The queue, for dead-letter commands.
    pub fn queue(&self) -> &RabbitQueue {
        &self.queue
    }
}
