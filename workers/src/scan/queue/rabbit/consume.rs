//! Consuming scan jobs.
//!
//! [`RabbitQueue::consume`] runs jobs through a [`ScanJobHandler`], at most `prefetch` at once,
//! with manual acknowledgements. The handler gets a [`ScanJob`]: the clip, the quorum queue's
//! `x-delivery-count` (0 on the first delivery) and whether the job is an operator's retry; its
//! [`JobOutcome`] settles the message: `Done` acks, `Retry` nacks
//! with requeue (the broker counts deliveries and dead-letters the job past the limit), `GiveUp`
//! rejects without requeue (dead-letters at once). A body that is not a scan job is rejected
//! without requeue (dead-lettered) and logged. A handler that panics counts as `Retry`.
//! Delivery is at least once: a job whose consumer dies before settling it is redelivered.
//! RabbitMQ 3.x counts such a return (and the return of jobs prefetched but not started when
//! a consumer shuts down) as a delivery, so it uses up one attempt of the limit.
//! When the connection drops, `consume` reconnects with exponential backoff until shutdown;
//! on shutdown it stops taking deliveries, lets handlers in flight finish, then returns.
//! [`RabbitQueue::consume_until`] bounds that wait: handlers still running at the deadline are
//! stopped and their deliveries left unsettled, so the broker hands them to another consumer
//! when the connection closes (a verdict is recorded idempotently, so a job stopped after
//! recording its verdict is acknowledged without scanning when it comes back).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    BasicRejectOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Consumer};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use voicebin_commands::QueueError;
use voicebin_domain::ClipId;

use super::link::{close_quietly, Link};
use super::message::{is_retry, parse_job};
use super::{RabbitOptions, RabbitQueue};

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

/// A scan job as it was delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanJob {
    /// The clip to scan.
    pub clip: ClipId,
    /// How many times the job was delivered before (0 on the first delivery).
    pub delivery_count: u32,
    /// An operator re-queued the job from the dead letters (`voicebin dead-letters requeue`).
    pub retry: bool,
}

/// Runs one scan job taken from the queue.
#[async_trait]
pub trait ScanJobHandler: Send + Sync {
    /// Handles `job`.
    async fn handle(&self, job: &ScanJob) -> JobOutcome;
}

/// How a consumer session ended.
enum SessionEnd {
    Shutdown,
    Lost(String),
}

impl RabbitQueue {
    /// Runs jobs through `handler`, at most `prefetch` at once, until `shutdown` completes;
    /// reconnects (with backoff) whenever the connection drops. On shutdown, stops taking
    /// deliveries and waits for the handlers in flight.
    pub async fn consume(
        &self,
        handler: Arc<dyn ScanJobHandler>,
        prefetch: u16,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), QueueError> {
        self.consume_until(handler, prefetch, shutdown, None).await
    }

    /// [`RabbitQueue::consume`], waiting at most `drain` after `shutdown` for the handlers in
    /// flight: those still running then are stopped, and their jobs go back to the queue.
    pub async fn consume_until(
        &self,
        handler: Arc<dyn ScanJobHandler>,
        prefetch: u16,
        shutdown: impl Future<Output = ()>,
        drain: Option<Duration>,
    ) -> Result<(), QueueError> {
        if prefetch == 0 {
            return Err(QueueError::Invalid(
                "the prefetch must be at least 1".into(),
            ));
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
                            let deadline = drain.map(|drain| tokio::time::Instant::now() + drain);
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
                            self.drain_by(&mut in_flight, deadline).await;
                            // Deliveries prefetched but never started (and those of handlers
                            // stopped at the deadline) go back to the queue.
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
                        error = %e,
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
        let deadline = drain.map(|drain| tokio::time::Instant::now() + drain);
        self.drain_by(&mut in_flight, deadline).await;
        tracing::info!(queue = %self.queue, "stopped consuming scan jobs");
        Ok(())
    }

    /// Waits for every handler task until `deadline`, then stops those still running: their
    /// deliveries stay unsettled, so the broker requeues them when the connection closes.
    async fn drain_by(&self, in_flight: &mut JoinSet<()>, deadline: Option<tokio::time::Instant>) {
        let Some(deadline) = deadline else {
            return drain(in_flight).await;
        };
        if tokio::time::timeout_at(deadline, drain(in_flight))
            .await
            .is_err()
        {
            tracing::warn!(
                queue = %self.queue,
                unfinished = in_flight.len(),
                "jobs still running at the shutdown deadline; stopping them (they go back to the queue)"
            );
            in_flight.abort_all();
            while let Some(finished) = in_flight.join_next().await {
                if let Err(e) = finished {
                    if e.is_panic() {
                        tracing::error!("a scan job task panicked");
                    }
                }
            }
        }
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
                    #[cfg(test)]
                    let settled = self.settled.clone();
                    in_flight.spawn(async move {
                        handle_delivery(delivery, handler).await;
                        #[cfg(test)]
                        settled.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        drop(permit);
                    });
                }
                Some(Err(e)) => return SessionEnd::Lost(e.to_string()),
                None => return SessionEnd::Lost("the consumer was cancelled".into()),
            }
        }
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
    let job = ScanJob {
        clip: clip.clone(),
        delivery_count: count,
        retry: is_retry(&delivery.properties),
    };
    let outcome = AssertUnwindSafe(handler.handle(&job))
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

/// Waits for every handler task.
async fn drain(in_flight: &mut JoinSet<()>) {
    while let Some(finished) = in_flight.join_next().await {
        log_task_end(finished);
    }
}

/// The wait before reconnection attempt `failures + 1`.
pub(super) fn backoff(options: &RabbitOptions, failures: u32) -> Duration {
    let factor = 1u32 << failures.min(16);
    options
        .reconnect_min
        .saturating_mul(factor)
        .min(options.reconnect_max)
}

/// The quorum queue's count of earlier deliveries (absent on the first delivery).
pub(super) fn delivery_count(properties: &BasicProperties) -> u32 {
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
