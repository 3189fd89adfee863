//! Clip views read moments ago, kept in memory for the public reads that ask for the same clip
//! again and again (a popular clip's page, its metadata, its downloads).
//!
//! What may be served from here, and for how long, is the whole design (ADR 0026):
//!
//! - An entry is served for at most the configured age (default half a second, never more than
//!   one). Another replica's change (a delete, a removal, a limit used up) reaches this one's
//!   readers when the entry ages out: within the age, with no message between replicas.
//! - This process's own changes forget the entry as soon as they are projected
//!   ([`ClipProjector`](crate::ClipProjector) calls [`RecentViews::forget`]).
//! - Only callers without credentials are served from here. An owner (or a moderator) always
//!   reads the store, so their own change is visible to them at once, whichever replica
//!   answers.
//! - Expiry needs nothing: the access rule compares the view's expiry with the clock.
//! - Reads that miss while another read of the same clip is under way wait for it rather than
//!   go to the store too: a burst of requests for one clip (2,000 listeners arriving at once)
//!   costs one query, not a queue for the store's connections.
//!
//! Memory is bounded by the entry count, whatever the number of clips: a full shard first
//! drops its aged entries, then all of them.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::sharded::{lock, Sharded, SHARDS};
use crate::store::StoreError;
use crate::view::ClipView;

/// The longest age an entry may be served at: the promise to other replicas' changes.
pub const MAX_AGE: Duration = Duration::from_secs(1);

/// Recently read views (and recent "no such clip" answers), each served until it is `age` old.
pub struct RecentViews {
    age: Duration,
    per_shard: usize,
    shards: Sharded<Shard>,
}

#[derive(Default)]
struct Shard {
    entries: HashMap<String, Entry>,
    /// When every entry was last dropped at once: a read that began before may not be kept,
    /// since a `forget` it should have lost to may have been dropped with the rest.
    cleared_at: Option<Instant>,
}

struct Entry {
    /// When the read began, or when the entry was forgotten.
    read_at: Instant,
    slot: Slot,
}

/// What is known of a clip.
enum Slot {
    /// Its view as read (`None`: no such clip).
    Read(Option<Arc<ClipView>>),
    /// A read is under way; its result comes through here (`None` until it has). A read that
    /// fails or is dropped drops the sender without a result, and those waiting elect another.
    Reading(watch::Receiver<Option<Option<Arc<ClipView>>>>),
    /// Forgotten: a read that began before this must not be kept.
    Forgotten,
}

impl RecentViews {
    /// A cache serving entries up to `age` old (capped at [`MAX_AGE`]), holding at most about
    /// `entries` of them. A zero age or size keeps nothing: every read goes to the store.
    pub fn new(age: Duration, entries: usize) -> Self {
        RecentViews {
            age: age.min(MAX_AGE),
            per_shard: entries.div_ceil(SHARDS),
            shards: Sharded::default(),
        }
    }

    /// A cache that keeps nothing.
    pub fn off() -> Self {
        Self::new(Duration::ZERO, 0)
    }

    /// Whether anything is kept.
    pub fn is_on(&self) -> bool {
        !self.age.is_zero() && self.per_shard > 0
    }

    fn shard(&self, id: &str) -> &Mutex<Shard> {
        self.shards.of(id)
    }

    /// Clip `id`'s view as the store had it at most the configured age ago; `read` reads it
    /// from the store when no entry is young enough.
    pub async fn get<F, Fut>(&self, id: &str, read: F) -> Result<Option<Arc<ClipView>>, StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<ClipView>, StoreError>>,
    {
        if !self.is_on() {
            return Ok(read().await?.map(Arc::new));
        }
        // Wait for a read under way, or become the one others wait for.
        let (now, sender, mine) = loop {
            let now = Instant::now();
            let elected = {
                let mut shard = lock(self.shard(id));
                let under_way = match shard.entries.get(id) {
                    Some(e) if now.duration_since(e.read_at) < self.age => match &e.slot {
                        Slot::Read(view) => return Ok(view.clone()),
                        Slot::Reading(result) if !abandoned(result) => Some(result.clone()),
                        Slot::Reading(_) | Slot::Forgotten => None,
                    },
                    _ => None,
                };
                match under_way {
                    Some(result) => Err(result),
                    None => {
                        let (sender, result) = watch::channel(None);
                        self.put(&mut shard, id, now, Slot::Reading(result.clone()));
                        Ok((sender, result))
                    }
                }
            };
            match elected {
                Ok((sender, mine)) => break (now, sender, mine),
                Err(mut result) => {
                    if let Ok(view) = result.wait_for(Option::is_some).await {
                        return Ok(view.clone().flatten());
                    }
                    // That read failed, or its caller went away: elect another.
                }
            }
        };
        let view = read().await?.map(Arc::new);
        sender.send_replace(Some(view.clone()));
        self.keep(id, now, &mine, view.clone());
        Ok(view)
    }

    /// Remembers `view`, read by the read that began at `read_at` and put `mine` there while it
    /// ran. A `forget` since, a later read, or a clearing of the shard since, wins: a change
    /// projected while the read ran is never kept.
    fn keep(
        &self,
        id: &str,
        read_at: Instant,
        mine: &watch::Receiver<Option<Option<Arc<ClipView>>>>,
        view: Option<Arc<ClipView>>,
    ) {
        let mut shard = lock(self.shard(id));
        if shard.cleared_at.is_some_and(|cleared| cleared >= read_at) {
            return;
        }
        match shard.entries.get(id) {
            Some(Entry {
                slot: Slot::Reading(entry),
                ..
            }) if entry.same_channel(mine) => {}
            Some(entry) if entry.read_at >= read_at => return,
            _ => {}
        }
        self.put(&mut shard, id, read_at, Slot::Read(view));
    }

    /// Puts an entry in `shard`, first making room: aged entries go, then, if none had aged,
    /// every entry.
    fn put(&self, shard: &mut Shard, id: &str, read_at: Instant, slot: Slot) {
        if shard.entries.len() >= self.per_shard && !shard.entries.contains_key(id) {
            let age = self.age;
            let now = Instant::now();
            shard
                .entries
                .retain(|_, e| now.duration_since(e.read_at) < age);
            if shard.entries.len() >= self.per_shard {
                shard.entries.clear();
                shard.cleared_at = Some(now);
            }
        }
        shard.entries.insert(id.to_owned(), Entry { read_at, slot });
    }

    /// Forgets clip `id`: its next read goes to the store. Called once its change is written.
    pub fn forget(&self, id: &str) {
        if self.is_on() {
            let mut shard = lock(self.shard(id));
            self.put(&mut shard, id, Instant::now(), Slot::Forgotten);
        }
    }

    /// Forgets everything (after a rebuild swapped every view).
    pub fn clear(&self) {
        let now = Instant::now();
        for shard in self.shards.all() {
            let mut shard = lock(shard);
            shard.entries.clear();
            shard.cleared_at = Some(now);
        }
    }

    /// Entries held now (aged and forgotten ones included until they are replaced or dropped).
    pub fn len(&self) -> usize {
        self.shards.all().map(|s| lock(s).entries.len()).sum()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Debug for RecentViews {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecentViews")
            .field("age", &self.age)
            .field("entries", &(self.per_shard * SHARDS))
            .finish()
    }
}

/// A read under way that ended without a result (it failed, or its caller went away).
fn abandoned(result: &watch::Receiver<Option<Option<Arc<ClipView>>>>) -> bool {
    result.borrow().is_none() && result.has_changed().is_err()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn view(title: &str) -> ClipView {
        crate::search::tests::view(Some(title), "clip.wav", None)
    }

    /// Reads through `cache`, counting the store reads in `reads`; the store holds `title`.
    async fn read(
        cache: &RecentViews,
        id: &str,
        reads: &AtomicUsize,
        title: &str,
    ) -> Option<String> {
        cache
            .get(id, || async {
                reads.fetch_add(1, Ordering::SeqCst);
                Ok(Some(view(title)))
            })
            .await
            .unwrap()
            .and_then(|v| v.title.clone())
    }

    #[tokio::test]
    async fn an_entry_is_served_until_it_ages_out_then_read_again() {
        let cache = RecentViews::new(Duration::from_millis(200), 100);
        let reads = AtomicUsize::new(0);
        assert_eq!(
            read(&cache, "a", &reads, "one").await.as_deref(),
            Some("one")
        );
        assert_eq!(
            read(&cache, "a", &reads, "two").await.as_deref(),
            Some("one")
        );
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(
            read(&cache, "a", &reads, "two").await.as_deref(),
            Some("two")
        );
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_forgotten_entry_is_read_again_at_once() {
        let cache = RecentViews::new(Duration::from_secs(1), 100);
        let reads = AtomicUsize::new(0);
        read(&cache, "a", &reads, "one").await;
        cache.forget("a");
        assert_eq!(
            read(&cache, "a", &reads, "two").await.as_deref(),
            Some("two")
        );
        assert_eq!(
            read(&cache, "a", &reads, "three").await.as_deref(),
            Some("two")
        );
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_read_that_began_before_a_forget_is_not_kept() {
        let cache = RecentViews::new(Duration::from_secs(1), 100);
        let reads = AtomicUsize::new(0);
        // The change is projected (and forgotten) while this read is in flight.
        let stale = cache
            .get("a", || async {
                cache.forget("a");
                Ok(Some(view("before")))
            })
            .await
            .unwrap();
        assert_eq!(stale.unwrap().title.as_deref(), Some("before"));
        assert_eq!(
            read(&cache, "a", &reads, "after").await.as_deref(),
            Some("after")
        );
        assert_eq!(reads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn no_such_clip_is_remembered_too() {
        let cache = RecentViews::new(Duration::from_secs(1), 100);
        let reads = AtomicUsize::new(0);
        for _ in 0..3 {
            let found = cache
                .get("gone", || async {
                    reads.fetch_add(1, Ordering::SeqCst);
                    Ok(None)
                })
                .await
                .unwrap();
            assert!(found.is_none());
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn the_entry_count_stays_bounded_whatever_the_number_of_clips() {
        let cache = RecentViews::new(Duration::from_secs(1), 64);
        let reads = AtomicUsize::new(0);
        for i in 0..10_000 {
            read(&cache, &format!("clip{i}"), &reads, "t").await;
            cache.forget(&format!("other{i}"));
        }
        assert!(cache.len() <= 64, "{} entries", cache.len());
    }

    /// The store was read once, and every caller got what that read found.
    fn one_read_seen_by_all(
        reads: &AtomicUsize,
        found: Vec<Result<Option<Arc<ClipView>>, StoreError>>,
        title: &str,
    ) {
        assert_eq!(
            reads.load(Ordering::SeqCst),
            1,
            "the store was read more than once"
        );
        for view in found {
            assert_eq!(view.unwrap().unwrap().title.as_deref(), Some(title));
        }
    }

    #[tokio::test]
    async fn reads_that_miss_while_one_is_under_way_wait_for_it() {
        let cache = RecentViews::new(Duration::from_secs(1), 100);
        let reads = AtomicUsize::new(0);
        let slow_read = || async {
            reads.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(Some(view("one")))
        };
        let found = futures::future::join_all((0..50).map(|_| cache.get("a", slow_read))).await;
        one_read_seen_by_all(&reads, found, "one");
    }

    #[tokio::test]
    async fn when_the_read_under_way_fails_one_of_those_waiting_reads_for_the_rest() {
        let cache = RecentViews::new(Duration::from_secs(1), 100);
        let reads = AtomicUsize::new(0);
        let failing = cache.get("a", || async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Err(StoreError::Unavailable("down".into()))
        });
        let waiting = async {
            // Starts while the first read is under way.
            tokio::time::sleep(Duration::from_millis(10)).await;
            read(&cache, "a", &reads, "two").await
        };
        let (failed, waited) = tokio::join!(failing, waiting);
        assert!(failed.is_err());
        assert_eq!(waited.as_deref(), Some("two"));
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        // And what it read is kept.
        assert_eq!(
            read(&cache, "a", &reads, "three").await.as_deref(),
            Some("two")
        );
    }

    #[tokio::test]
    async fn when_the_read_under_way_is_abandoned_the_store_is_read_once_more_not_by_all() {
        let cache = RecentViews::new(Duration::from_secs(1), 100);
        let reads = AtomicUsize::new(0);
        // The first reader goes away (its client disconnected) while its read is under way.
        let abandoned = tokio::time::timeout(
            Duration::from_millis(30),
            cache.get("a", || async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(Some(view("never")))
            }),
        );
        let waiting = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            futures::future::join_all((0..20).map(|_| {
                cache.get("a", || async {
                    reads.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok(Some(view("one")))
                })
            }))
            .await
        };
        let (abandoned, found) = tokio::join!(abandoned, waiting);
        assert!(abandoned.is_err());
        one_read_seen_by_all(&reads, found, "one");
    }

    /// `before`, a read of clip `a` that found "before", answers its caller with it, and the
    /// next read of `a` reads the store again.
    async fn served_but_not_kept(
        cache: &RecentViews,
        before: impl Future<Output = Result<Option<Arc<ClipView>>, StoreError>>,
        reads: &AtomicUsize,
    ) {
        let before = before.await.unwrap().unwrap();
        assert_eq!(before.title.as_deref(), Some("before"));
        assert_eq!(
            read(cache, "a", reads, "after").await.as_deref(),
            Some("after")
        );
    }

    #[tokio::test]
    async fn a_read_under_way_when_everything_is_cleared_is_not_kept() {
        let cache = RecentViews::new(Duration::from_secs(1), 100);
        let reads = AtomicUsize::new(0);
        let before = cache.get("a", || async {
            // A rebuild swaps every view while this read runs.
            cache.clear();
            Ok(Some(view("before")))
        });
        served_but_not_kept(&cache, before, &reads).await;
    }

    #[tokio::test]
    async fn a_read_under_way_when_its_full_shard_is_emptied_is_not_kept() {
        // One entry per shard: a second clip in the same shard empties it.
        let cache = RecentViews::new(Duration::from_secs(1), SHARDS);
        let reads = AtomicUsize::new(0);
        let other = (0..1000)
            .map(|i| format!("other{i}"))
            .find(|o| std::ptr::eq(cache.shard(o), cache.shard("a")))
            .unwrap();
        let before = cache.get("a", || async {
            // The clip changes, then another clip's read fills the shard: the marker of the
            // change goes with everything else.
            cache.forget("a");
            read(&cache, &other, &reads, "x").await;
            Ok(Some(view("before")))
        });
        served_but_not_kept(&cache, before, &reads).await;
    }

    #[tokio::test]
    async fn a_read_under_way_when_the_clip_is_forgotten_is_not_served_to_later_reads() {
        let cache = RecentViews::new(Duration::from_secs(1), 100);
        let reads = AtomicUsize::new(0);
        let before = cache.get("a", || async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(Some(view("before")))
        });
        let after = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            cache.forget("a");
            read(&cache, "a", &reads, "after").await
        };
        let (before, after) = tokio::join!(before, after);
        assert_eq!(before.unwrap().unwrap().title.as_deref(), Some("before"));
        assert_eq!(after.as_deref(), Some("after"));
        assert_eq!(
            read(&cache, "a", &reads, "later").await.as_deref(),
            Some("after")
        );
    }

    #[tokio::test]
    async fn off_reads_the_store_every_time_and_an_age_is_capped_at_one_second() {
        let cache = RecentViews::off();
        let reads = AtomicUsize::new(0);
        read(&cache, "a", &reads, "one").await;
        read(&cache, "a", &reads, "one").await;
        assert_eq!(reads.load(Ordering::SeqCst), 2);
        assert!(cache.is_empty());
        let capped = RecentViews::new(Duration::from_secs(60), 10);
        assert_eq!(capped.age, MAX_AGE);
    }
}
