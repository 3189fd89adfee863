//! Commands: what callers ask a clip to do. Imperative names; every field already validated
//! by its value object, and the time supplied by the caller so rules stay deterministic.

use chrono::{DateTime, Utc};

use super::events::ScanOutcome;
use crate::values::{
    AccountId, ContentType, Description, DownloadLimit, Filename, Sha256Digest, Title,
};

/// A command for the [`Clip`](super::Clip) aggregate.
#[derive(Debug, Clone, PartialEq)]
pub enum ClipCommand {
    /// Record a new upload whose bytes are already stored.
    UploadClip {
        /// The uploading account.
        owner: AccountId,
        /// Optional title.
        title: Option<Title>,
        /// Optional description.
        description: Option<Description>,
        /// Display filename.
        filename: Filename,
        /// Sniffed media type.
        content_type: ContentType,
        /// Stored size.
        size_bytes: u64,
        /// Stored digest.
        sha256: Sha256Digest,
        /// Blob store key.
        blob_key: String,
        /// Optional download limit.
        download_limit: Option<DownloadLimit>,
        /// Now.
        at: DateTime<Utc>,
    },
    /// Record the scan pipeline's verdict. A second verdict is ignored.
    CompleteScan {
        /// The verdict.
        outcome: ScanOutcome,
        /// Now.
        at: DateTime<Utc>,
    },
    /// Count one download by someone other than the owner.
    RecordDownload {
        /// Now.
        at: DateTime<Utc>,
    },
    /// Count a batch of downloads of a clip that had no limit when they happened.
    CountDownloads {
        /// Downloads in the batch.
        count: u64,
        /// Now.
        at: DateTime<Utc>,
    },
    /// Edit title, description and/or download limit. `None` leaves a field alone;
    /// `Some(None)` clears it.
    EditClip {
        /// Who asks.
        actor: AccountId,
        /// New title.
        title: Option<Option<Title>>,
        /// New description.
        description: Option<Option<Description>>,
        /// New download limit.
        download_limit: Option<Option<DownloadLimit>>,
        /// Now.
        at: DateTime<Utc>,
    },
    /// Delete the clip.
    DeleteClip {
        /// Who asks.
        actor: AccountId,
        /// Now.
        at: DateTime<Utc>,
    },
}
