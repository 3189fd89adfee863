//! `voicebin serve`: the HTTP server, with the background tasks beside it (scan relay, orphan
//! sweeper, download counter and, in embedded mode, the scan worker), until Ctrl-C or SIGTERM.
//!
//! Shutting down (ADR 0020): `/readyz` turns 503 `draining` at once; the listener stays open
//! for `VOICEBIN_SHUTDOWN_DELAY_SECS` so a load balancer notices, then closes; requests in
//! flight get `VOICEBIN_SHUTDOWN_TIMEOUT_SECS` to finish; then the background tasks stop
//! (the last batch of download counts is recorded) and the process exits 0.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::time::Instant;
use voicebin::build;

use crate::args::{self, BackendArgs, GlobalArgs, LifecycleArgs, ServerArgs, DEFAULT_LISTEN};
use crate::shutdown;

/// The least the background tasks get after the HTTP drain, whatever is left of the deadline:
/// enough to record the last batch of download counts.
const BACKGROUND_GRACE: Duration = Duration::from_secs(5);

#[derive(clap::Args)]
pub struct Opts {
    /// Address to listen on.
    #[arg(long, env = "VOICEBIN_LISTEN", default_value_t = DEFAULT_LISTEN)]
    listen: SocketAddr,
    #[command(flatten)]
    backends: BackendArgs,
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    lifecycle: LifecycleArgs,
}

pub async fn run(global: &GlobalArgs, opts: Opts) -> anyhow::Result<()> {
    let settings = args::settings(global, &opts.backends, opts.listen, Some(&opts.server))?;
    let mut app = build(&settings).await?;
    let lifecycle = opts.lifecycle;
    app.state.metrics_here = lifecycle.metrics_listen.is_none();
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
    let metrics_server = match lifecycle.metrics_listen {
        Some(addr) => Some(shutdown::MetricsServer::start(addr, app.metrics.clone()).await?),
        None => None,
    };
    let background = app.background.start();
    let open_files = voicebin::server::raise_open_files_limit();
    tracing::debug!(?open_files, "open-files limit");
    let listener = TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("binding {}", opts.listen))?;
    tracing::info!(listen = %opts.listen, "listening");
    let draining = app.state.draining.clone();
    let (delay, timeout) = (lifecycle.shutdown_delay(), lifecycle.shutdown_timeout());
    let (deadline_tx, deadline_rx) = tokio::sync::oneshot::channel();
    let stop = async move {
        shutdown::signal().await;
        // Out of rotation first: new requests still succeed until the listener closes.
        draining.start();
        tracing::info!(
            delay_secs = delay.as_secs(),
            timeout_secs = timeout.as_secs(),
            "shutting down: draining"
        );
        tokio::time::sleep(delay).await;
        let _ = deadline_tx.send(Instant::now() + timeout);
    };
    voicebin::server::serve(listener, voicebin_api::app(app.state), stop, timeout)
        .await
        .context("HTTP server failed")?;
    let left = match deadline_rx.await {
        Ok(deadline) => deadline.saturating_duration_since(Instant::now()),
        Err(_) => timeout,
    };
    if tokio::time::timeout(left.max(BACKGROUND_GRACE), background.stop())
        .await
        .is_err()
    {
        // An embedded scan cut short leaves its clip pending; the relay publishes it again
        // at the next start (ADR 0003).
        tracing::warn!("background tasks still running at the shutdown deadline; stopping them");
    }
    if let Some(server) = metrics_server {
        server.stop().await;
    }
    tracing::info!("stopped");
    Ok(())
}
