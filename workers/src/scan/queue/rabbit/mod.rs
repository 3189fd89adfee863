//! The RabbitMQ scan queue (production mode), on lapin 4: [`RabbitQueue`] publishes scan jobs
//! (it is the production [`ScanQueue`](voicebin_commands::ScanQueue)), consumes them in
//! `voicebin worker` processes, and lists and requeues dead letters.
//!
//! # Layout
//!
//! One concern per file, all of them `impl RabbitQueue` blocks over the struct defined here:
//!
//! * `topology`: the work queue and its dead-letter queue, declared on every connection;
//! * `link`: a connection and a channel on it, opened (declaring the topology) and closed;
//! * `message`: a scan job on the wire (body and properties) and parsing one back;
//! * `publish`: `enqueue` with publisher confirms, over a cached, self-healing connection;
//! * `consume`: the consumer loop, its connection's lifecycle (reconnecting with backoff) and
//!   settling deliveries;
//! * `dead_letters`: the admin side, listing and requeueing dead letters;
//! * `tests.rs`: all of the above against a real broker.
//!
//! Logs name jobs by clip id only; message bodies are never logged.

mod consume;
mod dead_letters;
mod link;
mod message;
mod publish;
mod topology;

#[cfg(test)]
mod tests;

use std::fmt;
use std::future::Future;
use std::time::Duration;

use lapin::options::QueueDeclareOptions;
use lapin::types::{FieldTable, ShortString};
use tokio::sync::Mutex;
use voicebin_commands::QueueError;

pub use consume::{JobOutcome, ScanJob, ScanJobHandler};
pub use dead_letters::{DeadLetter, RequeueError};

use publish::PublisherSlot;
use topology::{DEAD_SUFFIX, MAX_QUEUE_NAME};

/// Tunables for [`RabbitQueue`]; `Default` gives the production values.
#[derive(Debug, Clone)]
pub struct RabbitOptions {
    /// Redeliveries after which a job is dead-lettered (`x-delivery-limit`). Only takes effect
    /// when the queue is created.
    pub delivery_limit: u32,
    /// Longest wait for a broker round trip, publisher confirms included.
    pub operation_timeout: Duration,
    /// Longest wait to connect and declare the topology.
    pub connect_timeout: Duration,
    /// First wait between consumer reconnection attempts (doubled per failure).
    pub reconnect_min: Duration,
    /// Longest wait between consumer reconnection attempts.
    pub reconnect_max: Duration,
}

impl Default for RabbitOptions {
    fn default() -> Self {
        RabbitOptions {
            delivery_limit: 5,
            operation_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            reconnect_min: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(30),
        }
    }
}

/// Messages waiting in a queue and its dead-letter queue ([`RabbitQueue::depths`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueDepths {
    /// Messages ready in the work queue.
    pub ready: u64,
    /// Messages in the dead-letter queue.
    pub dead: u64,
}

/// The scan queue on RabbitMQ: publishes scan jobs and consumes them.
pub struct RabbitQueue {
    url: String,
    queue: ShortString,
    dead_queue: ShortString,
    options: RabbitOptions,
    /// The cached publisher connection; replaced when broken.
    publisher: Mutex<PublisherSlot>,
    /// Live consumer sessions, so tests can cut a session's connection. Weak, so that a
    /// dropped session still closes its connection.
    #[cfg(test)]
    consumer_links: std::sync::Mutex<Vec<std::sync::Weak<link::Link>>>,
    /// Deliveries whose handler finished and whose settlement was sent (or failed), so tests
    /// can wait for an ack before cutting a connection.
    #[cfg(test)]
    settled: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl RabbitQueue {
    /// Connects to `url` and declares `queue` and `queue.dead` with the default options.
    pub async fn connect(url: &str, queue: &str) -> Result<Self, QueueError> {
        Self::connect_with(url, queue, RabbitOptions::default()).await
    }

    /// Connects to `url` and declares `queue` and `queue.dead` with `options`.
    pub async fn connect_with(
        url: &str,
        queue: &str,
        options: RabbitOptions,
    ) -> Result<Self, QueueError> {
        if queue.is_empty() || queue.len() + DEAD_SUFFIX.len() > MAX_QUEUE_NAME {
            return Err(QueueError::Invalid(format!(
                "the queue name must be 1 to {} bytes",
                MAX_QUEUE_NAME - DEAD_SUFFIX.len()
            )));
        }
        if i32::try_from(options.delivery_limit).is_err() {
            return Err(QueueError::Invalid(
                "the delivery limit is too large".into(),
            ));
        }
        let this = RabbitQueue {
            url: url.to_owned(),
            queue: queue.into(),
            dead_queue: format!("{queue}{DEAD_SUFFIX}").into(),
            options,
            publisher: Mutex::new(PublisherSlot::default()),
            #[cfg(test)]
            consumer_links: std::sync::Mutex::new(Vec::new()),
            #[cfg(test)]
            settled: Default::default(),
        };
        // Connecting now declares the topology and fails fast on a bad URL or credentials.
        this.publisher_channel(None).await?;
        Ok(this)
    }

    /// The work queue's name.
    pub fn queue_name(&self) -> &str {
        self.queue.as_str()
    }

    /// Checks that RabbitMQ answers and the work queue exists.
    pub async fn ping(&self) -> Result<(), QueueError> {
        let channel = self.side_channel(false).await?;
        self.bounded(
            "checking the scan queue",
            channel.queue_declare(
                self.queue.clone(),
                QueueDeclareOptions::durable().passive(),
                FieldTable::default(),
            ),
        )
        .await?;
        Ok(())
    }

    /// How many messages wait in the work queue (ready, not yet delivered) and in its
    /// dead-letter queue, read with passive declares (for metrics).
    pub async fn depths(&self) -> Result<QueueDepths, QueueError> {
        let channel = self.side_channel(false).await?;
        let mut counts = [0u64; 2];
        for (queue, count) in [&self.queue, &self.dead_queue].into_iter().zip(&mut counts) {
            *count = self
                .bounded(
                    "counting the queue's messages",
                    channel.queue_declare(
                        queue.clone(),
                        QueueDeclareOptions::durable().passive(),
                        FieldTable::default(),
                    ),
                )
                .await?
                .message_count()
                .into();
        }
        Ok(QueueDepths {
            ready: counts[0],
            dead: counts[1],
        })
    }

    /// Runs a broker round trip with the operation timeout, naming it in errors.
    pub(super) async fn bounded<T>(
        &self,
        what: &'static str,
        work: impl Future<Output = lapin::Result<T>>,
    ) -> Result<T, QueueError> {
        match tokio::time::timeout(self.options.operation_timeout, work).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(QueueError::Failed {
                what,
                source: Box::new(e),
            }),
            Err(_) => Err(QueueError::TimedOut(what)),
        }
    }
}

impl fmt::Debug for RabbitQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No URL: it may hold a password.
        f.debug_struct("RabbitQueue")
            .field("queue", &self.queue.as_str())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}
