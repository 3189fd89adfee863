//! Downloads of clips kept in S3 served from copies on the local disk (ADR 0030).
//!
//! Every download from S3 is a request to the object store and a stream through this process;
//! a popular clip is fetched again for every listener. [`DiskCached`] keeps copies of clips'
//! originals (`clips/<id>`, written once and never changed) in a local directory, bounded in
//! bytes, least recently used first out: a download of a copy is a local file's
//! (`LocalBlobStore`, paced, sent by the kernel on HTTP/1). A miss is served from the origin
//! as before, and a bounded number of background fills fetch the whole object into the cache
//! for the next listener.
//!
//! Staying correct:
//! - Only keys written once are kept (`clips/`); renditions are rewritten by the workers.
//! - What may be downloaded is decided before the store is asked (the clip's view), so a copy
//!   of a deleted clip is never served; this process's own deletes and puts drop the copy at
//!   once (and a fill under way is thrown away), other replicas' copies age out: unused for
//!   [`IDLE`], a copy is dropped at the next fill.
//! - Each process keeps its copies in a directory of its own, locked while it runs; opening
//!   removes the directories of processes that have ended: no copy outlives its process.

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::StreamExt;
use tokio::sync::Semaphore;

use super::LocalBlobStore;
use crate::ports::{BlobError, BlobStore, ByteStream};

/// A copy unused this long is dropped at the next fill.
pub const IDLE: Duration = Duration::from_secs(3600);
/// Fills running at once; a miss beyond them is served without filling.
const FILLS: usize = 2;
/// The largest copy, as a share of the cache: a copy at most a quarter of it.
const LARGEST_SHARE: u64 = 4;
/// Copies kept at most, however small (each costs an entry in memory).
const MAX_COPIES: usize = 65_536;
/// How long a fill may take before it is given up (the S3 client has no time limit of its own).
const FILL_TIME_LIMIT: Duration = Duration::from_secs(300);
/// How often copies unused for [`IDLE`] are looked for, at a download.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Keys whose fill failed (too large, the disk full, S3 failing) are not filled again for
/// [`IDLE`]; this many are remembered at most.
const MAX_REFUSED: usize = 4096;

/// Keys whose blobs never change once written: only these are kept.
fn kept(key: &str) -> bool {
    key.starts_with("clips/")
}

struct Copy {
    bytes: u64,
    used: Instant,
    /// Which fill made it: a download that found another fill's copy missing forgets only that.
    fill: u64,
}

struct Index {
    copies: HashMap<String, Copy>,
    bytes: u64,
    /// Fills under way, and whether a delete or put has made theirs stale.
    filling: HashMap<String, bool>,
    /// Fills made so far (numbering the copies).
    fills: u64,
    /// Keys whose fill failed, and when.
    refused: HashMap<String, Instant>,
    /// When copies unused for [`IDLE`] were last looked for.
    swept: Instant,
}

impl Default for Index {
    fn default() -> Self {
        Index {
            copies: HashMap::new(),
            bytes: 0,
            filling: HashMap::new(),
            fills: 0,
            refused: HashMap::new(),
            swept: Instant::now(),
        }
    }
}

impl Index {
    /// Forgets `key`'s copy (its file is the caller's to delete) and spoils a fill under way.
    fn forget(&mut self, key: &str) {
        if let Some(copy) = self.copies.remove(key) {
            self.bytes -= copy.bytes;
        }
        if let Some(stale) = self.filling.get_mut(key) {
            *stale = true;
        }
    }

    fn fits(&self, room: u64, max: u64) -> bool {
        self.bytes + room <= max && self.copies.len() < MAX_COPIES
    }

    /// The copies to drop so that one more of `room` bytes fits in `max` bytes and
    /// [`MAX_COPIES`]: the least recently used.
    fn evict(&mut self, room: u64, max: u64) -> Vec<String> {
        if self.fits(room, max) {
            return Vec::new();
        }
        let mut by_use: Vec<(Instant, String)> = self
            .copies
            .iter()
            .map(|(key, copy)| (copy.used, key.clone()))
            .collect();
        by_use.sort();
        let mut dropped = Vec::new();
        for (_, key) in by_use {
            if self.fits(room, max) {
                break;
            }
            self.forget(&key);
            dropped.push(key);
        }
        dropped
    }

    /// The copies unused for [`IDLE`], dropped; and refusals that old forgotten.
    fn sweep(&mut self, now: Instant) -> Vec<String> {
        self.swept = now;
        self.refused.retain(|_, at| now.duration_since(*at) < IDLE);
        let idle: Vec<String> = self
            .copies
            .iter()
            .filter(|(_, copy)| now.duration_since(copy.used) >= IDLE)
            .map(|(key, _)| key.clone())
            .collect();
        for key in &idle {
            self.forget(key);
        }
        idle
    }

    /// Remembers that `key`'s fill failed (the oldest refusal makes room).
    fn refuse(&mut self, key: &str, now: Instant) {
        if self.refused.len() >= MAX_REFUSED {
            if let Some(oldest) = self
                .refused
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(k, _)| k.clone())
            {
                self.refused.remove(&oldest);
            }
        }
        self.refused.insert(key.to_owned(), now);
    }
}

/// A [`BlobStore`] whose downloads of clips come from local copies when it has them.
pub struct DiskCached {
    origin: Arc<dyn BlobStore>,
    disk: LocalBlobStore,
    /// Locked while this process uses its directory ([`own_directory`]).
    _lock: std::fs::File,
    max_bytes: u64,
    index: Arc<Mutex<Index>>,
    fills: Arc<Semaphore>,
}

impl std::fmt::Debug for DiskCached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskCached")
            .field("disk", &self.disk)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

impl DiskCached {
    /// `origin`'s clips kept in a new directory of this process's own under `dir` (those of
    /// processes that have ended are removed), at most `max_bytes` of them; downloads of the
    /// copies are paced within `budget`.
    pub async fn open(
        origin: Arc<dyn BlobStore>,
        dir: impl Into<PathBuf>,
        max_bytes: u64,
        budget: Arc<super::ReadBudget>,
    ) -> std::io::Result<Self> {
        let dir = dir.into();
        let (own, lock) = tokio::task::spawn_blocking(move || own_directory(&dir))
            .await
            .map_err(std::io::Error::other)??;
        let disk = LocalBlobStore::open(own).await?.with_read_budget(budget);
        Ok(DiskCached {
            origin,
            disk,
            _lock: lock,
            max_bytes,
            index: Arc::default(),
            fills: Arc::new(Semaphore::new(FILLS)),
        })
    }

    fn lock(index: &Mutex<Index>) -> std::sync::MutexGuard<'_, Index> {
        index.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The fill that made `key`'s copy, when one is kept; marks it used. Now and then, also
    /// drops the copies unused for [`IDLE`].
    fn touch(&self, key: &str) -> Option<u64> {
        let now = Instant::now();
        let (fill, idle) = {
            let mut index = Self::lock(&self.index);
            let fill = index.copies.get_mut(key).map(|copy| {
                copy.used = now;
                copy.fill
            });
            let idle = if now.duration_since(index.swept) >= SWEEP_EVERY {
                index.sweep(now)
            } else {
                Vec::new()
            };
            (fill, idle)
        };
        if !idle.is_empty() {
            let disk = self.disk.clone();
            tokio::spawn(async move { delete_copies(&disk, idle).await });
        }
        fill
    }

    /// Forgets `key`'s copy if it is still the one `fill` made.
    fn forget_fill(&self, key: &str, fill: u64) {
        let mut index = Self::lock(&self.index);
        if index.copies.get(key).is_some_and(|copy| copy.fill == fill) {
            index.forget(key);
        }
    }

    /// Drops `key`'s copy, here and on disk.
    async fn drop_copy(&self, key: &str) {
        Self::lock(&self.index).forget(key);
        delete_copies(&self.disk, [key.to_owned()]).await;
    }

    /// Starts fetching `key` into the cache, unless it is being fetched or the fills are busy.
    fn fill(&self, key: &str) {
        let Ok(permit) = self.fills.clone().try_acquire_owned() else {
            return;
        };
        {
            let mut index = Self::lock(&self.index);
            if index.filling.contains_key(key)
                || index.copies.contains_key(key)
                || index.refused.contains_key(key)
            {
                return;
            }
            index.filling.insert(key.to_owned(), false);
        }
        let (origin, disk, index) = (self.origin.clone(), self.disk.clone(), self.index.clone());
        let (key, max) = (key.to_owned(), self.max_bytes);
        tokio::spawn(async move {
            let _permit = permit;
            let largest = max / LARGEST_SHARE;
            let filling = async {
                let stream = origin.get(&key, None).await?;
                disk.put(&key, at_most(stream, largest)).await
            };
            let stored = match tokio::time::timeout(FILL_TIME_LIMIT, filling).await {
                Ok(stored) => stored,
                Err(_) => Err(BlobError::Unavailable("copying took too long".into())),
            };
            let dropped = {
                let mut index = Self::lock(&index);
                let stale = index.filling.remove(&key).unwrap_or(true);
                match stored {
                    Ok(bytes) if !stale => {
                        let dropped = index.evict(bytes, max);
                        index.fills += 1;
                        let fill = index.fills;
                        index.bytes += bytes;
                        index.copies.insert(
                            key.clone(),
                            Copy {
                                bytes,
                                used: Instant::now(),
                                fill,
                            },
                        );
                        dropped
                    }
                    Ok(_) => vec![key.clone()],
                    Err(e) => {
                        tracing::info!(key, error = %e, "a clip was not copied to the local disk");
                        index.refuse(&key, Instant::now());
                        Vec::new()
                    }
                }
            };
            delete_copies(&disk, dropped).await;
        });
    }
}

/// A new directory under `base` for this process's copies, and the lock it holds on it:
/// `<n>/` beside `<n>.lock`, locked before it is given that name, so a directory whose lock
/// file is missing or can be locked belongs to no running process and is removed (with its
/// lock file), as are lock files left without a directory.
fn own_directory(base: &std::path::Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    std::fs::create_dir_all(base)?;
    let mut name = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut name);
    let name = hex::encode(name);
    let naming = base.join(format!(".{name}.lock"));
    let lock = std::fs::File::create(&naming)?;
    match try_lock(&lock) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {}
        Err(e) => {
            return Err(std::io::Error::other(format!(
                "locking {}: {e}",
                naming.display()
            )))
        }
    }
    std::fs::rename(&naming, base.join(format!("{name}.lock")))?;
    for entry in std::fs::read_dir(base)?.flatten() {
        let path = entry.path();
        let Some(file) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let other = file
            .strip_prefix('.')
            .unwrap_or(file)
            .trim_end_matches(".lock")
            .to_owned();
        if other == name {
            continue;
        }
        let lock_path = base.join(format!("{other}.lock"));
        let running = std::fs::File::open(&lock_path).is_ok_and(|f| try_lock(&f).is_err())
            || std::fs::File::open(base.join(format!(".{other}.lock")))
                .is_ok_and(|f| try_lock(&f).is_err());
        if running {
            continue;
        }
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        if let Err(e) = removed.or_else(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Ok(()),
            _ => Err(e),
        }) {
            tracing::warn!(path = %path.display(), error = %e, "removing an old cache directory failed");
        }
    }
    let own = base.join(&name);
    std::fs::create_dir_all(&own)?;
    Ok((own, lock))
}

/// An exclusive `flock` on `file`, without waiting (released when the file is closed).
#[cfg(unix)]
fn try_lock(file: &std::fs::File) -> std::io::Result<()> {
    rustix::fs::flock(file, rustix::fs::FlockOperation::NonBlockingLockExclusive)
        .map_err(Into::into)
}

/// Elsewhere nothing is locked, so no other directory is ever taken for an ended process's.
#[cfg(not(unix))]
fn try_lock(_: &std::fs::File) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// Deletes the files of copies the index no longer holds.
async fn delete_copies(disk: &LocalBlobStore, keys: impl IntoIterator<Item = String>) {
    for key in keys {
        if let Err(e) = disk.delete(&key).await {
            tracing::warn!(key, error = %e, "deleting a cached copy failed");
        }
    }
}

/// `stream`, failing once it has yielded more than `limit` bytes.
fn at_most(stream: ByteStream, limit: u64) -> ByteStream {
    let mut seen = 0u64;
    Box::pin(stream.map(move |chunk| {
        let chunk = chunk?;
        seen += chunk.len() as u64;
        if seen > limit {
            return Err(std::io::Error::other("too large to cache"));
        }
        Ok(chunk)
    }))
}

#[async_trait]
impl BlobStore for DiskCached {
    async fn put(&self, key: &str, body: ByteStream) -> Result<u64, BlobError> {
        let stored = self.origin.put(key, body).await;
        if kept(key) {
            self.drop_copy(key).await;
        }
        stored
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<ByteStream, BlobError> {
        self.origin.get(key, range).await
    }

    async fn download(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream, BlobError> {
        if kept(key) && self.max_bytes > 0 {
            if let Some(fill) = self.touch(key) {
                match self.disk.download(key, range.clone()).await {
                    Ok(stream) => return Ok(stream),
                    // Evicted between the look and the open, or removed by hand.
                    Err(BlobError::NotFound) => self.forget_fill(key, fill),
                    Err(e) => tracing::warn!(key, error = %e, "reading a cached copy failed"),
                }
            } else {
                self.fill(key);
            }
        }
        self.origin.download(key, range).await
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        let deleted = self.origin.delete(key).await;
        if kept(key) {
            self.drop_copy(key).await;
        }
        deleted
    }

    async fn exists(&self, key: &str) -> Result<bool, BlobError> {
        self.origin.exists(key).await
    }

    fn local_path(&self, key: &str) -> Option<PathBuf> {
        self.origin.local_path(key)
    }

    async fn ping(&self) -> Result<(), BlobError> {
        self.origin.ping().await
    }

    async fn list_older_than(
        &self,
        prefix: &str,
        min_age: Duration,
        limit: usize,
    ) -> Result<Vec<String>, BlobError> {
        self.origin.list_older_than(prefix, min_age, limit).await
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::super::testing::{body, collect};
    use super::*;

    struct Fixture {
        _dirs: tempfile::TempDir,
        origin_dir: PathBuf,
        cache_dir: PathBuf,
        store: DiskCached,
    }

    /// A cache of at most `max` bytes over a local store (the S3 origin is tested end to end
    /// in `tests/api/production.rs`).
    async fn fixture(max: u64) -> Fixture {
        let dirs = tempfile::tempdir().unwrap();
        let origin_dir = dirs.path().join("origin");
        let cache_dir = dirs.path().join("cache");
        std::fs::create_dir_all(cache_dir.join("clips")).unwrap();
        std::fs::write(cache_dir.join("clips").join("left-over"), b"old").unwrap();
        let origin = Arc::new(LocalBlobStore::open(&origin_dir).await.unwrap());
        let store = DiskCached::open(origin, &cache_dir, max, Arc::default())
            .await
            .unwrap();
        Fixture {
            _dirs: dirs,
            origin_dir,
            cache_dir,
            store,
        }
    }

    impl Fixture {
        async fn put(&self, key: &str, len: usize) -> Vec<u8> {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 31 + len) as u8).collect();
            self.store
                .put(key, body(vec![Ok(Bytes::from(bytes.clone()))]))
                .await
                .unwrap();
            bytes
        }

        fn copy(&self, key: &str) -> PathBuf {
            self.store.disk.root().join(key)
        }

        /// Waits (at most 10 s) until `key`'s copy is kept.
        async fn copied(&self, key: &str) {
            for _ in 0..1000 {
                if self.store.touch(key).is_some() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("{key} was never copied");
        }

        async fn download(&self, key: &str, range: Option<Range<u64>>) -> Vec<u8> {
            collect(self.store.download(key, range).await.unwrap()).await
        }
    }

    #[tokio::test]
    async fn a_clip_is_copied_after_its_first_download_and_then_served_from_the_copy() {
        let f = fixture(1 << 20).await;
        assert!(
            !f.cache_dir.join("clips").exists(),
            "what no running process holds is removed when the store opens"
        );
        let bytes = f.put("clips/a", 100_000).await;
        assert!(!f.copy("clips/a").exists(), "an upload is not copied");
        assert_eq!(f.download("clips/a", None).await, bytes);
        f.copied("clips/a").await;
        assert_eq!(std::fs::read(f.copy("clips/a")).unwrap(), bytes);
        // The origin's object gone behind the store's back: the copy answers.
        std::fs::remove_file(f.origin_dir.join("clips/a")).unwrap();
        assert_eq!(f.download("clips/a", None).await, bytes);
        assert_eq!(
            f.download("clips/a", Some(10..5000)).await,
            bytes[10..5000].to_vec()
        );
        // A copy removed behind the store's back: the origin answers.
        let other = f.put("clips/b", 3000).await;
        f.download("clips/b", None).await;
        f.copied("clips/b").await;
        std::fs::remove_file(f.copy("clips/b")).unwrap();
        assert_eq!(f.download("clips/b", None).await, other);
        assert!(f.store.touch("clips/b").is_none(), "the copy is forgotten");
    }

    #[tokio::test]
    async fn processes_sharing_a_directory_keep_their_own_and_remove_those_of_ended_ones() {
        let f = fixture(1 << 20).await;
        let bytes = f.put("clips/a", 1000).await;
        f.download("clips/a", None).await;
        f.copied("clips/a").await;
        let origin: Arc<dyn BlobStore> =
            Arc::new(LocalBlobStore::open(&f.origin_dir).await.unwrap());
        let other = DiskCached::open(origin.clone(), &f.cache_dir, 1 << 20, Arc::default())
            .await
            .unwrap();
        assert_ne!(other.disk.root(), f.store.disk.root());
        assert_eq!(
            std::fs::read(f.copy("clips/a")).unwrap(),
            bytes,
            "the first one's copy is kept"
        );
        // The other one ends: the next to open removes its directory and lock.
        let ended = other.disk.root().to_owned();
        drop(other);
        let _third = DiskCached::open(origin, &f.cache_dir, 1 << 20, Arc::default())
            .await
            .unwrap();
        assert!(!ended.exists());
        assert!(!ended.with_extension("lock").exists());
        assert!(f.copy("clips/a").exists());
        assert_eq!(f.download("clips/a", None).await, bytes);
    }

    #[tokio::test]
    async fn a_delete_or_a_put_drops_the_copy() {
        let f = fixture(1 << 20).await;
        for key in ["clips/a", "clips/b"] {
            f.put(key, 1000).await;
            f.download(key, None).await;
            f.copied(key).await;
        }
        f.store.delete("clips/a").await.unwrap();
        assert!(!f.copy("clips/a").exists());
        assert!(matches!(
            f.store.download("clips/a", None).await,
            Err(BlobError::NotFound)
        ));
        let newer = f.put("clips/b", 2000).await;
        assert!(!f.copy("clips/b").exists());
        assert_eq!(f.download("clips/b", None).await, newer);
    }

    #[tokio::test]
    async fn renditions_and_clips_too_large_are_not_copied() {
        let f = fixture(40_000).await;
        f.put("renditions/a", 1000).await;
        f.put("clips/large", 10_001).await;
        f.put("clips/small", 10_000).await;
        f.download("renditions/a", None).await;
        f.download("clips/large", None).await;
        f.download("clips/small", None).await;
        f.copied("clips/small").await;
        // The other fills have ended too by now (two run at once, all started before).
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!f.copy("renditions/a").exists());
        assert!(!f.copy("clips/large").exists());
        assert!(f.store.touch("clips/large").is_none());
        // Refused, so not fetched again at the next download (a failed fill would refuse it
        // anew, later).
        let refused = DiskCached::lock(&f.store.index).refused["clips/large"];
        f.download("clips/large", None).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            DiskCached::lock(&f.store.index).refused["clips/large"],
            refused
        );
    }

    #[tokio::test]
    async fn the_least_recently_used_copies_make_room() {
        let f = fixture(40_000).await;
        for key in ["clips/a", "clips/b", "clips/c"] {
            f.put(key, 10_000).await;
            f.download(key, None).await;
            f.copied(key).await;
        }
        // `a` is used again: `b` is now the least recently used.
        f.download("clips/a", None).await;
        for key in ["clips/d", "clips/e"] {
            f.put(key, 10_000).await;
            f.download(key, None).await;
            f.copied(key).await;
        }
        assert!(f.copy("clips/a").exists());
        assert!(!f.copy("clips/b").exists(), "the least recently used stays");
        for key in ["clips/c", "clips/d", "clips/e"] {
            assert!(f.copy(key).exists(), "{key}");
        }
        assert_eq!(DiskCached::lock(&f.store.index).bytes, 40_000);
    }

    #[test]
    fn a_fill_spoiled_by_a_delete_is_thrown_away_and_idle_copies_are_swept() {
        let mut index = Index::default();
        index.filling.insert("clips/a".into(), false);
        index.forget("clips/a");
        assert!(index.filling["clips/a"], "the fill is spoiled");
        let now = Instant::now();
        for (key, age) in [
            ("clips/old", IDLE + Duration::from_secs(1)),
            ("clips/new", Duration::ZERO),
        ] {
            index.copies.insert(
                key.into(),
                Copy {
                    bytes: 10,
                    used: now - age,
                    fill: 0,
                },
            );
            index.bytes += 10;
        }
        index.refuse("clips/too-large", now - IDLE);
        // Room enough: nothing is evicted; the sweep drops the idle copy and old refusals.
        assert!(index.evict(10, 1000).is_empty());
        assert_eq!(index.sweep(now), ["clips/old"]);
        assert_eq!(index.bytes, 10);
        assert!(index.refused.is_empty());
    }
}
