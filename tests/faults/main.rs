//! Fault injection against the production mode: each test kills a process or stops a service
//! at a bad moment and shows that nothing acknowledged is lost and nothing half-done remains.
//! These tests stop shared services (RabbitMQ, clamd, PostgreSQL), so they run one at a time
//! and always restart what they stopped.

mod stack;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use stack::{env_or, fixture, is_analyser, sh, Restore, Stack, SERIAL};

const VERDICT_TIMEOUT: Duration = Duration::from_secs(90);

/// Stops the test clamd started by `scripts/services/clamd.sh` and waits until its port closes.
const STOP_CLAMD: &str = r#"pid_file="${VOICEBIN_CACHE_DIR:-$HOME/.cache/voicebin}/clamd/clamd.pid"
    kill "$(cat "$pid_file")"
    for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/3311) 2>/dev/null || exit 0; sleep 0.1; done
    exit 1"#;

/// Waits until worker `i` runs a sandboxed analyser (it took a job and is scanning); returns
/// their pids, or none after `timeout`.
async fn wait_for_analysers(stack: &Stack, i: usize, timeout: Duration) -> Vec<u32> {
    let deadline = Instant::now() + timeout;
    loop {
        let analysers = stack.analysers_of(i);
        if !analysers.is_empty() || Instant::now() >= deadline {
            return analysers;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The analysers of a killed worker are gone (the kernel kills them with their parent).
async fn assert_analysers_gone(pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|pid| is_analyser(*pid)) {
        assert!(
            Instant::now() < deadline,
            "analysers {pids:?} outlived their worker"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn amqp_url() -> String {
    env_or(
        "VOICEBIN_TEST_AMQP_URL",
        "amqp://guest:guest@127.0.0.1:5672/%2f",
    )
}

/// `copies` links of hello.opus chained: valid Ogg Opus that plays `copies` × 3.6 s and takes
/// about 4 s of CPU per minute of audio to draw, in any build.
fn long_opus(copies: usize) -> Vec<u8> {
    fixture("hello.opus").repeat(copies)
}

async fn created_id(res: reqwest::Response) -> String {
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["scan_state"], "pending");
    body["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_killed_right_after_a_201_still_gets_the_clip_scanned() {
    let _serial = SERIAL.lock().await;
    let mut stack = Stack::new(true, true).await;
    let api = stack.start_api().await;
    let id = created_id(stack.upload(fixture("hello.ogg")).await).await;
    stack.kill(api);

    stack.start_api().await;
    stack.start_worker();
    assert_eq!(stack.wait_verdict(&id, VERDICT_TIMEOUT).await, "clean");
    assert_eq!(stack.event_types(&id).await, ["Uploaded", "ScanCompleted"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_killed_mid_upload_leaves_no_clip_no_event_and_no_object() {
    let _serial = SERIAL.lock().await;
    let mut stack = Stack::new(true, true).await;
    stack.extra_env = vec![
        ("VOICEBIN_ORPHAN_GRACE_SECS".into(), "0".into()),
        ("VOICEBIN_SWEEP_INTERVAL_SECS".into(), "1".into()),
    ];
    let api = stack.start_api().await;

    // A 12 MiB WAV body: the first 7 MiB go out at once (more than one 5 MiB S3 part), then
    // the client stalls and the server is killed.
    let wav = fixture("hello.wav");
    let (header, samples) = wav.split_at(44);
    let mut first = header.to_vec();
    while first.len() < 7 * 1024 * 1024 {
        first.extend_from_slice(samples);
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    tx.send(Ok(first)).await.unwrap();
    let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
    let request = stack
        .client
        .post(format!("{}/api/v1/audio", stack.base))
        .bearer_auth(&stack.key)
        .body(body)
        .send();
    let upload = tokio::spawn(request);
    tokio::time::sleep(Duration::from_secs(2)).await;
    stack.kill(api);
    drop(tx);
    let _ = upload.await;

    stack.start_api().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        stack.event_count().await,
        0,
        "an interrupted upload recorded events"
    );
    let (status, page) = list(&stack).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 0);
    assert_eq!(
        s3_keys(&stack).await,
        Vec::<String>::new(),
        "an object was left behind"
    );
}

fn tokio_stream_from(
    rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

async fn list(stack: &Stack) -> (StatusCode, Value) {
    let res = stack
        .client
        .get(format!("{}/api/v1/account/items", stack.base))
        .bearer_auth(&stack.key)
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap_or(Value::Null))
}

async fn s3_keys(stack: &Stack) -> Vec<String> {
    use voicebin_commands::{BlobStore, S3BlobStore, S3Settings};
    let store = S3BlobStore::connect(S3Settings {
        endpoint: env_or("VOICEBIN_TEST_S3_ENDPOINT", "http://127.0.0.1:9090"),
        bucket: stack.bucket.clone(),
        region: "us-east-1".into(),
        access_key: "test".into(),
        secret_key: secrecy::SecretString::from("test"),
    })
    .await
    .unwrap();
    store
        .list_older_than("clips/", Duration::ZERO, 100)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_killed_mid_scan_gets_the_job_redelivered_and_one_verdict_recorded() {
    let _serial = SERIAL.lock().await;
    let mut stack = Stack::new(true, true).await;
    stack.start_api().await;
    // A large clip keeps the first worker busy long enough to be killed while scanning.
    let wav = fixture("hello.wav");
    let (header, samples) = wav.split_at(44);
    let mut big = header.to_vec();
    while big.len() < 40 * 1024 * 1024 {
        big.extend_from_slice(samples);
    }
    let data_len = (big.len() - 44) as u32;
    big[40..44].copy_from_slice(&data_len.to_le_bytes());
    big[4..8].copy_from_slice(&(data_len + 36).to_le_bytes());
    let id = created_id(stack.upload(big).await).await;
    let first = stack.start_worker();
    // Kill once the worker has taken the job: its sandboxed analyser is running.
    let analysers = wait_for_analysers(&stack, first, Duration::from_secs(60)).await;
    assert!(
        !analysers.is_empty(),
        "the first worker never started scanning: {}",
        stack.logs("worker")
    );
    stack.kill(first);
    // The premise of the test: the first worker died before recording anything.
    assert_eq!(
        stack.owner_view(&id).await.unwrap()["scan_state"],
        "pending",
        "the first worker finished before it was killed; the clip is too small for this test"
    );
    // Its analyser died with it: nothing goes on decoding for a dead worker.
    assert_analysers_gone(&analysers).await;

    stack.start_worker();
    assert_eq!(stack.wait_verdict(&id, VERDICT_TIMEOUT).await, "clean");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let verdicts = stack
        .event_types(&id)
        .await
        .into_iter()
        .filter(|t| t == "ScanCompleted")
        .count();
    assert_eq!(verdicts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_succeed_while_rabbitmq_is_down_and_are_scanned_once_it_is_back() {
    let _serial = SERIAL.lock().await;
    let mut stack = Stack::new(false, true).await;
    stack.start_api().await;
    stack.start_worker();
    let restore = Restore("rabbitmqctl -q start_app");
    sh("rabbitmqctl -q stop_app");
    let mut ids = Vec::new();
    for name in ["hello.ogg", "hello.flac", "hello.mp3"] {
        ids.push(created_id(stack.upload(fixture(name)).await).await);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for id in &ids {
        assert_eq!(stack.owner_view(id).await.unwrap()["scan_state"], "pending");
    }
    drop(restore);
    for id in &ids {
        assert_eq!(stack.wait_verdict(id, VERDICT_TIMEOUT).await, "clean");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_clamd_is_down_clips_stay_pending_and_complete_when_it_returns() {
    let _serial = SERIAL.lock().await;
    let mut stack = Stack::new(false, true).await;
    stack.start_api().await;
    stack.start_worker();
    let restore = Restore("source scripts/services/clamd.sh && ensure_clamd");
    sh(
        r#"pid_file="${VOICEBIN_CACHE_DIR:-$HOME/.cache/voicebin}/clamd/clamd.pid"
          kill "$(cat "$pid_file")"
          for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/3311) 2>/dev/null || exit 0; sleep 0.1; done
          exit 1"#,
    );
    let id = created_id(stack.upload(fixture("hello.ogg")).await).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        stack.owner_view(&id).await.unwrap()["scan_state"],
        "pending"
    );
    let (status, ready) = {
        let res = stack
            .client
            .get(format!("{}/readyz", stack.base))
            .send()
            .await
            .unwrap();
        (res.status(), res.json::<Value>().await.unwrap())
    };
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
    assert_eq!(ready["checks"]["clamd"]["status"], "error");
    drop(restore);
    assert_eq!(stack.wait_verdict(&id, VERDICT_TIMEOUT).await, "clean");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_answers_503_then_recovers_without_a_restart() {
    let _serial = SERIAL.lock().await;
    let mut stack = Stack::new(false, false).await;
    stack.start_api().await;
    let id = created_id(stack.upload(fixture("hello.ogg")).await).await;
    stack.wait_verdict(&id, VERDICT_TIMEOUT).await;

    let cluster = r#"v=$(ls /etc/postgresql | sort -V | tail -n 1); pg_ctlcluster --skip-systemctl-redirect "$v" main"#;
    let restore = Restore(
        r#"v=$(ls /etc/postgresql | sort -V | tail -n 1); pg_ctlcluster --skip-systemctl-redirect "$v" main start; for _ in $(seq 1 60); do pg_isready -q -h 127.0.0.1 && break; sleep 0.5; done"#,
    );
    sh(&format!("{cluster} stop -m fast"));
    let res = stack
        .client
        .get(format!("{}/api/v1/items/{id}", stack.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let res = stack.upload(fixture("hello.ogg")).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    drop(restore);

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let res = stack
            .client
            .get(format!("{}/api/v1/items/{id}", stack.base))
            .send()
            .await
            .unwrap();
        if res.status() == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "API did not recover: {}",
            stack.logs("api")
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    created_id(stack.upload(fixture("hello.flac")).await).await;
    // The upload refused during the outage left nothing behind.
    assert_eq!(stack.blob_count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_given_duplicate_jobs_record_one_verdict_per_clip() {
    use voicebin_commands::ScanQueue;
    let _serial = SERIAL.lock().await;
    let mut stack = Stack::new(false, true).await;
    stack.start_api().await;
    let mut ids = Vec::new();
    for name in [
        "hello.ogg",
        "hello.flac",
        "hello.mp3",
        "hello.wav",
        "hello.m4a",
        "hello.opus",
    ] {
        ids.push(created_id(stack.upload(fixture(name)).await).await);
    }
    // Every job three more times, as redeliveries and relay republishing can produce.
    let queue = voicebin_workers::RabbitQueue::connect(
        &env_or(
            "VOICEBIN_TEST_AMQP_URL",
            "amqp://guest:guest@127.0.0.1:5672/%2f",
        ),
        &stack.queue,
    )
    .await
    .unwrap();
    for _ in 0..3 {
        for id in &ids {
            let id = voicebin_domain::ClipId::parse(id).unwrap();
            queue.enqueue(&id).await.unwrap();
        }
    }
    stack.start_worker();
    stack.start_worker();
    for id in &ids {
        assert_eq!(stack.wait_verdict(id, VERDICT_TIMEOUT).await, "clean");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for id in &ids {
        assert_eq!(
            stack.event_types(id).await,
            ["Uploaded", "ScanCompleted"],
            "{id}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_can_be_listed_and_requeued_from_the_command_line() {
    let _serial = SERIAL.lock().await;
    let mut stack = Stack::new(false, true).await;
    stack.start_api().await;
    stack.start_worker();
    // A poison message: not a scan job at all. The worker dead-letters it at once.
    let amqp = env_or(
        "VOICEBIN_TEST_AMQP_URL",
        "amqp://guest:guest@127.0.0.1:5672/%2f",
    );
    publish_raw(&amqp, &stack.queue, b"not json").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let listed = loop {
        let out = stack.run(&["dead-letters", "list"]);
        if !out.trim().is_empty() {
            break out;
        }
        assert!(Instant::now() < deadline, "nothing was dead-lettered");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(listed.contains("rejected"), "{listed}");
    let requeued = stack.run(&["dead-letters", "requeue"]);
    assert!(requeued.contains("re-queued 1 scan jobs"), "{requeued}");

    // The same for a post-clean stage's queue, named with --queue; the scan queue's dead
    // letters are not its.
    publish_raw_with_id(
        &amqp,
        &format!("{}.rendition", stack.queue),
        b"not json either",
        Some("poison-for-the-rendition-stage"),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let listed = loop {
        let out = stack.run(&["dead-letters", "list", "--queue", "rendition"]);
        if !out.trim().is_empty() {
            break out;
        }
        assert!(Instant::now() < deadline, "nothing was dead-lettered");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(listed.trim(), "poison-for-the-rendition-stage\trejected");
    let scan = stack.run(&["dead-letters", "list"]);
    assert!(!scan.contains("poison-for-the-rendition-stage"), "{scan}");
    let requeued = stack.run(&["dead-letters", "requeue", "--queue", "rendition"]);
    assert!(
        requeued.contains("re-queued 1 rendition jobs"),
        "{requeued}"
    );
}

async fn publish_raw(url: &str, queue: &str, body: &[u8]) {
    publish_raw_with_id(url, queue, body, None).await;
}

/// Publishes `body` to `queue` as it is, with `message_id` if given.
async fn publish_raw_with_id(url: &str, queue: &str, body: &[u8], message_id: Option<&str>) {
    use lapin::options::BasicPublishOptions;
    use lapin::{BasicProperties, Connection, ConnectionProperties};
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    channel
        .basic_publish(
            "".into(),
            queue.into(),
            BasicPublishOptions::default(),
            body,
            match message_id {
                Some(id) => BasicProperties::default().with_message_id(id.into()),
                None => BasicProperties::default(),
            },
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let _ = conn.close(0, "done".into()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_keeps_failing_ends_failed_in_the_dead_letter_queue_and_can_be_retried() {
    let _serial = SERIAL.lock().await;
    let mut stack = Stack::new(false, true).await;
    stack.start_api().await;
    stack.start_worker();
    let restore = Restore("source scripts/services/clamd.sh && ensure_clamd");
    sh(STOP_CLAMD);
    let id = created_id(stack.upload(fixture("hello.ogg")).await).await;
    // Five deliveries with backoff, then the worker records `failed` and dead-letters the job.
    assert_eq!(stack.wait_verdict(&id, VERDICT_TIMEOUT).await, "failed");
    let view = stack.owner_view(&id).await.unwrap();
    assert!(
        view["scan_detail"].as_str().unwrap().contains("failed"),
        "{view}"
    );
    assert_eq!(
        stack
            .client
            .get(format!("{}/{id}/download", stack.base))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND,
        "a failed clip must not be served"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if stack.run(&["dead-letters", "list"]).contains(&id) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the failed job is not in the dead-letter queue"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    drop(restore);
    // A duplicate job (the relay and redeliveries make them) does not rescan a failed clip,
    // even with the scanner back: only an operator's retry does.
    let skipped = |stack: &Stack| {
        stack
            .logs("worker")
            .lines()
            .filter(|line| line.contains(&id) && line.contains("without scanning"))
            .count()
    };
    let before = skipped(&stack);
    let queue = voicebin_workers::RabbitQueue::connect(&amqp_url(), &stack.queue)
        .await
        .unwrap();
    voicebin_commands::ScanQueue::enqueue(&queue, &voicebin_domain::ClipId::parse(&id).unwrap())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while skipped(&stack) == before {
        assert!(
            Instant::now() < deadline,
            "the duplicate job was not handled: {}",
            stack.logs("worker")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stack.owner_view(&id).await.unwrap()["scan_state"], "failed");
    assert_eq!(stack.event_types(&id).await, ["Uploaded", "ScanCompleted"]);

    // A listing borrows the dead letters and puts them back; under load the broker may not
    // have them back yet when the requeue runs, so it is retried until the job moves.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = stack.run(&["dead-letters", "requeue"]);
        let moved: u64 = out
            .lines()
            .find_map(|line| line.strip_prefix("re-queued "))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected requeue output: {out}"));
        if moved >= 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the dead letter was never re-queued: {out}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let deadline = Instant::now() + VERDICT_TIMEOUT;
    loop {
        let state = stack.owner_view(&id).await.unwrap()["scan_state"].clone();
        if state == "clean" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "re-queued job did not complete: {state}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(
        stack.event_types(&id).await,
        ["Uploaded", "ScanCompleted", "ScanCompleted"],
        "failed, then clean after the retry"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clip_that_needs_more_cpu_than_the_limit_is_rejected_and_the_worker_keeps_scanning() {
    let _serial = SERIAL.lock().await;
    let mut stack = Stack::new(false, true).await;
    stack.extra_env = vec![("VOICEBIN_SCAN_MAX_CPU_SECS".into(), "1".into())];
    stack.start_api().await;
    let worker = stack.start_worker();
    // Three and a half minutes of Opus: about 14 s of CPU to draw.
    let id = created_id(stack.upload(long_opus(60)).await).await;
    assert_eq!(stack.wait_verdict(&id, VERDICT_TIMEOUT).await, "rejected");
    let view = stack.owner_view(&id).await.unwrap();
    assert!(
        view["scan_detail"]
            .as_str()
            .unwrap()
            .contains("1 s of CPU time"),
        "{view}"
    );
    assert!(stack.is_running(worker), "{}", stack.logs("worker"));
    let next = created_id(stack.upload(fixture("hello.ogg")).await).await;
    assert_eq!(stack.wait_verdict(&next, VERDICT_TIMEOUT).await, "clean");
    assert!(stack.is_running(worker));
    assert_eq!(stack.event_types(&id).await, ["Uploaded", "ScanCompleted"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clip_whose_scan_kills_its_worker_every_time_ends_failed_with_its_job_dead_lettered_once()
{
    let _serial = SERIAL.lock().await;
    let mut stack = Stack::new(false, true).await;
    // One job at a time, so each kill ends exactly one attempt.
    stack.extra_env = vec![("VOICEBIN_WORKER_PREFETCH".into(), "1".into())];
    stack.start_api().await;
    // A long clip, so each worker is still scanning it when it is killed.
    let id = created_id(stack.upload(long_opus(60)).await).await;
    // Every worker that starts scanning the clip dies (SIGKILL), as if the file killed it. The
    // job is redelivered, and the relay republishes it while the clip stays pending.
    let mut kills = 0;
    loop {
        let worker = stack.start_worker();
        let deadline = Instant::now() + Duration::from_secs(60);
        let analysers = loop {
            let analysers = stack.analysers_of(worker);
            if !analysers.is_empty() {
                break analysers;
            }
            if stack.owner_view(&id).await.unwrap()["scan_state"] != "pending" {
                break Vec::new();
            }
            assert!(
                Instant::now() < deadline,
                "worker {kills} neither scanned nor gave up: {}",
                stack.logs("worker")
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        if analysers.is_empty() {
            // This worker gave up without scanning: it stays up for the rest of the test.
            assert!(stack.is_running(worker), "{}", stack.logs("worker"));
            break;
        }
        stack.kill(worker);
        assert_analysers_gone(&analysers).await;
        kills += 1;
        assert!(
            kills <= voicebin_workers::MAX_ATTEMPTS,
            "scanned more than {} times",
            voicebin_workers::MAX_ATTEMPTS
        );
    }
    assert_eq!(kills, voicebin_workers::MAX_ATTEMPTS);
    let view = stack.owner_view(&id).await.unwrap();
    assert_eq!(view["scan_state"], "failed", "{view}");
    let detail = view["scan_detail"].as_str().unwrap();
    assert!(detail.contains("started 5 times"), "{view}");
    assert_eq!(stack.event_types(&id).await, ["Uploaded", "ScanCompleted"]);

    // In the dead-letter queue once, and it stays once: the relay republishes no failed clip,
    // and duplicates of the job are acknowledged. (The relay would republish after 15 s.)
    tokio::time::sleep(Duration::from_secs(20)).await;
    let listed = stack.run(&["dead-letters", "list"]);
    let copies = listed.lines().filter(|line| line.starts_with(&id)).count();
    assert_eq!(copies, 1, "{listed}");
    assert_eq!(stack.event_types(&id).await, ["Uploaded", "ScanCompleted"]);

    // The worker that gave up scans the next clip.
    let next = created_id(stack.upload(fixture("hello.ogg")).await).await;
    assert_eq!(stack.wait_verdict(&next, VERDICT_TIMEOUT).await, "clean");
}
