//! Post-clean stages: work done on a clip after its clean verdict, each recorded as events of
//! the clip. Today one stage, the playback rendition ([`rendition`]); a stage plugs in with:
//!
//! 1. a variant of [`voicebin_domain::Stage`] (its name, and which clean clips it applies to)
//!    and the events that record its outcome;
//! 2. its state column in `clip_views` (`voicebin_projections::stage_column`), projected from
//!    those events;
//! 3. a [`StageWork`]: what to run on a clip and which event to record.
//!
//! Everything else is shared with the scans and comes for free: the relay publishes a job for
//! every clip pending in the stage from the database (`crate::ScanRelay::for_stage`, with
//! `stage_dispatch` claims, so a crash loses nothing), each stage has its own queue (an
//! in-process channel run by an [`crate::EmbeddedWorker`], or the RabbitMQ queue
//! `<scan queue>.<stage>` consumed by `voicebin worker`, with its dead letters), and
//! [`job::StageJobRunner`] runs one job: it counts the attempt in `stage_attempts` before
//! running, and past [`crate::MAX_ATTEMPTS`] records the stage's failure
//! (`docs/adr/0016-playback-renditions.md`).

pub mod job;
pub mod rendition;
pub mod transcript;

use std::path::Path;

use async_trait::async_trait;
use voicebin_commands::{ClipService, CommandError};
use voicebin_domain::{ClipId, Stage};
use voicebin_projections::ClipView;

/// What one stage does to a clip.
#[async_trait]
pub trait StageWork: Send + Sync {
    /// The stage.
    fn stage(&self) -> Stage;

    /// Runs the stage on clip `id` (its view, and a local copy of its original bytes at
    /// `source`) and records the outcome through `service`: the result, or a failure the clip
    /// itself causes (the same every time). An error is transient: the job is tried again, and
    /// [`give_up`](Self::give_up) is called after the last attempt.
    async fn run(
        &self,
        service: &ClipService,
        id: &ClipId,
        view: &ClipView,
        source: &Path,
    ) -> Result<(), String>;

    /// Records that the stage gave up on clip `id`, for `reason`.
    async fn give_up(
        &self,
        service: &ClipService,
        id: &ClipId,
        reason: &str,
    ) -> Result<(), CommandError>;
}
