//! The post-clean stages this deployment runs, and what each one does: the one place a new
//! stage is switched on (`workers/src/stage/mod.rs` says what else a stage needs).

use std::sync::Arc;

use voicebin_domain::Stage;
use voicebin_workers::{RenditionWork, StageWork};

use crate::Settings;

/// Each stage the settings switch on, with its work.
pub(crate) fn enabled(settings: &Settings) -> Vec<(Stage, Arc<dyn StageWork>)> {
    let mut stages: Vec<(Stage, Arc<dyn StageWork>)> = Vec::new();
    for stage in Stage::ALL {
        match stage {
            Stage::Rendition => {
                if let Some(rendition) = &settings.rendition {
                    stages.push((
                        stage,
                        Arc::new(RenditionWork::new(
                            settings.sandbox.clone(),
                            rendition.clone(),
                        )),
                    ));
                }
            }
        }
    }
    stages
}
