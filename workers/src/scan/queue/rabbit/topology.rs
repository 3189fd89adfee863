//! The topology: the work queue and its dead-letter queue.
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

use lapin::options::QueueDeclareOptions;
use lapin::types::{AMQPValue, FieldTable};
use lapin::Channel;

use super::RabbitQueue;

/// Suffix of the dead-letter queue's name.
pub(super) const DEAD_SUFFIX: &str = ".dead";
/// AMQP short strings (queue names) hold at most 255 bytes.
pub(super) const MAX_QUEUE_NAME: usize = 255;

impl RabbitQueue {
    /// Declares the dead-letter queue and the work queue (idempotent with equal arguments).
    pub(super) async fn declare_topology(&self, channel: &Channel) -> lapin::Result<()> {
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
}
