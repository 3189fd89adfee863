//! The Redis bucket store, for deployments that configure one (`VOICEBIN_REDIS_URL`): every
//! replica talks to the same Redis, and each hit is one Lua script, which Redis runs
//! atomically. A bucket is a string key holding its TAT, expiring when the bucket is full
//! again, so Redis keeps only the buckets in use.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{gcra, Rate, RateLimits, Take};
use crate::store::StoreError;

/// [`gcra::step`] in Lua: `KEYS[1]` the bucket, `ARGV` now, interval and horizon (ms). Returns
/// `{1, new TAT}` when taken, `{0, TAT found}` (0 for none) when refused.
const STEP: &str = r"
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local horizon = tonumber(ARGV[3])
local stored = redis.call('GET', KEYS[1])
local start = now
if stored then start = math.max(tonumber(stored), now) end
local ahead = start + interval
if ahead - now > horizon then
  if stored then return {0, tonumber(stored)} end
  return {0, 0}
end
redis.call('SET', KEYS[1], string.format('%d', ahead), 'PX', string.format('%d', ahead - now))
return {1, ahead}
";

/// How long a hit waits for Redis before the store says it cannot answer.
const ANSWER_WITHIN: Duration = Duration::from_millis(500);

/// How long after a failure hits skip Redis altogether (and fail at once), so that while it is
/// down requests do not each wait for it.
const RESTING_MS: i64 = 5_000;

/// Token buckets in Redis.
pub struct RedisRateLimits {
    connection: ConnectionManager,
    script: redis::Script,
    prefix: String,
    /// Until when (Unix ms) hits fail without asking, after Redis failed to answer.
    resting_until: AtomicI64,
}

impl RedisRateLimits {
    /// Connects to `url` (`redis://host:6379/0`); every key is stored under `prefix`, so
    /// deployments can share one Redis. A hit waits at most half a second for an answer; after
    /// a failure, hits fail at once for five seconds while the connection is re-established
    /// (the requests go unlimited meanwhile, `api/src/throttle.rs`).
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(ANSWER_WITHIN))
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(unavailable)?;
        Ok(RedisRateLimits {
            connection,
            script: redis::Script::new(STEP),
            prefix: prefix.to_owned(),
            resting_until: AtomicI64::new(0),
        })
    }

    /// Notes a failure at `wall`: hits rest for a while.
    fn failed(&self, e: StoreError, wall: i64) -> StoreError {
        self.resting_until
            .store(wall.saturating_add(RESTING_MS), Ordering::Relaxed);
        e
    }
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(format!("redis: {e}"))
}

#[async_trait]
impl RateLimits for RedisRateLimits {
    async fn take(&self, key: &str, rate: Rate, now_ms: i64) -> Result<Take, StoreError> {
        // The wall clock, not `now_ms`, which tests may set anywhere.
        let wall = chrono::Utc::now().timestamp_millis();
        if wall < self.resting_until.load(Ordering::Relaxed) {
            return Err(StoreError::Unavailable(
                "redis failed a moment ago; not asking again yet".into(),
            ));
        }
        let mut connection = self.connection.clone();
        let mut invocation = self.script.key(format!("{}{key}", self.prefix));
        invocation
            .arg(now_ms)
            .arg(rate.interval_ms)
            .arg(rate.horizon_ms());
        let answer = tokio::time::timeout(
            ANSWER_WITHIN,
            invocation.invoke_async::<(i64, i64)>(&mut connection),
        )
        .await;
        let (taken, tat) = match answer {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => return Err(self.failed(unavailable(e), wall)),
            Err(_) => {
                let e = StoreError::Unavailable("redis did not answer within 500 ms".into());
                return Err(self.failed(e, wall));
            }
        };
        let tat = (tat != 0).then_some(tat);
        Ok(gcra::outcome(taken == 1, tat, rate, now_ms))
    }

    async fn purge_full(&self, _now_ms: i64) -> Result<u64, StoreError> {
        // Keys expire by themselves when their bucket is full again.
        Ok(0)
    }

    fn describe(&self) -> &'static str {
        "Redis"
    }
}
