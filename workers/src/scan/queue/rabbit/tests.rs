//! The RabbitMQ queue against a real broker (`VOICEBIN_TEST_AMQP_URL`, started by scripts/test).

use std::collections::HashSet;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::FutureExt;
use lapin::options::QueueDeclareOptions;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::BasicProperties;
use tokio::sync::oneshot;
use voicebin_commands::{QueueError, ScanQueue};
use voicebin_domain::ClipId;

use super::consume::{backoff, delivery_count};
use super::link::Link;
use super::message::{parse_job, JobBody};
use super::publish::PublishFailure;
use super::*;

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
    let queue = match RabbitQueue::connect_with(&url, &name, test_options(delivery_limit)).await {
        Ok(queue) => Arc::new(queue),
        Err(e) => panic!(
            "RabbitMQ is not reachable ({e}); run scripts/test, which starts it, or set \
             VOICEBIN_TEST_AMQP_URL"
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
    /// Whether each job seen was an operator's retry.
    retries: std::sync::Mutex<Vec<bool>>,
    outcome: JobOutcome,
    delay: Duration,
    hang: bool,
}

impl Recorder {
    fn new(outcome: JobOutcome) -> Self {
        Recorder {
            seen: std::sync::Mutex::new(Vec::new()),
            retries: std::sync::Mutex::new(Vec::new()),
            outcome,
            delay: Duration::ZERO,
            hang: false,
        }
    }

    fn seen(&self) -> Vec<(ClipId, u32)> {
        self.seen.lock().unwrap().clone()
    }

    fn retries(&self) -> Vec<bool> {
        self.retries.lock().unwrap().clone()
    }
}

#[async_trait]
impl ScanJobHandler for Recorder {
    async fn handle(&self, job: &ScanJob) -> JobOutcome {
        self.seen
            .lock()
            .unwrap()
            .push((job.clip.clone(), job.delivery_count));
        self.retries.lock().unwrap().push(job.retry);
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
        assert_eq!(
            handler.retries(),
            vec![false; 3],
            "published jobs are no retries"
        );
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

        // Requeued jobs run again, with a fresh delivery count, marked as an operator's retry.
        let handler = Arc::new(Recorder::new(JobOutcome::Done));
        let running = start(&queue, handler.clone(), 3);
        eventually("the requeued jobs", || async { handler.seen().len() >= 3 }).await;
        running.stop().await;
        let seen: HashSet<ClipId> = handler.seen().into_iter().map(|(c, _)| c).collect();
        assert_eq!(seen, clips.iter().cloned().collect());
        assert!(handler.seen().iter().all(|(_, n)| *n == 0));
        assert_eq!(handler.retries(), vec![true; 3]);
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
        assert!(
            matches!(&err, QueueError::NoQueue(name) if name == queue.queue_name()),
            "{err}"
        );
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
        // A slow handler widens the window this test once lost under load: cutting the
        // connection after the handler saw the first job but before its ack was sent has the
        // broker redeliver it, and the first job and the second then arrive together.
        let mut handler = Recorder::new(JobOutcome::Done);
        handler.delay = Duration::from_millis(200);
        let handler = Arc::new(handler);
        let running = start(&queue, handler.clone(), 2);
        let first = random_clip();
        queue.enqueue(&first).await.expect("enqueue");
        // Cut only once the first job is settled: its ack is on the wire ahead of the close.
        eventually("the first job acknowledged", || async {
            queue.settled.load(Ordering::SeqCst) == 1
        })
        .await;
        assert_eq!(queue.cut_consumers().await, 1);
        let second = random_clip();
        queue.enqueue(&second).await.expect("enqueue");
        eventually("the second job acknowledged", || async {
            queue.settled.load(Ordering::SeqCst) == 2
        })
        .await;
        running.stop().await;
        let seen: Vec<ClipId> = handler.seen().into_iter().map(|(c, _)| c).collect();
        assert_eq!(seen, vec![first, second], "each job once, none redelivered");
        assert_eq!(queue.ready().await, 0);
    })
    .await;
}

#[tokio::test]
async fn invalid_arguments_are_refused() {
    let err = RabbitQueue::connect(&url(), "").await.expect_err("empty");
    assert!(
        matches!(&err, QueueError::Invalid(why) if why.contains("queue name")),
        "{err}"
    );
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
    // The job that finds MAX_ATTEMPTS scans started is still delivered (the broker allows
    // delivery_limit + 1 deliveries), so the worker, not the broker, dead-letters it.
    assert!(crate::MAX_ATTEMPTS <= options.delivery_limit);
    assert_eq!(backoff(&options, 0), Duration::from_millis(500));
    assert_eq!(backoff(&options, 2), Duration::from_secs(2));
    assert_eq!(backoff(&options, 40), Duration::from_secs(30));
}

#[tokio::test]
async fn a_job_still_running_at_the_drain_deadline_goes_back_to_the_queue() {
    with_queue(5, |queue| async move {
        let clip = random_clip();
        queue.enqueue(&clip).await.expect("enqueue");
        let mut stuck = Recorder::new(JobOutcome::Done);
        stuck.hang = true;
        let stuck = Arc::new(stuck);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn({
            let (queue, stuck) = (queue.clone(), stuck.clone());
            async move {
                queue
                    .consume_until(
                        stuck,
                        1,
                        async {
                            let _ = stopped.await;
                        },
                        Some(Duration::from_millis(200)),
                    )
                    .await
            }
        });
        eventually("the job to start", || async { !stuck.seen().is_empty() }).await;
        let _ = stop.send(());
        // The handler never finishes, yet consuming ends: the job was stopped at the deadline.
        tokio::time::timeout(WAIT, task)
            .await
            .expect("consume stops at the deadline")
            .expect("consume task")
            .expect("consume result");
        // Unsettled, it is back in the queue for another consumer, not dead-lettered.
        eventually("the job back in the queue", || async {
            queue.ready().await == 1
        })
        .await;
        assert_eq!(queue.dead().await, 0);
        let depths = queue.depths().await.expect("depths");
        assert_eq!((depths.ready, depths.dead), (1, 0));

        let handler = Arc::new(Recorder::new(JobOutcome::GiveUp));
        let running = start(&queue, handler.clone(), 1);
        eventually("the job again", || async { !handler.seen().is_empty() }).await;
        running.stop().await;
        assert_eq!(handler.seen()[0].0, clip);
        eventually("the job dead-lettered", || async {
            let depths = queue.depths().await.expect("depths");
            (depths.ready, depths.dead) == (0, 1)
        })
        .await;
    })
    .await;
}
