//! Publishing scan jobs.
//!
//! [`RabbitQueue`] implements [`ScanQueue`]: `{"clip_id": "<id>"}` (`application/json`,
//! persistent, `message_id` = clip id) goes to the default exchange with routing key `<queue>`,
//! `mandatory`, on a channel in publisher-confirm mode; `enqueue` returns once the broker has
//! confirmed. A nack, a confirm timeout or an unroutable message (the queue was deleted) is a
//! [`QueueError`]. The publisher connection is cached; when it is broken, the next call opens a
//! new one (at most one reconnection per call), so the process survives broker restarts:
//! `enqueue` fails while RabbitMQ is down and works again once it is back.

use async_trait::async_trait;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Confirmation};
use voicebin_commands::{QueueError, ScanQueue};
use voicebin_domain::ClipId;

use super::link::{retire, Link};
use super::message::{job_body, job_properties};
use super::RabbitQueue;

#[derive(Default)]
pub(super) struct PublisherSlot {
    /// Bumped per new link, so a caller only discards the link it saw fail.
    generation: u64,
    pub(super) link: Option<Link>,
}

/// Why a publish failed.
pub(super) enum PublishFailure {
    /// The channel or connection failed: worth one retry on a new connection.
    Link(lapin::Error),
    /// No confirm in time, or the message came back unroutable: the link's state (or the
    /// topology) is in doubt, so the next call starts over on a new connection.
    Doubtful(QueueError),
    /// The broker nacked the message: the link is fine, the broker is not taking jobs.
    Nacked,
}

impl PublishFailure {
    pub(super) fn into_error(self) -> QueueError {
        match self {
            PublishFailure::Link(e) => QueueError::Failed {
                what: "publishing the scan job",
                source: Box::new(e),
            },
            PublishFailure::Doubtful(e) => e,
            PublishFailure::Nacked => QueueError::Refused,
        }
    }
}

#[async_trait]
impl ScanQueue for RabbitQueue {
    async fn enqueue(&self, clip: &ClipId) -> Result<(), QueueError> {
        let properties = job_properties(Some(clip.as_str().into()), false);
        self.publish_job(&job_body(clip), properties).await
    }
}

impl RabbitQueue {
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
    pub(super) async fn publish_on(
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
            Err(_) => Err(PublishFailure::Doubtful(QueueError::TimedOut(
                "confirming the scan job",
            ))),
            Ok(Err(e)) => Err(PublishFailure::Link(e)),
            Ok(Ok(Confirmation::Ack(None))) => Ok(()),
            Ok(Ok(Confirmation::Ack(Some(_)))) => Err(PublishFailure::Doubtful(
                QueueError::NoQueue(self.queue.to_string()),
            )),
            Ok(Ok(Confirmation::Nack(_))) => Err(PublishFailure::Nacked),
            Ok(Ok(Confirmation::NotRequested)) => {
                Err(PublishFailure::Doubtful(QueueError::Failed {
                    what: "confirming the scan job",
                    source: "publisher confirms are not enabled on the channel".into(),
                }))
            }
        }
    }

    /// The publisher channel, its generation, and whether it was just opened. Replaces the
    /// cached link when it is broken or is generation `stale`.
    pub(super) async fn publisher_channel(
        &self,
        stale: Option<u64>,
    ) -> Result<(u64, Channel, bool), QueueError> {
        let mut slot = self.publisher.lock().await;
        let (link, fresh) = self.ensure_link(&mut slot, stale).await?;
        let channel = link.channel.clone();
        Ok((slot.generation, channel, fresh))
    }

    /// Makes `slot` hold a healthy link (opening one if needed); returns it and whether it is
    /// new.
    async fn ensure_link<'s>(
        &self,
        slot: &'s mut PublisherSlot,
        stale: Option<u64>,
    ) -> Result<(&'s Link, bool), QueueError> {
        match slot.link.take() {
            Some(link) if link.healthy() && stale != Some(slot.generation) => {
                Ok((slot.link.insert(link), false))
            }
            old => {
                if let Some(old) = old {
                    retire(old, self.options.operation_timeout);
                }
                let link = self.open_link("publisher", true).await?;
                slot.generation += 1;
                Ok((slot.link.insert(link), true))
            }
        }
    }

    /// A new channel on the publisher's connection, for one-off work (ping, dead letters) that
    /// must not disturb the shared publisher channel: a failed passive declare closes its
    /// channel, and a multiple nack must only cover this work's deliveries.
    pub(super) async fn side_channel(&self, confirms: bool) -> Result<Channel, QueueError> {
        let mut slot = self.publisher.lock().await;
        let (link, fresh) = self.ensure_link(&mut slot, None).await?;
        let created = self
            .bounded("opening a channel", link.conn.create_channel())
            .await;
        let channel = match created {
            Ok(channel) => channel,
            Err(_) if !fresh => {
                let stale = slot.generation;
                let (link, _) = self.ensure_link(&mut slot, Some(stale)).await?;
                self.bounded("opening a channel", link.conn.create_channel())
                    .await?
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
}
