//! The `Clip` aggregate: one uploaded audio clip and everything that ever happened to it.

mod aggregate;
mod commands;
mod errors;
mod events;

pub use aggregate::Clip;
pub use commands::ClipCommand;
pub use errors::ClipError;
pub use events::{AudioFacts, ClipEvent, ScanOutcome, ScanVerdict};

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

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => ScanState::Pending,
            "clean" => ScanState::Clean,
            "infected" => ScanState::Infected,
            "rejected" => ScanState::Rejected,
            "failed" => ScanState::Failed,
            _ => return None,
        })
    }
}

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
    /// The stable wire name (`visible`, `hidden`, `blocked`, `removed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Moderation::Visible => "visible",
            Moderation::Hidden => "hidden",
            Moderation::Blocked => "blocked",
            Moderation::Removed => "removed",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "visible" => Moderation::Visible,
            "hidden" => Moderation::Hidden,
            "blocked" => Moderation::Blocked,
            "removed" => Moderation::Removed,
            _ => return None,
        })
    }
}
