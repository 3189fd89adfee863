//! The RabbitMQ scan queue (production mode), on lapin 4.
//!
//! # Topology
//!
//! [`RabbitQueue::connect`] declares, idempotently, on every (re)connection:
//!
//! * `<queue>`: a durable **quorum** queue (`x-queue-type: quorum`, RabbitMQ 3.8+) with
//!   `x-delivery-limit` (default 5) and dead-lettering to the default exchange
//!   (`x-dead-letter-exchange: ""`) with routing key `<queue>.dead`
//!   (`x-dead-letter-routing-key`);
//! * `<queue>.dead`: a durable *classic* queue holding the dead letters. Classic on purpose:
//!   [`RabbitQueue::dead_letters`] peeks by requeueing, and a quorum queue would count those
//!   requeues as deliveries (and RabbitMQ 4 gives quorum queues a default delivery limit, so
//!   peeking could eventually drop dead letters).
//!
//! Queue arguments are fixed when a queue is first created: declaring an existing queue with
//! other arguments (say, a new delivery limit) fails with `PRECONDITION_FAILED`. Change them
//! with a RabbitMQ policy, or delete the queue.
//!
//! # Publishing
//!
//! [`RabbitQueue`] implements [`ScanQueue`]: `{"clip_id": "<id>"}` (`application/json`,
//! persistent, `message_id` = clip id) goes to the default exchange with routing key `<queue>`,
//! `mandatory`, on a channel in publisher-confirm mode; `enqueue` returns once the broker has
//! confirmed. A nack, a confirm timeout or an unroutable message (the queue was deleted) is a
//! [`QueueError`]. The publisher connection is cached; when it is broken, the next call opens a
//! new one (at most one reconnection per call), so the process survives broker restarts:
//! `enqueue` fails while RabbitMQ is down and works again once it is back.
//!
//! # Consuming
//!
//! [`RabbitQueue::consume`] runs jobs through a [`ScanJobHandler`], at most `prefetch` at once,
//! with manual acknowledgements. The handler gets the quorum queue's `x-delivery-count` (0 on
//! the first delivery) and its [`JobOutcome`] settles the message: `Done` acks, `Retry` nacks
//! with requeue (the broker counts deliveries and dead-letters the job past the limit), `GiveUp`
//! rejects without requeue (dead-letters at once). A body that is not a scan job is rejected
//! without requeue (dead-lettered) and logged. A handler that panics counts as `Retry`.
//! Delivery is at least once: a job whose consumer dies before settling it is redelivered.
//! RabbitMQ 3.x counts such a return (and the return of jobs prefetched but not started when
//! a consumer shuts down) as a delivery, so it uses up one attempt of the limit.
//! When the connection drops, `consume` reconnects with exponential backoff until shutdown;
//! on shutdown it stops taking deliveries, lets handlers in flight finish, then returns.
//!
//! # Dead letters
//!
//! [`RabbitQueue::dead_letters`] peeks at `<queue>.dead` (get, then nack with requeue, so they
//! stay); [`RabbitQueue::requeue_dead_letters`] moves dead letters back to `<queue>` (publish
//! with confirm, then ack the dead one), each with a fresh delivery count.
//!
//! Logs name jobs by clip id only; message bodies are never logged.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions,
    BasicPublishOptions, BasicQosOptions, BasicRejectOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, Consumer};
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, Semaphore};
use tokio::task::JoinSet;
use voicebin_commands::{QueueError, ScanQueue};
use voicebin_domain::ClipId;

/// Suffix of the dead-letter queue's name.
const DEAD_SUFFIX: &str = ".dead";
/// AMQP short strings (queue names) hold at most 255 bytes.
const MAX_QUEUE_NAME: usize = 255;
/// `delivery_mode` for messages that survive a broker restart.
const PERSISTENT: u8 = 2;
/// The content type of scan jobs.
const JSON: &str = "application/json";

/// How a scan job ended, which decides how its message is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    /// The job is finished: the message is acknowledged.
    Done,
    /// A transient failure: the message is requeued (dead-lettered past the delivery limit).
    Retry,
    /// The job can never succeed: the message is dead-lettered now.
    GiveUp,
}

/// Runs one scan job taken from the queue.
#[async_trait]
pub trait ScanJobHandler: Send + Sync {
    /// Handles the job for `clip`; `delivery_count` is how many times it was delivered before
    /// (0 on the first delivery).
    async fn handle(&self, clip: &ClipId, delivery_count: u32) -> JobOutcome;
}

/// A message in the dead-letter queue, as [`RabbitQueue::dead_letters`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The job's clip, or `None` when the body is not a scan job.
    pub clip: Option<ClipId>,
    /// Why the broker dead-lettered it (`x-first-death-reason`): `rejected` for `GiveUp` and
    /// malformed jobs, `delivery_limit` past the delivery limit (RabbitMQ 3.10+).
    pub reason: Option<String>,
    /// The message's `message_id` (the clip id, for jobs this module published).
    pub message_id: Option<String>,
}

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
    consumer_links: std::sync::Mutex<Vec<std::sync::Weak<Link>>>,
}

/// A connection and a channel on it (in confirm mode for the publisher).
struct Link {
    conn: Connection,
    channel: Channel,
}

impl Link {
    fn healthy(&self) -> bool {
        self.conn.status().connected() && self.channel.status().connected()
    }
}

#[derive(Default)]
struct PublisherSlot {
    /// Bumped per new link, so a caller only discards the link it saw fail.
    generation: u64,
    link: Option<Link>,
}

/// Why a publish failed.
enum PublishFailure {
    /// The channel or connection failed: worth one retry on a new connection.
    Link(lapin::Error),
    /// No confirm in time, or the message came back unroutable: the link's state (or the
    /// topology) is in doubt, so the next call starts over on a new connection.
    Doubtful(String),
    /// The broker nacked the message: the link is fine, the broker is not taking jobs.
    Nacked,
}

impl PublishFailure {
    fn into_error(self) -> QueueError {
        match self {
            PublishFailure::Link(e) => QueueError(format!("RabbitMQ publish failed: {e}")),
            PublishFailure::Doubtful(why) => QueueError(why),
            PublishFailure::Nacked => QueueError("RabbitMQ refused the scan job (nack)".into()),
        }
    }
}

/// How a consumer session ended.
enum SessionEnd {
    Shutdown,
    Lost(String),
}

#[derive(Serialize)]
struct JobBody<'a> {
    clip_id: &'a str,
}

#[derive(Deserialize)]
struct ParsedJob {
    clip_id: String,
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
            return Err(QueueError(format!(
                "queue name must be 1 to {} bytes",
                MAX_QUEUE_NAME - DEAD_SUFFIX.len()
            )));
        }
        if i32::try_from(options.delivery_limit).is_err() {
            return Err(QueueError("delivery limit is too large".into()));
        }
        let this = RabbitQueue {
            url: url.to_owned(),
            queue: queue.into(),
            dead_queue: format!("{queue}{DEAD_SUFFIX}").into(),
            options,
            publisher: Mutex::new(PublisherSlot::default()),
            #[cfg(test)]
            consumer_links: std::sync::Mutex::new(Vec::new()),
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

    /// Runs jobs through `handler`, at most `prefetch` at once, until `shutdown` completes;
    /// reconnects (with backoff) whenever the connection drops. On shutdown, stops taking
    /// deliveries and waits for the handlers in flight.
    pub async fn consume(
        &self,
        handler: Arc<dyn ScanJobHandler>,
        prefetch: u16,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), QueueError> {
        if prefetch == 0 {
            return Err(QueueError("prefetch must be at least 1".into()));
        }
        tokio::pin!(shutdown);
        // The broker's prefetch bounds one session; the semaphore also counts handlers still
        // running from a session that was lost, so a reconnect never exceeds `prefetch`.
        let permits = Arc::new(Semaphore::new(usize::from(prefetch)));
        let mut in_flight = JoinSet::new();
        let mut failures: u32 = 0;
        loop {
            let opened = tokio::select! {
                biased;
                () = &mut shutdown => break,
                opened = self.open_consumer(prefetch) => opened,
            };
            match opened {
                Ok((link, consumer)) => {
                    let link = Arc::new(link);
                    #[cfg(test)]
                    self.consumer_links
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(Arc::downgrade(&link));
                    if failures > 0 {
                        tracing::info!(queue = %self.queue, attempt = failures + 1, "reconnected to RabbitMQ");
                    } else {
                        tracing::info!(queue = %self.queue, prefetch, "consuming scan jobs");
                    }
                    failures = 0;
                    let mut consumer = consumer;
                    let end = self
                        .run_session(
                            &mut consumer,
                            &handler,
                            &permits,
                            &mut in_flight,
                            &mut shutdown,
                        )
                        .await;
                    match end {
                        SessionEnd::Shutdown => {
                            // Cancel first so the broker stops pushing deliveries; the channel
                            // stays open so the handlers in flight can still settle theirs.
                            let _ = self
                                .bounded(
                                    "cancelling the consumer",
                                    link.channel.basic_cancel(
                                        consumer.tag(),
                                        BasicCancelOptions::default(),
                                    ),
                                )
                                .await;
                            drain(&mut in_flight).await;
                            // Deliveries prefetched but never started go back to the queue.
                            let _ = self
                                .bounded(
                                    "closing the connection",
                                    link.conn.close(200, "OK".into()),
                                )
                                .await;
                            tracing::info!(queue = %self.queue, "stopped consuming scan jobs");
                            return Ok(());
                        }
                        SessionEnd::Lost(why) => {
                            tracing::warn!(queue = %self.queue, error = %why, "lost the RabbitMQ consumer connection; reconnecting");
                            // The connection may be up with only the consumer gone.
                            close_quietly(&link.conn, self.options.operation_timeout).await;
                        }
                    }
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(
                        queue = %self.queue,
                        attempt = failures,
                        error = %e.0,
                        "cannot consume from RabbitMQ; will retry"
                    );
                }
            }
            let delay = backoff(&self.options, failures);
            tracing::info!(queue = %self.queue, delay_ms = delay.as_millis() as u64, "reconnecting to RabbitMQ");
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                () = tokio::time::sleep(delay) => {}
            }
        }
        // Shut down while disconnected: handlers from a lost session may still be running.
        drain(&mut in_flight).await;
        tracing::info!(queue = %self.queue, "stopped consuming scan jobs");
        Ok(())
    }

    /// Up to `max` dead letters, oldest first, left in the dead-letter queue.
    pub async fn dead_letters(&self, max: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let mut out = Vec::new();
        if max == 0 {
            return Ok(out);
        }
        let channel = self.side_channel(false).await?;
        let mut last_tag = None;
        while out.len() < max {
            let got = self
                .bounded(
                    "reading dead letters",
                    channel.basic_get(self.dead_queue.clone(), BasicGetOptions { no_ack: false }),
                )
                .await?;
            let Some(message) = got else { break };
            out.push(dead_letter(&message.delivery));
            last_tag = Some(message.delivery.delivery_tag);
        }
        if let Some(tag) = last_tag {
            // Holding every message unacked until now makes each get return the next one;
            // requeueing puts them back in their places. (Should this fail, closing the channel
            // requeues them all the same.)
            self.bounded(
                "returning dead letters",
                channel.basic_nack(
                    tag,
                    BasicNackOptions {
                        multiple: true,
                        requeue: true,
                    },
                ),
            )
            .await?;
        }
        Ok(out)
    }

    /// Moves up to `max` dead letters back to the work queue; returns how many moved.
    pub async fn requeue_dead_letters(&self, max: usize) -> Result<usize, QueueError> {
        if max == 0 {
            return Ok(0);
        }
        let channel = self.side_channel(true).await?;
        // Move only what is dead now: a job that is still poison comes straight back while we
        // work, and must not be moved again and again.
        let waiting = self
            .bounded(
                "counting dead letters",
                channel.queue_declare(
                    self.dead_queue.clone(),
                    QueueDeclareOptions::durable().passive(),
                    FieldTable::default(),
                ),
            )
            .await?
            .message_count() as usize;
        let max = max.min(waiting);
        let mut moved = 0;
        while moved < max {
            let got = self
                .bounded(
                    "reading dead letters",
                    channel.basic_get(self.dead_queue.clone(), BasicGetOptions { no_ack: false }),
                )
                .await?;
            let Some(message) = got else { break };
            let delivery = message.delivery;
            // Fresh properties: dropping `x-death` and friends gives the job a clean slate.
            let mut properties = BasicProperties::default()
                .with_content_type(JSON.into())
                .with_delivery_mode(PERSISTENT);
            if let Some(id) = delivery.properties.message_id() {
                properties = properties.with_message_id(id.clone());
            }
            if let Err(failure) = self.publish_on(&channel, &delivery.data, properties).await {
                // The dead letter is still unacked: it returns to the dead-letter queue when
                // the channel closes, so nothing is lost (at worst it is in both queues).
                let e = failure.into_error();
                return Err(QueueError(format!(
                    "moved {moved} dead letters, then failed: {}",
                    e.0
                )));
            }
            self.bounded(
                "acknowledging a requeued dead letter",
                channel.basic_ack(delivery.delivery_tag, BasicAckOptions::default()),
            )
            .await?;
            moved += 1;
        }
        if moved > 0 {
            tracing::info!(queue = %self.queue, moved, "requeued dead scan jobs");
        }
        Ok(moved)
    }

    /// Publishes a job body with confirms, reconnecting once when the cached link is broken.
    async fn publish_job(
        &self,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<(), QueueError> {
        let (generation, channel, fresh) = self.publisher_channel(None).await?;
        let failure = match self.publish_on(&channel, body, properties.clone()).await {
            Ok(()) => return Ok(()),
            Err(failure) => failure,
        };
        match failure {
            // A link we just opened failing again means RabbitMQ is in trouble: report it.
            PublishFailure::Link(e) if !fresh => {
                tracing::info!(queue = %self.queue, error = %e, "RabbitMQ publisher connection broken; reconnecting");
                let (generation, channel, _) = self.publisher_channel(Some(generation)).await?;
                self.publish_on(&channel, body, properties)
                    .await
                    .map_err(|failure| self.discard_later(generation, failure))
            }
            failure => Err(self.discard_later(generation, failure)),
        }
    }

    /// Turns a failure into an error, first dropping the publisher link of `generation` unless
    /// the broker merely nacked.
    fn discard_later(&self, generation: u64, failure: PublishFailure) -> QueueError {
        if matches!(failure, PublishFailure::Nacked) {
            return failure.into_error();
        }
        // try_lock: never wait here; a busy lock means someone is replacing the link already.
        if let Ok(mut slot) = self.publisher.try_lock() {
            if slot.generation == generation {
                if let Some(link) = slot.link.take() {
                    retire(link, self.options.operation_timeout);
                }
            }
        }
        failure.into_error()
    }

    /// Publishes `body` to the work queue on `channel` (in confirm mode) and waits for the
    /// confirm.
    async fn publish_on(
        &self,
        channel: &Channel,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<(), PublishFailure> {
        let work = async {
            let confirm = channel
                .basic_publish(
                    "".into(),
                    self.queue.clone(),
                    // Mandatory: a deleted queue makes the broker return the message instead
                    // of confirming it into the void.
                    BasicPublishOptions {
                        mandatory: true,
                        immediate: false,
                    },
                    body,
                    properties,
                )
                .await?;
            confirm.await
        };
        match tokio::time::timeout(self.options.operation_timeout, work).await {
            Err(_) => Err(PublishFailure::Doubtful(
                "RabbitMQ did not confirm the scan job in time".into(),
            )),
            Ok(Err(e)) => Err(PublishFailure::Link(e)),
            Ok(Ok(Confirmation::Ack(None))) => Ok(()),
            Ok(Ok(Confirmation::Ack(Some(_)))) => Err(PublishFailure::Doubtful(format!(
                "RabbitMQ has no queue {:?} for the scan job",
                self.queue.as_str()
            ))),
            Ok(Ok(Confirmation::Nack(_))) => Err(PublishFailure::Nacked),
            Ok(Ok(Confirmation::NotRequested)) => Err(PublishFailure::Doubtful(
                "publisher confirms are not enabled on the channel".into(),
            )),
        }
    }

    /// The publisher channel, its generation, and whether it was just opened. Replaces the
    /// cached link when it is broken or is generation `stale`.
    async fn publisher_channel(
        &self,
        stale: Option<u64>,
    ) -> Result<(u64, Channel, bool), QueueError> {
        let mut slot = self.publisher.lock().await;
        let fresh = self.ensure_link(&mut slot, stale).await?;
        let channel = match &slot.link {
            Some(link) => link.channel.clone(),
            None => return Err(QueueError("RabbitMQ publisher link missing".into())),
        };
        Ok((slot.generation, channel, fresh))
    }

    /// Makes `slot` hold a healthy link (opening one if needed); returns whether it is new.
    async fn ensure_link(
        &self,
        slot: &mut PublisherSlot,
        stale: Option<u64>,
    ) -> Result<bool, QueueError> {
        let keep = match &slot.link {
            Some(link) => link.healthy() && stale != Some(slot.generation),
            None => false,
        };
        if keep {
            return Ok(false);
        }
        if let Some(old) = slot.link.take() {
            retire(old, self.options.operation_timeout);
        }
        let link = self.open_link("publisher", true).await?;
        slot.generation += 1;
        slot.link = Some(link);
        Ok(true)
    }

    /// A new channel on the publisher's connection, for one-off work (ping, dead letters) that
    /// must not disturb the shared publisher channel: a failed passive declare closes its
    /// channel, and a multiple nack must only cover this work's deliveries.
    async fn side_channel(&self, confirms: bool) -> Result<Channel, QueueError> {
        let mut slot = self.publisher.lock().await;
        let fresh = self.ensure_link(&mut slot, None).await?;
        let created = match &slot.link {
            Some(link) => {
                self.bounded("opening a channel", link.conn.create_channel())
                    .await
            }
            None => Err(QueueError("RabbitMQ publisher link missing".into())),
        };
        let channel = match created {
            Ok(channel) => channel,
            Err(_) if !fresh => {
                let stale = slot.generation;
                self.ensure_link(&mut slot, Some(stale)).await?;
                match &slot.link {
                    Some(link) => {
                        self.bounded("opening a channel", link.conn.create_channel())
                            .await?
                    }
                    None => return Err(QueueError("RabbitMQ publisher link missing".into())),
                }
            }
            Err(e) => return Err(e),
        };
        drop(slot);
        if confirms {
            self.bounded(
                "enabling publisher confirms",
                channel.confirm_select(ConfirmSelectOptions::default()),
            )
            .await?;
        }
        Ok(channel)
    }

    /// Opens a connection and a channel, and declares the topology on it.
    async fn open_link(&self, role: &str, confirms: bool) -> Result<Link, QueueError> {
        let properties = ConnectionProperties::default()
            .with_connection_name(format!("voicebin {role} ({})", self.queue).into());
        let connecting = Connection::connect(&self.url, properties);
        // The URL is never part of a message: it may hold a password.
        let conn = match tokio::time::timeout(self.options.connect_timeout, connecting).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(QueueError(format!("cannot connect to RabbitMQ: {e}"))),
            Err(_) => return Err(QueueError("timed out connecting to RabbitMQ".into())),
        };
        let setup = async {
            let channel = conn.create_channel().await?;
            self.declare_topology(&channel).await?;
            if confirms {
                channel
                    .confirm_select(ConfirmSelectOptions::default())
                    .await?;
            }
            Ok::<_, lapin::Error>(channel)
        };
        let failure = match tokio::time::timeout(self.options.operation_timeout, setup).await {
            Ok(Ok(channel)) => return Ok(Link { conn, channel }),
            Ok(Err(e)) => format!("RabbitMQ failed declaring the scan queues: {e}"),
            Err(_) => "RabbitMQ timed out declaring the scan queues".to_owned(),
        };
        close_quietly(&conn, self.options.operation_timeout).await;
        Err(QueueError(failure))
    }

    /// Declares the dead-letter queue and the work queue (idempotent with equal arguments).
    async fn declare_topology(&self, channel: &Channel) -> lapin::Result<()> {
        let mut dead_args = FieldTable::default();
        dead_args.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("classic".into()),
        );
        channel
            .queue_declare(
                self.dead_queue.clone(),
                QueueDeclareOptions::durable(),
                dead_args,
            )
            .await?;
        // Checked in connect_with.
        let limit = i32::try_from(self.options.delivery_limit).unwrap_or(i32::MAX);
        let mut args = FieldTable::default();
        args.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
        args.insert("x-delivery-limit".into(), AMQPValue::LongInt(limit));
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString("".into()),
        );
        args.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(self.dead_queue.as_str().into()),
        );
        channel
            .queue_declare(self.queue.clone(), QueueDeclareOptions::durable(), args)
            .await?;
        Ok(())
    }

    /// Opens a consumer session: its own connection, prefetch, manual acks.
    async fn open_consumer(&self, prefetch: u16) -> Result<(Link, Consumer), QueueError> {
        let link = self.open_link("consumer", false).await?;
        let started = async {
            self.bounded(
                "setting the prefetch",
                link.channel.basic_qos(prefetch, BasicQosOptions::default()),
            )
            .await?;
            self.bounded(
                "starting the consumer",
                link.channel.basic_consume(
                    self.queue.clone(),
                    "".into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                ),
            )
            .await
        };
        match started.await {
            Ok(consumer) => Ok((link, consumer)),
            Err(e) => {
                close_quietly(&link.conn, self.options.operation_timeout).await;
                Err(e)
            }
        }
    }

    /// Feeds deliveries to handler tasks until shutdown or until the consumer stream ends.
    async fn run_session<S: Future<Output = ()>>(
        &self,
        consumer: &mut Consumer,
        handler: &Arc<dyn ScanJobHandler>,
        permits: &Arc<Semaphore>,
        in_flight: &mut JoinSet<()>,
        shutdown: &mut Pin<&mut S>,
    ) -> SessionEnd {
        loop {
            while let Some(finished) = in_flight.try_join_next() {
                log_task_end(finished);
            }
            let permit = tokio::select! {
                biased;
                () = shutdown.as_mut() => return SessionEnd::Shutdown,
                permit = permits.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => return SessionEnd::Shutdown,
                },
            };
            let next = tokio::select! {
                biased;
                () = shutdown.as_mut() => return SessionEnd::Shutdown,
                next = consumer.next() => next,
            };
            match next {
                Some(Ok(delivery)) => {
                    let handler = handler.clone();
                    in_flight.spawn(async move {
                        handle_delivery(delivery, handler).await;
                        drop(permit);
                    });
                }
                Some(Err(e)) => return SessionEnd::Lost(e.to_string()),
                None => return SessionEnd::Lost("the consumer was cancelled".into()),
            }
        }
    }

    /// Runs a broker round trip with the operation timeout, naming it in errors.
    async fn bounded<T>(
        &self,
        what: &str,
        work: impl Future<Output = lapin::Result<T>>,
    ) -> Result<T, QueueError> {
        match tokio::time::timeout(self.options.operation_timeout, work).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(QueueError(format!("RabbitMQ failed {what}: {e}"))),
            Err(_) => Err(QueueError(format!("RabbitMQ timed out {what}"))),
        }
    }
}

#[async_trait]
impl ScanQueue for RabbitQueue {
    async fn enqueue(&self, clip: &ClipId) -> Result<(), QueueError> {
        let body = serde_json::to_vec(&JobBody {
            clip_id: clip.as_str(),
        })
        .map_err(|e| QueueError(format!("cannot encode the scan job: {e}")))?;
        let properties = BasicProperties::default()
            .with_content_type(JSON.into())
            .with_delivery_mode(PERSISTENT)
            .with_message_id(clip.as_str().into());
        self.publish_job(&body, properties).await
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

/// Parses, handles and settles one delivery.
async fn handle_delivery(delivery: Delivery, handler: Arc<dyn ScanJobHandler>) {
    let count = delivery_count(&delivery.properties);
    let clip = match parse_job(&delivery.data) {
        Ok(clip) => clip,
        Err(why) => {
            tracing::warn!(
                bytes = delivery.data.len(),
                delivery_count = count,
                why,
                "malformed scan job; dead-lettering it"
            );
            let settled = delivery.reject(BasicRejectOptions { requeue: false }).await;
            log_unsettled(settled, None, "reject");
            return;
        }
    };
    let outcome = AssertUnwindSafe(handler.handle(&clip, count))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| {
            tracing::error!(clip.id = %clip, "scan job handler panicked; retrying the job");
            JobOutcome::Retry
        });
    let settled = match outcome {
        JobOutcome::Done => delivery.ack(BasicAckOptions::default()).await,
        JobOutcome::Retry => {
            tracing::debug!(clip.id = %clip, delivery_count = count, "scan job will be retried");
            delivery
                .nack(BasicNackOptions {
                    multiple: false,
                    requeue: true,
                })
                .await
        }
        JobOutcome::GiveUp => {
            tracing::warn!(clip.id = %clip, delivery_count = count, "scan job given up; dead-lettering it");
            delivery.reject(BasicRejectOptions { requeue: false }).await
        }
    };
    log_unsettled(settled, Some(&clip), "settle");
}

/// Logs a delivery that could not be settled (its channel is gone): the broker redelivers it.
fn log_unsettled(settled: lapin::Result<bool>, clip: Option<&ClipId>, action: &'static str) {
    let error = match settled {
        Ok(true) => return,
        Ok(false) => "the channel is closed".to_owned(),
        Err(e) => e.to_string(),
    };
    tracing::warn!(
        clip.id = clip.map(ClipId::as_str),
        action,
        error,
        "could not settle a scan job; the broker will redeliver it"
    );
}

fn log_task_end(finished: Result<(), tokio::task::JoinError>) {
    if let Err(e) = finished {
        if e.is_panic() {
            tracing::error!("a scan job task panicked");
        }
    }
}

/// Closes a connection no longer used. Dropping it is not enough: lapin keeps a connection
/// open while a request on it awaits a reply (a timed-out confirm or consume would leak it).
async fn close_quietly(conn: &Connection, timeout: Duration) {
    if conn.status().connected() {
        let _ = tokio::time::timeout(timeout, conn.close(200, "OK".into())).await;
    }
}

/// Closes a discarded link in the background (see [`close_quietly`]).
fn retire(link: Link, timeout: Duration) {
    if link.conn.status().connected() {
        tokio::spawn(async move { close_quietly(&link.conn, timeout).await });
    }
}

/// Waits for every handler task.
async fn drain(in_flight: &mut JoinSet<()>) {
    while let Some(finished) = in_flight.join_next().await {
        log_task_end(finished);
    }
}

/// The wait before reconnection attempt `failures + 1`.
fn backoff(options: &RabbitOptions, failures: u32) -> Duration {
    let factor = 1u32 << failures.min(16);
    options
        .reconnect_min
        .saturating_mul(factor)
        .min(options.reconnect_max)
}

fn parse_job(body: &[u8]) -> Result<ClipId, &'static str> {
    let job: ParsedJob = serde_json::from_slice(body).map_err(|_| "not a JSON scan job")?;
    ClipId::parse(&job.clip_id).map_err(|_| "not a clip id")
}

/// The quorum queue's count of earlier deliveries (absent on the first delivery).
fn delivery_count(properties: &BasicProperties) -> u32 {
    properties
        .headers()
        .as_ref()
        .and_then(|headers| headers.inner().get("x-delivery-count"))
        .and_then(int_value)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0)
}

fn int_value(value: &AMQPValue) -> Option<i64> {
    Some(match value {
        AMQPValue::ShortShortInt(n) => i64::from(*n),
        AMQPValue::ShortShortUInt(n) => i64::from(*n),
        AMQPValue::ShortInt(n) => i64::from(*n),
        AMQPValue::ShortUInt(n) => i64::from(*n),
        AMQPValue::LongInt(n) => i64::from(*n),
        AMQPValue::LongUInt(n) => i64::from(*n),
        AMQPValue::LongLongInt(n) => *n,
        _ => return None,
    })
}

fn text_value(value: &AMQPValue) -> Option<String> {
    match value {
        AMQPValue::LongString(s) => Some(s.to_string()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        _ => None,
    }
}

fn dead_letter(delivery: &Delivery) -> DeadLetter {
    let headers = delivery.properties.headers().as_ref();
    DeadLetter {
        clip: parse_job(&delivery.data).ok(),
        reason: headers
            .and_then(|h| h.inner().get("x-first-death-reason"))
            .and_then(text_value),
        message_id: delivery
            .properties
            .message_id()
            .as_ref()
            .map(|id| id.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Instant;
    use tokio::sync::oneshot;

    const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
    const WAIT: Duration = Duration::from_secs(20);

    fn url() -> String {
        std::env::var("VOICEBIN_TEST_AMQP_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
    }

    fn random_u64() -> u64 {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u32(std::process::id());
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        h.finish()
    }

    fn random_clip() -> ClipId {
        let mut bytes = [0u8; 12];
        bytes[..8].copy_from_slice(&random_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&random_u64().to_le_bytes()[..4]);
        ClipId::from_random_bytes(bytes)
    }

    fn test_options(delivery_limit: u32) -> RabbitOptions {
        RabbitOptions {
            delivery_limit,
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(1),
            ..RabbitOptions::default()
        }
    }

    /// Runs `body` against a fresh queue pair, deleting both afterwards even if it panics.
    async fn with_queue<F, Fut>(delivery_limit: u32, body: F)
    where
        F: FnOnce(Arc<RabbitQueue>) -> Fut,
        Fut: Future<Output = ()>,
    {
        let name = format!("vbtest.rabbit.{:016x}", random_u64());
        let url = url();
        let queue = match RabbitQueue::connect_with(&url, &name, test_options(delivery_limit)).await
        {
            Ok(queue) => Arc::new(queue),
            Err(e) => panic!(
                "RabbitMQ is not reachable ({}); run scripts/test, which starts it, or set \
                 VOICEBIN_TEST_AMQP_URL",
                e.0
            ),
        };
        let result = AssertUnwindSafe(body(queue.clone())).catch_unwind().await;
        queue.delete_queues().await;
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    }

    impl RabbitQueue {
        async fn delete_queues(&self) {
            let channel = self.side_channel(false).await.expect("side channel");
            for name in [&self.queue, &self.dead_queue] {
                channel
                    .queue_delete(name.clone(), Default::default())
                    .await
                    .expect("delete test queue");
            }
        }

        async fn count(&self, queue: &ShortString) -> u32 {
            let channel = self.side_channel(false).await.expect("side channel");
            channel
                .queue_declare(
                    queue.clone(),
                    QueueDeclareOptions::durable().passive(),
                    FieldTable::default(),
                )
                .await
                .expect("passive declare")
                .message_count()
        }

        async fn ready(&self) -> u32 {
            self.count(&self.queue).await
        }

        async fn dead(&self) -> u32 {
            self.count(&self.dead_queue).await
        }

        async fn publish_raw(&self, body: &[u8]) {
            let channel = self.side_channel(true).await.expect("side channel");
            self.publish_on(&channel, body, BasicProperties::default())
                .await
                .map_err(PublishFailure::into_error)
                .expect("publish raw");
        }

        /// Closes the connections of the running consumer sessions under their feet.
        async fn cut_consumers(&self) -> usize {
            let links: Vec<Arc<Link>> = std::mem::take(&mut *self.consumer_links.lock().unwrap())
                .iter()
                .filter_map(std::sync::Weak::upgrade)
                .collect();
            for link in &links {
                link.conn
                    .close(320, "test cut".into())
                    .await
                    .expect("close consumer connection");
            }
            links.len()
        }

        /// Closes the publisher's connection behind its back.
        async fn cut_publisher(&self) {
            let slot = self.publisher.lock().await;
            let link = slot.link.as_ref().expect("publisher link");
            link.conn
                .close(320, "test cut".into())
                .await
                .expect("close");
        }
    }

    /// Records what it sees and answers `outcome`.
    struct Recorder {
        seen: std::sync::Mutex<Vec<(ClipId, u32)>>,
        outcome: JobOutcome,
        delay: Duration,
        hang: bool,
    }

    impl Recorder {
        fn new(outcome: JobOutcome) -> Self {
            Recorder {
                seen: std::sync::Mutex::new(Vec::new()),
                outcome,
                delay: Duration::ZERO,
                hang: false,
            }
        }

        fn seen(&self) -> Vec<(ClipId, u32)> {
            self.seen.lock().unwrap().clone()
        }
    }

    #[async_trait]
    impl ScanJobHandler for Recorder {
        async fn handle(&self, clip: &ClipId, delivery_count: u32) -> JobOutcome {
            self.seen
                .lock()
                .unwrap()
                .push((clip.clone(), delivery_count));
            if self.hang {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(self.delay).await;
            self.outcome
        }
    }

    /// A running `consume` and the means to stop it.
    struct Running {
        stop: oneshot::Sender<()>,
        task: tokio::task::JoinHandle<Result<(), QueueError>>,
    }

    impl Running {
        async fn stop(self) {
            let _ = self.stop.send(());
            tokio::time::timeout(WAIT, self.task)
                .await
                .expect("consume stops")
                .expect("consume task")
                .expect("consume result");
        }
    }

    fn start(queue: &Arc<RabbitQueue>, handler: Arc<Recorder>, prefetch: u16) -> Running {
        let (stop, stopped) = oneshot::channel::<()>();
        let queue = queue.clone();
        let task = tokio::spawn(async move {
            queue
                .consume(handler, prefetch, async {
                    let _ = stopped.await;
                })
                .await
        });
        Running { stop, task }
    }

    async fn eventually<F, Fut>(what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let start = Instant::now();
        while !check().await {
            assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    #[tokio::test]
    async fn ping_answers() {
        with_queue(5, |queue| async move {
            queue.ping().await.expect("ping");
            assert_eq!(queue.queue_name(), queue.queue.as_str());
        })
        .await;
    }

    #[tokio::test]
    async fn done_acks_and_empties_the_queue() {
        with_queue(5, |queue| async move {
            let clips: Vec<ClipId> = (0..3).map(|_| random_clip()).collect();
            for clip in &clips {
                queue.enqueue(clip).await.expect("enqueue");
            }
            assert_eq!(queue.ready().await, 3);
            let handler = Arc::new(Recorder::new(JobOutcome::Done));
            let running = start(&queue, handler.clone(), 4);
            eventually("three jobs", || async { handler.seen().len() >= 3 }).await;
            running.stop().await;
            let seen: HashSet<ClipId> = handler.seen().into_iter().map(|(c, _)| c).collect();
            assert_eq!(seen, clips.iter().cloned().collect());
            assert!(handler.seen().iter().all(|(_, n)| *n == 0));
            // After the consumer's connection closed, unacked messages would be back.
            assert_eq!(queue.ready().await, 0);
            assert_eq!(queue.dead().await, 0);
        })
        .await;
    }

    #[tokio::test]
    async fn shutdown_lets_jobs_in_flight_finish_and_settle() {
        with_queue(5, |queue| async move {
            for _ in 0..2 {
                queue.enqueue(&random_clip()).await.expect("enqueue");
            }
            let mut slow = Recorder::new(JobOutcome::Done);
            slow.delay = Duration::from_millis(500);
            let slow = Arc::new(slow);
            let running = start(&queue, slow.clone(), 2);
            eventually("both jobs started", || async { slow.seen().len() == 2 }).await;
            let stopping = Instant::now();
            running.stop().await;
            assert!(
                stopping.elapsed() >= Duration::from_millis(300),
                "consume returned before its handlers finished"
            );
            // Both were acked on the channel kept open after the cancel, none redelivered.
            assert_eq!(queue.ready().await, 0);
            assert_eq!(slow.seen().len(), 2);
        })
        .await;
    }

    #[tokio::test]
    async fn retry_redelivers_then_dead_letters_past_the_limit() {
        let limit = 2;
        with_queue(limit, |queue| async move {
            let clip = random_clip();
            queue.enqueue(&clip).await.expect("enqueue");
            let handler = Arc::new(Recorder::new(JobOutcome::Retry));
            let running = start(&queue, handler.clone(), 1);
            eventually("the dead letter", || async { queue.dead().await == 1 }).await;
            running.stop().await;
            let counts: Vec<u32> = handler.seen().iter().map(|(_, n)| *n).collect();
            assert!(handler.seen().iter().all(|(c, _)| *c == clip));
            assert_eq!(counts, (0..=limit).collect::<Vec<_>>(), "delivery counts");
            assert_eq!(queue.ready().await, 0);
            let dead = queue.dead_letters(10).await.expect("dead letters");
            assert_eq!(dead.len(), 1);
            assert_eq!(dead[0].clip.as_ref(), Some(&clip));
            assert_eq!(dead[0].message_id.as_deref(), Some(clip.as_str()));
            assert_eq!(dead[0].reason.as_deref(), Some("delivery_limit"));
        })
        .await;
    }

    #[tokio::test]
    async fn give_up_dead_letters_at_once() {
        with_queue(5, |queue| async move {
            let clip = random_clip();
            queue.enqueue(&clip).await.expect("enqueue");
            let handler = Arc::new(Recorder::new(JobOutcome::GiveUp));
            let running = start(&queue, handler.clone(), 2);
            eventually("the dead letter", || async { queue.dead().await == 1 }).await;
            running.stop().await;
            assert_eq!(handler.seen(), vec![(clip.clone(), 0)]);
            assert_eq!(queue.ready().await, 0);
            let dead = queue.dead_letters(10).await.expect("dead letters");
            assert_eq!(dead.len(), 1);
            assert_eq!(dead[0].clip.as_ref(), Some(&clip));
            assert_eq!(dead[0].reason.as_deref(), Some("rejected"));
        })
        .await;
    }

    #[tokio::test]
    async fn malformed_jobs_dead_letter_without_reaching_the_handler() {
        with_queue(5, |queue| async move {
            queue.publish_raw(b"not json").await;
            queue.publish_raw(br#"{"clip_id": "../etc/passwd"}"#).await;
            let handler = Arc::new(Recorder::new(JobOutcome::Done));
            let running = start(&queue, handler.clone(), 2);
            eventually("two dead letters", || async { queue.dead().await == 2 }).await;
            running.stop().await;
            assert!(handler.seen().is_empty());
            assert_eq!(queue.ready().await, 0);
            let dead = queue.dead_letters(10).await.expect("dead letters");
            assert_eq!(dead.len(), 2);
            assert!(dead.iter().all(|d| d.clip.is_none()));
        })
        .await;
    }

    #[tokio::test]
    async fn an_aborted_consumer_s_job_goes_to_another_consumer() {
        with_queue(5, |queue| async move {
            let clip = random_clip();
            queue.enqueue(&clip).await.expect("enqueue");
            let mut stuck = Recorder::new(JobOutcome::Done);
            stuck.hang = true;
            let stuck = Arc::new(stuck);
            let first = start(&queue, stuck.clone(), 1);
            eventually("the first consumer", || async { !stuck.seen().is_empty() }).await;
            // Dropping the task drops its connection with the job unacked.
            first.task.abort();
            let _ = first.task.await;
            let handler = Arc::new(Recorder::new(JobOutcome::Done));
            let second = start(&queue, handler.clone(), 1);
            eventually("the redelivery", || async { !handler.seen().is_empty() }).await;
            second.stop().await;
            let seen = handler.seen();
            assert_eq!(seen.len(), 1);
            assert_eq!(seen[0].0, clip);
            // RabbitMQ 3.x counts a delivery whose consumer died as a delivery.
            assert!(seen[0].1 <= 1, "delivery count {}", seen[0].1);
            assert_eq!(stuck.seen(), vec![(clip.clone(), 0)]);
            assert_eq!(queue.ready().await, 0);
            assert_eq!(queue.dead().await, 0);
        })
        .await;
    }

    #[tokio::test]
    async fn two_consumers_share_the_jobs() {
        with_queue(5, |queue| async move {
            let clips: Vec<ClipId> = (0..10).map(|_| random_clip()).collect();
            for clip in &clips {
                queue.enqueue(clip).await.expect("enqueue");
            }
            let mut a = Recorder::new(JobOutcome::Done);
            a.delay = Duration::from_millis(50);
            let mut b = Recorder::new(JobOutcome::Done);
            b.delay = Duration::from_millis(50);
            let (a, b) = (Arc::new(a), Arc::new(b));
            let first = start(&queue, a.clone(), 1);
            let second = start(&queue, b.clone(), 1);
            eventually("all jobs", || async {
                a.seen().len() + b.seen().len() >= clips.len()
            })
            .await;
            first.stop().await;
            second.stop().await;
            let (a, b) = (a.seen(), b.seen());
            assert!(!a.is_empty() && !b.is_empty(), "both consumers got jobs");
            let all: Vec<ClipId> = a.iter().chain(&b).map(|(c, _)| c.clone()).collect();
            let distinct: HashSet<ClipId> = all.iter().cloned().collect();
            assert_eq!(all.len(), clips.len(), "no job was delivered twice");
            assert_eq!(distinct, clips.iter().cloned().collect());
            assert_eq!(queue.ready().await, 0);
        })
        .await;
    }

    #[tokio::test]
    async fn dead_letters_are_listed_and_requeued() {
        with_queue(5, |queue| async move {
            let clips: Vec<ClipId> = (0..3).map(|_| random_clip()).collect();
            for clip in &clips {
                queue.enqueue(clip).await.expect("enqueue");
            }
            let quitter = Arc::new(Recorder::new(JobOutcome::GiveUp));
            let running = start(&queue, quitter, 1);
            eventually("three dead letters", || async { queue.dead().await == 3 }).await;
            running.stop().await;

            assert!(queue.dead_letters(0).await.expect("none").is_empty());
            let listed = queue.dead_letters(10).await.expect("dead letters");
            let listed: Vec<ClipId> = listed.into_iter().filter_map(|d| d.clip).collect();
            assert_eq!(listed, clips, "all three, oldest first");
            // Peeking leaves them where they were, in order.
            let again = queue.dead_letters(2).await.expect("dead letters");
            let again: Vec<ClipId> = again.into_iter().filter_map(|d| d.clip).collect();
            assert_eq!(again, clips[..2].to_vec());
            assert_eq!(queue.dead().await, 3);

            assert_eq!(queue.requeue_dead_letters(2).await.expect("requeue"), 2);
            assert_eq!(queue.dead().await, 1);
            assert_eq!(queue.ready().await, 2);
            assert_eq!(queue.requeue_dead_letters(10).await.expect("requeue"), 1);
            assert_eq!(queue.requeue_dead_letters(10).await.expect("requeue"), 0);
            assert_eq!(queue.dead().await, 0);
            assert_eq!(queue.ready().await, 3);

            // Requeued jobs run again, with a fresh delivery count.
            let handler = Arc::new(Recorder::new(JobOutcome::Done));
            let running = start(&queue, handler.clone(), 3);
            eventually("the requeued jobs", || async { handler.seen().len() >= 3 }).await;
            running.stop().await;
            let seen: HashSet<ClipId> = handler.seen().into_iter().map(|(c, _)| c).collect();
            assert_eq!(seen, clips.iter().cloned().collect());
            assert!(handler.seen().iter().all(|(_, n)| *n == 0));
            assert_eq!(queue.ready().await, 0);
        })
        .await;
    }

    #[tokio::test]
    async fn the_publisher_reconnects_after_losing_its_connection() {
        with_queue(5, |queue| async move {
            queue.cut_publisher().await;
            queue
                .enqueue(&random_clip())
                .await
                .expect("enqueue reconnects");
            queue.ping().await.expect("ping");
            assert_eq!(queue.ready().await, 1);
        })
        .await;
    }

    #[tokio::test]
    async fn a_deleted_queue_fails_enqueue_then_is_redeclared() {
        with_queue(5, |queue| async move {
            queue.delete_queues().await;
            let err = queue.enqueue(&random_clip()).await.expect_err("no queue");
            assert!(err.0.contains("no queue"), "{}", err.0);
            // The failure dropped the publisher link; the next call reconnects and redeclares.
            queue.enqueue(&random_clip()).await.expect("enqueue");
            queue.ping().await.expect("ping");
            assert_eq!(queue.ready().await, 1);
        })
        .await;
    }

    #[tokio::test]
    async fn the_consumer_reconnects_after_losing_its_connection() {
        with_queue(5, |queue| async move {
            let handler = Arc::new(Recorder::new(JobOutcome::Done));
            let running = start(&queue, handler.clone(), 2);
            let first = random_clip();
            queue.enqueue(&first).await.expect("enqueue");
            eventually("the first job", || async { handler.seen().len() == 1 }).await;
            assert_eq!(queue.cut_consumers().await, 1);
            let second = random_clip();
            queue.enqueue(&second).await.expect("enqueue");
            eventually("the second job", || async { handler.seen().len() == 2 }).await;
            running.stop().await;
            let seen: Vec<ClipId> = handler.seen().into_iter().map(|(c, _)| c).collect();
            assert_eq!(seen, vec![first, second]);
            assert_eq!(queue.ready().await, 0);
        })
        .await;
    }

    #[tokio::test]
    async fn invalid_arguments_are_refused() {
        let err = RabbitQueue::connect(&url(), "").await.expect_err("empty");
        assert!(err.0.contains("queue name"));
        let long = "q".repeat(251);
        assert!(RabbitQueue::connect(&url(), &long).await.is_err());
    }

    #[test]
    fn delivery_counts_and_jobs_parse() {
        assert_eq!(delivery_count(&BasicProperties::default()), 0);
        let mut headers = FieldTable::default();
        headers.insert("x-delivery-count".into(), AMQPValue::LongLongInt(3));
        let props = BasicProperties::default().with_headers(headers);
        assert_eq!(delivery_count(&props), 3);
        let clip = random_clip();
        let body = serde_json::to_vec(&JobBody {
            clip_id: clip.as_str(),
        })
        .unwrap();
        assert_eq!(parse_job(&body), Ok(clip));
        assert!(parse_job(b"{}").is_err());
        let options = RabbitOptions::default();
        assert_eq!(backoff(&options, 0), Duration::from_millis(500));
        assert_eq!(backoff(&options, 2), Duration::from_secs(2));
        assert_eq!(backoff(&options, 40), Duration::from_secs(30));
    }
}
