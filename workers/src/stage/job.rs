//! Running one stage job: find the clip, check it is still pending in the stage, count the
//! attempt, get its original bytes as a local file, run the stage. The same bounds as scans
//! (`docs/adr/0010-sandboxed-scans-and-bounded-attempts.md`): every run is counted in
//! `stage_attempts` before it starts, and the attempt that finds [`MAX_ATTEMPTS`] already
//! started records the stage's failure instead of running it again.

use std::sync::Arc;

use async_trait::async_trait;
use tracing::instrument;
use voicebin_commands::{ClipService, CommandError};
use voicebin_domain::{ClipId, StageState};
use voicebin_projections::{ReadStore, StageDispatch};

use super::StageWork;
use crate::scan::job::{local_copy, Attempt, JobRunner, Round, MAX_ATTEMPTS};

/// Runs the jobs of one stage, for the workers.
#[derive(Clone)]
pub struct StageJobRunner {
    /// What the stage does.
    pub work: Arc<dyn StageWork>,
    /// Records outcomes; reads blobs.
    pub service: ClipService,
    /// Finds a clip's blob and where it is in the stage.
    pub views: Arc<dyn ReadStore>,
    /// Counts the runs started per clip and stage.
    pub attempts: Arc<dyn StageDispatch>,
}

#[async_trait]
impl JobRunner for StageJobRunner {
    #[instrument(skip_all, fields(clip.id = %id, stage = self.work.stage().as_str(), ?round))]
    async fn attempt(&self, id: &ClipId, round: Round) -> Attempt {
        let stage = self.work.stage();
        let view = match self.views.get(id.as_str()).await {
            Ok(Some(view)) => view,
            Ok(None) => return Attempt::Done,
            Err(e) => return Attempt::Retry(format!("read model unavailable: {e}")),
        };
        // Deleted, expired and removed clips have no bytes left; a stage that recorded its outcome is
        // done, and a failed one runs again only when an operator asks.
        let wanted = match view.stage_state(stage) {
            Some(StageState::Pending) => true,
            Some(StageState::Failed) => round.is_retry(),
            _ => false,
        };
        if view.is_gone() || view.is_removed() || !wanted {
            tracing::info!(state = ?view.stage_state(stage), "nothing to do; job acknowledged");
            return Attempt::Done;
        }
        if round == (Round::Retry { fresh: true }) {
            if let Err(e) = self.attempts.reset_attempts(stage, id.as_str()).await {
                return Attempt::Retry(format!("could not reset the attempts: {e}"));
            }
        }
        let started = match self.attempts.start_attempt(stage, id.as_str()).await {
            Ok(started) => started,
            Err(e) => return Attempt::Retry(format!("could not count the attempt: {e}")),
        };
        if started > MAX_ATTEMPTS {
            tracing::error!(
                started,
                "stage never finished; giving up without running again"
            );
            let reason = format!(
                "it was started {MAX_ATTEMPTS} times and never finished (the worker died or was \
                 stopped each time)"
            );
            return match self.give_up(id, &reason, round).await {
                Attempt::GaveUp if started > MAX_ATTEMPTS + 1 => Attempt::Done,
                other => other,
            };
        }
        let ran = match local_copy(self.service.blobs().as_ref(), &view.blob_key).await {
            Ok(copy) => {
                let ran = self.work.run(&self.service, id, &view, copy.path()).await;
                drop(copy);
                ran
            }
            Err(e) => Err(e),
        };
        match ran {
            Ok(()) => Attempt::Done,
            Err(why) if started >= MAX_ATTEMPTS => {
                tracing::error!(started, error = %why, "stage keeps failing; giving up");
                self.give_up(id, &why, round).await
            }
            Err(why) => Attempt::Retry(why),
        }
    }

    async fn give_up(&self, id: &ClipId, reason: &str, _round: Round) -> Attempt {
        match self.work.give_up(&self.service, id, reason).await {
            Ok(()) => Attempt::GaveUp,
            // Deleted or removed meanwhile: nothing to record, nothing to dead-letter.
            Err(CommandError::Rule(rule)) => {
                tracing::info!(%rule, "stage failure not recorded");
                Attempt::Done
            }
            Err(e) => Attempt::Retry(format!("could not record the failure: {e}")),
        }
    }
}
