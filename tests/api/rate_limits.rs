//! Rate limits per account and per network address on uploads, API reads, downloads and MCP:
//! the `RateLimit-Policy` and `RateLimit` headers, the 429 `rate-limited` problem with
//! `Retry-After`, and one limit held by two replicas, with the buckets in PostgreSQL and in
//! Redis. Quotas are small and windows an hour, so no refill happens during a test.

use rand::Rng;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::Value;
use voicebin::{Quota, RateLimitSettings, RateLimiting};
use voicebin_projections::{Rate, RateLimits, RedisRateLimits, Take};

use crate::helpers::{fixture, spawn_app_with, spawn_replica, Backend, Options, TestApp};
use crate::on_both_backends;

/// An id no clip has.
const NO_CLIP: &str = "AAAAAAAAAAAAAAAA";

/// The Redis server the tests keep buckets in (`scripts/services/redis.sh` starts it).
fn redis_url() -> String {
    std::env::var("VOICEBIN_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A key prefix no other test run uses.
fn redis_prefix() -> String {
    format!("vbtest:{:016x}:", rand::thread_rng().gen::<u64>())
}

fn quota(text: &str) -> Option<Quota> {
    Quota::parse(text).unwrap()
}

/// Options with every limit off but those `set` sets, buckets in the backend's store.
fn limits(set: impl FnOnce(&mut RateLimitSettings)) -> Options {
    let mut quotas = RateLimitSettings::off();
    set(&mut quotas);
    Options {
        rate_limits: RateLimiting {
            quotas,
            ..RateLimiting::default()
        },
        ..Options::default()
    }
}

/// [`limits`] with the buckets in Redis.
fn limits_in_redis(set: impl FnOnce(&mut RateLimitSettings)) -> Options {
    let mut options = limits(set);
    options.rate_limits.redis_url = Some(SecretString::from(redis_url()));
    options.rate_limits.redis_key_prefix = redis_prefix();
    options
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {headers:?}"))
        .to_str()
        .unwrap()
        .to_owned()
}

/// `r` and `t` of a `RateLimit` field naming `policy`.
fn standing(headers: &HeaderMap, policy: &str) -> (u32, u32) {
    let value = header(headers, "ratelimit");
    let rest = value
        .strip_prefix(&format!("\"{policy}\";r="))
        .unwrap_or_else(|| panic!("{value} is not about {policy}"));
    let (r, t) = rest.split_once(";t=").unwrap();
    (r.parse().unwrap(), t.parse().unwrap())
}

/// Checks a refusal: 429, a `rate-limited` problem naming `policy`, `Retry-After` the same as
/// the `t` of `RateLimit`, which says nothing is left.
async fn assert_refused(res: reqwest::Response, policy: &str, window_secs: u32) {
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let headers = res.headers().clone();
    assert_eq!(header(&headers, "content-type"), "application/problem+json");
    let retry: u32 = header(&headers, "retry-after").parse().unwrap();
    assert!((1..=window_secs).contains(&retry), "Retry-After {retry}");
    assert_eq!(standing(&headers, policy), (0, retry));
    assert!(header(&headers, "ratelimit-policy").starts_with(&format!("\"{policy}\";q=")));
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["type"], "urn:voicebin:problem:rate-limited");
    assert_eq!(problem["status"], 429);
    assert_eq!(problem["policy"], policy);
}

async fn get(app_or_base: &str, path: &str, key: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(format!("{app_or_base}{path}"));
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    req.send().await.unwrap()
}

on_both_backends!(uploads_count_down_then_are_refused_and_a_refusal_stores_nothing);
async fn uploads_count_down_then_are_refused_and_a_refusal_stores_nothing(backend: Backend) {
    let app = spawn_app_with(backend, limits(|q| q.uploads.per_account = quota("3/1h"))).await;
    let alice = app.alice();
    for left in [2, 1, 0] {
        let res = app.upload(&alice, fixture("hello.wav"), &[]).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        assert_eq!(
            header(res.headers(), "ratelimit-policy"),
            r#""uploads-account";q=3;w=3600"#
        );
        let (r, t) = standing(res.headers(), "uploads-account");
        assert_eq!(r, left);
        // One more upload comes back every 20 minutes.
        assert!((1..=1_200).contains(&t), "t={t}");
    }
    let blobs = app.blob_files();
    let res = app.upload(&alice, fixture("hello.wav"), &[]).await;
    assert_refused(res, "uploads-account", 3_600).await;
    assert_eq!(app.blob_files(), blobs);
    let metrics = get(&app.base, "/metrics", None).await.text().await.unwrap();
    assert!(
        metrics
            .contains(r#"voicebin_rate_limit_refusals_total{class="uploads",scope="account"} 1"#),
        "{metrics}"
    );
    // The refusal is counted under its route, though the API's router never saw it.
    assert!(
        metrics.contains(
            r#"voicebin_http_requests_total{method="POST",route="/api/v1/audio",status="429"} 1"#
        ),
        "{metrics}"
    );
    let listed: Value = app.list(&alice, &[]).await.json().await.unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 3);
    // Another account has its own allowance.
    let bob = app.key("bob", &["voice:create"]);
    let res = app.upload(&bob, fixture("hello.wav"), &[]).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(standing(res.headers(), "uploads-account").0, 2);
}

on_both_backends!(reads_are_limited_per_address_and_per_account_separately);
async fn reads_are_limited_per_address_and_per_account_separately(backend: Backend) {
    let app = spawn_app_with(
        backend,
        limits(|q| {
            q.reads.per_account = quota("2/1h");
            q.reads.per_address = quota("3/1h");
        }),
    )
    .await;
    let path = format!("/api/v1/items/{NO_CLIP}");
    // Without a token: counted against the address, whatever the answer.
    for left in [2, 1, 0] {
        let res = get(&app.base, &path, None).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            header(res.headers(), "ratelimit-policy"),
            r#""reads-address";q=3;w=3600"#
        );
        assert_eq!(standing(res.headers(), "reads-address").0, left);
    }
    assert_refused(get(&app.base, &path, None).await, "reads-address", 3_600).await;
    // A signed-in caller at the same address is counted against its account instead.
    let alice = app.alice();
    for left in [1, 0] {
        let res = get(&app.base, &path, Some(&alice)).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert_eq!(standing(res.headers(), "reads-account").0, left);
    }
    assert_refused(
        get(&app.base, &path, Some(&alice)).await,
        "reads-account",
        3_600,
    )
    .await;
    // Other accounts are not affected; the address still is, a refused token included.
    let bob = app.key("bob", &["voice:read"]);
    let res = get(&app.base, "/api/v1/account/items", Some(&bob)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(standing(res.headers(), "reads-account").0, 1);
    assert_refused(
        get(&app.base, &path, Some("not-a-token")).await,
        "reads-address",
        3_600,
    )
    .await;
    // Writes are not reads: a PATCH is not counted (Bob may not edit, which is all it says).
    let res = app
        .patch_item(NO_CLIP, &bob, serde_json::json!({"title": "x"}))
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.headers().get("ratelimit").is_none());
}

on_both_backends!(downloads_and_mcp_have_their_own_limits);
async fn downloads_and_mcp_have_their_own_limits(backend: Backend) {
    let app = spawn_app_with(
        backend,
        limits(|q| {
            q.downloads.per_address = quota("2/1h");
            q.mcp.per_account = quota("1/1h");
        }),
    )
    .await;
    for (left, path) in [(1, "download"), (0, "audio")] {
        let res = get(&app.base, &format!("/{NO_CLIP}/{path}"), None).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            header(res.headers(), "ratelimit-policy"),
            r#""downloads-address";q=2;w=3600"#
        );
        assert_eq!(standing(res.headers(), "downloads-address").0, left);
    }
    let head = app
        .client
        .head(app.url(&format!("/{NO_CLIP}/download")))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_refused(
        get(&app.base, &format!("/{NO_CLIP}/audio"), None).await,
        "downloads-address",
        3_600,
    )
    .await;
    // Reads have no limit here, and downloads do not count against them.
    let res = get(&app.base, &format!("/api/v1/items/{NO_CLIP}"), None).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.headers().get("ratelimit").is_none());

    let alice = app.alice();
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let res = mcp(&app, &alice, ping).await;
    assert_ne!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(standing(res.headers(), "mcp-account").0, 0);
    assert_refused(mcp(&app, &alice, ping).await, "mcp-account", 3_600).await;
}

on_both_backends!(uploads_over_mcp_take_from_the_uploads_allowance_too);
async fn uploads_over_mcp_take_from_the_uploads_allowance_too(backend: Backend) {
    use base64::Engine;
    let app = spawn_app_with(
        backend,
        limits(|q| {
            q.uploads.per_account = quota("1/1h");
        }),
    )
    .await;
    let alice = app.alice();
    let client = crate::mcp::connect(&app, &alice).await;
    let data = base64::engine::general_purpose::STANDARD.encode(fixture("hello.ogg"));
    let upload = serde_json::json!({ "data": data });
    let first = crate::mcp::ok(crate::mcp::call(&client, "upload_audio", upload.clone()).await);
    assert!(first["id"].is_string(), "{first}");
    let events = app.total_events().await;
    let refused = crate::mcp::call(&client, "upload_audio", upload).await;
    assert_eq!(refused.is_error, Some(true), "{refused:?}");
    let text = &refused.content[0].as_text().unwrap().text;
    assert!(
        text.contains("urn:voicebin:problem:rate-limited") && text.contains("uploads-account"),
        "{text}"
    );
    assert_eq!(
        app.total_events().await,
        events,
        "a refusal records nothing"
    );
    // The same allowance as REST's.
    let res = app.upload(&alice, fixture("hello.ogg"), &[]).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    client.cancel().await.unwrap();
}

async fn mcp(app: &TestApp, key: &str, body: &str) -> reqwest::Response {
    app.client
        .post(app.url("/mcp"))
        .bearer_auth(key)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

on_both_backends!(the_defaults_limit_every_class_and_off_turns_them_off);
async fn the_defaults_limit_every_class_and_off_turns_them_off(backend: Backend) {
    let app = spawn_app_with(backend, Options::default()).await;
    let res = get(&app.base, &format!("/api/v1/items/{NO_CLIP}"), None).await;
    assert_eq!(
        header(res.headers(), "ratelimit-policy"),
        r#""reads-address";q=300;w=60"#
    );
    assert_eq!(standing(res.headers(), "reads-address").0, 299);
    let res = get(&app.base, &format!("/{NO_CLIP}/download"), None).await;
    assert_eq!(
        header(res.headers(), "ratelimit-policy"),
        r#""downloads-address";q=600;w=60"#
    );
    // Pages are not limited; the guide says what this deployment allows.
    let res = get(&app.base, "/docs", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("ratelimit").is_none());
    let guide = res.text().await.unwrap();
    assert!(
        guide.contains(
            "<code>reads</code>: <code>600/1m</code> per account, <code>300/1m</code> per address"
        ),
        "{guide}"
    );

    let off = spawn_app_with(backend, limits(|_| {})).await;
    let res = get(&off.base, &format!("/api/v1/items/{NO_CLIP}"), None).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.headers().get("ratelimit").is_none());
    assert!(res.headers().get("ratelimit-policy").is_none());
}

/// Two replicas of `app`, each with its own listener, hold one limit of 5 reads an hour per
/// account: one after the other, then all at once.
async fn replicas_share_one_limit(app: TestApp) {
    let (second, _second_tasks) = spawn_replica(&app).await;
    let bases = [app.base.clone(), second];
    let path = format!("/api/v1/items/{NO_CLIP}");
    let alice = app.alice();
    for (i, left) in [4, 3, 2, 1, 0].into_iter().enumerate() {
        let res = get(&bases[i % 2], &path, Some(&alice)).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "request {i}");
        assert_eq!(standing(res.headers(), "reads-account").0, left);
    }
    for base in &bases {
        assert_refused(get(base, &path, Some(&alice)).await, "reads-account", 3_600).await;
    }
    // Twenty at once on both replicas: five get through, however they interleave.
    let bob = app.key("bob", &["voice:read"]);
    let requests = (0..20).map(|i| get(&bases[i % 2], &path, Some(&bob)));
    let answers = futures::future::join_all(requests).await;
    let allowed = answers
        .iter()
        .filter(|res| res.status() == StatusCode::NOT_FOUND)
        .count();
    let refused = answers
        .iter()
        .filter(|res| res.status() == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((allowed, refused), (5, 15));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_hold_one_limit_with_the_buckets_in_postgresql() {
    let options = limits(|q| q.reads.per_account = quota("5/1h"));
    let app = spawn_app_with(Backend::Postgres, options).await;
    replicas_share_one_limit(app).await;
}

on_both_backends!(two_replicas_hold_one_limit_with_the_buckets_in_redis);
async fn two_replicas_hold_one_limit_with_the_buckets_in_redis(backend: Backend) {
    let options = limits_in_redis(|q| q.reads.per_account = quota("5/1h"));
    let app = spawn_app_with(backend, options).await;
    replicas_share_one_limit(app).await;
}

on_both_backends!(uploads_are_limited_with_the_buckets_in_redis);
async fn uploads_are_limited_with_the_buckets_in_redis(backend: Backend) {
    let app = spawn_app_with(
        backend,
        limits_in_redis(|q| q.uploads.per_account = quota("1/1h")),
    )
    .await;
    let alice = app.alice();
    let res = app.upload(&alice, fixture("hello.wav"), &[]).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(standing(res.headers(), "uploads-account").0, 0);
    let blobs = app.blob_files();
    let res = app.upload(&alice, fixture("hello.wav"), &[]).await;
    assert_refused(res, "uploads-account", 3_600).await;
    assert_eq!(app.blob_files(), blobs);
}

/// How many of `attempts` takes on `key` at `at_ms` `store` allows.
async fn taken(store: &dyn RateLimits, key: &str, rate: Rate, at_ms: i64, attempts: u32) -> u32 {
    let mut taken = 0;
    for _ in 0..attempts {
        if store.take(key, rate, at_ms).await.unwrap().is_taken() {
            taken += 1;
        }
    }
    taken
}

#[tokio::test]
async fn the_redis_store_has_no_window_edge_to_burst_across() {
    let store = RedisRateLimits::connect(&redis_url(), &redis_prefix())
        .await
        .unwrap();
    const HOUR: i64 = 3_600_000;
    let rate = Rate::per(3, HOUR).unwrap();
    // An hour boundary, in the future (Redis expires the keys by its own clock).
    let edge = 4_900_000 * HOUR;
    assert_eq!(taken(&store, "k", rate, edge - 1_000, 10).await, 3);
    assert_eq!(taken(&store, "k", rate, edge, 10).await, 0);
    assert_eq!(taken(&store, "k", rate, edge + 1_000, 10).await, 0);
    assert_eq!(
        store.take("k", rate, edge + 1_000).await.unwrap(),
        Take::Refused {
            retry_after_ms: HOUR / 3 - 2_000
        }
    );
    assert_eq!(
        taken(&store, "k", rate, edge - 1_000 + HOUR / 3, 10).await,
        1
    );
    match store.take("other", rate, edge).await.unwrap() {
        Take::Taken { remaining, next_ms } => {
            assert_eq!(remaining, 2);
            assert_eq!(next_ms, HOUR / 3);
        }
        refused => panic!("a new key is refused: {refused:?}"),
    }
}

/// A Redis server of the test's own, on a free port, killed when dropped.
struct OwnRedis {
    child: std::process::Child,
    url: String,
}

impl OwnRedis {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("redis-server is needed (scripts/services/redis.sh installs it): {e}")
            });
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        OwnRedis {
            child,
            url: format!("redis://127.0.0.1:{port}"),
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_its_store_a_request_goes_unlimited_and_a_report_is_refused() {
    let mut redis = OwnRedis::start().await;
    let mut options = limits(|q| q.reads.per_address = quota("1/1h"));
    options.rate_limits.redis_url = Some(SecretString::from(redis.url.clone()));
    let app = spawn_app_with(Backend::Sqlite, options).await;
    let alice = app.alice();
    let id = app.upload_ok(&alice, fixture("hello.wav"), &[]).await;
    assert_eq!(app.wait_scanned(&id, &alice).await["scan_state"], "clean");
    let path = format!("/api/v1/items/{id}");
    let res = get(&app.base, &path, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(standing(res.headers(), "reads-address").0, 0);
    assert_refused(get(&app.base, &path, None).await, "reads-address", 3_600).await;

    redis.stop();
    // The limits protect the service; without their store it keeps serving, unlimited.
    for _ in 0..3 {
        let res = get(&app.base, &path, None).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers().get("ratelimit").is_none());
    }
    // Reports are refused instead: their allowance cannot be checked.
    let res = app
        .client
        .post(app.url(&format!("/api/v1/items/{id}/reports")))
        .json(&serde_json::json!({"reason": "spam"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["type"], "urn:voicebin:problem:unavailable");
}
