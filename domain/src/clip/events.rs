//! Events: the stored history of a clip.
//!
//! These names and payloads are a contract with every event already written. Never rename a
//! variant or change the meaning of a field: add an optional field (with `#[serde(default)]`),
//! a new variant, or a new version plus an upcaster. The stored `event_type` is the variant name
//! and `event_version` is [`EVENT_VERSION`]; the payload is serde's externally tagged JSON,
//! e.g. `{"Uploaded": {"owner": "alice", ...}}`. `docs/events.md` lists them for operators.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::transcript::Transcript;
use crate::values::{
    AccountId, ContentType, Description, DownloadLimit, Filename, ModerationReason, ReportNote,
    ReportReason, Reporter, Sha256Digest, Title,
};

/// The version written with every event of this crate's current shape.
pub const EVENT_VERSION: &str = "1.0";

/// Everything that can happen to a clip, each a past-tense fact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ClipEvent {
    /// The bytes were stored and the clip exists, pending its scan.
    Uploaded {
        /// The account that uploaded the clip and owns it.
        owner: AccountId,
        /// Optional title.
        title: Option<Title>,
        /// Optional description.
        description: Option<Description>,
        /// Display filename.
        filename: Filename,
        /// Media type sniffed from the bytes.
        content_type: ContentType,
        /// Exact size of the stored bytes.
        size_bytes: u64,
        /// SHA-256 of the stored bytes.
        sha256: Sha256Digest,
        /// Where the blob store keeps the bytes.
        blob_key: String,
        /// Downloads allowed to others than the owner; `None` is unlimited.
        download_limit: Option<DownloadLimit>,
        /// When the clip expires; `None` (and absent, in events recorded before expiry
        /// existed) is never.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires_at: Option<DateTime<Utc>>,
        /// When the upload was accepted.
        at: DateTime<Utc>,
    },
    /// The scan pipeline reached a verdict. Recorded at most once per clip.
    ScanCompleted {
        /// The verdict and what the scanner learned.
        outcome: ScanOutcome,
        /// When the verdict was recorded.
        at: DateTime<Utc>,
    },
    /// Someone other than the owner downloaded the clip (counts toward the limit).
    Downloaded {
        /// When the download was granted.
        at: DateTime<Utc>,
    },
    /// Downloads of an unlimited clip, counted in a batch (one event per flush, not per
    /// download, so a popular clip does not serialise its downloads through the aggregate).
    DownloadsCounted {
        /// How many downloads the batch covers.
        count: u64,
        /// When the batch was flushed.
        at: DateTime<Utc>,
    },
    /// The owner changed the title and/or description. `None` fields were not touched;
    /// `Some(None)` cleared the field.
    MetadataEdited {
        /// Who edited.
        by: AccountId,
        /// New title, if changed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<Option<Title>>,
        /// New description, if changed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<Option<Description>>,
        /// When.
        at: DateTime<Utc>,
    },
    /// The owner changed (or removed, `None`) the download limit.
    DownloadLimitChanged {
        /// Who changed it.
        by: AccountId,
        /// The new limit; `None` is unlimited.
        limit: Option<DownloadLimit>,
        /// When.
        at: DateTime<Utc>,
    },
    /// The owner changed when the clip expires (`None`: never).
    ExpiryChanged {
        /// Who changed it.
        by: AccountId,
        /// The new expiry; `None` is never.
        expires_at: Option<DateTime<Utc>>,
        /// When.
        at: DateTime<Utc>,
    },
    /// The clip's expiry came: it is never served again, its bytes are purged and its
    /// transcript is no longer searched or served (recorded once, by the expiry sweeper).
    Expired {
        /// The expiry that came due.
        expires_at: DateTime<Utc>,
        /// When it was recorded.
        at: DateTime<Utc>,
    },
    /// The clip was deleted; it is never served again and its bytes are purged.
    Deleted {
        /// Who deleted it.
        by: AccountId,
        /// When.
        at: DateTime<Utc>,
    },
    /// Someone reported the clip as abusive. Only moderators see who.
    Reported {
        /// Who reported it.
        reporter: Reporter,
        /// Why, from the fixed list.
        reason: ReportReason,
        /// What the reporter added.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<ReportNote>,
        /// When.
        at: DateTime<Utc>,
    },
    /// Reports from enough distinct reporters hid the clip from the public until a moderator
    /// decides (recorded by the system, not by a person).
    AutoHidden {
        /// Distinct reporters with open reports when the clip was hidden.
        reporters: u32,
        /// The reasons they gave, each once.
        reasons: Vec<ReportReason>,
        /// When.
        at: DateTime<Utc>,
    },
    /// A moderator hid the clip from everyone but its owner and moderators.
    Blocked {
        /// The moderator.
        by: AccountId,
        /// Why (shown to the owner).
        reason: ModerationReason,
        /// When.
        at: DateTime<Utc>,
    },
    /// A moderator made a hidden or blocked clip public again, or dismissed open reports.
    Restored {
        /// The moderator.
        by: AccountId,
        /// Why.
        reason: ModerationReason,
        /// When.
        at: DateTime<Utc>,
    },
    /// A moderator took the clip down: its bytes are purged and the same bytes can never be
    /// uploaded again (its digest enters the blocklist).
    Removed {
        /// The moderator.
        by: AccountId,
        /// Why (shown to the owner).
        reason: ModerationReason,
        /// Digest of the removed bytes, for the blocklist.
        sha256: Sha256Digest,
        /// When.
        at: DateTime<Utc>,
    },
    /// A rendition that mainstream browsers play was stored for a clean clip they cannot play as
    /// uploaded; players are served it, downloads still get the original bytes.
    RenditionCompleted {
        /// Where the blob store keeps the rendition.
        blob_key: String,
        /// Its media type (`audio/flac`, or `audio/ogg` for Opus).
        content_type: ContentType,
        /// Exact size of the stored rendition.
        size_bytes: u64,
        /// SHA-256 of the stored rendition (its ETag).
        sha256: Sha256Digest,
        /// When it was recorded.
        at: DateTime<Utc>,
    },
    /// No rendition could be made; the clip stays as it was (clean, its original served).
    RenditionFailed {
        /// Why, for the owner and the operator.
        reason: String,
        /// When it was recorded.
        at: DateTime<Utc>,
    },
    /// The speech-to-text stage transcribed the clip.
    TranscriptCompleted {
        /// What was said.
        transcript: Transcript,
        /// Which engine and model produced it, e.g. `faster-whisper/tiny.en`.
        engine: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The speech-to-text stage gave up on the clip. The clip itself is unaffected.
    TranscriptFailed {
        /// Why, for the owner.
        reason: String,
        /// Which engine tried.
        engine: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The owner replaced the transcript with their own (a correction, or one written by
    /// hand). Later transcriptions never overwrite it.
    TranscriptCorrected {
        /// The owner.
        by: AccountId,
        /// The transcript as the owner wants it.
        transcript: Transcript,
        /// When.
        at: DateTime<Utc>,
    },
}

/// The scan pipeline's verdict on a clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanVerdict {
    /// Valid audio, no malware.
    Clean,
    /// Malware found.
    Infected,
    /// Not valid audio.
    Rejected,
    /// Scanning kept failing; the clip is never served.
    Failed,
}

/// What a scan found: the verdict, the audio facts when the bytes decoded, and a human-readable
/// detail (the reason for a rejection, the signature name for an infection).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanOutcome {
    /// The verdict.
    pub verdict: ScanVerdict,
    /// Audio facts, present when the bytes were valid audio.
    #[serde(default)]
    pub audio: Option<AudioFacts>,
    /// Why the verdict is what it is, for the owner.
    #[serde(default)]
    pub detail: Option<String>,
    /// Which scanner(s) produced the verdict, e.g. `audio-probe` or `audio-probe+clamd`.
    pub scanner: String,
}

/// Facts about the audio stream, read by decoding the clip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioFacts {
    /// Container format, e.g. `wav`, `mp3`, `ogg`, `mp4`, `webm`.
    pub container: String,
    /// Codec, e.g. `pcm_s16le`, `mp3`, `vorbis`, `opus`, `aac`.
    pub codec: String,
    /// Duration in milliseconds.
    pub duration_ms: u64,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Channel count.
    pub channels: u16,
    /// Waveform peak levels (0–255) of equal-duration slices, for drawing the clip; absent in
    /// events recorded before peaks were computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peaks: Option<Vec<u8>>,
}

impl DomainEvent for ClipEvent {
    fn event_type(&self) -> String {
        match self {
            ClipEvent::Uploaded { .. } => "Uploaded",
            ClipEvent::ScanCompleted { .. } => "ScanCompleted",
            ClipEvent::Downloaded { .. } => "Downloaded",
            ClipEvent::DownloadsCounted { .. } => "DownloadsCounted",
            ClipEvent::MetadataEdited { .. } => "MetadataEdited",
            ClipEvent::DownloadLimitChanged { .. } => "DownloadLimitChanged",
            ClipEvent::ExpiryChanged { .. } => "ExpiryChanged",
            ClipEvent::Expired { .. } => "Expired",
            ClipEvent::Deleted { .. } => "Deleted",
            ClipEvent::Reported { .. } => "Reported",
            ClipEvent::AutoHidden { .. } => "AutoHidden",
            ClipEvent::Blocked { .. } => "Blocked",
            ClipEvent::Restored { .. } => "Restored",
            ClipEvent::Removed { .. } => "Removed",
            ClipEvent::RenditionCompleted { .. } => "RenditionCompleted",
            ClipEvent::RenditionFailed { .. } => "RenditionFailed",
            ClipEvent::TranscriptCompleted { .. } => "TranscriptCompleted",
            ClipEvent::TranscriptFailed { .. } => "TranscriptFailed",
            ClipEvent::TranscriptCorrected { .. } => "TranscriptCorrected",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        EVENT_VERSION.to_owned()
    }
}
