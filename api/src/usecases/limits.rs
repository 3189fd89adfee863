//! Rate limits: GCRA token buckets (`voicebin_projections::rate`) kept in a store every replica
//! shares (PostgreSQL, or Redis when configured; in process in embedded mode).
//!
//! Four classes of request are limited, each per account (a signed-in caller) or per network
//! address (everyone else): uploads, API reads, downloads and MCP. Each limited answer says
//! where the caller stands with the IETF `RateLimit-Policy` and `RateLimit` fields
//! (draft-ietf-httpapi-ratelimit-headers); a refusal is a 429 `rate-limited` problem with
//! `Retry-After`. Abuse reports and sign-in links are limited on the same buckets
//! (`allowances.rs`), with their own hourly allowances.
//!
//! This file imports no application state (`state.rs` holds the [`Limiter`]).

use std::fmt;
use std::sync::Arc;

use voicebin_projections::{Clock, Rate, RateLimits, StoreError, Take};

use crate::error::ApiError;

/// A kind of request with its own limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// `POST /api/v1/audio`.
    Uploads,
    /// `GET` and `HEAD` of the REST API (`/api/v1/…`).
    Reads,
    /// `/{id}/download` and `/{id}/audio`.
    Downloads,
    /// `POST /mcp`.
    Mcp,
}

impl Class {
    /// Every class.
    pub const ALL: [Class; 4] = [Class::Uploads, Class::Reads, Class::Downloads, Class::Mcp];

    /// The class's name, the first part of its policies' names.
    pub fn name(self) -> &'static str {
        match self {
            Class::Uploads => "uploads",
            Class::Reads => "reads",
            Class::Downloads => "downloads",
            Class::Mcp => "mcp",
        }
    }

    /// What one request of the class is, for a refusal's detail.
    fn things(self) -> &'static str {
        match self {
            Class::Uploads => "uploads",
            Class::Reads => "API reads",
            Class::Downloads => "downloads",
            Class::Mcp => "MCP requests",
        }
    }
}

/// `limit` requests per `window_secs` seconds: a burst of `limit`, refilled evenly over the
/// window (so at most `limit` at once, and `limit` per window in the long run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests per window (at least 1).
    pub limit: u32,
    /// The window, in seconds (at least 1).
    pub window_secs: u32,
}

impl Quota {
    /// Parses `<limit>/<window>`, the window a number (default 1) and a unit `s`, `m`, `h` or
    /// `d`: `60/1h`, `600/m`, `10/30s`. `off` or `0` is no limit (`None`).
    pub fn parse(text: &str) -> Result<Option<Quota>, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("off") || text == "0" {
            return Ok(None);
        }
        let bad = || format!("`{text}`: expected `<requests>/<window>` such as `60/1h`, or `off`");
        let (limit, window) = text.split_once('/').ok_or_else(bad)?;
        let limit: u32 = limit.trim().parse().map_err(|_| bad())?;
        let window = window.trim();
        let unit = window.chars().last().ok_or_else(bad)?;
        let seconds: u32 = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        let count = &window[..window.len() - 1];
        let count: u32 = if count.is_empty() {
            1
        } else {
            count.parse().map_err(|_| bad())?
        };
        let window_secs = count.checked_mul(seconds).ok_or_else(bad)?;
        if limit == 0 {
            return Ok(None);
        }
        if window_secs == 0 {
            return Err(bad());
        }
        // The buckets refill in whole milliseconds.
        if u64::from(limit) > u64::from(window_secs) * 1_000 {
            return Err(format!(
                "`{text}`: at most one request per millisecond can be allowed"
            ));
        }
        Ok(Some(Quota { limit, window_secs }))
    }

    /// The bucket's rate.
    pub fn rate(self) -> Option<Rate> {
        Rate::per(self.limit, i64::from(self.window_secs) * 1_000)
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self.window_secs;
        match w {
            _ if w.is_multiple_of(86_400) => write!(f, "{}/{}d", self.limit, w / 86_400),
            _ if w.is_multiple_of(3_600) => write!(f, "{}/{}h", self.limit, w / 3_600),
            _ if w.is_multiple_of(60) => write!(f, "{}/{}m", self.limit, w / 60),
            _ => write!(f, "{}/{}s", self.limit, w),
        }
    }
}

/// One class's quotas; `None` is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassLimits {
    /// For a signed-in caller, per account.
    pub per_account: Option<Quota>,
    /// For a caller without a (valid) token, per network address (an IPv6 address stands for
    /// its /64).
    pub per_address: Option<Quota>,
}

impl ClassLimits {
    const fn of(account: (u32, u32), address: (u32, u32)) -> Self {
        ClassLimits {
            per_account: Some(Quota {
                limit: account.0,
                window_secs: account.1,
            }),
            per_address: Some(Quota {
                limit: address.0,
                window_secs: address.1,
            }),
        }
    }

    /// No limit.
    pub const OFF: ClassLimits = ClassLimits {
        per_account: None,
        per_address: None,
    };
}

/// The quotas of every class. The defaults are far above what a person or a well-behaved
/// script does, so that only floods meet them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// `POST /api/v1/audio`; default 120 an hour per account, 60 per address.
    pub uploads: ClassLimits,
    /// REST API reads; default 600 a minute per account, 300 per address.
    pub reads: ClassLimits,
    /// `/{id}/download` and `/{id}/audio`; default 600 a minute per account and per address
    /// (a player seeking sends several requests per playback).
    pub downloads: ClassLimits,
    /// `POST /mcp`; default 300 a minute per account, 120 per address.
    pub mcp: ClassLimits,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            uploads: ClassLimits::of((120, 3_600), (60, 3_600)),
            reads: ClassLimits::of((600, 60), (300, 60)),
            downloads: ClassLimits::of((600, 60), (600, 60)),
            mcp: ClassLimits::of((300, 60), (120, 60)),
        }
    }
}

impl RateLimitSettings {
    /// No limits at all (`VOICEBIN_RATE_LIMITS=off`).
    pub fn off() -> Self {
        RateLimitSettings {
            uploads: ClassLimits::OFF,
            reads: ClassLimits::OFF,
            downloads: ClassLimits::OFF,
            mcp: ClassLimits::OFF,
        }
    }

    /// The quotas of `class`.
    pub fn of(&self, class: Class) -> &ClassLimits {
        match class {
            Class::Uploads => &self.uploads,
            Class::Reads => &self.reads,
            Class::Downloads => &self.downloads,
            Class::Mcp => &self.mcp,
        }
    }
}

/// Who a request is counted against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A signed-in account (a verified token's `sub`).
    Account(String),
    /// A network address, by its keyed tag (the store never sees the address).
    Address(String),
}

/// Where one request stands with the policy that counted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// The class.
    pub class: Class,
    /// The policy's name: `<class>-account` or `<class>-address`.
    pub policy: String,
    /// The policy's quota.
    pub quota: Quota,
    /// What the bucket answered.
    pub take: Take,
}

impl Standing {
    /// `RateLimit-Policy` and `RateLimit` (structured fields, draft-ietf-httpapi-ratelimit-headers):
    /// the quota and window, then the requests left now and the seconds until one more is.
    pub fn headers(&self) -> [(&'static str, String); 2] {
        let (remaining, next_ms) = match self.take {
            Take::Taken { remaining, next_ms } => (remaining, next_ms),
            Take::Refused { retry_after_ms } => (0, retry_after_ms),
        };
        [
            (
                "ratelimit-policy",
                format!(
                    "\"{}\";q={};w={}",
                    self.policy, self.quota.limit, self.quota.window_secs
                ),
            ),
            (
                "ratelimit",
                format!("\"{}\";r={remaining};t={}", self.policy, seconds(next_ms)),
            ),
        ]
    }

    /// The 429 for a refused request; `None` when it was allowed.
    pub fn refusal(&self) -> Option<ApiError> {
        let Take::Refused { retry_after_ms } = self.take else {
            return None;
        };
        let per = if self.policy.ends_with("-account") {
            "account"
        } else {
            "network address"
        };
        Some(ApiError::rate_limited(
            format!(
                "at most {} {} per {} per {per} ({}); retry after {} s",
                self.quota.limit,
                self.class.things(),
                window_name(self.quota.window_secs),
                self.policy,
                seconds(retry_after_ms)
            ),
            &self.policy,
            seconds(retry_after_ms),
        ))
    }
}

/// Milliseconds as whole seconds, rounded up (a client waiting that long is never early).
pub(crate) fn seconds(ms: i64) -> u32 {
    u32::try_from(ms.max(0).saturating_add(999) / 1_000).unwrap_or(u32::MAX)
}

fn window_name(secs: u32) -> String {
    match secs {
        1 => "second".into(),
        60 => "minute".into(),
        3_600 => "hour".into(),
        86_400 => "day".into(),
        s => format!("{s} seconds"),
    }
}

/// Counts requests against their class's quotas, and takes from the hourly allowances of
/// `allowances.rs`, at the clock's time.
pub struct Limiter {
    requests: Arc<dyn RateLimits>,
    allowances: Arc<dyn RateLimits>,
    clock: Arc<dyn Clock>,
    settings: RateLimitSettings,
}

impl Limiter {
    /// A limiter keeping the request buckets in `requests` and the allowances in `allowances`
    /// (the same store, except in embedded mode: the request buckets in process, the
    /// allowances in the database), timed by `clock`.
    pub fn new(
        requests: Arc<dyn RateLimits>,
        allowances: Arc<dyn RateLimits>,
        clock: Arc<dyn Clock>,
        settings: RateLimitSettings,
    ) -> Self {
        Limiter {
            requests,
            allowances,
            clock,
            settings,
        }
    }

    /// The store of the request buckets.
    pub fn requests(&self) -> &Arc<dyn RateLimits> {
        &self.requests
    }

    /// The store of the report and sign-in-link allowances.
    pub fn allowances(&self) -> &Arc<dyn RateLimits> {
        &self.allowances
    }

    /// The quotas.
    pub fn settings(&self) -> &RateLimitSettings {
        &self.settings
    }

    /// Counts one request of `class` from `subject`. `None` when that class and kind of
    /// subject has no limit; otherwise where it stands (refused or not). A store that cannot
    /// answer is an error; the caller decides what that means.
    pub async fn count(
        &self,
        class: Class,
        subject: &Subject,
    ) -> Result<Option<Standing>, StoreError> {
        let limits = self.settings.of(class);
        let (quota, per, id) = match subject {
            Subject::Account(account) => (limits.per_account, "account", account),
            Subject::Address(tag) => (limits.per_address, "address", tag),
        };
        let Some((quota, rate)) = quota.and_then(|q| Some((q, q.rate()?))) else {
            return Ok(None);
        };
        let key = format!("{}:{per}:{id}", class.name());
        let take = take(self.requests.as_ref(), &key, rate, self.clock.now_ms()).await?;
        Ok(Some(Standing {
            class,
            policy: format!("{}-{per}", class.name()),
            quota,
            take,
        }))
    }

    /// Takes one hit from the allowance `key` at `rate`, now.
    pub async fn allowance(&self, key: &str, rate: Rate) -> Result<Take, StoreError> {
        take(self.allowances.as_ref(), key, rate, self.clock.now_ms()).await
    }
}

/// Takes one token from `key`'s bucket in `store` at `now`; now and then, forgets the buckets
/// that are full again (besides the minutely sweep), so a burst of new keys is soon let go.
async fn take(store: &dyn RateLimits, key: &str, rate: Rate, now: i64) -> Result<Take, StoreError> {
    let taken = store.take(key, rate, now).await?;
    if taken.is_taken() && rand::random::<u16>() < 64 {
        if let Err(e) = store.purge_full(now).await {
            tracing::warn!(error = %e, "purging full rate-limit buckets failed");
        }
    }
    Ok(taken)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, Ordering};

    use voicebin_projections::MemoryRateLimits;

    use super::*;

    struct TestClock(AtomicI64);

    impl Clock for TestClock {
        fn now_ms(&self) -> i64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    fn limiter(settings: RateLimitSettings) -> (Limiter, Arc<TestClock>) {
        let clock = Arc::new(TestClock(AtomicI64::new(1_000_000_000)));
        let store: Arc<dyn RateLimits> = Arc::new(MemoryRateLimits::default());
        let limiter = Limiter::new(store.clone(), store, clock.clone(), settings);
        (limiter, clock)
    }

    #[test]
    fn quotas_parse_and_print() {
        let q = |limit, window_secs| Some(Quota { limit, window_secs });
        assert_eq!(Quota::parse("60/1h").unwrap(), q(60, 3_600));
        assert_eq!(Quota::parse("600/m").unwrap(), q(600, 60));
        assert_eq!(Quota::parse(" 10/30s ").unwrap(), q(10, 30));
        assert_eq!(Quota::parse("5/2d").unwrap(), q(5, 172_800));
        assert_eq!(Quota::parse("off").unwrap(), None);
        assert_eq!(Quota::parse("0").unwrap(), None);
        assert_eq!(Quota::parse("0/1h").unwrap(), None);
        for bad in [
            "",
            "60",
            "60/",
            "60/1x",
            "x/1h",
            "60/0s",
            "-1/1h",
            "60/99999999d",
        ] {
            assert!(Quota::parse(bad).is_err(), "{bad}");
        }
        for text in ["60/1h", "600/1m", "10/30s", "5/2d"] {
            assert_eq!(Quota::parse(text).unwrap().unwrap().to_string(), text);
        }
    }

    #[tokio::test]
    async fn headers_count_down_then_a_refusal_says_how_long_to_wait() {
        let mut settings = RateLimitSettings::off();
        settings.uploads.per_account = Quota::parse("3/1m").unwrap();
        let (limiter, clock) = limiter(settings);
        let alice = Subject::Account("alice".into());
        let mut seen = Vec::new();
        for _ in 0..3 {
            let standing = limiter
                .count(Class::Uploads, &alice)
                .await
                .unwrap()
                .unwrap();
            assert!(standing.refusal().is_none());
            seen.push(standing.headers());
        }
        assert_eq!(seen[0][0].1, r#""uploads-account";q=3;w=60"#);
        assert_eq!(seen[0][1].1, r#""uploads-account";r=2;t=20"#);
        assert_eq!(seen[1][1].1, r#""uploads-account";r=1;t=20"#);
        assert_eq!(seen[2][1].1, r#""uploads-account";r=0;t=20"#);
        clock.0.fetch_add(5_000, Ordering::SeqCst);
        let refused = limiter
            .count(Class::Uploads, &alice)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(refused.headers()[1].1, r#""uploads-account";r=0;t=15"#);
        let e = refused.refusal().unwrap();
        assert_eq!(e.code(), crate::error::Code::RateLimited);
        assert_eq!(e.extra_header().unwrap().1, "15");
        assert_eq!(e.problem().policy.as_deref(), Some("uploads-account"));
        // Fifteen seconds on, one more.
        clock.0.fetch_add(15_000, Ordering::SeqCst);
        let standing = limiter
            .count(Class::Uploads, &alice)
            .await
            .unwrap()
            .unwrap();
        assert!(standing.refusal().is_none());
    }

    #[tokio::test]
    async fn accounts_addresses_and_classes_have_their_own_buckets() {
        let mut settings = RateLimitSettings::off();
        settings.reads = ClassLimits::of((1, 60), (1, 60));
        settings.downloads.per_address = Quota::parse("1/1m").unwrap();
        let (limiter, _) = limiter(settings);
        let alice = Subject::Account("alice".into());
        let bob = Subject::Account("bob".into());
        let here = Subject::Address("tag".into());
        for (class, subject) in [
            (Class::Reads, &alice),
            (Class::Reads, &bob),
            (Class::Reads, &here),
            (Class::Downloads, &here),
        ] {
            let standing = limiter.count(class, subject).await.unwrap().unwrap();
            assert!(standing.refusal().is_none(), "{class:?} {subject:?}");
        }
        for (class, subject) in [(Class::Reads, &alice), (Class::Downloads, &here)] {
            let standing = limiter.count(class, subject).await.unwrap().unwrap();
            assert!(standing.refusal().is_some(), "{class:?} {subject:?}");
        }
        // No limit set: nothing counted.
        assert_eq!(limiter.count(Class::Downloads, &alice).await.unwrap(), None);
        assert_eq!(limiter.count(Class::Uploads, &here).await.unwrap(), None);
    }
}
