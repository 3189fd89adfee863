//! `GET`, `PATCH` and `DELETE /api/v1/items/{id}`.

use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::extract::{Auth, MaybeAuth};
use super::ApiTags;
use crate::access::{self, Want};
use crate::error::{ApiError, Errors};
use crate::model::{Item, ItemJson, ItemPatch, PlaybackUrl};
use crate::state::AppState;
use crate::usecases::grants::Listener;
use crate::usecases::{anonymous, clips};

/// Operations on one clip.
pub struct ItemsApi {
    /// Shared state.
    pub state: AppState,
}

#[derive(ApiResponse)]
enum GetItemResponse {
    /// The clip. Owners (with `voice:read`) also see scan and limit fields.
    #[oai(status = 200)]
    Ok(ItemJson),
}

#[derive(ApiResponse)]
enum PeaksResponse {
    /// Waveform peaks: `count` levels from 0 (silence) to 255 (full scale), one per
    /// equal-duration slice of the clip, computed from the decoded audio by the scan.
    #[oai(status = 200)]
    Ok(Json<Peaks>),
}

/// A clip's waveform.
#[derive(Debug, Clone, poem_openapi::Object)]
pub struct Peaks {
    /// The clip.
    pub id: String,
    /// Number of levels.
    pub count: u32,
    /// Levels 0–255, in time order.
    pub peaks: Vec<u8>,
}

#[derive(ApiResponse)]
enum PatchItemResponse {
    /// The clip after the change (owner view).
    #[oai(status = 200)]
    Ok(Json<Item>),
}

#[derive(ApiResponse)]
enum DeleteItemResponse {
    /// Deleted. From now on the clip answers 410.
    #[oai(status = 204)]
    Deleted,
}

#[derive(ApiResponse)]
enum PlaybackResponse {
    /// A playback URL for this client.
    #[oai(status = 201)]
    Created(Json<PlaybackUrl>),
}

crate::error::errors!(
    /// What asking for a playback URL can answer besides 201.
    PlaybackErrors = "createPlaybackUrl": [
        BadRequest, InvalidField, Unauthorized, InsufficientScope, Forbidden, NotFound, Gone,
        Removed, Internal, Unavailable
    ]
);
crate::error::errors!(
    /// What reading a clip can answer besides 200.
    ReadErrors = "getItem": [
        Unauthorized, NotFound, Gone, RateLimited, Removed, Internal, Unavailable
    ]
);
crate::error::errors!(
    /// What reading a clip's waveform can answer besides 200 (404 also while not scanned).
    PeaksErrors = "getItemPeaks": [
        Unauthorized, NotFound, Gone, RateLimited, Removed, Internal, Unavailable
    ]
);
crate::error::errors!(
    /// What editing a clip can answer besides 200.
    PatchErrors = "updateItem": [
        BadRequest, InvalidField, Unauthorized, InsufficientScope, NotFound, Gone, Conflict,
        UnsupportedMediaType, Unprocessable, Internal, Unavailable
    ]
);
crate::error::errors!(
    /// What deleting a clip can answer besides 204.
    DeleteErrors = "deleteItem": [
        Unauthorized, InsufficientScope, NotFound, Gone, Conflict, Internal, Unavailable
    ]
);

#[OpenApi(prefix_path = "/api/v1/items", tag = "ApiTags::Items")]
impl ItemsApi {
    /// Read a clip's metadata.
    ///
    /// Public for clips that passed their scan. The owner, with a `voice:read` token, also
    /// sees pending or rejected clips and the owner-only fields; so does the holder of an
    /// anonymous clip's management token, sent as `x-management-token`. Deleted clips answer
    /// 410.
    #[oai(path = "/:id", method = "get", operation_id = "getItem")]
    async fn get_item(
        &self,
        auth: MaybeAuth,
        id: Path<String>,
        /// An anonymous upload's management token (from the upload's answer), instead of
        /// `Authorization`.
        #[oai(name = "x-management-token")]
        x_management_token: Header<Option<String>>,
    ) -> Result<GetItemResponse, Errors<ReadErrors>> {
        let caller = anonymous::caller_or_manager(
            &self.state,
            &id.0,
            auth.0,
            x_management_token.0.as_deref(),
        )?;
        let item = clips::get_json(&self.state, &id.0, caller.as_ref()).await?;
        Ok(GetItemResponse::Ok(item))
    }

    /// A clip's waveform peaks, for drawing it.
    ///
    /// Same visibility as the clip itself. 404 while the clip has not been scanned.
    #[oai(path = "/:id/peaks", method = "get", operation_id = "getItemPeaks")]
    async fn get_peaks(
        &self,
        auth: MaybeAuth,
        id: Path<String>,
    ) -> Result<PeaksResponse, Errors<PeaksErrors>> {
        let view = clips::find(&self.state, &id.0, auth.0.as_ref(), Want::Metadata)
            .await?
            .view;
        let peaks = view.peaks_levels().ok_or_else(|| {
            ApiError::new(
                crate::error::Code::NotFound,
                "this clip has no waveform (not scanned yet, or not decodable)",
            )
        })?;
        Ok(PeaksResponse::Ok(Json(Peaks {
            id: view.id.clone(),
            count: peaks.len() as u32,
            peaks,
        })))
    }

    /// A URL that plays the clip in this client as its owner or a moderator.
    ///
    /// For an `<audio>` element, which cannot send `Authorization`: the owner (scope
    /// `voice:read`) or a moderator (`voice:moderate`) gets a short-lived URL of the clip's
    /// audio that plays whatever the clip's state (pending, blocked, hidden, its limit used up)
    /// and does not count as a download. It works only for the client that asked (the same
    /// network address and user agent) and only until `expires_at`; it never contains the
    /// token. Anyone else who can see the clip gets 403 (they play it from its view page).
    #[oai(
        path = "/:id/playback",
        method = "post",
        operation_id = "createPlaybackUrl"
    )]
    async fn playback(
        &self,
        auth: Auth,
        id: Path<String>,
        /// How long the URL should work, in seconds (default and most: ten minutes plus twice
        /// the clip's duration, at most six hours).
        #[oai(validator(minimum(value = "1"), maximum(value = "21600")))]
        ttl: Query<Option<u32>>,
        req: &poem::Request,
    ) -> Result<PlaybackResponse, Errors<PlaybackErrors>> {
        let listener = Listener::of(req, self.state.moderation.trust_forwarded_for);
        let url = clips::playback_url(&self.state, &auth.0, &id.0, &listener, ttl.0).await?;
        Ok(PlaybackResponse::Created(Json(url)))
    }

    /// Edit a clip's title, description or download limit (owner, scope `voice:create`).
    ///
    /// Absent fields are left alone; `null` clears a field. A clip a moderator removed cannot
    /// be edited (409).
    #[oai(path = "/:id", method = "patch", operation_id = "updateItem")]
    async fn patch_item(
        &self,
        auth: Auth,
        id: Path<String>,
        body: Json<ItemPatch>,
        req: &poem::Request,
    ) -> Result<PatchItemResponse, Errors<PatchErrors>> {
        let principal = auth.require(access::CREATE)?;
        let item = clips::edit(
            &self.state,
            principal,
            &id.0,
            body.0,
            crate::http::request_id(req),
        )
        .await?;
        Ok(PatchItemResponse::Ok(Json(item)))
    }

    /// Delete a clip (owner, scope `voice:delete`).
    ///
    /// The clip stops being served at once and its bytes are purged. A clip a moderator
    /// removed cannot be deleted (409): it keeps answering 451, with the moderator's reason.
    /// An anonymous upload is deleted with its management token in `x-management-token`
    /// instead of `Authorization`.
    #[oai(path = "/:id", method = "delete", operation_id = "deleteItem")]
    async fn delete_item(
        &self,
        auth: MaybeAuth,
        id: Path<String>,
        /// An anonymous upload's management token (from the upload's answer), instead of
        /// `Authorization`.
        #[oai(name = "x-management-token")]
        x_management_token: Header<Option<String>>,
        req: &poem::Request,
    ) -> Result<DeleteItemResponse, Errors<DeleteErrors>> {
        let caller = anonymous::caller_or_manager(
            &self.state,
            &id.0,
            auth.0,
            x_management_token.0.as_deref(),
        )?
        .ok_or_else(|| {
            ApiError::new(
                crate::error::Code::Unauthorized,
                "this operation needs `Authorization: Bearer <token>`, or an anonymous \
                 upload's `x-management-token`",
            )
        })?;
        let principal = access::require(&caller, access::DELETE)?;
        clips::delete(&self.state, principal, &id.0, crate::http::request_id(req)).await?;
        Ok(DeleteItemResponse::Deleted)
    }
}
