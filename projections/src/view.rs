//! The `ClipView` read model and how each event changes it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use voicebin_domain::{ClipEvent, Moderation, ScanState, ScanVerdict, Stage, StageState};

use crate::stored::{ByName, NullableByName};

/// Everything the API shows about a clip, flattened for querying.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct ClipView {
    /// Clip id.
    pub id: String,
    /// Owning account.
    pub owner: String,
    /// Title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Display filename.
    pub filename: String,
    /// Media type sniffed from the bytes.
    pub content_type: String,
    /// Stored size.
    pub size_bytes: i64,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    /// Blob store key.
    pub blob_key: String,
    /// Where the clip stands in the scan pipeline.
    #[sqlx(try_from = "ByName<ScanState>")]
    pub scan_state: ScanState,
    /// Why the scan ended as it did.
    pub scan_detail: Option<String>,
    /// Which scanner(s) ran.
    pub scanner: Option<String>,
    /// Audio container, once scanned.
    pub container: Option<String>,
    /// Audio codec, once scanned.
    pub codec: Option<String>,
    /// Duration in ms, once scanned.
    pub duration_ms: Option<i64>,
    /// Sample rate, once scanned.
    pub sample_rate: Option<i64>,
    /// Channels, once scanned.
    pub channels: Option<i64>,
    /// Waveform peaks as a JSON array of levels 0–255, once scanned.
    pub peaks: Option<String>,
    /// Download limit; `None` is unlimited.
    pub download_limit: Option<i64>,
    /// Downloads counted.
    pub download_count: i64,
    /// Upload time (µs since epoch).
    pub created_at: i64,
    /// Last change (µs since epoch).
    pub updated_at: i64,
    /// Scan time (µs since epoch).
    pub scanned_at: Option<i64>,
    /// Deletion time (µs since epoch).
    pub deleted_at: Option<i64>,
    /// Sequence number of the last event applied.
    pub version: i64,
    /// Whether moderation lets the public see the clip.
    #[sqlx(try_from = "ByName<Moderation>")]
    pub moderation_state: Moderation,
    /// Why moderation last changed the clip (shown to the owner).
    pub moderation_reason: Option<String>,
    /// When moderation last changed the clip (µs since epoch).
    pub moderated_at: Option<i64>,
    /// Where the clip is in the rendition stage; `None` when browsers play the original.
    #[sqlx(try_from = "NullableByName<StageState>")]
    pub rendition_state: Option<StageState>,
    /// The recorded rendition as JSON (see [`Rendition`]), once there is one.
    pub rendition: Option<String>,
    /// Where the clip is in the transcription stage (`done` once it has a transcript, the
    /// engine's or its owner's); `None` before its clean verdict.
    #[sqlx(try_from = "NullableByName<StageState>")]
    pub transcript_state: Option<StageState>,
    /// Who wrote the transcript: `engine` or `owner`.
    pub transcript_source: Option<String>,
    /// Why transcription failed.
    pub transcript_detail: Option<String>,
    /// The transcript's language, when known.
    pub transcript_language: Option<String>,
    /// When the transcript last changed (µs since epoch).
    pub transcribed_at: Option<i64>,
    /// When the clip expires (µs since epoch); `None` is never.
    pub expires_at: Option<i64>,
    /// When its `Expired` event was recorded (µs since epoch).
    pub expired_at: Option<i64>,
}

/// A rendition players are served instead of the original (`RenditionCompleted`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rendition {
    /// Blob store key.
    pub blob_key: String,
    /// Media type, e.g. `audio/flac`.
    pub content_type: String,
    /// Stored size.
    pub size_bytes: i64,
    /// SHA-256 of the stored bytes, lowercase hex.
    pub sha256: String,
    /// When it was recorded (µs since epoch).
    pub at: i64,
}

impl Rendition {
    /// When it was recorded.
    pub fn recorded_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.at).unwrap_or_default()
    }
}

/// The column of `clip_views` that holds a stage's state (a stage plugs in with its column).
pub fn stage_column(stage: Stage) -> &'static str {
    match stage {
        Stage::Rendition => "rendition_state",
        Stage::Transcript => "transcript_state",
    }
}

fn micros(at: &DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

impl ClipView {
    /// Whether the clip has been deleted.
    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }

    /// Whether the clip's `Expired` event is recorded (its bytes are purged or being purged).
    pub fn is_expired(&self) -> bool {
        self.expired_at.is_some()
    }

    /// Whether the clip has expired by `now`: recorded, or due and not yet swept (the sweeper
    /// runs every so often; nobody is served a clip in between).
    pub fn is_expired_at(&self, now: DateTime<Utc>) -> bool {
        self.is_expired() || self.expires_at.is_some_and(|at| at <= micros(&now))
    }

    /// When the clip expires; `None` is never.
    pub fn expires(&self) -> Option<DateTime<Utc>> {
        self.expires_at.and_then(DateTime::from_timestamp_micros)
    }

    /// Whether the clip is gone for good, deleted or expired: it is not listed, searched,
    /// scanned or worked on.
    pub fn is_gone(&self) -> bool {
        self.is_deleted() || self.is_expired()
    }

    /// Where moderation has left the clip.
    pub fn moderation(&self) -> Moderation {
        self.moderation_state
    }

    /// Whether a moderator took the clip down (its bytes are gone).
    pub fn is_removed(&self) -> bool {
        self.moderation() == Moderation::Removed
    }

    /// Whether anyone (not only the owner) may see and fetch the clip.
    pub fn is_public(&self) -> bool {
        !self.is_gone()
            && self.scan_state == ScanState::Clean
            && self.moderation() == Moderation::Visible
    }

    /// The filename to hand out (downloads, the REST item, MCP, pages): the stored one without
    /// refused characters and with an extension of the type sniffed from the bytes
    /// ([`voicebin_domain::values::truthful_filename`]). Uploads store such a name already;
    /// clips uploaded before that rule may hold any extension.
    pub fn served_filename(&self) -> String {
        voicebin_domain::values::truthful_filename(&self.filename, &self.content_type)
    }

    /// The waveform peaks, once scanned.
    pub fn peaks_levels(&self) -> Option<Vec<u8>> {
        self.peaks
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok())
    }

    /// The rendition players are served, once one is recorded.
    pub fn playback(&self) -> Option<Rendition> {
        self.rendition
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok())
    }

    /// Where the clip is in `stage`; `None` when it does not need it.
    pub fn stage_state(&self, stage: Stage) -> Option<StageState> {
        match stage {
            Stage::Rendition => self.rendition_state,
            Stage::Transcript => self.transcript_state,
        }
    }

    /// Whether the clip has a transcript (the engine's or its owner's).
    pub fn has_transcript(&self) -> bool {
        self.transcript_source.is_some()
    }

    fn transcribed(
        &mut self,
        source: &str,
        transcript: &voicebin_domain::Transcript,
        at: &DateTime<Utc>,
    ) {
        self.transcript_state = Some(StageState::Done);
        self.transcript_source = Some(source.to_owned());
        self.transcript_detail = None;
        self.transcript_language = transcript.language().map(|l| l.as_str().to_owned());
        self.transcribed_at = Some(micros(at));
        self.updated_at = micros(at);
    }

    /// Downloads left before the limit; `None` when unlimited.
    pub fn downloads_remaining(&self) -> Option<i64> {
        self.download_limit
            .map(|limit| (limit - self.download_count).max(0))
    }

    /// Upload time.
    pub fn created_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.created_at).unwrap_or_default()
    }

    fn moderate(&mut self, state: Moderation, reason: String, at: &DateTime<Utc>) {
        self.moderation_state = state;
        self.moderation_reason = Some(reason);
        self.moderated_at = Some(micros(at));
        self.updated_at = micros(at);
    }

    /// Applies one event (with its sequence number) to the view of clip `id`. `view` is `None`
    /// before the `Uploaded` event; events that cannot apply to a missing view are skipped.
    pub fn apply(view: Option<Self>, id: &str, sequence: i64, event: &ClipEvent) -> Option<Self> {
        if let ClipEvent::Uploaded {
            owner,
            title,
            description,
            filename,
            content_type,
            size_bytes,
            sha256,
            blob_key,
            download_limit,
            expires_at,
            at,
        } = event
        {
            return Some(ClipView {
                id: id.to_owned(),
                owner: owner.to_string(),
                title: title.as_ref().map(|t| t.to_string()),
                description: description.as_ref().map(|d| d.to_string()),
                filename: filename.to_string(),
                content_type: content_type.to_string(),
                size_bytes: i64::try_from(*size_bytes).unwrap_or(i64::MAX),
                sha256: sha256.to_string(),
                blob_key: blob_key.clone(),
                scan_state: ScanState::Pending,
                scan_detail: None,
                scanner: None,
                container: None,
                codec: None,
                duration_ms: None,
                sample_rate: None,
                channels: None,
                peaks: None,
                download_limit: download_limit.map(|l| l.get() as i64),
                download_count: 0,
                created_at: micros(at),
                updated_at: micros(at),
                scanned_at: None,
                deleted_at: None,
                version: sequence,
                moderation_state: Moderation::Visible,
                moderation_reason: None,
                moderated_at: None,
                rendition_state: None,
                rendition: None,
                transcript_state: None,
                transcript_source: None,
                transcript_detail: None,
                transcript_language: None,
                transcribed_at: None,
                expires_at: expires_at.as_ref().map(micros),
                expired_at: None,
            });
        }
        let mut view = view?;
        view.version = sequence;
        match event {
            ClipEvent::Uploaded { .. } => unreachable!("handled above"),
            ClipEvent::ScanCompleted { outcome, at } => {
                view.scan_state = outcome.verdict.into();
                view.scan_detail = outcome.detail.clone();
                view.scanner = Some(outcome.scanner.clone());
                if let Some(audio) = &outcome.audio {
                    view.container = Some(audio.container.clone());
                    view.codec = Some(audio.codec.clone());
                    view.duration_ms = Some(audio.duration_ms as i64);
                    view.sample_rate = Some(i64::from(audio.sample_rate));
                    view.channels = Some(i64::from(audio.channels));
                    view.peaks = audio
                        .peaks
                        .as_ref()
                        .and_then(|p| serde_json::to_string(p).ok());
                }
                // A clean clip needs the stages that apply to it; an operator's rescan of a
                // `failed` clip is its first clean verdict.
                view.rendition_state = match &outcome.audio {
                    Some(audio)
                        if outcome.verdict == ScanVerdict::Clean
                            && Stage::Rendition.applies_to(audio) =>
                    {
                        Some(StageState::Pending)
                    }
                    _ => None,
                };
                // Every clean clip is transcribed, unless its owner wrote a transcript first.
                if outcome.verdict == ScanVerdict::Clean
                    && outcome.audio.is_some()
                    && view.transcript_state.is_none()
                {
                    view.transcript_state = Some(StageState::Pending);
                }
                view.scanned_at = Some(micros(at));
                view.updated_at = micros(at);
            }
            ClipEvent::RenditionCompleted {
                blob_key,
                content_type,
                size_bytes,
                sha256,
                at,
            } => {
                let rendition = Rendition {
                    blob_key: blob_key.clone(),
                    content_type: content_type.to_string(),
                    size_bytes: i64::try_from(*size_bytes).unwrap_or(i64::MAX),
                    sha256: sha256.to_string(),
                    at: micros(at),
                };
                view.rendition_state = Some(StageState::Done);
                view.rendition = serde_json::to_string(&rendition).ok();
                view.updated_at = micros(at);
            }
            ClipEvent::RenditionFailed { at, .. } => {
                view.rendition_state = Some(StageState::Failed);
                view.updated_at = micros(at);
            }
            ClipEvent::TranscriptCompleted { transcript, at, .. } => {
                view.transcribed("engine", transcript, at)
            }
            ClipEvent::TranscriptCorrected { transcript, at, .. } => {
                view.transcribed("owner", transcript, at)
            }
            ClipEvent::TranscriptFailed { reason, at, .. } => {
                view.transcript_state = Some(StageState::Failed);
                view.transcript_detail = Some(reason.clone());
                view.transcribed_at = Some(micros(at));
                view.updated_at = micros(at);
            }
            ClipEvent::Downloaded { .. } => view.download_count += 1,
            ClipEvent::DownloadsCounted { count, .. } => {
                view.download_count += i64::try_from(*count).unwrap_or(i64::MAX)
            }
            ClipEvent::MetadataEdited {
                title,
                description,
                at,
                ..
            } => {
                if let Some(title) = title {
                    view.title = title.as_ref().map(|t| t.to_string());
                }
                if let Some(description) = description {
                    view.description = description.as_ref().map(|d| d.to_string());
                }
                view.updated_at = micros(at);
            }
            ClipEvent::DownloadLimitChanged { limit, at, .. } => {
                view.download_limit = limit.map(|l| l.get() as i64);
                view.updated_at = micros(at);
            }
            ClipEvent::ExpiryChanged { expires_at, at, .. } => {
                view.expires_at = expires_at.as_ref().map(micros);
                view.updated_at = micros(at);
            }
            ClipEvent::Expired { at, .. } => {
                view.expired_at = Some(micros(at));
                view.updated_at = micros(at);
            }
            ClipEvent::Deleted { at, .. } => {
                view.deleted_at = Some(micros(at));
                view.updated_at = micros(at);
            }
            // Who reported what is the moderation queue's business (`ModerationChange`).
            ClipEvent::Reported { .. } => {}
            ClipEvent::AutoHidden {
                reporters,
                reasons,
                at,
            } => {
                let reasons: Vec<&str> = reasons.iter().map(|r| r.as_str()).collect();
                view.moderate(
                    Moderation::Hidden,
                    format!(
                        "hidden automatically after reports from {reporters} people ({}) until \
                         a moderator reviews it",
                        reasons.join(", ")
                    ),
                    at,
                );
            }
            ClipEvent::Blocked { reason, at, .. } => {
                view.moderate(Moderation::Blocked, reason.to_string(), at)
            }
            ClipEvent::Restored { reason, at, .. } => {
                view.moderate(Moderation::Visible, reason.to_string(), at)
            }
            ClipEvent::Removed { reason, at, .. } => {
                view.moderate(Moderation::Removed, reason.to_string(), at)
            }
        }
        Some(view)
    }
}
