//! The post-clean stages this deployment runs, and what each one does: the one place a new
//! stage is switched on (`workers/src/stage/mod.rs` says what else a stage needs).

use std::sync::Arc;

use voicebin_domain::Stage;
use voicebin_workers::stage::transcript::whisper::WhisperEngine;
use voicebin_workers::{RenditionWork, StageWork, TranscriptWork};

use crate::Settings;

/// Each stage the settings switch on (the stages whose jobs are relayed and queued).
pub(crate) fn configured(settings: &Settings) -> Vec<Stage> {
    Stage::ALL
        .into_iter()
        .filter(|stage| match stage {
            Stage::Rendition => settings.rendition.is_some(),
            Stage::Transcript => settings.transcription.is_some(),
        })
        .collect()
}

/// Each stage the settings switch on, with its work (for the process that runs the jobs).
/// Transcription starts its engine first (a
/// check that loads the model once): with `VOICEBIN_TRANSCRIPTION=on` an engine that does not
/// start is an error, otherwise transcription is left off with a warning.
pub(crate) async fn works(settings: &Settings) -> anyhow::Result<Vec<(Stage, Arc<dyn StageWork>)>> {
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
            Stage::Transcript => {
                let Some(transcription) = &settings.transcription else {
                    continue;
                };
                match WhisperEngine::start(transcription.whisper.clone()).await {
                    Ok(engine) => {
                        tracing::info!(engine = %engine.name(), "transcription is on");
                        stages.push((
                            stage,
                            Arc::new(TranscriptWork::new(
                                Arc::new(engine),
                                settings.sandbox.clone(),
                                transcription.job.clone(),
                            )),
                        ));
                    }
                    Err(e) if transcription.required => {
                        anyhow::bail!("VOICEBIN_TRANSCRIPTION=on, but the speech-to-text engine does not start: {e}")
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "transcription is off: the speech-to-text engine does not start")
                    }
                }
            }
        }
    }
    Ok(stages)
}
