//! `voicebin dead-letters list|requeue`: scan jobs RabbitMQ gave up on, listed (clip id and
//! reason, tab-separated) or moved back to the work queue.

use voicebin::Worker;

use crate::args::{self, BackendArgs, GlobalArgs, DEFAULT_LISTEN};

/// At most this many dead letters are listed or re-queued per run.
const LIMIT: usize = 10_000;

#[derive(clap::Subcommand)]
pub enum Command {
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

pub async fn run(global: &GlobalArgs, command: Command) -> anyhow::Result<()> {
    let (backends, requeue) = match &command {
        Command::List { backends } => (backends, false),
        Command::Requeue { backends } => (backends, true),
    };
    let settings = args::settings(global, backends, DEFAULT_LISTEN, None)?;
    let worker = Worker::build(&settings).await?;
    if requeue {
        let moved = worker
            .queue()
            .requeue_dead_letters(LIMIT)
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        println!("re-queued {moved} scan jobs");
    } else {
        let letters = worker
            .queue()
            .dead_letters(LIMIT)
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
