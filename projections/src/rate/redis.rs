//! The Redis bucket store, for deployments that configure one (`VOICEBIN_REDIS_URL`): every
//! replica talks to the same Redis, and each hit is one Lua script, which Redis runs
//! atomically. A bucket is a string key holding its TAT, expiring when the bucket is full
//! again, so Redis keeps only the buckets in use.

use async_trait::async_trait;
use redis::aio::ConnectionManager;

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

/// Token buckets in Redis.
pub struct RedisRateLimits {
    connection: ConnectionManager,
    script: redis::Script,
    prefix: String,
}

impl RedisRateLimits {
    /// Connects to `url` (`redis://host:6379/0`); every key is stored under `prefix`, so
    /// deployments can share one Redis.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        let connection = ConnectionManager::new(client).await.map_err(unavailable)?;
        Ok(RedisRateLimits {
            connection,
            script: redis::Script::new(STEP),
            prefix: prefix.to_owned(),
        })
    }
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(format!("redis: {e}"))
}

#[async_trait]
impl RateLimits for RedisRateLimits {
    async fn take(&self, key: &str, rate: Rate, now_ms: i64) -> Result<Take, StoreError> {
        let mut connection = self.connection.clone();
        let (taken, tat): (i64, i64) = self
            .script
            .key(format!("{}{key}", self.prefix))
            .arg(now_ms)
            .arg(rate.interval_ms)
            .arg(rate.horizon_ms())
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
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
