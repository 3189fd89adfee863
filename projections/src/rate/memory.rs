//! The in-process bucket store, for embedded mode (one process, so nothing to share). Memory
//! stays bounded: buckets that are full again are forgotten (by [`RateLimits::purge_full`] and
//! whenever the store is at its cap), and at the cap the bucket closest to full makes room.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{gcra, Rate, RateLimits, Take};
use crate::store::StoreError;

/// Token buckets in this process's memory.
pub struct MemoryRateLimits {
    buckets: Mutex<HashMap<String, i64>>,
    max_buckets: usize,
}

impl MemoryRateLimits {
    /// Buckets kept at most by default: about 10 MB of keys and clocks.
    pub const DEFAULT_MAX_BUCKETS: usize = 100_000;

    /// A store keeping at most `max_buckets` buckets (at least one).
    pub fn new(max_buckets: usize) -> Self {
        MemoryRateLimits {
            buckets: Mutex::new(HashMap::new()),
            max_buckets: max_buckets.max(1),
        }
    }

    /// How many buckets are kept.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no bucket is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        // A panic while holding the lock cannot leave a bucket half-written (one insert), so
        // a poisoned map is still a good one.
        self.buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Default for MemoryRateLimits {
    fn default() -> Self {
        MemoryRateLimits::new(Self::DEFAULT_MAX_BUCKETS)
    }
}

#[async_trait]
impl RateLimits for MemoryRateLimits {
    async fn take(&self, key: &str, rate: Rate, now_ms: i64) -> Result<Take, StoreError> {
        let mut buckets = self.lock();
        let step = gcra::step(buckets.get(key).copied(), rate, now_ms);
        if let Some(tat) = step.tat {
            if !buckets.contains_key(key) && buckets.len() >= self.max_buckets {
                buckets.retain(|_, tat| *tat > now_ms);
                if buckets.len() >= self.max_buckets {
                    // Forgetting the buckets nearest to full gives away the least. Room is made
                    // for a hundredth of the cap at once, so these scans happen once per that
                    // many new callers, not for each (a flood of new addresses would otherwise
                    // hold every request behind a scan of the whole map).
                    let room = (self.max_buckets / 100).max(1);
                    let mut tats: Vec<i64> = buckets.values().copied().collect();
                    let nth = room.min(tats.len()) - 1;
                    let (_, cut, _) = tats.select_nth_unstable(nth);
                    let cut = *cut;
                    let mut forgotten = 0;
                    buckets.retain(|_, tat| {
                        let forget = forgotten < room && *tat <= cut;
                        forgotten += usize::from(forget);
                        !forget
                    });
                }
            }
            buckets.insert(key.to_owned(), tat);
        }
        Ok(step.take)
    }

    async fn purge_full(&self, now_ms: i64) -> Result<u64, StoreError> {
        let mut buckets = self.lock();
        let before = buckets.len();
        buckets.retain(|_, tat| *tat > now_ms);
        Ok((before - buckets.len()) as u64)
    }

    fn describe(&self) -> &'static str {
        "in process"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn buckets_are_kept_per_key_and_forgotten_when_full_again() {
        let store = MemoryRateLimits::default();
        let rate = Rate::per(2, 1_000).unwrap();
        for key in ["a", "a", "b"] {
            assert!(store.take(key, rate, 0).await.unwrap().is_taken());
        }
        assert!(!store.take("a", rate, 0).await.unwrap().is_taken());
        assert!(store.take("b", rate, 0).await.unwrap().is_taken());
        assert_eq!(store.purge_full(999).await.unwrap(), 0);
        assert_eq!(store.purge_full(1_000).await.unwrap(), 2);
        assert!(store.is_empty());
    }

    #[tokio::test]
    async fn memory_is_capped() {
        let store = MemoryRateLimits::new(3);
        let rate = Rate::per(1, 60_000).unwrap();
        for (i, key) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
            assert!(store.take(key, rate, i as i64).await.unwrap().is_taken());
            assert!(store.len() <= 3);
        }
        // The newest buckets are the ones kept: their clients are still refused.
        assert!(!store.take("e", rate, 10).await.unwrap().is_taken());
        assert!(!store.take("d", rate, 10).await.unwrap().is_taken());
        // The oldest made room.
        assert!(store.take("a", rate, 10).await.unwrap().is_taken());
    }
}
