//! `GET` and `PUT /api/v1/items/{id}/transcript`: what was said in a clip.

use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::extract::{Auth, MaybeAuth};
use super::ApiTags;
use crate::access;
use crate::error::Errors;
use crate::model::{TranscriptDoc, TranscriptInput};
use crate::state::AppState;
use crate::usecases::transcripts;

/// A clip's transcript.
pub struct TranscriptsApi {
    /// Shared state.
    pub state: AppState,
}

#[derive(ApiResponse)]
enum TranscriptResponse {
    /// The transcript, or where it stands.
    #[oai(status = 200)]
    Ok(Json<TranscriptDoc>),
}

crate::error::errors!(
    /// What reading a transcript can answer besides 200.
    ReadTranscriptErrors = "getItemTranscript": [
        Unauthorized, NotFound, Gone, RateLimited, Removed, Internal, Unavailable
    ]
);
crate::error::errors!(
    /// What replacing a transcript can answer besides 200.
    PutTranscriptErrors = "putItemTranscript": [
        BadRequest, Unauthorized, InsufficientScope, NotFound, Gone, Conflict,
        UnsupportedMediaType, Unprocessable, Internal, Unavailable
    ]
);

#[OpenApi(prefix_path = "/api/v1/items", tag = "ApiTags::Items")]
impl TranscriptsApi {
    /// What was said in a clip: timed segments.
    ///
    /// Same visibility as the clip itself. After a clip's clean verdict the deployment's
    /// speech-to-text engine transcribes it (`pending` until then); `failed` says why it could
    /// not, and `off` that this deployment does not transcribe. A transcript its owner wrote
    /// or corrected shows as `source: owner` and is never overwritten. The same transcript as
    /// WebVTT captions is at `vtt_url`.
    #[oai(
        path = "/:id/transcript",
        method = "get",
        operation_id = "getItemTranscript"
    )]
    async fn get_transcript(
        &self,
        auth: MaybeAuth,
        /// The clip id.
        id: Path<String>,
    ) -> Result<TranscriptResponse, Errors<ReadTranscriptErrors>> {
        let doc = transcripts::get(&self.state, &id.0, auth.0.as_ref()).await?;
        Ok(TranscriptResponse::Ok(Json(doc)))
    }

    /// Replace a clip's transcript (owner, scope `voice:create`).
    ///
    /// Corrects the engine's transcript, or writes one by hand. The whole transcript is
    /// replaced, and later transcription never overwrites it. Segments must be in order of
    /// their start, each ending no earlier than it starts, with one line of text each. A clip a
    /// moderator removed cannot be changed (409).
    #[oai(
        path = "/:id/transcript",
        method = "put",
        operation_id = "putItemTranscript"
    )]
    async fn put_transcript(
        &self,
        auth: Auth,
        /// The clip id.
        id: Path<String>,
        body: Json<TranscriptInput>,
        req: &poem::Request,
    ) -> Result<TranscriptResponse, Errors<PutTranscriptErrors>> {
        let principal = auth.require(access::CREATE)?;
        let doc = transcripts::correct(
            &self.state,
            principal,
            &id.0,
            body.0,
            crate::http::request_id(req),
        )
        .await?;
        Ok(TranscriptResponse::Ok(Json(doc)))
    }
}
