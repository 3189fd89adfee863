//! `voicebin worker`: consumes scan jobs from RabbitMQ (production mode) until Ctrl-C or SIGTERM.
//! Then it takes no new job, lets the jobs in flight finish within
//! `VOICEBIN_SHUTDOWN_TIMEOUT_SECS`, and stops the rest: their messages go back to the queue
//! for another worker (ADR 0020). With `VOICEBIN_METRICS_LISTEN` it serves its `/metrics`
//! (scan outcomes and durations) there.

use voicebin::Worker;

use crate::args::{self, BackendArgs, GlobalArgs, LifecycleArgs, DEFAULT_LISTEN};
use crate::shutdown;

#[derive(clap::Args)]
pub struct Opts {
    /// Scan jobs handled at once.
    #[arg(long, env = "VOICEBIN_WORKER_PREFETCH", default_value_t = 2)]
    prefetch: u16,
    #[command(flatten)]
    backends: BackendArgs,
    #[command(flatten)]
    lifecycle: LifecycleArgs,
}

pub async fn run(global: &GlobalArgs, opts: Opts) -> anyhow::Result<()> {
    let settings = args::settings(global, &opts.backends, DEFAULT_LISTEN, None)?;
    let worker = Worker::build(&settings)
        .await?
        .drain_within(opts.lifecycle.shutdown_timeout());
    tracing::info!(
        database = worker.database.describe(),
        scanner = %worker.scanner,
        prefetch = opts.prefetch,
        "voicebin worker starting"
    );
    let metrics_server = match opts.lifecycle.metrics_listen {
        Some(addr) => Some(shutdown::MetricsServer::start(addr, worker.metrics.clone()).await?),
        None => None,
    };
    let signal = async {
        shutdown::signal().await;
        tracing::info!("shutting down: finishing the jobs in flight");
    };
    let ran = worker.run(opts.prefetch, signal).await;
    if let Some(server) = metrics_server {
        server.stop().await;
    }
    tracing::info!("stopped");
    ran
}
