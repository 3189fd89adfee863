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
    /// Streams the blob, or a byte range of it. The consumer may hold on to the chunks.
    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<ByteStream, BlobError>;
    /// Streams the blob, or a byte range of it, to an HTTP client: each chunk once the one
    /// before has been dropped (a connection drops a chunk once its socket has taken it), sized
    /// to the client's pace, all within the process's [`ReadBudget`](crate::ReadBudget). A
    /// consumer that keeps a chunk gets no further one. Polled inside a server connection's
    /// [`scope`](crate::sendfile::Connection::scope), chunks may be stand-ins whose bytes are
    /// not the blob's: they must go to that connection's socket unread (`sendfile.rs`).
    async fn download(&self, key: &str, range: Option<Range<u64>>)
        -> Result<ByteStream, BlobError>;
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

/// What an append to a partial blob kept.
#[derive(Debug)]
pub struct Appended {
    /// The store's state of the partial blob after the append (opaque to the caller, stored
    /// with the upload and handed back on the next call).
    pub state: String,
    /// Bytes appended: every byte the body yielded, up to where it ended or failed.
    pub bytes: u64,
    /// Whether the blob was finished: visible under its key, the partial state gone.
    pub finished: bool,
    /// The body's failure, if it failed; the bytes before it are kept all the same.
    pub failure: Option<std::io::Error>,
}

/// Where a resumable upload's bytes gather until its last one arrives (ADR 0025): a local file
/// in embedded mode, an S3 multipart upload in production. Each call starts from a state the
/// caller committed; a call that fails, or whose result is not committed, leaves that state
/// valid, so the next call may start from it again.
#[async_trait]
pub trait PartialBlobs: Send + Sync {
    /// Starts the partial blob of upload `upload`, to become the blob `key`; its first state.
    async fn begin(&self, upload: &str, key: &str) -> Result<String, BlobError>;
    /// Appends `body` after the `offset` bytes `state` holds. Every byte the body yields is
    /// kept, up to its end or its failure (returned in [`Appended::failure`], not as an
    /// error). With `finish`, a body that ends cleanly finishes the blob: it becomes visible
    /// under `key`.
    async fn append(
        &self,
        upload: &str,
        key: &str,
        state: &str,
        offset: u64,
        body: ByteStream,
        finish: bool,
    ) -> Result<Appended, BlobError>;
    /// Removes what the committed state `old` held that its successor `new` does not, once
    /// `new` is committed (an S3 upload's previous unfinished tail).
    async fn settle(&self, upload: &str, old: &str, new: &str) -> Result<(), BlobError>;
    /// Removes a partial blob that will never be finished.
    async fn discard(&self, upload: &str, key: &str, state: &str) -> Result<(), BlobError>;
    /// Removes partial bytes no upload has touched for `min_age` (left by a process that died
    /// between storing them and recording them); how many were removed.
    async fn sweep_orphans(&self, min_age: std::time::Duration) -> Result<usize, BlobError>;
}

/// An adapter's own error, kept as the source of a port error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a scan job could not be queued (or the queue used).
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue's broker could not be reached: the connection was refused, or the broker
    /// turned the credentials down.
    #[error("the scan queue is unreachable: {0}")]
    Unreachable(#[source] BoxError),
    /// The broker did not answer in time while doing this.
    #[error("the scan queue timed out {0}")]
    TimedOut(&'static str),
    /// An operation failed on a connection to the broker (the connection or channel broke, or
    /// the broker closed it over an error).
    #[error("the scan queue failed {what}: {source}")]
    Failed {
        /// What was being done.
        what: &'static str,
        /// The broker client's error.
        #[source]
        source: BoxError,
    },
    /// The broker refused the job (a negative publisher confirm).
    #[error("the scan queue refused the job")]
    Refused,
    /// The job had nowhere to go: the broker has no such queue (it was deleted).
    #[error("the scan queue {0:?} does not exist")]
    NoQueue(String),
    /// The in-process worker has stopped, so nothing takes jobs any more.
    #[error("the embedded scan worker has stopped")]
    Stopped,
    /// The queue cannot work with the settings it was given.
    #[error("invalid scan queue settings: {0}")]
    Invalid(String),
}

/// Where scan jobs go after an upload is recorded.
#[async_trait]
pub trait ScanQueue: Send + Sync {
    /// Queues a scan of `clip`. Delivery is at least once; scanning is idempotent.
    async fn enqueue(&self, clip: &ClipId) -> Result<(), QueueError>;
}

/// Why a scan reached no verdict (the job is retried; a scanner error is never `clean`).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The file to scan could not be read.
    #[error("could not read the clip: {0}")]
    Unreadable(#[source] std::io::Error),
    /// The malware scanner could not be reached, or gave no verdict.
    #[error("malware scan failed: {0}")]
    MalwareScanner(#[source] BoxError),
    /// The task running the scan died (it panicked or was cancelled).
    #[error("the scan task failed: {0}")]
    TaskFailed(#[source] tokio::task::JoinError),
    /// The sandboxed audio analyser gave no answer for reasons outside the file: it could not
    /// be started, was killed from outside or ran out of wall-clock time, or answered nonsense.
    #[error("the audio analyser failed: {0}")]
    Analyser(String),
}

/// Decides whether a stored clip is valid, safe audio.
#[async_trait]
pub trait Scanner: Send + Sync {
    /// Scans the file at `path` (a local copy of the blob).
    async fn scan(&self, path: &Path) -> Result<ScanOutcome, ScanError>;
    /// A short description for start-up logs and `/readyz`.
    fn describe(&self) -> String;
}

/// Why the blocklist could not tell whether a digest was taken down.
#[derive(Debug, thiserror::Error)]
pub enum BlocklistError {
    /// The store that holds the blocklist failed.
    #[error("the blocklist is unavailable: {0}")]
    Unavailable(#[source] BoxError),
}

/// Digests a moderator took down: bytes that may never be uploaded again.
#[async_trait]
pub trait Blocklist: Send + Sync {
    /// Whether `sha256` was taken down. An error means "cannot tell" (the upload is refused
    /// as unavailable, never let through).
    async fn is_blocked(
        &self,
        sha256: &voicebin_domain::Sha256Digest,
    ) -> Result<bool, BlocklistError>;
}

/// Room for one upload under its account's quota, held until the upload is recorded or
/// refused ([`Quotas::release`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaGrant {
    /// The bytes the upload may take.
    pub bytes: u64,
    /// Names the room held, to give back; `None` when nothing needed holding (no limit).
    pub ticket: Option<String>,
    /// The account's stored clips when the room was granted.
    pub usage: voicebin_domain::Usage,
    /// Its limits.
    pub limits: voicebin_domain::Limits,
}

/// Why an upload got no room.
#[derive(Debug, thiserror::Error)]
pub enum QuotaError {
    /// One more clip, or the bytes the upload needs, would take the account past a limit
    /// (counting its other uploads in progress).
    #[error("the upload would take the account past its quota")]
    Exceeded {
        /// The account's stored clips.
        usage: voicebin_domain::Usage,
        /// Its limits.
        limits: voicebin_domain::Limits,
    },
    /// The store that keeps quotas failed ("cannot tell" is never "room").
    #[error("quotas are unavailable: {0}")]
    Unavailable(#[source] BoxError),
}

/// Per-account quotas, as the upload path holds room in them (ADR 0022).
#[async_trait]
pub trait Quotas: Send + Sync {
    /// Holds room for one more clip of `account` of at least `min` and at most `want` bytes
    /// (the grant says how many), counting its stored clips and its other uploads in
    /// progress, atomically across replicas.
    async fn reserve(
        &self,
        account: &voicebin_domain::AccountId,
        want: u64,
        min: u64,
    ) -> Result<QuotaGrant, QuotaError>;
    /// Gives the room held under `ticket` back.
    async fn release(&self, ticket: &str) -> Result<(), QuotaError>;
}

/// No quotas: every upload gets the room it asks for (processes that never upload, and
/// deployments built without a quota store).
pub struct NoQuotas;

#[async_trait]
impl Quotas for NoQuotas {
    async fn reserve(
        &self,
        _account: &voicebin_domain::AccountId,
        want: u64,
        _min: u64,
    ) -> Result<QuotaGrant, QuotaError> {
        Ok(QuotaGrant {
            bytes: want,
            ticket: None,
            usage: voicebin_domain::Usage::default(),
            limits: voicebin_domain::Limits::UNLIMITED,
        })
    }

    async fn release(&self, _ticket: &str) -> Result<(), QuotaError> {
        Ok(())
    }
}
