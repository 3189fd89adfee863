//! `GET /api/v1/account`: the caller's account and quota; `GET /api/v1/account/items`: its
//! clips.

use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::extract::Auth;
use super::ApiTags;
use crate::access;
use crate::error::Errors;
use crate::model::{Account, ItemPage};
use crate::state::AppState;
use crate::usecases::{clips, quotas};

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

#[derive(ApiResponse)]
enum GetAccountResponse {
    /// The caller's account, what its live clips take and its limits.
    #[oai(status = 200)]
    Ok(Json<Account>),
}

crate::error::errors!(
    /// What reading one's account can answer besides 200.
    GetAccountErrors = "getAccount": [
        Unauthorized, InsufficientScope, RateLimited, Internal, Unavailable
    ]
);

crate::error::errors!(
    /// What listing one's clips can answer besides 200.
    ListItemsErrors = "listItems": [
        BadRequest, InvalidField, Unauthorized, InsufficientScope, RateLimited, Internal,
        Unavailable
    ]
);

#[OpenApi(prefix_path = "/api/v1/account", tag = "ApiTags::Account")]
impl AccountApi {
    /// Your account and its quota (scope `voice:read` or `voice:create`).
    ///
    /// `usage` is what your live clips take: the bytes of their originals as uploaded and
    /// their number (deleted, removed and expired clips stop counting at once; playback
    /// renditions never count). `limits` is how much they may take (`null`: no limit). An
    /// upload that would pass a limit is refused with 403 `quota-exceeded`.
    #[oai(path = "/", method = "get", operation_id = "getAccount")]
    async fn get_account(
        &self,
        auth: Auth,
    ) -> Result<GetAccountResponse, Errors<GetAccountErrors>> {
        // An uploading key may see the room it has; otherwise reading is the scope to ask for.
        let principal = if auth.0.has_scope(access::CREATE) {
            &auth.0
        } else {
            auth.require(access::READ)?
        };
        Ok(GetAccountResponse::Ok(Json(
            quotas::account(&self.state, principal).await?,
        )))
    }

    /// List or search your clips (scope `voice:read`).
    ///
    /// Without `q`, newest first. With `q`, a full-text search of title, filename,
    /// description and what was said (the transcript): every word must occur in the clip,
    /// each matching the start of a word (`mem` finds `memo_2024.wav`); `"two words"` must
    /// occur together; `-word` leaves out clips holding it. Case does not matter; accents and
    /// punctuation do not join words. Best match first: clips with a hit in the title, then
    /// filename, then description, then only the transcript, newest first within each; every
    /// item carries its `match` (field, snippet, and for the transcript `at_ms`). A `q` with
    /// no letter or digit is a 400.
    ///
    /// Pagination is by cursor: pass `next_cursor` from one page, with the same `q`, to get
    /// the next. The order is stable while clips are added, so pages never repeat or skip a
    /// clip (a clip edited between two pages may move).
    #[oai(path = "/items", method = "get", operation_id = "listItems")]
    async fn list_items(
        &self,
        auth: Auth,
        /// Search: words (each a word prefix), `"phrases"`, `-excluded` words; at most 200
        /// characters.
        q: Query<Option<String>>,
        /// Page size, 1 to 100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// Opaque cursor from a previous page's `next_cursor`.
        cursor: Query<Option<String>>,
    ) -> Result<ListItemsResponse, Errors<ListItemsErrors>> {
        let principal = auth.require(access::READ)?;
        let page = clips::list(&self.state, principal, q.0, cursor.0, limit.0).await?;
        Ok(ListItemsResponse::Ok(Json(page)))
    }
}
