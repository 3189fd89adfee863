//! The `voicebin` command: `serve`, `migrate`, `keys mint`, `projections rebuild`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use poem::listener::TcpListener;
use secrecy::ExposeSecret;
use secrecy::SecretString;
use voicebin::{
    build, embedded_issuer, normalize_public_url, AmqpSettings, ClamdSettings, Database,
    IntrospectionSettings, IssuerSettings, ModerationSettings, NoncePolicy, Settings, SiteSettings,
    Worker, DEFAULT_MAX_UPLOAD_BYTES,
};
use voicebin_api::auth::MintRequest;
use voicebin_commands::S3Settings;
use voicebin_workers::SweeperSettings;

/// A self-hostable audio clip bin.
#[derive(Parser)]
#[command(name = "voicebin", version, about)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct GlobalArgs {
    /// Directory for the embedded database, blobs and issuer key.
    #[arg(
        long,
        env = "VOICEBIN_DATA_DIR",
        default_value = "./voicebin-data",
        global = true
    )]
    data_dir: PathBuf,
    /// PostgreSQL URL (`postgres://…`). Unset: the embedded SQLite store in the data directory.
    /// `DATABASE_URL_FILE` names a file holding it instead.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<SecretString>,
    /// The site's canonical URL; token audiences must equal it. Default: `http://<listen>`.
    #[arg(long, env = "VOICEBIN_PUBLIC_URL", global = true)]
    public_url: Option<String>,
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, env = "VOICEBIN_LOG_JSON", global = true)]
    log_json: bool,
}

/// Backends shared by `serve` and `worker`. Each is chosen independently; unset means embedded.
#[derive(Args, Clone)]
struct BackendArgs {
    /// S3 endpoint (`https://s3.example`); set to keep blobs in S3 instead of the data directory.
    #[arg(long, env = "VOICEBIN_S3_ENDPOINT")]
    s3_endpoint: Option<String>,
    /// S3 bucket (created if missing).
    #[arg(long, env = "VOICEBIN_S3_BUCKET", default_value = "voicebin")]
    s3_bucket: String,
    /// S3 region.
    #[arg(long, env = "VOICEBIN_S3_REGION", default_value = "us-east-1")]
    s3_region: String,
    /// S3 access key (or `VOICEBIN_S3_ACCESS_KEY_FILE`).
    #[arg(long, env = "VOICEBIN_S3_ACCESS_KEY", hide_env_values = true)]
    s3_access_key: Option<SecretString>,
    /// S3 secret key (or `VOICEBIN_S3_SECRET_KEY_FILE`).
    #[arg(long, env = "VOICEBIN_S3_SECRET_KEY", hide_env_values = true)]
    s3_secret_key: Option<SecretString>,
    /// RabbitMQ URL (`amqp://user:pass@host:5672/%2f`, or `VOICEBIN_AMQP_URL_FILE`); set to
    /// scan in `voicebin worker` processes instead of inside `serve`.
    #[arg(long, env = "VOICEBIN_AMQP_URL", hide_env_values = true)]
    amqp_url: Option<SecretString>,
    /// The scan queue's name (its dead-letter queue is `<name>.dead`).
    #[arg(long, env = "VOICEBIN_SCAN_QUEUE", default_value = "voicebin.scan")]
    scan_queue: String,
    /// clamd's TCP address (`127.0.0.1:3310`); set to scan for malware.
    #[arg(long, env = "VOICEBIN_CLAMD_ADDR")]
    clamd_addr: Option<String>,
    /// clamd's `StreamMaxLength` in bytes; larger clips are never reported clean.
    #[arg(long, env = "VOICEBIN_CLAMD_MAX_STREAM_BYTES", default_value_t = 100 * 1024 * 1024)]
    clamd_max_stream_bytes: u64,
    /// Largest accepted upload, in bytes.
    #[arg(long, env = "VOICEBIN_MAX_UPLOAD_BYTES", default_value_t = DEFAULT_MAX_UPLOAD_BYTES)]
    max_upload_bytes: u64,
    /// Blobs no clip owns are removed once older than this many seconds.
    #[arg(long, env = "VOICEBIN_ORPHAN_GRACE_SECS", default_value_t = 3600)]
    orphan_grace_secs: u64,
    /// Seconds between orphan sweeps.
    #[arg(long, env = "VOICEBIN_SWEEP_INTERVAL_SECS", default_value_t = 3600)]
    sweep_interval_secs: u64,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (and, in embedded mode, the scan worker).
    Serve(Box<ServeArgs>),
    /// Consume scan jobs from RabbitMQ (production mode).
    Worker(WorkerArgs),
    /// Inspect or re-queue scan jobs that kept failing.
    #[command(subcommand)]
    DeadLetters(DeadLettersCommand),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage API keys of the embedded issuer.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage read models.
    #[command(subcommand)]
    Projections(ProjectionsCommand),
    /// Print a clip's history (every event, with actor and request id) from the event store.
    History(HistoryArgs),
}

#[derive(Args)]
struct HistoryArgs {
    /// The clip id.
    id: String,
    /// One JSON object per line (as `GET /api/v1/items/{id}/history` shows a moderator).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "VOICEBIN_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    #[command(flatten)]
    backends: BackendArgs,
    /// Issuer (`iss`) of accepted tokens, when an external issuer is configured.
    #[arg(long, env = "VOICEBIN_ISSUER")]
    issuer: Option<String>,
    /// The external issuer's JWKS URL.
    #[arg(long, env = "VOICEBIN_JWKS_URL")]
    jwks_url: Option<String>,
    /// A JWKS file with the external issuer's keys.
    #[arg(long, env = "VOICEBIN_JWKS_FILE")]
    jwks_file: Option<PathBuf>,
    /// The issuer's OAuth authorization endpoint (advertised in the agent card).
    #[arg(long, env = "VOICEBIN_OAUTH_AUTHORIZATION_ENDPOINT")]
    oauth_authorization_endpoint: Option<String>,
    /// The issuer's OAuth token endpoint (advertised in the agent card).
    #[arg(long, env = "VOICEBIN_OAUTH_TOKEN_ENDPOINT")]
    oauth_token_endpoint: Option<String>,
    /// The issuer's RFC 7662 introspection endpoint; when set, every token is also checked there.
    #[arg(long, env = "VOICEBIN_INTROSPECTION_URL")]
    introspection_url: Option<String>,
    /// This service's client id at the introspection endpoint.
    #[arg(long, env = "VOICEBIN_INTROSPECTION_CLIENT_ID")]
    introspection_client_id: Option<String>,
    /// Its client secret (or VOICEBIN_INTROSPECTION_CLIENT_SECRET_FILE).
    #[arg(
        long,
        env = "VOICEBIN_INTROSPECTION_CLIENT_SECRET",
        hide_env_values = true
    )]
    introspection_client_secret: Option<SecretString>,
    /// Seconds an introspection answer is reused (how long a revoked token may still work).
    #[arg(long, env = "VOICEBIN_INTROSPECTION_CACHE_SECS", default_value_t = 30)]
    introspection_cache_secs: u64,
    /// Whether DPoP proofs must carry a server nonce (`off` or `required`).
    #[arg(long, env = "VOICEBIN_DPOP_NONCE", value_enum, default_value_t = DpopNonce::Off)]
    dpop_nonce: DpopNonce,
    /// Where to report abuse (an e-mail address or URL), shown on /abuse and /privacy.
    #[arg(long, env = "VOICEBIN_ABUSE_CONTACT")]
    abuse_contact: Option<String>,
    /// Who operates this deployment (the agent card's provider).
    #[arg(long, env = "VOICEBIN_OPERATOR")]
    operator: Option<String>,
    /// Distinct reporters with open reports that hide a clip until a moderator decides (0:
    /// reports never hide a clip).
    #[arg(long, env = "VOICEBIN_REPORT_HIDE_THRESHOLD", default_value_t = 3)]
    report_hide_threshold: u32,
    /// Abuse reports accepted per network address per hour (0: unlimited).
    #[arg(long, env = "VOICEBIN_REPORTS_PER_HOUR_PER_IP", default_value_t = 10)]
    reports_per_hour_per_ip: u32,
    /// Abuse reports accepted per signed-in account per hour (0: unlimited).
    #[arg(
        long,
        env = "VOICEBIN_REPORTS_PER_HOUR_PER_ACCOUNT",
        default_value_t = 30
    )]
    reports_per_hour_per_account: u32,
    /// Take the client address from the last `X-Forwarded-For` entry; set only behind a
    /// reverse proxy that sets it, or clients choose their own address.
    #[arg(long, env = "VOICEBIN_TRUST_FORWARDED_FOR")]
    trust_forwarded_for: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum DpopNonce {
    /// Proofs need no server nonce.
    Off,
    /// Every proof must carry a current server nonce (`DPoP-Nonce`).
    Required,
}

#[derive(Args)]
struct WorkerArgs {
    /// Scan jobs handled at once.
    #[arg(long, env = "VOICEBIN_WORKER_PREFETCH", default_value_t = 2)]
    prefetch: u16,
    #[command(flatten)]
    backends: BackendArgs,
}

#[derive(Subcommand)]
enum DeadLettersCommand {
    /// List dead-lettered scan jobs.
    List {
        #[command(flatten)]
        backends: BackendArgs,
    },
    /// Move dead-lettered scan jobs back to the work queue.
    Requeue {
        #[command(flatten)]
        backends: BackendArgs,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Print a new API key signed by the embedded issuer.
    Mint(MintArgs),
}

#[derive(Args)]
struct MintArgs {
    /// The account the key acts for.
    #[arg(long)]
    account: String,
    /// Comma-separated scopes.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "voice:read,voice:create,voice:delete"
    )]
    scopes: Vec<String>,
    /// Lifetime in days; omitted, the key does not expire.
    #[arg(long)]
    ttl_days: Option<u64>,
}

#[derive(Subcommand)]
enum ProjectionsCommand {
    /// Rebuild every read model (clip views, report queue, blocklist) from the event store,
    /// aside, then swap it in; safe while the API runs.
    Rebuild,
}

/// A secret from its flag/variable, or from the file named by `<VARIABLE>_FILE`.
fn secret(value: &Option<SecretString>, variable: &str) -> anyhow::Result<Option<SecretString>> {
    if let Some(value) = value {
        return Ok(Some(value.clone()));
    }
    let file_variable = format!("{variable}_FILE");
    match std::env::var_os(&file_variable) {
        Some(path) => {
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "reading {file_variable} ({})",
                    PathBuf::from(&path).display()
                )
            })?;
            Ok(Some(SecretString::from(text.trim().to_owned())))
        }
        None => Ok(None),
    }
}

fn database_url(global: &GlobalArgs) -> anyhow::Result<Option<SecretString>> {
    secret(&global.database_url, "DATABASE_URL")
}

fn settings(
    global: &GlobalArgs,
    backends: &BackendArgs,
    public_url: String,
    issuer: IssuerSettings,
) -> anyhow::Result<Settings> {
    let s3 = match &backends.s3_endpoint {
        Some(endpoint) => Some(S3Settings {
            endpoint: endpoint.clone(),
            bucket: backends.s3_bucket.clone(),
            region: backends.s3_region.clone(),
            access_key: secret(&backends.s3_access_key, "VOICEBIN_S3_ACCESS_KEY")?
                .context("VOICEBIN_S3_ACCESS_KEY is required with VOICEBIN_S3_ENDPOINT")?
                .expose_secret()
                .to_owned(),
            secret_key: secret(&backends.s3_secret_key, "VOICEBIN_S3_SECRET_KEY")?
                .context("VOICEBIN_S3_SECRET_KEY is required with VOICEBIN_S3_ENDPOINT")?,
        }),
        None => None,
    };
    Ok(Settings {
        data_dir: global.data_dir.clone(),
        database_url: database_url(global)?,
        public_url,
        max_upload_bytes: backends.max_upload_bytes,
        issuer,
        site: SiteSettings::default(),
        moderation: ModerationSettings::default(),
        s3,
        amqp: secret(&backends.amqp_url, "VOICEBIN_AMQP_URL")?.map(|url| AmqpSettings {
            url,
            queue: backends.scan_queue.clone(),
        }),
        clamd: backends.clamd_addr.clone().map(|addr| ClamdSettings {
            addr,
            max_stream_bytes: backends.clamd_max_stream_bytes,
        }),
        sweeper: SweeperSettings {
            grace: Duration::from_secs(backends.orphan_grace_secs),
            interval: Duration::from_secs(backends.sweep_interval_secs.max(1)),
            ..SweeperSettings::default()
        },
    })
}

fn public_url_or_default(global: &GlobalArgs) -> anyhow::Result<String> {
    normalize_public_url(
        global
            .public_url
            .as_deref()
            .unwrap_or("http://127.0.0.1:8080"),
    )
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn serve(global: &GlobalArgs, args: ServeArgs) -> anyhow::Result<()> {
    let public_url = normalize_public_url(
        &global
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", args.listen)),
    )?;
    let introspection = match args.introspection_url {
        None => None,
        Some(endpoint) => Some(IntrospectionSettings {
            endpoint,
            client_id: args.introspection_client_id.context(
                "VOICEBIN_INTROSPECTION_CLIENT_ID is required with an introspection URL",
            )?,
            client_secret: secret(
                &args.introspection_client_secret,
                "VOICEBIN_INTROSPECTION_CLIENT_SECRET",
            )?
            .context(
                "VOICEBIN_INTROSPECTION_CLIENT_SECRET is required with an introspection URL",
            )?,
            cache_ttl: Duration::from_secs(args.introspection_cache_secs),
        }),
    };
    let issuer = IssuerSettings {
        issuer: args.issuer,
        jwks_url: args.jwks_url,
        jwks_file: args.jwks_file,
        authorization_endpoint: args.oauth_authorization_endpoint,
        token_endpoint: args.oauth_token_endpoint,
        introspection,
        dpop_nonce: match args.dpop_nonce {
            DpopNonce::Off => NoncePolicy::Off,
            DpopNonce::Required => NoncePolicy::Required,
        },
    };
    let mut settings = settings(global, &args.backends, public_url.clone(), issuer)?;
    settings.site = SiteSettings {
        abuse_contact: args.abuse_contact,
        operator: args.operator,
    };
    settings.moderation = ModerationSettings {
        hide_threshold: args.report_hide_threshold,
        reports_per_hour_per_ip: args.reports_per_hour_per_ip,
        reports_per_hour_per_account: args.reports_per_hour_per_account,
        trust_forwarded_for: args.trust_forwarded_for,
    };
    let app = build(&settings).await?;
    tracing::info!(
        database = app.database.describe(),
        blobs = %match &settings.s3 {
            Some(s3) => format!("S3 {} bucket {}", s3.endpoint, s3.bucket),
            None => format!("directory {}", settings.data_dir.join("blobs").display()),
        },
        scan_queue = if settings.amqp.is_some() { "RabbitMQ (run `voicebin worker`)" } else { "in process" },
        scanner = %app.state.scanner,
        issuer = if app.state.jwks.is_some() { "embedded" } else { "external" },
        %public_url,
        "voicebin starting"
    );
    if settings.clamd.is_none() {
        tracing::warn!("no malware scanner configured (VOICEBIN_CLAMD_ADDR): uploads are validated as audio only");
    }
    let background = app.background.start();
    let listener = TcpListener::bind(args.listen);
    tracing::info!(listen = %args.listen, "listening");
    poem::Server::new(listener)
        .run_with_graceful_shutdown(
            voicebin_api::app(app.state),
            shutdown_signal(),
            Some(Duration::from_secs(10)),
        )
        .await
        .context("HTTP server failed")?;
    background.stop().await;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    voicebin::telemetry::init(cli.global.log_json);
    let global = &cli.global;
    match cli.command {
        Command::Serve(args) => serve(global, *args).await,
        Command::Migrate => {
            let db = Database::connect(&global.data_dir, database_url(global)?.as_ref()).await?;
            db.migrate().await?;
            eprintln!("migrations applied ({})", db.describe());
            Ok(())
        }
        Command::Worker(args) => {
            let settings = settings(
                global,
                &args.backends,
                public_url_or_default(global)?,
                IssuerSettings::default(),
            )?;
            let worker = Worker::build(&settings).await?;
            tracing::info!(
                database = worker.database.describe(),
                scanner = %worker.scanner,
                prefetch = args.prefetch,
                "voicebin worker starting"
            );
            worker.run(args.prefetch, shutdown_signal()).await
        }
        Command::DeadLetters(command) => {
            let (backends, requeue) = match &command {
                DeadLettersCommand::List { backends } => (backends, false),
                DeadLettersCommand::Requeue { backends } => (backends, true),
            };
            let settings = settings(
                global,
                backends,
                public_url_or_default(global)?,
                IssuerSettings::default(),
            )?;
            let worker = Worker::build(&settings).await?;
            if requeue {
                let moved = worker
                    .queue()
                    .requeue_dead_letters(10_000)
                    .await
                    .map_err(|e| anyhow::anyhow!(e))?;
                println!("re-queued {moved} scan jobs");
            } else {
                let letters = worker
                    .queue()
                    .dead_letters(10_000)
                    .await
                    .map_err(|e| anyhow::anyhow!(e))?;
                for letter in letters {
                    let clip = letter
                        .clip
                        .map(|c| c.into_inner())
                        .or(letter.message_id)
                        .unwrap_or_else(|| "-".into());
                    println!("{clip}\t{}", letter.reason.unwrap_or_else(|| "-".into()));
                }
            }
            Ok(())
        }
        Command::Keys(KeysCommand::Mint(args)) => {
            let public_url = public_url_or_default(global)?;
            let issuer = embedded_issuer(&global.data_dir, &public_url)?;
            let key = issuer.mint(&MintRequest {
                account: args.account,
                scopes: args.scopes,
                audience: public_url,
                ttl: args.ttl_days.map(|d| Duration::from_secs(d * 86_400)),
            })?;
            println!("{key}");
            Ok(())
        }
        Command::History(args) => {
            let id = voicebin_domain::ClipId::parse(&args.id)
                .map_err(|_| anyhow::anyhow!("`{}` is not a clip id", args.id))?;
            let db = Database::connect(&global.data_dir, database_url(global)?.as_ref()).await?;
            db.migrate().await?;
            let (_, log) = db.projections();
            let mut after = 0;
            let mut printed = 0;
            loop {
                let page = log.history(id.as_str(), after, 1000).await?;
                let Some(last) = page.last() else { break };
                after = last.sequence;
                for event in page {
                    // The operator sees everything, like a moderator.
                    let entry = voicebin_api::routes::history::entry(event, "", true);
                    printed += 1;
                    if args.json {
                        // Through a `Value`, whose keys are sorted, as in the API's answer.
                        println!("{}", serde_json::to_value(&entry)?);
                    } else {
                        let actor = entry.actor.as_ref().map_or("-".to_owned(), |a| {
                            format!("{}:{}", a.kind, a.id.as_deref().unwrap_or("?"))
                        });
                        println!(
                            "{:>6}  {:<32}  {:<20} {:<4}  {:<24}  {:<12}  {}",
                            entry.sequence,
                            entry.time.as_deref().unwrap_or("-"),
                            entry.event_type,
                            entry.version,
                            actor,
                            entry.request_id.as_deref().unwrap_or("-"),
                            entry.payload
                        );
                    }
                }
            }
            if printed == 0 {
                anyhow::bail!("no events for clip {}", id.as_str());
            }
            Ok(())
        }
        Command::Projections(ProjectionsCommand::Rebuild) => {
            let db = Database::connect(&global.data_dir, database_url(global)?.as_ref()).await?;
            db.migrate().await?;
            let (views, log) = db.projections();
            let stats = voicebin_projections::rebuild(log.as_ref(), views.as_ref()).await?;
            eprintln!(
                "rebuilt the read models (views, reports, blocklist) of {} {} from {} events \
                 in {:.2}s ({:.0} events/s)",
                stats.views,
                if stats.views == 1 { "clip" } else { "clips" },
                stats.events,
                stats.seconds,
                stats.events_per_second()
            );
            Ok(())
        }
    }
}
