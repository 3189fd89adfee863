//! The ports the application needs from infrastructure. Adapters implement them; the binary
//! picks the adapters.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;
use voicebin_domain::{ClipId, ScanOutcome};

/// A stream of bytes flowing to or from storage; never a whole clip in memory.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// A blob-store failure.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// No blob under that key.
    #[error("blob not found")]
    NotFound,
    /// The key is not one this service generates.
    #[error("invalid blob key")]
    InvalidKey,
    /// The byte stream being stored failed (the client went away, or a limit was hit).
    #[error("source stream failed: {0}")]
    Source(std::io::Error),
    /// The store itself failed.
    #[error("blob store unavailable: {0}")]
    Unavailable(String),
}

/// Where clip bytes live. Writes are atomic: a key is visible only once the whole body is stored.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Stores `body` under `key`, returning the number of bytes written. On any error nothing
    /// is left visible under `key`.
    async fn put(&self, key: &str, body: ByteStream) -> Result<u64, BlobError>;
    /// Streams the blob, or a byte range of it.
    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<ByteStream, BlobError>;
    /// Deletes the blob; deleting a missing blob succeeds.
    async fn delete(&self, key: &str) -> Result<(), BlobError>;
    /// Whether a blob exists.
    async fn exists(&self, key: &str) -> Result<bool, BlobError>;
    /// A local file holding the blob, when the store keeps blobs on the local file system.
    fn local_path(&self, key: &str) -> Option<PathBuf>;
    /// Whether the store is usable.
    async fn ping(&self) -> Result<(), BlobError>;
    /// Keys under `prefix` whose blob was last modified at least `min_age` ago (for the orphan
    /// sweeper). Bounded: returns at most `limit` keys per call, oldest listing order is fine.
    ///
    /// `prefix` is a plain string prefix of keys (`clips/`, or `clips/ab`), validated like a key
    /// but allowed a trailing `/`; an invalid one is [`BlobError::InvalidKey`]. Only full keys
    /// the service could have generated are returned, never a store's temporary files.
    async fn list_older_than(
        &self,
        prefix: &str,
        min_age: std::time::Duration,
        limit: usize,
    ) -> Result<Vec<String>, BlobError>;
}

/// A queue failure.
#[derive(Debug, thiserror::Error)]
#[error("scan queue unavailable: {0}")]
pub struct QueueError(pub String);

/// Where scan jobs go after an upload is recorded.
#[async_trait]
pub trait ScanQueue: Send + Sync {
    /// Queues a scan of `clip`. Delivery is at least once; scanning is idempotent.
    async fn enqueue(&self, clip: &ClipId) -> Result<(), QueueError>;
}

/// A scan that could not reach a verdict (the job is retried; a scanner error is never `clean`).
#[derive(Debug, thiserror::Error)]
#[error("scan failed: {0}")]
pub struct ScanError(pub String);

/// Decides whether a stored clip is valid, safe audio.
#[async_trait]
pub trait Scanner: Send + Sync {
    /// Scans the file at `path` (a local copy of the blob).
    async fn scan(&self, path: &Path) -> Result<ScanOutcome, ScanError>;
    /// A short description for start-up logs and `/readyz`.
    fn describe(&self) -> String;
}

/// Digests a moderator took down: bytes that may never be uploaded again.
#[async_trait]
pub trait Blocklist: Send + Sync {
    /// Whether `sha256` was taken down. An error means "cannot tell" (the upload is refused
    /// as unavailable, never let through).
    async fn is_blocked(&self, sha256: &voicebin_domain::Sha256Digest) -> Result<bool, String>;
}
