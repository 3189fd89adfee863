//! `voicebin worker`: consumes scan jobs from RabbitMQ (production mode) until Ctrl-C or SIGTERM.

use voicebin::Worker;

use crate::args::{self, BackendArgs, GlobalArgs, DEFAULT_LISTEN};
use crate::shutdown;

#[derive(clap::Args)]
pub struct Opts {
    /// Scan jobs handled at once.
    #[arg(long, env = "VOICEBIN_WORKER_PREFETCH", default_value_t = 2)]
    prefetch: u16,
    #[command(flatten)]
    backends: BackendArgs,
}

pub async fn run(global: &GlobalArgs, opts: Opts) -> anyhow::Result<()> {
    let settings = args::settings(global, &opts.backends, DEFAULT_LISTEN, None)?;
    let worker = Worker::build(&settings).await?;
    tracing::info!(
        database = worker.database.describe(),
        scanner = %worker.scanner,
        prefetch = opts.prefetch,
        "voicebin worker starting"
    );
    worker.run(opts.prefetch, shutdown::signal()).await
}
