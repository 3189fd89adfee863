//! `GET /api/v1/account/items`: the caller's clips.

use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use voicebin_projections::{Cursor, ListQuery};

use super::ApiTags;
use crate::error::{ApiError, Code};
use crate::extract::Auth;
use crate::model::{Item, ItemPage};
use crate::state::AppState;

/// Default page size.
const DEFAULT_LIMIT: u32 = 20;
/// Largest page size.
const MAX_LIMIT: u32 = 100;
/// Longest search term.
const MAX_Q: usize = 200;

/// The caller's account.
pub struct AccountApi {
    /// Shared state.
    pub state: AppState,
}

#[derive(ApiResponse)]
enum ListItemsResponse {
    /// A page of the caller's clips, newest first (owner view).
    #[oai(status = 200)]
    Ok(Json<ItemPage>),
}

#[OpenApi(prefix_path = "/api/v1/account", tag = "ApiTags::Account")]
impl AccountApi {
    /// List your clips (scope `voice:read`), newest first.
    ///
    /// `q` filters by a case-insensitive substring of title, description or filename.
    /// Pagination is by cursor: pass `next_cursor` from one page to get the next. The order is
    /// stable while clips are added, so pages never repeat or skip a clip.
    #[oai(path = "/items", method = "get", operation_id = "listItems")]
    async fn list_items(
        &self,
        auth: Auth,
        /// Search term (at most 200 characters).
        q: Query<Option<String>>,
        /// Page size, 1 to 100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// Opaque cursor from a previous page's `next_cursor`.
        cursor: Query<Option<String>>,
    ) -> Result<ListItemsResponse, ApiError> {
        let principal = auth.require("voice:read")?;
        let q = q.0.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty());
        if q.as_ref()
            .is_some_and(|q| q.chars().count() > MAX_Q || q.chars().any(char::is_control))
        {
            return Err(ApiError::new(
                Code::InvalidField,
                format!("q must be at most {MAX_Q} printable characters"),
            ));
        }
        let after = match cursor.0.filter(|c| !c.is_empty()) {
            Some(raw) => Some(
                Cursor::decode(&raw)
                    .ok_or_else(|| ApiError::new(Code::InvalidField, "cursor is not valid"))?,
            ),
            None => None,
        };
        let limit = limit.0.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
        let page = self
            .state
            .views
            .list(&ListQuery {
                owner: principal.account.clone(),
                q,
                after,
                limit,
            })
            .await?;
        Ok(ListItemsResponse::Ok(Json(ItemPage {
            items: page
                .items
                .iter()
                .map(|v| Item::owner(v, &self.state))
                .collect(),
            next_cursor: page.next.map(|c| c.encode()),
        })))
    }
}
