//! The `voicebin` command: `serve`, `migrate`, `keys mint`, `projections rebuild`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use poem::listener::TcpListener;
use secrecy::SecretString;
use voicebin::{
    build, embedded_issuer, normalize_public_url, Database, IssuerSettings, Settings,
    DEFAULT_MAX_UPLOAD_BYTES,
};
use voicebin_api::auth::MintRequest;

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

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (and, in embedded mode, the scan worker).
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage API keys of the embedded issuer.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage read models.
    #[command(subcommand)]
    Projections(ProjectionsCommand),
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "VOICEBIN_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Largest accepted upload, in bytes.
    #[arg(long, env = "VOICEBIN_MAX_UPLOAD_BYTES", default_value_t = DEFAULT_MAX_UPLOAD_BYTES)]
    max_upload_bytes: u64,
    /// Issuer (`iss`) of accepted tokens, when an external issuer is configured.
    #[arg(long, env = "VOICEBIN_ISSUER")]
    issuer: Option<String>,
    /// The external issuer's JWKS URL.
    #[arg(long, env = "VOICEBIN_JWKS_URL")]
    jwks_url: Option<String>,
    /// A JWKS file with the external issuer's keys.
    #[arg(long, env = "VOICEBIN_JWKS_FILE")]
    jwks_file: Option<PathBuf>,
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
    /// Replay every event into fresh read models.
    Rebuild,
}

fn database_url(global: &GlobalArgs) -> anyhow::Result<Option<SecretString>> {
    if let Some(url) = &global.database_url {
        return Ok(Some(url.clone()));
    }
    match std::env::var_os("DATABASE_URL_FILE") {
        Some(path) => {
            let url = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "reading DATABASE_URL_FILE {}",
                    PathBuf::from(&path).display()
                )
            })?;
            Ok(Some(SecretString::from(url.trim().to_owned())))
        }
        None => Ok(None),
    }
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
    let settings = Settings {
        data_dir: global.data_dir.clone(),
        database_url: database_url(global)?,
        public_url: public_url.clone(),
        max_upload_bytes: args.max_upload_bytes,
        issuer: IssuerSettings {
            issuer: args.issuer,
            jwks_url: args.jwks_url,
            jwks_file: args.jwks_file,
        },
    };
    let app = build(&settings).await?;
    tracing::info!(
        database = app.database.describe(),
        blobs = %settings.data_dir.join("blobs").display(),
        scanner = %app.state.scanner,
        issuer = if app.state.jwks.is_some() { "embedded" } else { "external" },
        %public_url,
        "voicebin starting"
    );
    let (queue, jobs) = app.queue;
    let (stop_worker, worker_stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(app.worker.run(queue, jobs, async {
        let _ = worker_stopped.await;
    }));
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
    let _ = stop_worker.send(());
    let _ = worker.await;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    voicebin::telemetry::init(cli.global.log_json);
    let global = &cli.global;
    match cli.command {
        Command::Serve(args) => serve(global, args).await,
        Command::Migrate => {
            let db = Database::connect(&global.data_dir, database_url(global)?.as_ref()).await?;
            db.migrate().await?;
            eprintln!("migrations applied ({})", db.describe());
            Ok(())
        }
        Command::Keys(KeysCommand::Mint(args)) => {
            let public_url = normalize_public_url(
                global
                    .public_url
                    .as_deref()
                    .unwrap_or("http://127.0.0.1:8080"),
            )?;
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
        Command::Projections(ProjectionsCommand::Rebuild) => {
            let db = Database::connect(&global.data_dir, database_url(global)?.as_ref()).await?;
            db.migrate().await?;
            let (views, log) = db.projections();
            let stats = voicebin_projections::rebuild(log.as_ref(), views.as_ref()).await?;
            eprintln!(
                "rebuilt {} clip views from {} events in {:.2}s ({:.0} events/s)",
                stats.views,
                stats.events,
                stats.seconds,
                stats.events_per_second()
            );
            Ok(())
        }
    }
}
