//! `voicebin serve`: the HTTP server, with the background tasks beside it (scan relay, orphan
//! sweeper, download counter and, in embedded mode, the scan worker), until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use poem::listener::TcpListener;
use voicebin::build;

use crate::args::{self, BackendArgs, GlobalArgs, ServerArgs, DEFAULT_LISTEN};
use crate::shutdown;

#[derive(clap::Args)]
pub struct Opts {
    /// Address to listen on.
    #[arg(long, env = "VOICEBIN_LISTEN", default_value_t = DEFAULT_LISTEN)]
    listen: SocketAddr,
    #[command(flatten)]
    backends: BackendArgs,
    #[command(flatten)]
    server: ServerArgs,
}

pub async fn run(global: &GlobalArgs, opts: Opts) -> anyhow::Result<()> {
    let settings = args::settings(global, &opts.backends, opts.listen, Some(&opts.server))?;
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
        public_url = %settings.public_url,
        "voicebin starting"
    );
    if settings.clamd.is_none() {
        tracing::warn!("no malware scanner configured (VOICEBIN_CLAMD_ADDR): uploads are validated as audio only");
    }
    let background = app.background.start();
    let listener = TcpListener::bind(opts.listen);
    tracing::info!(listen = %opts.listen, "listening");
    poem::Server::new(listener)
        .run_with_graceful_shutdown(
            voicebin_api::app(app.state),
            shutdown::signal(),
            Some(Duration::from_secs(10)),
        )
        .await
        .context("HTTP server failed")?;
    background.stop().await;
    Ok(())
}
