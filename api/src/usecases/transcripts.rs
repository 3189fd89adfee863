//! Transcripts: reading one (JSON or WebVTT captions) with the clip's own visibility, and the
//! owner replacing it.

use voicebin_domain::{Language, Segment, StageState, Transcript};
use voicebin_projections::ClipView;

use crate::access::Want;
use crate::auth::Principal;
use crate::error::{ApiError, Code};
use crate::model::{
    rfc3339, TranscriptDoc, TranscriptInput, TranscriptSegmentDto, TranscriptSourceDto,
    TranscriptStateDto,
};
use crate::state::AppState;
use crate::usecases::clips::{account, final_removal, find, Found};

/// Clip `id`'s transcript, as `caller` may see it (the clip's metadata visibility).
pub async fn get(
    state: &AppState,
    id: &str,
    caller: Option<&Principal>,
) -> Result<TranscriptDoc, ApiError> {
    let found = find(state, id, caller, Want::Metadata).await?;
    document(state, &found.view).await
}

/// Clip `id`'s transcript as WebVTT captions; 404 while it has none.
pub async fn webvtt(
    state: &AppState,
    id: &str,
    caller: Option<&Principal>,
) -> Result<String, ApiError> {
    let found = find(state, id, caller, Want::Metadata).await?;
    let transcript = stored(state, &found.view)
        .await?
        .ok_or_else(|| ApiError::new(Code::NotFound, "this clip has no transcript (yet)"))?;
    Ok(transcript.to_webvtt())
}

/// The owner replaces clip `id`'s transcript with `input`.
pub async fn correct(
    state: &AppState,
    principal: &Principal,
    id: &str,
    input: TranscriptInput,
    request_id: Option<String>,
) -> Result<TranscriptDoc, ApiError> {
    let Found { id, .. } = find(state, id, Some(principal), Want::Change).await?;
    let language = input
        .language
        .as_ref()
        .map(|l| l.0.as_str())
        .filter(|l| !l.trim().is_empty())
        .map(Language::parse)
        .transpose()
        .map_err(|e| unusable(&e))?;
    let segments = input
        .segments
        .into_iter()
        .map(|s| Segment {
            start_ms: s.start_ms.0,
            end_ms: s.end_ms.0,
            text: s.text.0,
        })
        .collect();
    let transcript = Transcript::new(language, segments).map_err(|e| unusable(&e))?;
    let actor = account(principal)?;
    state
        .service
        .correct_transcript(&id, &actor, transcript, request_id)
        .await
        .map_err(final_removal)?;
    let view = state
        .views
        .get(id.as_str())
        .await?
        .ok_or_else(ApiError::not_found)?;
    document(state, &view).await
}

/// 422 for a transcript that is well-formed JSON but not one the clip can have (segments out of
/// order, empty or multi-line text, an unknown language code, past the limits), naming the
/// field: much of it no JSON Schema can say.
fn unusable(e: &voicebin_domain::ValueError) -> ApiError {
    ApiError::new(Code::Unprocessable, e.to_string()).with_field(e.field())
}

/// The transcript of `view` as the read models hold it, if it has one.
pub async fn stored(state: &AppState, view: &ClipView) -> Result<Option<Transcript>, ApiError> {
    if !view.has_transcript() {
        return Ok(None);
    }
    let segments = state
        .views
        .transcript(&view.id)
        .await?
        .into_iter()
        .map(|s| Segment {
            start_ms: s.start_ms,
            end_ms: s.end_ms,
            text: s.text,
        })
        .collect();
    let language = view
        .transcript_language
        .as_deref()
        .and_then(|l| Language::parse(l).ok());
    // Stored segments were checked when they were recorded.
    Ok(Transcript::new(language, segments).ok())
}

async fn document(state: &AppState, view: &ClipView) -> Result<TranscriptDoc, ApiError> {
    let transcript = stored(state, view).await?;
    let source = match view.transcript_source.as_deref() {
        Some("owner") => Some(TranscriptSourceDto::Owner),
        Some(_) => Some(TranscriptSourceDto::Engine),
        None => None,
    };
    let status = match (view.transcript_state, transcript.is_some()) {
        (_, true) => TranscriptStateDto::Completed,
        (Some(StageState::Failed), false) => TranscriptStateDto::Failed,
        _ if state.transcription => TranscriptStateDto::Pending,
        _ => TranscriptStateDto::Off,
    };
    Ok(TranscriptDoc {
        id: view.id.clone(),
        state: status,
        source,
        language: view.transcript_language.clone(),
        detail: view.transcript_detail.clone(),
        vtt_url: transcript
            .as_ref()
            .map(|_| state.urls.transcript_vtt(&view.id)),
        segments: transcript
            .map(|t| {
                t.segments()
                    .iter()
                    .map(|s| TranscriptSegmentDto {
                        start_ms: s.start_ms,
                        end_ms: s.end_ms,
                        text: s.text.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        updated_at: view.transcribed_at.map(rfc3339),
    })
}
