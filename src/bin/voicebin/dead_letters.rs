//! `voicebin dead-letters list|requeue [--queue scan|rendition|transcript]`: jobs RabbitMQ gave
//! up on, listed (clip id and reason, tab-separated) or moved back to their work queue. Scan jobs
//! by default; `--queue` names a post-clean stage's queue (`<scan queue>.<stage>`), which exists
//! when that stage is on in the settings given (the same as the workers').

use voicebin::Worker;
use voicebin_domain::Stage;
use voicebin_workers::RabbitQueue;

use crate::args::{self, BackendArgs, GlobalArgs, DEFAULT_LISTEN};

/// At most this many dead letters are listed or re-queued per run.
const LIMIT: usize = 10_000;

#[derive(clap::Subcommand)]
pub enum Command {
    /// List dead-lettered jobs.
    List {
        #[command(flatten)]
        which: Which,
    },
    /// Move dead-lettered jobs back to their work queue.
    Requeue {
        #[command(flatten)]
        which: Which,
    },
}

#[derive(clap::Args)]
pub struct Which {
    /// Whose dead letters: the scan queue's, or a post-clean stage's.
    #[arg(long, value_enum, default_value_t = QueueName::Scan)]
    queue: QueueName,
    #[command(flatten)]
    backends: BackendArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum QueueName {
    Scan,
    Rendition,
    Transcript,
}

impl QueueName {
    fn stage(self) -> Option<Stage> {
        match self {
            QueueName::Scan => None,
            QueueName::Rendition => Some(Stage::Rendition),
            QueueName::Transcript => Some(Stage::Transcript),
        }
    }

    /// What its jobs are called in messages.
    fn jobs(self) -> &'static str {
        match self {
            QueueName::Scan => "scan",
            QueueName::Rendition => "rendition",
            QueueName::Transcript => "transcript",
        }
    }
}

pub async fn run(global: &GlobalArgs, command: Command) -> anyhow::Result<()> {
    let (which, requeue) = match &command {
        Command::List { which } => (which, false),
        Command::Requeue { which } => (which, true),
    };
    let settings = args::settings(global, &which.backends, DEFAULT_LISTEN, None)?;
    let worker = Worker::build(&settings).await?;
    let queue: &RabbitQueue = match which.queue.stage() {
        None => worker.queue(),
        Some(stage) => worker.stage_queue(stage).ok_or_else(|| {
            anyhow::anyhow!(
                "the {} stage is off in these settings, so it has no queue \
                 (give the settings the workers run with)",
                stage.as_str()
            )
        })?,
    };
    if requeue {
        let moved = queue
            .requeue_dead_letters(LIMIT)
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        println!("re-queued {moved} {} jobs", which.queue.jobs());
    } else {
        let letters = queue
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
