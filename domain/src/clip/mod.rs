//! The `Clip` aggregate: one uploaded audio clip and everything that ever happened to it.

mod aggregate;
mod commands;
mod errors;
mod events;
mod expiry;

pub use aggregate::Clip;
pub use commands::ClipCommand;
pub use errors::ClipError;
pub use events::{AudioFacts, ClipEvent, ScanOutcome, ScanVerdict};
pub use expiry::{ExpiryError, Lifetime, Lifetimes, MAX_LIFETIME_SECS};

use serde::{Deserialize, Serialize};

/// Where a clip stands in the scan pipeline. Only `Clean` clips are served to anyone but their
/// owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ScanState {
    /// Uploaded, not yet scanned.
    #[default]
    Pending,
    /// Valid audio, no malware found.
    Clean,
    /// The malware scanner found something.
    Infected,
    /// The bytes are not valid audio.
    Rejected,
    /// Scanning failed after all retries; never served.
    Failed,
}

impl ScanState {
    /// Every state, in pipeline order.
    pub const ALL: [ScanState; 5] = [
        ScanState::Pending,
        ScanState::Clean,
        ScanState::Infected,
        ScanState::Rejected,
        ScanState::Failed,
    ];

    /// The stable wire name (`pending`, `clean`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ScanState::Pending => "pending",
            ScanState::Clean => "clean",
            ScanState::Infected => "infected",
            ScanState::Rejected => "rejected",
            ScanState::Failed => "failed",
        }
    }
}

parse_by_name!(ScanState, "scan state");

impl From<ScanVerdict> for ScanState {
    fn from(v: ScanVerdict) -> Self {
        match v {
            ScanVerdict::Clean => ScanState::Clean,
            ScanVerdict::Infected => ScanState::Infected,
            ScanVerdict::Rejected => ScanState::Rejected,
            ScanVerdict::Failed => ScanState::Failed,
        }
    }
}

/// Whether moderation lets the public see a clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Moderation {
    /// No moderation stands in the way.
    #[default]
    Visible,
    /// Hidden automatically by reports, until a moderator decides.
    Hidden,
    /// Blocked by a moderator: only the owner and moderators see it.
    Blocked,
    /// Taken down by a moderator: the bytes are gone for good.
    Removed,
}

impl Moderation {
    /// Every state.
    pub const ALL: [Moderation; 4] = [
        Moderation::Visible,
        Moderation::Hidden,
        Moderation::Blocked,
        Moderation::Removed,
    ];

    /// The stable wire name (`visible`, `hidden`, `blocked`, `removed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Moderation::Visible => "visible",
            Moderation::Hidden => "hidden",
            Moderation::Blocked => "blocked",
            Moderation::Removed => "removed",
        }
    }
}

parse_by_name!(Moderation, "moderation state");

/// Whether the clip has a transcript, and whose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TranscriptStatus {
    /// None yet (transcription pending, off, or never asked for).
    #[default]
    None,
    /// The speech-to-text stage gave up.
    Failed,
    /// Transcribed by the speech-to-text stage.
    Transcribed,
    /// Set by the owner; the stage never overwrites it.
    Corrected,
}

impl TranscriptStatus {
    /// Every status.
    pub const ALL: [TranscriptStatus; 4] = [
        TranscriptStatus::None,
        TranscriptStatus::Failed,
        TranscriptStatus::Transcribed,
        TranscriptStatus::Corrected,
    ];

    /// The stable wire name (`none`, `failed`, `transcribed`, `corrected`).
    pub fn as_str(self) -> &'static str {
        match self {
            TranscriptStatus::None => "none",
            TranscriptStatus::Failed => "failed",
            TranscriptStatus::Transcribed => "transcribed",
            TranscriptStatus::Corrected => "corrected",
        }
    }

    /// Whether there is a transcript to show.
    pub fn has_transcript(self) -> bool {
        matches!(
            self,
            TranscriptStatus::Transcribed | TranscriptStatus::Corrected
        )
    }
}

parse_by_name!(TranscriptStatus, "transcript status");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UnknownName;

    #[test]
    fn every_scan_state_parses_back_from_its_name_and_unknown_names_are_errors() {
        for state in ScanState::ALL {
            assert_eq!(state.as_str().parse(), Ok(state));
            // Views are also serialized; both spellings must stay the same.
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
        }
        assert_eq!(
            "Clean".parse::<ScanState>(),
            Err(UnknownName::new("scan state", "Clean"))
        );
        assert!("".parse::<ScanState>().is_err());
    }

    #[test]
    fn every_moderation_state_parses_back_from_its_name_and_unknown_names_are_errors() {
        for state in Moderation::ALL {
            assert_eq!(state.as_str().parse(), Ok(state));
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
        }
        assert_eq!(
            "deleted".parse::<Moderation>(),
            Err(UnknownName::new("moderation state", "deleted"))
        );
    }
}
