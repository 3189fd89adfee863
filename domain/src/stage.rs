//! The work done on a clip after its clean verdict, one [`Stage`] at a time: a playback
//! rendition, and its transcript. Each stage a clean clip needs is
//! `pending` in the read model until the stage records its outcome as an event
//! (`docs/adr/0016-playback-renditions.md`).

use serde::{Deserialize, Serialize};

use crate::clip::AudioFacts;
use crate::playback::browsers_play;

/// A job run on a clean clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// A rendition mainstream browsers can play, for a clip they cannot play as uploaded.
    Rendition,
    /// What was said in the clip, written down by a speech-to-text engine
    /// (`docs/adr/0018-transcripts.md`).
    Transcript,
}

impl Stage {
    /// Every stage.
    pub const ALL: [Stage; 2] = [Stage::Rendition, Stage::Transcript];

    /// The stable name (`rendition`, `transcript`): stored in the dispatch tables, and the suffix of the
    /// stage's RabbitMQ queue.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Rendition => "rendition",
            Stage::Transcript => "transcript",
        }
    }

    /// Whether a clip scanned clean with these facts needs this stage.
    pub fn applies_to(self, facts: &AudioFacts) -> bool {
        match self {
            Stage::Rendition => !browsers_play(&facts.container, &facts.codec),
            Stage::Transcript => true,
        }
    }
}

parse_by_name!(Stage, "stage");

/// Where a clip is in one stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageState {
    /// The clip needs the stage and it has not recorded an outcome yet.
    Pending,
    /// The stage recorded its result.
    Done,
    /// The stage gave up on the clip; the clip is served as it was before.
    Failed,
}

impl StageState {
    /// Every state.
    pub const ALL: [StageState; 3] = [StageState::Pending, StageState::Done, StageState::Failed];

    /// The stable name (`pending`, `done`, `failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            StageState::Pending => "pending",
            StageState::Done => "done",
            StageState::Failed => "failed",
        }
    }
}

parse_by_name!(StageState, "stage state");

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(container: &str, codec: &str) -> AudioFacts {
        AudioFacts {
            container: container.into(),
            codec: codec.into(),
            duration_ms: 1000,
            sample_rate: 44_100,
            channels: 2,
            peaks: None,
        }
    }

    #[test]
    fn a_rendition_applies_only_to_what_browsers_cannot_play() {
        assert!(Stage::Rendition.applies_to(&facts("aiff", "pcm_s16be")));
        assert!(Stage::Rendition.applies_to(&facts("mp4", "alac")));
        assert!(!Stage::Rendition.applies_to(&facts("mp4", "aac")));
    }

    #[test]
    fn stages_and_states_parse_back_from_their_names() {
        for stage in Stage::ALL {
            assert_eq!(stage.as_str().parse(), Ok(stage));
            assert_eq!(serde_json::to_value(stage).unwrap(), stage.as_str());
        }
        for state in StageState::ALL {
            assert_eq!(state.as_str().parse(), Ok(state));
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
        }
        assert!("Rendition".parse::<Stage>().is_err());
    }
}
