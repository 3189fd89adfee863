//! The embedded scan queue: an in-process channel. Jobs lost in a crash are recovered at
//! start-up from the read model's pending clips, so the channel need not be durable.

use async_trait::async_trait;
use tokio::sync::mpsc;
use voicebin_domain::ClipId;

use voicebin_commands::{QueueError, ScanQueue};

/// The sending half, handed to the relay as its queue.
#[derive(Clone)]
pub struct InProcessQueue {
    tx: mpsc::UnboundedSender<ClipId>,
}

/// The receiving half, handed to the [`EmbeddedWorker`](crate::EmbeddedWorker).
pub struct ScanJobs {
    rx: mpsc::UnboundedReceiver<ClipId>,
}

impl InProcessQueue {
    /// A connected queue and its job stream.
    pub fn new() -> (Self, ScanJobs) {
        let (tx, rx) = mpsc::unbounded_channel();
        (InProcessQueue { tx }, ScanJobs { rx })
    }
}

impl ScanJobs {
    /// The next job; `None` once every sender is gone.
    pub async fn next(&mut self) -> Option<ClipId> {
        self.rx.recv().await
    }
}

#[async_trait]
impl ScanQueue for InProcessQueue {
    async fn enqueue(&self, clip: &ClipId) -> Result<(), QueueError> {
        self.tx.send(clip.clone()).map_err(|_| QueueError::Stopped)
    }
}
