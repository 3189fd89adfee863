//! Application services: everything that changes a clip goes through [`ClipService`], which runs
//! commands through the cqrs-es framework (retrying optimistic-concurrency conflicts) and talks
//! to the outside world only through ports: [`BlobStore`], [`ScanQueue`], [`Scanner`],
//! [`Blocklist`] and [`Quotas`].
//!
//! Reads do not happen here (see `voicebin-projections`), and nothing here knows HTTP.
//!
//! # Layout
//!
//! * `service.rs`: [`ClipService`], the use cases (upload, edit, delete, report, moderate,
//!   record a scan verdict).
//! * `bus.rs`: the cqrs-es frameworks over PostgreSQL and SQLite, snapshots, and the retry of
//!   optimistic-concurrency conflicts.
//! * `download_counter.rs`: counting a listener's downloads ([`DownloadCounter`]).
//! * `ports.rs`: the traits adapters implement, and their errors.
//! * `resumable/`: the resumable SHA-256 a resumable upload's digest is kept in between
//!   requests (ADR 0025).
//! * `blobs/`: the blob adapters, `local.rs` (a directory) and `s3.rs` (S3), with the key rules
//!   both enforce in `mod.rs`. The scan queues and scanners are adapters too, but live in
//!   `voicebin-workers`, next to the workers that consume them.
#![forbid(unsafe_code)]

mod blobs;
mod bus;
mod download_counter;
mod ports;
pub mod resumable;
mod service;

pub use blobs::{
    paced, rendition_key, sendfile, DiskCached, LocalBlobStore, ReadBudget, S3BlobStore, S3Settings,
};
pub use bus::{
    postgres_bus, postgres_event_store, sqlite_bus, sqlite_event_store, ClipStore, CommandError,
    CommandMeta, CompleteSnapshots, PostgresClipEvents, SqliteClipEvents, SNAPSHOT_EVERY,
};
pub use download_counter::DownloadCounter;
pub use ports::{
    Appended, BlobError, BlobStore, Blocklist, BlocklistError, BoxError, ByteStream, NoQuotas,
    PartialBlobs, QueueError, QuotaError, QuotaGrant, Quotas, ScanError, ScanQueue, Scanner,
};
pub use service::{ClipService, Decision, Stored, UploadError, UploadRequest};
