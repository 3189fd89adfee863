//! Commands: what callers ask a clip to do. Imperative names; every field already validated
//! by its value object, and the time supplied by the caller so rules stay deterministic.

use chrono::{DateTime, Utc};

use super::events::ScanOutcome;
use crate::transcript::Transcript;
use crate::values::{
    AccountId, ContentType, Description, DownloadLimit, Filename, ModerationReason, ReportNote,
    ReportReason, Reporter, Sha256Digest, Title,
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
        /// When the clip expires (already checked against the operator's limits); `None` is
        /// never.
        expires_at: Option<DateTime<Utc>>,
        /// Now.
        at: DateTime<Utc>,
    },
    /// Record the scan pipeline's verdict. A second verdict is ignored, except that an
    /// operator's retry of a `failed` clip may record a real one.
    CompleteScan {
        /// The verdict.
        outcome: ScanOutcome,
        /// The scan was a retry an operator asked for (a re-queued dead letter), not a job of
        /// the clip's first round.
        retry: bool,
        /// Now.
        at: DateTime<Utc>,
    },
    /// Count one download by someone other than the owner.
    RecordDownload {
        /// Now.
        at: DateTime<Utc>,
    },
    /// Count `count` downloads of a clip with a limit at once (downloads that arrived together
    /// in one process, recorded in one commit): all of them, one `Downloaded` each, or, when
    /// fewer than `count` remain, none (`LimitReached`).
    RecordDownloads {
        /// Downloads in the batch, at least one.
        count: u32,
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
    /// Edit title, description, download limit and/or expiry. `None` leaves a field alone;
    /// `Some(None)` clears it (an expiry cleared is never).
    EditClip {
        /// Who asks.
        actor: AccountId,
        /// New title.
        title: Option<Option<Title>>,
        /// New description.
        description: Option<Option<Description>>,
        /// New download limit.
        download_limit: Option<Option<DownloadLimit>>,
        /// New expiry (already checked against the operator's maximum).
        expires_at: Option<Option<DateTime<Utc>>>,
        /// Now.
        at: DateTime<Utc>,
    },
    /// The system expires the clip if its expiry has come. A clip already expired, whose
    /// expiry moved or was cleared, or that is gone otherwise records nothing, so sweepers
    /// racing on several replicas record `Expired` once.
    ExpireClip {
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
    /// Report the clip as abusive. A reporter with an open report on the clip is not recorded
    /// twice.
    ReportClip {
        /// Who reports.
        reporter: Reporter,
        /// Why.
        reason: ReportReason,
        /// Optional note.
        note: Option<ReportNote>,
        /// Now.
        at: DateTime<Utc>,
    },
    /// The system's follow-up to a report: hide the clip until a moderator decides once
    /// `threshold` distinct reporters have open reports (0 never hides).
    ApplyReportThreshold {
        /// Distinct open reporters that hide the clip.
        threshold: u32,
        /// Now.
        at: DateTime<Utc>,
    },
    /// A moderator hides the clip from everyone but its owner and moderators.
    BlockClip {
        /// The moderator.
        moderator: AccountId,
        /// Why.
        reason: ModerationReason,
        /// Now.
        at: DateTime<Utc>,
    },
    /// A moderator makes a hidden or blocked clip public again (or dismisses open reports).
    RestoreClip {
        /// The moderator.
        moderator: AccountId,
        /// Why.
        reason: ModerationReason,
        /// Now.
        at: DateTime<Utc>,
    },
    /// A moderator takes the clip down for good.
    RemoveClip {
        /// The moderator.
        moderator: AccountId,
        /// Why.
        reason: ModerationReason,
        /// The digest of the clip's bytes as the caller knows it (used only when the state
        /// does not record it).
        sha256: Sha256Digest,
        /// Now.
        at: DateTime<Utc>,
    },
    /// Record the rendition stored for a clean clip. Ignored once one is recorded; allowed
    /// after a failure (an operator's retry).
    CompleteRendition {
        /// Blob store key of the rendition.
        blob_key: String,
        /// Its media type.
        content_type: ContentType,
        /// Its size.
        size_bytes: u64,
        /// Its digest.
        sha256: Sha256Digest,
        /// Now.
        at: DateTime<Utc>,
    },
    /// Record that no rendition could be made. Ignored once a rendition or a failure is
    /// recorded.
    FailRendition {
        /// Why.
        reason: String,
        /// Now.
        at: DateTime<Utc>,
    },
    /// Record the speech-to-text stage's transcript. Ignored when the clip already has one
    /// (a duplicate job, or the owner's own).
    CompleteTranscript {
        /// What was said.
        transcript: Transcript,
        /// The engine and model.
        engine: String,
        /// Now.
        at: DateTime<Utc>,
    },
    /// Record that the speech-to-text stage gave up. Ignored when the clip already has a
    /// transcript or a recorded failure.
    FailTranscript {
        /// Why.
        reason: String,
        /// The engine.
        engine: String,
        /// Now.
        at: DateTime<Utc>,
    },
    /// The owner sets the transcript.
    CorrectTranscript {
        /// Who asks.
        actor: AccountId,
        /// The transcript as the owner wants it.
        transcript: Transcript,
        /// Now.
        at: DateTime<Utc>,
    },
}
