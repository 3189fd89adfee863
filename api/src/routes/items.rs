//! `GET`, `PATCH` and `DELETE /api/v1/items/{id}`.

use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, OpenApi};
use voicebin_domain::{AccountId, ClipId, Description, DownloadLimit, Title, ValueError};
use voicebin_projections::ClipView;

use super::ApiTags;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{Auth, MaybeAuth};
use crate::model::{Item, ItemPatch, JsonString};
use crate::state::AppState;

/// Operations on one clip.
pub struct ItemsApi {
    /// Shared state.
    pub state: AppState,
}

#[derive(ApiResponse)]
enum GetItemResponse {
    /// The clip. Owners (with `voice:read`) also see scan and limit fields.
    #[oai(status = 200)]
    Ok(Json<Item>),
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

fn is_owner(view: &ClipView, principal: Option<&Principal>) -> bool {
    principal.is_some_and(|p| p.account == view.owner)
}

fn account(principal: &Principal) -> Result<AccountId, ApiError> {
    AccountId::parse(&principal.account)
        .map_err(|_| ApiError::invalid_token("the token's subject is not a valid account id"))
}

impl ItemsApi {
    /// The clip as the caller may read it, and whether the caller reads it as its owner (a
    /// `voice:read` token of the owning account): 404 when absent or not visible, 410 deleted.
    async fn readable(&self, id: &str, auth: &MaybeAuth) -> Result<(ClipView, bool), ApiError> {
        let id = ClipId::parse(id).map_err(|_| ApiError::not_found())?;
        let view = self
            .state
            .views
            .get(id.as_str())
            .await?
            .ok_or_else(ApiError::not_found)?;
        if view.is_deleted() {
            return Err(ApiError::gone());
        }
        let reader = auth.0.as_ref().filter(|p| p.has_scope("voice:read"));
        let owner = is_owner(&view, reader);
        if !owner && !view.is_public() {
            return Err(ApiError::not_found());
        }
        Ok((view, owner))
    }

    /// The clip's view as its owner may see it: 404 if absent or owned by someone else,
    /// 410 if deleted.
    async fn owned_view(
        &self,
        id: &str,
        principal: &Principal,
    ) -> Result<(ClipId, ClipView), ApiError> {
        let id = ClipId::parse(id).map_err(|_| ApiError::not_found())?;
        let view = self
            .state
            .views
            .get(id.as_str())
            .await?
            .ok_or_else(ApiError::not_found)?;
        if !is_owner(&view, Some(principal)) {
            return Err(ApiError::not_found());
        }
        if view.is_deleted() {
            return Err(ApiError::gone());
        }
        Ok((id, view))
    }
}

fn patch_value<T>(
    value: MaybeUndefined<JsonString>,
    parse: impl Fn(&str) -> Result<Option<T>, ValueError>,
) -> Result<Option<Option<T>>, ApiError> {
    match value {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Ok(Some(None)),
        MaybeUndefined::Value(v) => parse(&v.0)
            .map(Some)
            .map_err(|e| ApiError::invalid_field(&e)),
    }
}

#[OpenApi(prefix_path = "/api/v1/items", tag = "ApiTags::Items")]
impl ItemsApi {
    /// Read a clip's metadata.
    ///
    /// Public for clips that passed their scan. The owner, with a `voice:read` token, also
    /// sees pending or rejected clips and the owner-only fields. Deleted clips answer 410.
    #[oai(path = "/:id", method = "get", operation_id = "getItem")]
    async fn get_item(
        &self,
        auth: MaybeAuth,
        id: Path<String>,
    ) -> Result<GetItemResponse, ApiError> {
        let (view, owner) = self.readable(&id.0, &auth).await?;
        let item = if owner {
            Item::owner(&view, &self.state)
        } else {
            Item::public(&view, &self.state)
        };
        Ok(GetItemResponse::Ok(Json(item)))
    }

    /// A clip's waveform peaks, for drawing it.
    ///
    /// Same visibility as the clip itself. 404 while the clip has not been scanned.
    #[oai(path = "/:id/peaks", method = "get", operation_id = "getItemPeaks")]
    async fn get_peaks(
        &self,
        auth: MaybeAuth,
        id: Path<String>,
    ) -> Result<PeaksResponse, ApiError> {
        let (view, _) = self.readable(&id.0, &auth).await?;
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

    /// Edit a clip's title, description or download limit (owner, scope `voice:create`).
    ///
    /// Absent fields are left alone; `null` clears a field.
    #[oai(path = "/:id", method = "patch", operation_id = "updateItem")]
    async fn patch_item(
        &self,
        auth: Auth,
        id: Path<String>,
        body: Json<ItemPatch>,
        req: &poem::Request,
    ) -> Result<PatchItemResponse, ApiError> {
        let principal = auth.require("voice:create")?;
        let (id, _) = self.owned_view(&id.0, principal).await?;
        let ItemPatch {
            title,
            description,
            download_limit,
        } = body.0;
        let title = patch_value(title, Title::parse)?;
        let description = patch_value(description, Description::parse)?;
        let download_limit = match download_limit {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            // Whole numbers only; `as` saturates, so negatives and huge values fail the range.
            MaybeUndefined::Value(v) => Some(Some(
                (v.fract() == 0.0)
                    .then_some(v as u64)
                    .ok_or(())
                    .and_then(|v| DownloadLimit::new(v).map_err(|_| ()))
                    .map_err(|_| ApiError::invalid_field(&DownloadLimit::new(0).unwrap_err()))?,
            )),
        };
        let actor = account(principal)?;
        self.state
            .service
            .edit(
                &id,
                &actor,
                title,
                description,
                download_limit,
                super::request_id(req),
            )
            .await?;
        let view = self
            .state
            .views
            .get(id.as_str())
            .await?
            .ok_or_else(ApiError::not_found)?;
        Ok(PatchItemResponse::Ok(Json(Item::owner(&view, &self.state))))
    }

    /// Delete a clip (owner, scope `voice:delete`).
    ///
    /// The clip stops being served at once and its bytes are purged.
    #[oai(path = "/:id", method = "delete", operation_id = "deleteItem")]
    async fn delete_item(
        &self,
        auth: Auth,
        id: Path<String>,
        req: &poem::Request,
    ) -> Result<DeleteItemResponse, ApiError> {
        let principal = auth.require("voice:delete")?;
        let (id, view) = self.owned_view(&id.0, principal).await?;
        let actor = account(principal)?;
        self.state
            .service
            .delete(&id, &actor, &view.blob_key, super::request_id(req))
            .await?;
        Ok(DeleteItemResponse::Deleted)
    }
}
