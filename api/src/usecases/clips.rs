//! The clip use cases the edges share (REST, MCP, pages, media): finding a clip the caller may
//! have what it wants of (through the one access rule, [`crate::access::check`]),
//! the owner listing, upload, edit and delete. Each takes an already verified caller, changes
//! state only through `ClipService`, reads only the projections, and answers with the REST
//! shapes of [`crate::model`] or an [`ApiError`]. Scope checks stay with the callers, which
//! report a missing scope in their own way.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use voicebin_commands::{ByteStream, CommandError, UploadRequest};
use voicebin_domain::{
    AccountId, ClipError, ClipId, Description, DownloadLimit, ExpiryError, Filename, Lifetime,
    Lifetimes, Title, ValueError,
};
use voicebin_projections::{ClipView, Cursor, ListQuery, SearchQuery};

use poem_openapi::types::MaybeUndefined;

use crate::access::{self, FindError, Reader, Refusal, Want};
use crate::auth::Principal;
use crate::error::{ApiError, Code};
use crate::model::{Item, ItemJson, ItemMatch, ItemPage, ItemPatch, JsonString, PlaybackUrl};
use crate::state::AppState;
use crate::usecases::grants::{self, Listener};

/// Default page size of the listing.
pub const DEFAULT_LIMIT: u32 = 20;
/// Largest page size of the listing.
pub const MAX_LIMIT: u32 = 100;
/// Longest search term.
const MAX_Q: usize = 200;

/// The caller's account id; 401 when the token's subject is not a valid one.
pub fn account(principal: &Principal) -> Result<AccountId, ApiError> {
    AccountId::parse(&principal.account)
        .map_err(|_| ApiError::invalid_token("the token's subject is not a valid account id"))
}

/// A clip the caller may have what it wanted of, and as whom it reads it.
#[derive(Debug, Clone)]
pub struct Found {
    /// The clip's id.
    pub id: ClipId,
    /// Its read model, shared with the cache of recent views when it came from there.
    pub view: Arc<ClipView>,
    /// The caller, as the access rule sees it.
    pub reader: Reader,
}

/// The clip's view, deleted or not, whoever asks: [`Refusal::NotFound`] for a malformed or
/// unknown id. Read from the store: what a change is decided on.
pub async fn view(state: &AppState, id: &str) -> Result<(ClipId, ClipView), FindError> {
    let id = ClipId::parse(id).map_err(|_| Refusal::NotFound)?;
    let view = state
        .views
        .get(id.as_str())
        .await?
        .ok_or(Refusal::NotFound)?;
    Ok((id, view))
}

/// The clip's view for a read by `caller`: a caller without credentials may be answered from
/// the views read in the last moments ([`voicebin_projections::RecentViews`], ADR 0026); one
/// with credentials (an owner, a moderator) always reads the store, so their own changes show
/// at once on every replica.
pub async fn view_for(
    state: &AppState,
    id: &str,
    caller: Option<&Principal>,
) -> Result<(ClipId, Arc<ClipView>), FindError> {
    if caller.is_some() {
        let (id, view) = view(state, id).await?;
        return Ok((id, Arc::new(view)));
    }
    let id = ClipId::parse(id).map_err(|_| Refusal::NotFound)?;
    let missed = std::sync::atomic::AtomicBool::new(false);
    let view = state
        .recent
        .get(id.as_str(), || {
            missed.store(true, std::sync::atomic::Ordering::Relaxed);
            state.views.get(id.as_str())
        })
        .await?;
    if state.recent.is_on() {
        state
            .metrics
            .read_cache_lookup(!missed.load(std::sync::atomic::Ordering::Relaxed));
    }
    let view = view.ok_or(Refusal::NotFound)?;
    Ok((id, view))
}

/// Clip `id`, if `caller` may have what it wants of it ([`access::check`]).
pub async fn find(
    state: &AppState,
    id: &str,
    caller: Option<&Principal>,
    want: Want,
) -> Result<Found, FindError> {
    let (id, view) = view_for(state, id, caller).await?;
    let reader = access::check(&view, caller, want)?;
    Ok(Found { id, view, reader })
}

/// The item view `caller` may see: the full view for its owner and moderators, the public one
/// otherwise.
pub async fn get(state: &AppState, id: &str, caller: Option<&Principal>) -> Result<Item, ApiError> {
    let found = find(state, id, caller, Want::Metadata).await?;
    Ok(item(&found, &state.urls))
}

/// [`get`]'s item as the JSON text the REST API sends. A read without credentials shares its
/// view with the other such reads of the moment, and the public document written of it
/// ([`crate::usecases::rendered`]).
pub async fn get_json(
    state: &AppState,
    id: &str,
    caller: Option<&Principal>,
) -> Result<ItemJson, ApiError> {
    let found = find(state, id, caller, Want::Metadata).await?;
    let shared = caller.is_none() && state.recent.is_on() && !found.reader.is_privileged();
    Ok(ItemJson(if shared {
        state.rendered.get(&found.view, |view| {
            ItemJson::of(&Item::public(view, &state.urls)).0
        })
    } else {
        ItemJson::of(&item(&found, &state.urls)).0
    }))
}

/// The item `found`'s reader sees: the full view for its owner and moderators, the public one
/// otherwise.
fn item(found: &Found, urls: &crate::urls::Urls) -> Item {
    if found.reader.is_privileged() {
        Item::owner(&found.view, urls)
    } else {
        Item::public(&found.view, urls)
    }
}

/// A playback URL for `caller` to play clip `id` from the client `listener` as its owner or a
/// moderator, for `ttl` seconds (at most the clip's grant lifetime; default all of it): 403
/// for anyone else who can see the clip, which they play as the public does.
pub async fn playback_url(
    state: &AppState,
    caller: &Principal,
    id: &str,
    listener: &Listener,
    ttl: Option<u32>,
) -> Result<PlaybackUrl, ApiError> {
    let found = find(state, id, Some(caller), Want::Audio).await?;
    let lifetime = grants::lifetime(found.view.duration_ms).min(grants::MAX_PASS_SECS);
    let ttl = ttl.map_or(lifetime, |t| i64::from(t).min(lifetime));
    let expires_at = chrono::Utc::now().timestamp() + ttl;
    let Some(pass) = state
        .grants
        .issue_pass(&found.view.id, listener, found.reader, expires_at)
    else {
        if caller.account == found.view.owner {
            return Err(Refusal::MissingScope {
                scope: access::READ,
                dpop: caller.confirmation.is_some(),
            }
            .into());
        }
        return Err(ApiError::new(
            Code::Forbidden,
            "only the clip's owner or a moderator gets a playback URL; others play it from its \
             view page",
        ));
    };
    Ok(PlaybackUrl {
        url: format!("{}?playback={pass}", state.urls.audio(&found.view.id)),
        expires_at: crate::model::rfc3339(expires_at * 1_000_000),
    })
}

/// One page of the caller's clips (owner view): newest first, or with `q` a full-text search,
/// best match first, each item with its `match` ([`SearchQuery`] says what `q` means). `q` is
/// trimmed; an empty `q` or `cursor` means none; `limit` must be in 1..=100. A `q` with no
/// word to search for, and a cursor of a search used without one (or the other way round),
/// are 400.
pub async fn list(
    state: &AppState,
    principal: &Principal,
    q: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
) -> Result<ItemPage, ApiError> {
    let q = q.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty());
    if q.as_ref()
        .is_some_and(|q| q.chars().count() > MAX_Q || q.chars().any(char::is_control))
    {
        return Err(ApiError::new(
            Code::InvalidField,
            format!("q must be at most {MAX_Q} printable characters"),
        )
        .with_field("q"));
    }
    let search = match q {
        Some(q) => Some(
            SearchQuery::parse(&q)
                .map_err(|e| ApiError::new(Code::InvalidField, e.to_string()).with_field("q"))?,
        ),
        None => None,
    };
    let after = match cursor.filter(|c| !c.is_empty()) {
        Some(raw) => Some(
            Cursor::decode(&raw)
                // A search's pages are ordered by rank, the plain listing's are not.
                .filter(|c| c.rank.is_some() == search.is_some())
                .ok_or_else(|| {
                    ApiError::new(
                        Code::InvalidField,
                        "cursor is not valid (a cursor continues the listing or search it \
                         came from, with the same q)",
                    )
                    .with_field("cursor")
                })?,
        ),
        None => None,
    };
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::new(
            Code::InvalidField,
            format!("limit must be between 1 and {MAX_LIMIT}"),
        )
        .with_field("limit"));
    }
    let page = state
        .views
        .list(&ListQuery {
            owner: principal.account.clone(),
            q: search,
            after,
            limit,
        })
        .await?;
    Ok(ItemPage {
        items: page
            .items
            .iter()
            .map(|listed| Item {
                search_match: listed.hit.as_ref().map(ItemMatch::of),
                ..Item::owner(&listed.view, &state.urls)
            })
            .collect(),
        next_cursor: page.next.map(|c| c.encode()),
    })
}

/// Upload metadata as sent, before validation (kept as sent with a resumable upload until it
/// completes).
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct RawMeta {
    /// Display filename.
    pub filename: Option<String>,
    /// Title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Download limit, as text (a header or form field).
    pub download_limit: Option<String>,
    /// Lifetime, as text: whole seconds or an ISO 8601 duration (`x-expires-in`).
    pub expires_in: Option<String>,
}

/// The field an upload's lifetime (`x-expires-in`) is named by in problems.
const EXPIRES_IN: &str = "expires_in";
/// The field a patch's expiry is named by in problems.
const EXPIRES_AT: &str = "expires_at";

/// A refused lifetime or expiry as a problem on `field`: 400 for what the field's rules refuse
/// (malformed, zero, too long, past the operator's maximum), 422 for a well-formed instant that
/// has already passed (the document cannot say "in the future", as for a limit below the
/// downloads already counted).
fn invalid_expiry(field: &str, e: &ExpiryError) -> ApiError {
    let code = match e {
        ExpiryError::NotInFuture => Code::Unprocessable,
        _ => Code::InvalidField,
    };
    ApiError::new(code, format!("{field} is invalid: {e}")).with_field(field)
}

/// Longest download limit sent as text (a header or form field), in characters, whitespace
/// and leading zeros included.
pub const MAX_LIMIT_TEXT: usize = 64;

fn parse_limit(raw: &str) -> Result<DownloadLimit, ApiError> {
    if raw.chars().count() > MAX_LIMIT_TEXT {
        return Err(ApiError::invalid_field(&ValueError::TooLong {
            field: "download_limit",
            max: MAX_LIMIT_TEXT,
        }));
    }
    raw.trim()
        .parse::<u64>()
        .map_err(|_| ValueError::Invalid {
            field: "download_limit",
            reason: "must be a whole number",
        })
        .and_then(DownloadLimit::new)
        .map_err(|e| ApiError::invalid_field(&e))
}

impl RawMeta {
    /// Validates the metadata into an upload request of `owner`, its lifetime within the
    /// operator's `lifetimes` (the default when none is asked for; past the maximum is refused,
    /// not shortened).
    pub fn into_request(
        self,
        owner: AccountId,
        lifetimes: Lifetimes,
        request_id: Option<String>,
    ) -> Result<UploadRequest, ApiError> {
        let invalid = |e: ValueError| ApiError::invalid_field(&e);
        let requested = self
            .expires_in
            .as_deref()
            .map(Lifetime::parse)
            .transpose()
            .map_err(|e| invalid_expiry(EXPIRES_IN, &e))?;
        let lifetime = lifetimes
            .for_upload(requested)
            .map_err(|e| invalid_expiry(EXPIRES_IN, &e))?;
        Ok(UploadRequest {
            owner,
            title: self
                .title
                .as_deref()
                .map(Title::parse)
                .transpose()
                .map_err(invalid)?
                .flatten(),
            description: self
                .description
                .as_deref()
                .map(Description::parse)
                .transpose()
                .map_err(invalid)?
                .flatten(),
            filename: self
                .filename
                .as_deref()
                .map(Filename::parse)
                .transpose()
                .map_err(invalid)?,
            download_limit: self
                .download_limit
                .as_deref()
                .map(parse_limit)
                .transpose()?,
            lifetime,
            request_id,
            declared_bytes: None,
            max_bytes: None,
        })
    }
}

/// Validates `meta`, stores `body` as a new clip of `owner` and returns its owner view.
/// `declared_bytes` is the body's length when the client declared it: an upload that cannot
/// fit the owner's quota is then refused before its body is read.
pub async fn upload(
    state: &AppState,
    owner: AccountId,
    meta: RawMeta,
    body: ByteStream,
    declared_bytes: Option<u64>,
    request_id: Option<String>,
) -> Result<Item, ApiError> {
    let request = UploadRequest {
        declared_bytes,
        ..meta.into_request(owner, state.service.lifetimes(), request_id)?
    };
    store(state, request, body).await
}

/// Stores `body` as the clip `request` describes and returns its owner view.
pub async fn store(
    state: &AppState,
    request: UploadRequest,
    body: ByteStream,
) -> Result<Item, ApiError> {
    let id: ClipId = state.service.upload(request, body).await?;
    state.metrics.uploaded();
    let view = state.views.get(id.as_str()).await?.ok_or_else(|| {
        ApiError::unavailable(&"upload recorded but its view is not readable yet")
    })?;
    Ok(Item::owner(&view, &state.urls))
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

/// Applies `patch` to a clip the caller owns and returns the clip after the change.
pub async fn edit(
    state: &AppState,
    principal: &Principal,
    id: &str,
    patch: ItemPatch,
    request_id: Option<String>,
) -> Result<Item, ApiError> {
    let Found { id, .. } = find(state, id, Some(principal), Want::Change).await?;
    let ItemPatch {
        title,
        description,
        download_limit,
        expires_at,
    } = patch;
    let expires_at = match expires_at {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(parse_expiry(&v.0, state.service.lifetimes())?)),
    };
    let title = patch_value(title, Title::parse)?;
    let description = patch_value(description, Description::parse)?;
    let download_limit = match download_limit {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        // Whole numbers only (`5.0` is one in JSON); `as` saturates, so negatives and huge
        // values fail the range check.
        MaybeUndefined::Value(v) => Some(Some(
            (v.fract() == 0.0)
                .then_some(v as u64)
                .ok_or(())
                .and_then(|v| DownloadLimit::new(v).map_err(|_| ()))
                .map_err(|_| ApiError::invalid_field(&DownloadLimit::new(0).unwrap_err()))?,
        )),
    };
    let actor = account(principal)?;
    if matches!(download_limit, Some(Some(_))) {
        // This replica's unflushed counts first, so a new limit is checked against them.
        state.service.downloads().flush_one(&id).await;
    }
    state
        .service
        .edit(
            &id,
            &actor,
            title,
            description,
            download_limit,
            expires_at,
            request_id,
        )
        .await
        .map_err(final_removal)?;
    let view = state
        .views
        .get(id.as_str())
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Item::owner(&view, &state.urls))
}

/// A patch's `expires_at`: an RFC 3339 instant in the future, within the operator's maximum
/// lifetime from now.
fn parse_expiry(raw: &str, lifetimes: Lifetimes) -> Result<DateTime<Utc>, ApiError> {
    let at = DateTime::parse_from_rfc3339(raw.trim())
        .map_err(|_| {
            ApiError::new(
                Code::InvalidField,
                "expires_at must be an RFC 3339 date and time with an offset, e.g. \
                 2026-12-31T23:59:59Z, or null for never",
            )
            .with_field(EXPIRES_AT)
        })?
        .with_timezone(&Utc);
    lifetimes
        .check_instant(at, Utc::now())
        .map_err(|e| invalid_expiry(EXPIRES_AT, &e))?;
    Ok(at)
}

/// Deletes a clip the caller owns; its bytes are purged.
pub async fn delete(
    state: &AppState,
    principal: &Principal,
    id: &str,
    request_id: Option<String>,
) -> Result<(), ApiError> {
    let Found { id, view, .. } = find(state, id, Some(principal), Want::Change).await?;
    let actor = account(principal)?;
    state
        .service
        .delete(&id, &actor, &view.blob_key, request_id)
        .await
        .map_err(final_removal)?;
    Ok(())
}

/// A removal that committed after the access rule read the view answers as the rule would
/// have ([`Refusal::Final`], 409); other errors convert as usual.
pub(crate) fn final_removal(e: CommandError) -> ApiError {
    match e {
        CommandError::Rule(ClipError::Removed) => Refusal::Final.into(),
        e => e.into(),
    }
}
