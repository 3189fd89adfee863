//! Application services: everything that changes a clip goes through [`ClipService`], which runs
//! commands through the cqrs-es framework (retrying optimistic-concurrency conflicts) and talks
//! to the outside world only through ports: [`BlobStore`], [`ScanQueue`] and [`Scanner`].
//!
//! Reads do not happen here (see `voicebin-projections`), and nothing here knows HTTP.
#![forbid(unsafe_code)]

mod blobs;
mod bus;
mod download_counter;
mod ports;
mod service;

pub use blobs::{LocalBlobStore, S3BlobStore, S3Settings};
pub use bus::{
    postgres_bus, postgres_event_store, sqlite_bus, sqlite_event_store, ClipStore, CommandError,
    CommandMeta, CompleteSnapshots, PostgresClipEvents, SqliteClipEvents, SNAPSHOT_EVERY,
};
pub use download_counter::DownloadCounter;
pub use ports::{
    BlobError, BlobStore, Blocklist, BlocklistError, BoxError, ByteStream, QueueError, ScanError,
    ScanQueue, Scanner,
};
pub use service::{ClipService, Decision, UploadError, UploadRequest};
