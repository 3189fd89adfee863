//! Per-clip state split into shards, each behind its own lock, so requests for different clips
//! rarely wait on one lock: the shape of the caches kept for public reads (the views of
//! [`crate::RecentViews`], and the documents the REST API writes of them).

use std::sync::{Mutex, MutexGuard};

/// How many shards.
pub const SHARDS: usize = 16;

/// [`SHARDS`] values of `T`, each behind its own lock, a clip id picking one.
pub struct Sharded<T> {
    shards: Vec<Mutex<T>>,
}

impl<T: Default> Default for Sharded<T> {
    fn default() -> Self {
        Sharded {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }
}

impl<T> Sharded<T> {
    /// The shard clip `id` falls in.
    pub fn of(&self, id: &str) -> &Mutex<T> {
        // FNV-1a: ids are random already; this only spreads them.
        let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        &self.shards[(hash % SHARDS as u64) as usize]
    }

    /// Every shard.
    pub fn all(&self) -> impl Iterator<Item = &Mutex<T>> {
        self.shards.iter()
    }
}

/// The lock, even if a holder panicked: the shards' users keep their state whole at every step.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
