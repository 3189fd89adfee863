//! Dead letters: the jobs the broker gave up on, for an operator to inspect and requeue.
//!
//! [`RabbitQueue::dead_letters`] peeks at `<queue>.dead` (get, then nack with requeue, so they
//! stay); [`RabbitQueue::requeue_dead_letters`] moves dead letters back to `<queue>` (publish
//! with confirm, then ack the dead one), each with a fresh delivery count and marked as an
//! operator's retry (`x-voicebin-retry`), so the worker scans its clip again even though it is
//! `failed`, with a fresh count of attempts.

use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicGetOptions, BasicNackOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::Channel;
use voicebin_commands::QueueError;
use voicebin_domain::ClipId;

use super::message::{job_properties, parse_job};
use super::publish::PublishFailure;
use super::RabbitQueue;

/// Requeueing stopped part way: `moved` dead letters were moved before `source` happened.
#[derive(Debug, thiserror::Error)]
#[error("moved {moved} dead letters, then failed: {source}")]
pub struct RequeueError {
    /// Dead letters moved back to the work queue before the failure.
    pub moved: usize,
    /// What failed.
    #[source]
    pub source: QueueError,
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

impl RabbitQueue {
    /// Up to `max` dead letters, oldest first, left in the dead-letter queue.
    pub async fn dead_letters(&self, max: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let mut out = Vec::new();
        if max == 0 {
            return Ok(out);
        }
        let channel = self.side_channel(false).await?;
        let mut last_tag = None;
        while out.len() < max {
            let Some(delivery) = self.next_dead_letter(&channel).await? else {
                break;
            };
            out.push(dead_letter(&delivery));
            last_tag = Some(delivery.delivery_tag);
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

    /// Moves up to `max` dead letters back to the work queue as retries; returns how many moved.
    pub async fn requeue_dead_letters(&self, max: usize) -> Result<usize, RequeueError> {
        let mut moved = 0;
        let result = self.requeue_counting(max, &mut moved).await;
        if moved > 0 {
            tracing::info!(queue = %self.queue, moved, "requeued dead scan jobs");
        }
        match result {
            Ok(()) => Ok(moved),
            Err(source) => Err(RequeueError { moved, source }),
        }
    }

    /// The next dead letter, held unacknowledged on `channel` (so the next call gets the one
    /// after it), if any.
    async fn next_dead_letter(&self, channel: &Channel) -> Result<Option<Delivery>, QueueError> {
        let got = self
            .bounded(
                "reading dead letters",
                channel.basic_get(self.dead_queue.clone(), BasicGetOptions { no_ack: false }),
            )
            .await?;
        Ok(got.map(|message| message.delivery))
    }

    /// Moves up to `max` dead letters, counting them in `moved` as they go.
    async fn requeue_counting(&self, max: usize, moved: &mut usize) -> Result<(), QueueError> {
        if max == 0 {
            return Ok(());
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
        while *moved < max {
            let Some(delivery) = self.next_dead_letter(&channel).await? else {
                break;
            };
            // Fresh properties: dropping `x-death` and friends gives the job a clean slate; the
            // retry mark lets it scan a `failed` clip.
            let properties = job_properties(delivery.properties.message_id().clone(), true);
            // On failure the dead letter is still unacked: it returns to the dead-letter queue
            // when the channel closes, so nothing is lost (at worst it is in both queues).
            self.publish_on(&channel, &delivery.data, properties)
                .await
                .map_err(PublishFailure::into_error)?;
            self.bounded(
                "acknowledging a requeued dead letter",
                channel.basic_ack(delivery.delivery_tag, BasicAckOptions::default()),
            )
            .await?;
            *moved += 1;
        }
        Ok(())
    }
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
