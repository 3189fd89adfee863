//! Blob storage in a local directory (embedded mode).
//!
//! Writes go to `<root>/.tmp/<random>` and are renamed into place only after the whole body is
//! on disk and synced, so a crash or an aborted upload never leaves a partial blob under a key.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use rand::RngCore;
use tokio::io::AsyncWriteExt;

use super::paced::{Pace, ReadBudget};
use super::sendfile;
use super::{age_since, validate_key, validate_prefix};
use crate::ports::{BlobError, BlobStore, ByteStream};

/// Temporary files older than this are leftovers of a crash and are removed at start-up.
const STALE_TMP_AGE: Duration = Duration::from_secs(3600);

/// Write buffer per upload.
const WRITE_BUFFER: usize = 256 * 1024;

/// While a body is being written, the bytes written so far are synced in the background each
/// time this much more has arrived: the disk writes them while the rest comes in, and the
/// sync that ends the write only waits for the last of them. (Synced at the end alone, a
/// 100 MiB upload spent half its time in that sync: bench/README.md.)
const EARLY_SYNC: u64 = 8 * 1024 * 1024;

/// A [`BlobStore`] over a directory.
#[derive(Debug, Clone)]
pub struct LocalBlobStore {
    root: PathBuf,
    /// What downloads may hold while their clients read (`paced.rs`).
    budget: Arc<ReadBudget>,
    /// Files downloads opened moments ago.
    open: Arc<OpenFiles>,
}

/// How long a download may reuse a file another download opened: as long as a public read may
/// use a view read earlier (ADR 0026), so a blob deleted by another process is not served
/// longer than its clip's view says it exists.
const OPEN_FILE_AGE: Duration = Duration::from_secs(1);
/// Files kept open for downloads at most.
const OPEN_FILES: usize = 256;

/// Files downloads opened moments ago, with their sizes: the next download of a popular clip
/// reads the page cache on the runtime thread and takes no trip through the blocking pool.
/// This process's own writes and deletes forget their key at once.
#[derive(Debug, Default)]
struct OpenFiles(std::sync::Mutex<std::collections::HashMap<String, OpenFile>>);

#[derive(Debug)]
struct OpenFile {
    file: Arc<std::fs::File>,
    size: u64,
    opened: std::time::Instant,
}

impl OpenFiles {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, OpenFile>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The file under `key` and its size, if a download opened it moments ago.
    fn get(&self, key: &str) -> Option<(Arc<std::fs::File>, u64)> {
        let open = self.lock();
        let found = open.get(key)?;
        (found.opened.elapsed() < OPEN_FILE_AGE).then(|| (found.file.clone(), found.size))
    }

    fn keep(&self, key: &str, file: Arc<std::fs::File>, size: u64) {
        let mut open = self.lock();
        if open.len() >= OPEN_FILES && !open.contains_key(key) {
            open.retain(|_, f| f.opened.elapsed() < OPEN_FILE_AGE);
            if open.len() >= OPEN_FILES {
                open.clear();
            }
        }
        let opened = std::time::Instant::now();
        open.insert(key.to_owned(), OpenFile { file, size, opened });
    }

    fn forget(&self, key: &str) {
        self.lock().remove(key);
    }
}

fn io_err(e: std::io::Error) -> BlobError {
    BlobError::Unavailable(e.to_string())
}

/// Runs `f` (file system calls) on the blocking pool; a missing file is [`BlobError::NotFound`].
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, BlobError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Err(BlobError::NotFound),
        Ok(Err(e)) => Err(io_err(e)),
        Err(e) => Err(BlobError::Unavailable(e.to_string())),
    }
}

impl LocalBlobStore {
    /// Opens (creating) the store at `root` and removes stale temporary files.
    pub async fn open(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        tokio::fs::create_dir_all(root.join(".tmp")).await?;
        let store = LocalBlobStore {
            root,
            budget: Arc::new(ReadBudget::default()),
            open: Arc::default(),
        };
        store.sweep_tmp(STALE_TMP_AGE).await?;
        Ok(store)
    }

    /// The same store, its downloads holding their chunks in `budget` (one for the process).
    pub fn with_read_budget(mut self, budget: Arc<ReadBudget>) -> Self {
        self.budget = budget;
        self
    }

    /// Forgets the file downloads opened under `key` (it was just replaced).
    pub(super) fn forget_open(&self, key: &str) {
        self.open.forget(key);
    }

    /// The directory the store keeps its blobs in.
    pub(super) fn root(&self) -> &Path {
        &self.root
    }

    /// Removes temporary files older than `age`; returns how many.
    pub async fn sweep_tmp(&self, age: Duration) -> std::io::Result<usize> {
        let mut removed = 0;
        let mut dir = tokio::fs::read_dir(self.root.join(".tmp")).await?;
        while let Some(entry) = dir.next_entry().await? {
            // Another process's upload may finish (its file renamed into place) between the
            // listing and this look: that file is not stale, and not an error.
            let metadata = match entry.metadata().await {
                Ok(metadata) => metadata,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let modified = metadata.modified()?;
            let old = SystemTime::now()
                .duration_since(modified)
                .is_ok_and(|a| a >= age);
            if old && tokio::fs::remove_file(entry.path()).await.is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Keys are generated by the service (`clips/<id>`); anything else is refused before it can
    /// touch the file system.
    pub(super) fn path_for(&self, key: &str) -> Result<PathBuf, BlobError> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }

    /// Streams blob `key` (or a range of it), at a client's `pace` when there is one. Opening,
    /// sizing and the first read are one trip through the blocking pool: a small clip takes no
    /// other, and its file is closed before the client has read it.
    async fn stream(
        &self,
        key: &str,
        range: Option<Range<u64>>,
        pace: Option<Pace>,
    ) -> Result<ByteStream, BlobError> {
        let path = self.path_for(key)?;
        let (start, len) = match range {
            Some(range) => (range.start, range.end.saturating_sub(range.start)),
            None => (0, u64::MAX),
        };
        match pace {
            Some(pace) => self.stream_paced(key, path, start, len, pace).await,
            None => {
                let (file, size) = blocking(move || open_sized(&path)).await?;
                Ok(file_chunks(file, start, span(size, start, len)))
            }
        }
    }

    /// [`Self::stream`] at a client's `pace`. A file a download opened moments ago is read
    /// again from the page cache on the runtime thread; otherwise opening the file, its size
    /// and the first read are one trip through the blocking pool, so a small clip takes no
    /// other.
    async fn stream_paced(
        &self,
        key: &str,
        path: PathBuf,
        start: u64,
        len: u64,
        mut pace: Pace,
    ) -> Result<ByteStream, BlobError> {
        let hold = pace.ready(len).await;
        let mut buffer = pace.budget().buffer(&hold);
        let want = hold.bytes;
        let cached = self.open.get(key).and_then(|(file, size)| {
            let left = span(size, start, len);
            let want = usize::try_from(left).map_or(want, |left| left.min(want));
            match read_cached(&file, start, &mut buffer[..want]) {
                Some(Ok(n)) if n == want => Some(Ok((file, left, n))),
                Some(Ok(_)) | None => None,
                Some(Err(e)) => Some(Err(e)),
            }
        });
        let (file, left, buffer, n) = match cached {
            Some(read) => {
                let (file, left, n) = read.map_err(io_err)?;
                (file, left, buffer, n)
            }
            None => {
                let (file, size, left, buffer, n) = blocking(move || {
                    let (file, size) = open_sized(&path)?;
                    let left = span(size, start, len);
                    let want = usize::try_from(left).map_or(want, |left| left.min(want));
                    let n = read_at(&file, start, &mut buffer[..want])?;
                    Ok((Arc::new(file), size, left, buffer, n))
                })
                .await?;
                self.open.keep(key, file.clone(), size);
                (file, left, buffer, n)
            }
        };
        if n == 0 {
            return Ok(Box::pin(futures::stream::empty()));
        }
        let first = pace.send(buffer, n, hold);
        let left = left.saturating_sub(n as u64);
        let rest = if left == 0 {
            Box::pin(futures::stream::empty()) as ByteStream
        } else {
            paced_file_chunks(file, start + n as u64, left, pace)
        };
        Ok(Box::pin(
            futures::stream::once(async { Ok(first) }).chain(rest),
        ))
    }

    async fn write_tmp(tmp: &Path, mut body: ByteStream) -> Result<u64, BlobError> {
        let file = tokio::fs::File::create(tmp).await.map_err(io_err)?;
        let syncer = Arc::new(file.try_clone().await.map_err(io_err)?.into_std().await);
        // Batch the body's small chunks into fewer blocking writes; bounded per upload.
        let mut file = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
        let mut written = 0u64;
        let mut early = EarlySync::new(syncer);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(BlobError::Source)?;
            file.write_all(&chunk).await.map_err(io_err)?;
            written += chunk.len() as u64;
            early.wrote(written).await?;
        }
        file.flush().await.map_err(io_err)?;
        early.finish().await?;
        file.get_ref().sync_all().await.map_err(io_err)?;
        Ok(written)
    }
}

/// The background syncs of a file being written ([`EARLY_SYNC`]): at most one at a time.
struct EarlySync {
    file: Arc<std::fs::File>,
    synced_at: u64,
    running: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl EarlySync {
    fn new(file: Arc<std::fs::File>) -> Self {
        EarlySync {
            file,
            synced_at: 0,
            running: None,
        }
    }

    /// `written` bytes have been handed to the file: starts a sync when [`EARLY_SYNC`] more
    /// have come since the last one began and it has ended.
    async fn wrote(&mut self, written: u64) -> Result<(), BlobError> {
        if written - self.synced_at < EARLY_SYNC
            || self.running.as_ref().is_some_and(|r| !r.is_finished())
        {
            return Ok(());
        }
        self.finish().await?;
        let file = self.file.clone();
        self.running = Some(tokio::task::spawn_blocking(move || file.sync_data()));
        self.synced_at = written;
        Ok(())
    }

    /// Waits for the sync under way, if any.
    async fn finish(&mut self) -> Result<(), BlobError> {
        match self.running.take() {
            Some(sync) => sync
                .await
                .map_err(|e| io_err(std::io::Error::other(e)))?
                .map_err(io_err),
            None => Ok(()),
        }
    }
}

/// Read size when streaming a blob to a consumer in this process: large reads mean few trips
/// through tokio's blocking pool (4 KiB reads made downloads CPU-bound at a fifth of nginx's
/// throughput). See bench/README.md. Downloads size theirs by the client's pace (`paced.rs`).
const READ_CHUNK: usize = 256 * 1024;

/// Streams the `left` bytes of `file` from `pos` to a consumer in the process. Each chunk is one
/// positioned read on tokio's blocking pool straight into the buffer that becomes the chunk:
/// no intermediate copy (`tokio::fs::File` reads into its own buffer and copies out) and no
/// zero-filling.
fn file_chunks(file: std::fs::File, pos: u64, left: u64) -> ByteStream {
    let file = Arc::new(file);
    Box::pin(futures::stream::try_unfold(
        (file, pos, left),
        |(file, pos, left)| async move {
            if left == 0 {
                return Ok(None);
            }
            let want = usize::try_from(left).map_or(READ_CHUNK, |left| left.min(READ_CHUNK));
            let reader = file.clone();
            let bytes = tokio::task::spawn_blocking(move || read_chunk(&reader, pos, want))
                .await
                .map_err(std::io::Error::other)??;
            if bytes.is_empty() {
                return Ok(None);
            }
            let n = bytes.len() as u64;
            Ok(Some((bytes, (file, pos + n, left - n))))
        },
    ))
}

/// Streams the `left` bytes of `file` from `pos` to an HTTP client at its `pace`
/// (`paced.rs`). On a connection that sends files itself (`sendfile.rs`), a piece already in
/// the page cache is a stand-in the kernel sends; otherwise each chunk is read into a pooled
/// buffer: from the page cache on the runtime thread when the bytes are there, otherwise on the
/// blocking pool (which asks the kernel to read the next pieces ahead).
fn paced_file_chunks(file: Arc<std::fs::File>, pos: u64, left: u64, pace: Pace) -> ByteStream {
    Box::pin(futures::stream::try_unfold(
        (file, pos, left, pace),
        |(file, pos, left, mut pace)| async move {
            if left == 0 {
                return Ok(None);
            }
            // Bytes in the page cache, on a connection that sends files itself, are not read here.
            let sendfile_ahead = sendfile::available();
            if sendfile_ahead {
                let piece = pace.next_piece(left).await;
                let stand_in = in_page_cache(&file, pos, piece)
                    .then(|| pace.stand_in(&file, pos, piece))
                    .flatten();
                if let Some(chunk) = stand_in {
                    let rest = (file, pos + piece as u64, left - piece as u64, pace);
                    return Ok(Some((chunk, rest)));
                }
            }
            let hold = pace.ready(left).await;
            let mut buffer = pace.budget().buffer(&hold);
            let want = hold.bytes;
            let n = match read_cached(&file, pos, &mut buffer[..want]) {
                Some(read) => read?,
                None => {
                    let reader = file.clone();
                    let (returned, n) = tokio::task::spawn_blocking(move || {
                        // The next piece is read ahead, for the kernel to send it.
                        if sendfile_ahead {
                            will_need(&reader, pos, 2 * sendfile::PIECE as u64);
                        }
                        let n = read_at(&reader, pos, &mut buffer[..want])?;
                        Ok::<_, std::io::Error>((buffer, n))
                    })
                    .await
                    .map_err(std::io::Error::other)??;
                    buffer = returned;
                    n
                }
            };
            if n == 0 {
                return Ok(None);
            }
            let chunk = pace.send(buffer, n, hold);
            Ok(Some((chunk, (file, pos + n as u64, left - n as u64, pace))))
        },
    ))
}

/// How far apart [`in_page_cache`] looks: the kernel reads ahead at least this much at once, so
/// bytes between two cached probes are cached too, all but always.
const PROBE_STRIDE: usize = 64 * 1024;

/// Whether the `len` bytes at `pos` are in the page cache, by a one-byte read that does not
/// wait for the disk every [`PROBE_STRIDE`] and at the last byte: `sendfile` on the runtime
/// thread then does not wait for the disk either.
fn in_page_cache(file: &std::fs::File, pos: u64, len: usize) -> bool {
    let mut byte = [0; 1];
    let last = pos + len.saturating_sub(1) as u64;
    (pos..last)
        .step_by(PROBE_STRIDE)
        .chain(std::iter::once(last))
        .all(|at| matches!(read_cached(file, at, &mut byte), Some(Ok(1))))
}

/// Asks the kernel to read `len` bytes from `pos` into the page cache, without waiting.
#[cfg(target_os = "linux")]
fn will_need(file: &std::fs::File, pos: u64, len: u64) {
    let _ = rustix::fs::fadvise(
        file,
        pos,
        std::num::NonZeroU64::new(len),
        rustix::fs::Advice::WillNeed,
    );
}

#[cfg(not(target_os = "linux"))]
fn will_need(_: &std::fs::File, _: u64, _: u64) {}

/// Opens `path`: the file and its size.
fn open_sized(path: &Path) -> std::io::Result<(std::fs::File, u64)> {
    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    Ok((file, size))
}

/// How many of at most `len` bytes from `start` a file of `size` bytes holds.
fn span(size: u64, start: u64, len: u64) -> u64 {
    len.min(size.saturating_sub(start))
}

/// One `pread` into `buf` at `pos` (retried when interrupted); 0 at end of file.
#[cfg(unix)]
fn read_at(file: &std::fs::File, pos: u64, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match rustix::io::pread(file, &mut *buf, pos) {
            Ok(n) => return Ok(n),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// One positioned read into `buf` at `pos`; 0 at end of file.
#[cfg(windows)]
fn read_at(file: &std::fs::File, pos: u64, buf: &mut [u8]) -> std::io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, pos)
}

/// A read into `buf` at `pos` that does not block: `None` when the bytes are not in the page
/// cache (or the file system cannot say), for the blocking pool to read them.
#[cfg(target_os = "linux")]
fn read_cached(file: &std::fs::File, pos: u64, buf: &mut [u8]) -> Option<std::io::Result<usize>> {
    use rustix::io::{preadv2, Errno, ReadWriteFlags};
    loop {
        let mut slices = [std::io::IoSliceMut::new(&mut *buf)];
        match preadv2(file, &mut slices, pos, ReadWriteFlags::NOWAIT) {
            Ok(n) => return Some(Ok(n)),
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN | Errno::OPNOTSUPP | Errno::NOSYS | Errno::INVAL) => return None,
            Err(e) => return Some(Err(e.into())),
        }
    }
}

/// Elsewhere every read goes to the blocking pool.
#[cfg(not(target_os = "linux"))]
fn read_cached(
    _file: &std::fs::File,
    _pos: u64,
    _buf: &mut [u8],
) -> Option<std::io::Result<usize>> {
    None
}

/// One `pread` of at most `want` bytes at `pos` into a new, uninitialised buffer; empty at end
/// of file.
#[cfg(unix)]
fn read_chunk(file: &std::fs::File, pos: u64, want: usize) -> std::io::Result<Bytes> {
    let mut buf = Vec::with_capacity(want);
    loop {
        match rustix::io::pread(file, rustix::buffer::spare_capacity(&mut buf), pos) {
            Ok(_) => return Ok(Bytes::from(buf)),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// One positioned read of at most `want` bytes at `pos`; empty at end of file.
#[cfg(windows)]
fn read_chunk(file: &std::fs::File, pos: u64, want: usize) -> std::io::Result<Bytes> {
    let mut buf = vec![0; want];
    let n = std::os::windows::fs::FileExt::seek_read(file, &mut buf, pos)?;
    buf.truncate(n);
    Ok(Bytes::from(buf))
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    async fn put(&self, key: &str, body: ByteStream) -> Result<u64, BlobError> {
        let path = self.path_for(key)?;
        let mut name = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut name);
        let tmp = self.root.join(".tmp").join(hex::encode(name));
        let result = async {
            let written = Self::write_tmp(&tmp, body).await?;
            if let Some(parent) = path.parent() {
                tokio::fs::create_dir_all(parent).await.map_err(io_err)?;
            }
            tokio::fs::rename(&tmp, &path).await.map_err(io_err)?;
            self.open.forget(key);
            Ok(written)
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<ByteStream, BlobError> {
        self.stream(key, range, None).await
    }

    async fn download(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream, BlobError> {
        let pace = Pace::new(self.budget.clone());
        self.stream(key, range, Some(pace)).await
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        let path = self.path_for(key)?;
        self.open.forget(key);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(e)),
        }
    }

    async fn exists(&self, key: &str) -> Result<bool, BlobError> {
        let path = self.path_for(key)?;
        tokio::fs::try_exists(&path).await.map_err(io_err)
    }

    fn local_path(&self, key: &str) -> Option<PathBuf> {
        self.path_for(key).ok()
    }

    async fn ping(&self) -> Result<(), BlobError> {
        tokio::fs::metadata(self.root.join(".tmp"))
            .await
            .map(|_| ())
            .map_err(io_err)
    }

    async fn list_older_than(
        &self,
        prefix: &str,
        min_age: Duration,
        limit: usize,
    ) -> Result<Vec<String>, BlobError> {
        validate_prefix(prefix)?;
        let mut found = Vec::new();
        if limit == 0 {
            return Ok(found);
        }
        let now = SystemTime::now();
        // Directories to walk, as key paths relative to the root. The walk starts at the deepest
        // directory the prefix names (`clips/` and `clips/ab` both start at `<root>/clips`), so
        // `.tmp` is never entered; keys then match the prefix as a string, as in S3.
        let start = prefix.rsplit_once('/').map_or("", |(dir, _)| dir);
        let mut dirs = vec![start.to_owned()];
        while let Some(dir) = dirs.pop() {
            let mut entries = match tokio::fs::read_dir(self.root.join(&dir)).await {
                Ok(entries) => entries,
                // Nothing stored under it (yet), or removed since it was listed.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(e)),
            };
            while let Some(entry) = entries.next_entry().await.map_err(io_err)? {
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                let key = if dir.is_empty() {
                    name
                } else {
                    format!("{dir}/{name}")
                };
                // Also skips `.tmp` and anything else no generated key could name.
                if validate_key(&key).is_err() {
                    continue;
                }
                // Not following symlinks: blobs are regular files this store wrote.
                let file_type = match entry.file_type().await {
                    Ok(t) => t,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io_err(e)),
                };
                if file_type.is_dir() {
                    let as_dir = format!("{key}/");
                    if as_dir.starts_with(prefix) || prefix.starts_with(&as_dir) {
                        dirs.push(key);
                    }
                } else if file_type.is_file() && key.starts_with(prefix) {
                    let modified = match entry.metadata().await {
                        Ok(meta) => meta.modified().map_err(io_err)?,
                        // Deleted while we walked.
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(io_err(e)),
                    };
                    if age_since(now, modified) >= min_age {
                        found.push(key);
                        if found.len() >= limit {
                            return Ok(found);
                        }
                    }
                }
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests;
