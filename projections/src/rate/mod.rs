//! Rate limits: GCRA token buckets (the algorithm, pure, in `gcra.rs`) and the stores that keep
//! them, behind one port, [`RateLimits`]:
//!
//! - `memory.rs`: in process, for embedded mode (one process; bounded: idle buckets are
//!   forgotten and the number of buckets is capped);
//! - PostgreSQL (`sql.rs`, table `rate_limit_buckets`): shared by every API replica, one atomic
//!   statement per hit;
//! - `redis.rs`: shared through Redis when the operator configures it, one Lua script per hit.
//!
//! A bucket is one number, its "theoretical arrival time" (TAT): the moment its refill catches
//! up with what was taken. No stored TAT is the same as a full bucket, so a store may forget
//! any bucket whose TAT has passed. Every store computes the same step as [`gcra::step`], and
//! turns what it decided into a [`Take`] with [`gcra::outcome`].

pub mod gcra;
mod memory;
mod redis;

use async_trait::async_trait;

use crate::store::StoreError;

pub use memory::MemoryRateLimits;
pub use redis::RedisRateLimits;

/// How fast a rate limit lets hits through: a bucket of `capacity` tokens, one taken per hit,
/// refilled by one every `interval_ms`. A full bucket allows a burst of `capacity`; after it,
/// one hit per `interval_ms`. With `interval_ms = period / capacity` that is `capacity` per
/// period, at any moment: there are no window edges to burst across.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Hits a full bucket allows at once (at least 1).
    pub capacity: u32,
    /// Milliseconds to refill one token (at least 1).
    pub interval_ms: i64,
}

impl Rate {
    /// `limit` hits per `period_ms`: a bucket of `limit`, refilled over `period_ms` (rounded
    /// up to whole milliseconds per token, so never faster). `None` for a limit of 0 (no limit)
    /// or a period that is not positive.
    pub fn per(limit: u32, period_ms: i64) -> Option<Rate> {
        let n = i64::from(limit);
        let interval_ms = period_ms.checked_add(n - 1)?.checked_div(n)?;
        (period_ms >= 1).then_some(Rate {
            capacity: limit,
            interval_ms,
        })
    }

    /// How far ahead of now a bucket's clock may run: `capacity` refills.
    pub fn horizon_ms(self) -> i64 {
        i64::from(self.capacity).saturating_mul(self.interval_ms)
    }
}

/// The answer of [`RateLimits::take`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// A token was taken: the hit is allowed.
    Taken {
        /// Tokens left in the bucket after this one (more hits allowed right now).
        remaining: u32,
        /// Milliseconds until the bucket holds one token more (at least 1).
        next_ms: i64,
    },
    /// The bucket is empty: the hit is refused, and the next token comes in `retry_after_ms`.
    Refused {
        /// Milliseconds until a hit would be allowed (at least 1).
        retry_after_ms: i64,
    },
}

impl Take {
    /// Whether the hit was allowed.
    pub fn is_taken(self) -> bool {
        matches!(self, Take::Taken { .. })
    }
}

/// Token buckets, keyed by a string (`uploads:account:alice`), shared by every replica that
/// uses the same store.
#[async_trait]
pub trait RateLimits: Send + Sync {
    /// Takes one token from `key`'s bucket at `now_ms` (Unix milliseconds), at `rate`. Atomic:
    /// however many replicas take at once, the hits allowed never exceed what the rate allows.
    async fn take(&self, key: &str, rate: Rate, now_ms: i64) -> Result<Take, StoreError>;
    /// Forgets the buckets that are full again at `now_ms` (no different from having none);
    /// returns how many. Stores that expire buckets by themselves (Redis) return 0.
    async fn purge_full(&self, now_ms: i64) -> Result<u64, StoreError>;
    /// A one-line description for logs (`in process`, `PostgreSQL`, `Redis`).
    fn describe(&self) -> &'static str;
}

/// Where the time comes from: the system clock, or a test's.
pub trait Clock: Send + Sync {
    /// Now, in Unix milliseconds.
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}
