//! Resumable uploads (ADR 0025), whatever the protocol: tus 1.0 and the IETF resumable-upload
//! draft (`api/src/uploads/`) both create, append to, look at and cancel the same uploads here.
//!
//! A partial upload is not a clip. Its row (`UploadStore`) says how far it has got, with the
//! running SHA-256 and the first bytes; its bytes gather in the blob store (`PartialBlobs`: a
//! local file, or an S3 multipart upload of the clip's key). Only when the last byte is in is
//! the clip recorded (`ClipService::record_stored`: quota, blocklist, `Uploaded`, scan). One
//! request at a time appends: it holds the row's lease, renewed while bytes flow. Bytes that
//! arrived before a connection broke are kept, unless the chunk carried a checksum.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use futures::StreamExt;
use rand::RngCore;
use voicebin_commands::resumable::ResumableSha256;
use voicebin_commands::{
    Appended, ByteStream, ClipService, PartialBlobs, Stored, UploadError, UploadRequest,
};
use voicebin_domain::sniff::{sniff_audio, SNIFF_LEN};
use voicebin_domain::{AccountId, ClipId, ContentType, Sha256Digest};
use voicebin_projections::{Claim, Progress, UploadRow, UploadStore};

use super::clips::RawMeta;
use crate::error::{ApiError, Code};
use crate::model::Item;
use crate::state::AppState;

/// How long a lease lasts without renewal: a request that died holding it stops blocking
/// its upload after this.
const LEASE: Duration = Duration::from_secs(30);

/// How long an append waits for the client's next bytes before it keeps what came and ends.
const IDLE: Duration = Duration::from_secs(30);

/// How long a completed upload still answers for itself (its offset, its clip).
const KEEP_COMPLETED: Duration = Duration::from_secs(3600);

/// The operator's settings for resumable uploads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResumableSettings {
    /// How long an upload may stay open; then it is removed with its bytes. At most a day
    /// less an hour: S3 buckets abort multipart uploads a day old (`VOICEBIN_RESUMABLE_WINDOW`).
    pub window: Duration,
    /// How many open uploads one account may have (`VOICEBIN_RESUMABLE_MAX_OPEN`).
    pub max_open: u64,
}

impl Default for ResumableSettings {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(12 * 3600),
            max_open: 20,
        }
    }
}

/// The longest [`ResumableSettings::window`] allowed.
pub const MAX_WINDOW: Duration = Duration::from_secs(23 * 3600);

/// Resumable uploads: their store, where their bytes go, and the settings.
pub struct Resumable {
    store: Arc<dyn UploadStore>,
    blobs: Arc<dyn PartialBlobs>,
    settings: ResumableSettings,
}

impl Resumable {
    /// Resumable uploads over `store` and `blobs`.
    pub fn new(
        store: Arc<dyn UploadStore>,
        blobs: Arc<dyn PartialBlobs>,
        settings: ResumableSettings,
    ) -> Self {
        Self {
            store,
            blobs,
            settings,
        }
    }

    /// The settings.
    pub fn settings(&self) -> ResumableSettings {
        self.settings
    }
}

/// A checksum of one append's bytes (tus's checksum extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    /// The algorithm.
    pub algorithm: ChecksumAlgorithm,
    /// The digest the client sent.
    pub digest: Vec<u8>,
}

/// The checksum algorithms taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    /// SHA-1 (the one tus requires).
    Sha1,
    /// SHA-256.
    Sha256,
}

impl ChecksumAlgorithm {
    /// Every algorithm, by its tus name.
    pub const ALL: [(&'static str, ChecksumAlgorithm); 2] = [
        ("sha1", ChecksumAlgorithm::Sha1),
        ("sha256", ChecksumAlgorithm::Sha256),
    ];

    fn context(self) -> aws_lc_rs::digest::Context {
        aws_lc_rs::digest::Context::new(match self {
            ChecksumAlgorithm::Sha1 => &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            ChecksumAlgorithm::Sha256 => &aws_lc_rs::digest::SHA256,
        })
    }
}

/// One request's append.
pub struct Append {
    /// Where the client says its bytes start.
    pub offset: u64,
    /// The bytes.
    pub body: ByteStream,
    /// The body's declared length (`Content-Length`), if any.
    pub content_length: Option<u64>,
    /// The whole upload's length, if this request declares it.
    pub length: Option<u64>,
    /// Whether the client says these are the last bytes (the draft's `Upload-Complete: ?1`).
    /// Without it the upload completes when it reaches a declared length.
    pub last: bool,
    /// A checksum of the body, if the client sent one.
    pub checksum: Option<Checksum>,
    /// Whether reaching the declared length completes the upload (tus), even when the
    /// connection broke after the last byte. The draft completes only on `last`.
    pub complete_at_length: bool,
    /// Whether the client does not know the upload yet (the bytes come with its creation): if
    /// the append fails, the upload is removed, since nobody could resume it.
    pub fresh: bool,
}

/// What an append came to.
pub enum AppendOutcome {
    /// Bytes were kept; the upload goes on.
    Progress(UploadRow),
    /// The last byte is in: the clip is recorded.
    Completed(UploadRow, Box<Item>),
}

/// Why an append was refused.
#[derive(Debug)]
pub enum AppendError {
    /// The append does not start where the upload stands (`expected`).
    Mismatch {
        /// Where the upload stands.
        expected: u64,
        /// Whether it is complete.
        complete: bool,
    },
    /// Any other refusal.
    Api(ApiError),
}

impl From<ApiError> for AppendError {
    fn from(e: ApiError) -> Self {
        AppendError::Api(e)
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn new_upload_id() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unavailable(e: &dyn std::fmt::Display) -> ApiError {
    ApiError::unavailable(e)
}

/// The blob key of the clip an upload becomes.
fn blob_key(clip: &str) -> String {
    format!("clips/{clip}")
}

/// Starts a resumable upload of `owner`'s, with the clip's metadata and, when known, its
/// whole length. The metadata is checked now, the length against the size limit and the
/// owner's quota, and the owner's open uploads against their limit.
pub async fn create(
    state: &AppState,
    owner: &AccountId,
    meta: RawMeta,
    length: Option<u64>,
) -> Result<UploadRow, ApiError> {
    let resumable = &state.resumable;
    meta.clone()
        .into_request(owner.clone(), state.service.lifetimes(), None)?;
    let max = state.service.max_upload_bytes();
    match length {
        Some(0) => return Err(ApiError::new(Code::NotAudio, "the upload is empty")),
        Some(len) if len > max => {
            return Err(ApiError::new(
                Code::TooLarge,
                format!("uploads are limited to {max} bytes"),
            ))
        }
        Some(len) => state.service.check_room(owner, len).await?,
        None => {}
    }
    let now = now();
    let id = new_upload_id();
    let clip = ClipService::new_clip_id();
    let key = blob_key(clip.as_str());
    let blob_state = resumable
        .blobs
        .begin(&id, &key)
        .await
        .map_err(|e| unavailable(&e))?;
    let row = UploadRow {
        id: id.clone(),
        owner: owner.as_str().to_owned(),
        clip_id: clip.as_str().to_owned(),
        length,
        offset: 0,
        meta: serde_json::to_string(&meta).map_err(|e| ApiError::internal(&e))?,
        head: Vec::new(),
        hash: ResumableSha256::new().to_bytes(),
        blob_state,
        content_type: None,
        completed_at: None,
        created_at: now,
        expires_at: now + resumable.settings.window.as_secs() as i64,
    };
    match resumable
        .store
        .create_upload(&row, resumable.settings.max_open)
        .await
    {
        Ok(true) => Ok(row),
        Ok(false) => {
            discard(resumable, &row).await;
            Err(ApiError::too_many(
                format!(
                    "{} resumable uploads are open; finish or cancel one first",
                    resumable.settings.max_open
                ),
                60,
            ))
        }
        Err(e) => {
            discard(resumable, &row).await;
            Err(unavailable(&e))
        }
    }
}

/// Whether `id` could name an upload (what [`new_upload_id`] makes): anything else is not
/// looked up.
fn plausible_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The upload `id`, if `caller` owns it (404 otherwise, as for a clip).
pub async fn find(state: &AppState, id: &str, caller: &AccountId) -> Result<UploadRow, ApiError> {
    if !plausible_id(id) {
        return Err(ApiError::new(Code::NotFound, "no such upload"));
    }
    let row = state
        .resumable
        .store
        .upload(id, now())
        .await
        .map_err(|e| unavailable(&e))?;
    match row {
        Some(row) if row.owner == caller.as_str() => Ok(row),
        _ => Err(ApiError::new(Code::NotFound, "no such upload")),
    }
}

/// Cancels the upload `id` of `caller`'s: its bytes are removed (a completed upload's clip
/// stays; only the upload is forgotten).
pub async fn cancel(state: &AppState, id: &str, caller: &AccountId) -> Result<(), ApiError> {
    let row = find(state, id, caller).await?;
    let resumable = &state.resumable;
    if row.completed_at.is_none() {
        let lease = new_upload_id();
        let now = now();
        match resumable
            .store
            .claim(id, &lease, now + LEASE.as_secs() as i64, now)
            .await
            .map_err(|e| unavailable(&e))?
        {
            Claim::Claimed(row) => discard(resumable, &row).await,
            Claim::Busy => return Err(busy()),
            // Completed or removed meanwhile: nothing of it to remove.
            Claim::Missing => {}
        }
    }
    resumable
        .store
        .remove_upload(id)
        .await
        .map_err(|e| unavailable(&e))?;
    Ok(())
}

fn busy() -> ApiError {
    ApiError::new(
        Code::UploadBusy,
        "another request is appending to this upload; retry in a moment",
    )
    .with_header("1")
}

/// Removes an upload's partial bytes; a failure is logged (the bucket's lifecycle rule and
/// the sweeper of partial files catch what is left).
async fn discard(resumable: &Resumable, row: &UploadRow) {
    if let Err(e) = resumable
        .blobs
        .discard(&row.id, &blob_key(&row.clip_id), &row.blob_state)
        .await
    {
        tracing::warn!(upload = %row.id, error = %e, "could not remove a partial upload's bytes");
    }
}

/// Renews a lease while an append runs; stops when dropped.
struct Renewal(tokio::task::JoinHandle<()>);

impl Renewal {
    fn start(store: Arc<dyn UploadStore>, id: String, lease: String) -> Self {
        Renewal(tokio::spawn(async move {
            loop {
                tokio::time::sleep(LEASE / 3).await;
                let until = now() + LEASE.as_secs() as i64;
                match store.renew(&id, &lease, until).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => tracing::warn!(upload = %id, error = %e, "lease not renewed"),
                }
            }
        }))
    }
}

impl Drop for Renewal {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Why the service ended an append's body itself (as opposed to the client's connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CutKind {
    PastLength,
    PastLimit,
    NotAudio,
    Idle,
    Short,
}

#[derive(Debug, thiserror::Error)]
enum Cut {
    #[error("the bytes run past the upload's length ({0} bytes)")]
    PastLength(u64),
    #[error("the upload would exceed the {0} byte limit")]
    PastLimit(u64),
    #[error("the upload is not a supported audio format")]
    NotAudio,
    #[error("the client sent nothing for {0:?}")]
    Idle(Duration),
    #[error("the body ended {0} bytes short of the upload's length, yet said it was the last")]
    Short(u64),
}

impl Cut {
    fn kind(&self) -> CutKind {
        match self {
            Cut::PastLength(_) => CutKind::PastLength,
            Cut::PastLimit(_) => CutKind::PastLimit,
            Cut::NotAudio => CutKind::NotAudio,
            Cut::Idle(_) => CutKind::Idle,
            Cut::Short(_) => CutKind::Short,
        }
    }
}

fn cut_of(e: &std::io::Error) -> Option<&Cut> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<Cut>())
}

/// What the body wrapper learns while the bytes pass.
struct Watch {
    hash: ResumableSha256,
    head: Vec<u8>,
    checksum: Option<aws_lc_rs::digest::Context>,
    content_type: Option<ContentType>,
}

/// Decides the media type from the first bytes once there are enough (or the upload is whole).
fn sniff_head(head: &[u8], whole: bool) -> Result<Option<ContentType>, Cut> {
    if head.len() < SNIFF_LEN && !whole {
        return Ok(None);
    }
    let prefix = &head[..head.len().min(SNIFF_LEN)];
    sniff_audio(prefix)
        .map(|t| Some(ContentType::from_sniffed(t)))
        .ok_or(Cut::NotAudio)
}

/// Appends one request's bytes to the upload `id` of `caller`'s. The work runs in a task of its
/// own, so bytes that arrived before the client went away are kept even when the request
/// itself is dropped.
pub async fn append(
    state: &AppState,
    id: &str,
    caller: &AccountId,
    append: Append,
    request_id: Option<String>,
) -> Result<AppendOutcome, AppendError> {
    let row = find(state, id, caller).await?;
    if row.completed_at.is_some() {
        return Err(AppendError::Mismatch {
            expected: row.offset,
            complete: true,
        });
    }
    let store = state.resumable.store.clone();
    let lease = new_upload_id();
    let now = now();
    let row = match store
        .claim(id, &lease, now + LEASE.as_secs() as i64, now)
        .await
        .map_err(|e| unavailable(&e))?
    {
        Claim::Claimed(row) => *row,
        Claim::Busy => return Err(busy().into()),
        Claim::Missing => return Err(ApiError::new(Code::NotFound, "no such upload").into()),
    };
    let state = state.clone();
    let fresh = append.fresh;
    let task = tokio::spawn(async move {
        let result = append_claimed(&state, &row, &lease, append, request_id).await;
        if result.is_err() && fresh {
            // Its client never learnt its URL: nobody can resume it.
            abandon(&state.resumable, &row.id).await;
        }
        if let Err(e) = state.resumable.store.release(&row.id, &lease).await {
            tracing::warn!(upload = %row.id, error = %e, "lease not released; it lapses");
        }
        result
    });
    task.await
        .map_err(|e| AppendError::Api(ApiError::internal(&e)))?
}

/// [`append`], holding the lease on `row`.
async fn append_claimed(
    state: &AppState,
    row: &UploadRow,
    lease: &str,
    append: Append,
    request_id: Option<String>,
) -> Result<AppendOutcome, AppendError> {
    let resumable = &state.resumable;
    let Append {
        offset,
        body,
        content_length,
        length: declared,
        last,
        checksum,
        complete_at_length,
        fresh: _,
    } = append;
    if offset != row.offset {
        return Err(AppendError::Mismatch {
            expected: row.offset,
            complete: false,
        });
    }
    let implied = if last {
        content_length.map(|n| offset.saturating_add(n))
    } else {
        None
    };
    let mut length = row.length;
    for said in [declared, implied].into_iter().flatten() {
        match length {
            Some(known) if known != said => {
                return Err(ApiError::new(
                    Code::InconsistentLength,
                    format!("the upload's length is {known} bytes, not {said}"),
                )
                .into())
            }
            _ => length = Some(said),
        }
    }
    let max = state.service.max_upload_bytes();
    if let Some(len) = length {
        if len > max {
            return Err(ApiError::new(
                Code::TooLarge,
                format!("uploads are limited to {max} bytes"),
            )
            .into());
        }
        if len < offset || content_length.is_some_and(|n| offset.saturating_add(n) > len) {
            return Err(ApiError::new(
                Code::InconsistentLength,
                format!("the bytes would run past the upload's length of {len} bytes"),
            )
            .into());
        }
        if row.length.is_none() {
            let owner = AccountId::parse(&row.owner).map_err(|e| ApiError::internal(&e))?;
            state
                .service
                .check_room(&owner, len)
                .await
                .map_err(ApiError::from)?;
        }
    }
    let (limit, limit_cut) = match length {
        Some(len) => (len - offset, Cut::PastLength(len)),
        None => (max.saturating_sub(offset), Cut::PastLimit(max)),
    };
    // Whether these bytes, all of them arriving, complete the upload.
    let completes = last || (length.is_some() && length == content_length.map(|n| offset + n));
    let hash = ResumableSha256::from_bytes(&row.hash).map_err(|e| ApiError::internal(&e))?;
    let watch = Arc::new(Mutex::new(Watch {
        hash,
        head: row.head.clone(),
        checksum: checksum.as_ref().map(|c| c.algorithm.context()),
        content_type: None,
    }));
    // The bytes a completing body must bring, when the length is known.
    let remaining = length.filter(|_| last).map(|len| len - offset);
    let body = watched(body, watch.clone(), limit, limit_cut, completes, remaining);
    let key = blob_key(&row.clip_id);
    let renewal = Renewal::start(resumable.store.clone(), row.id.clone(), lease.to_owned());
    let appended = resumable
        .blobs
        .append(
            &row.id,
            &key,
            &row.blob_state,
            offset,
            body,
            completes && checksum.is_none(),
        )
        .await;
    let appended = match appended {
        Ok(appended) => appended,
        Err(e) => return Err(unavailable(&e).into()),
    };
    let watch = std::mem::replace(
        &mut *watch.lock().unwrap_or_else(|p| p.into_inner()),
        Watch {
            hash: ResumableSha256::new(),
            head: Vec::new(),
            checksum: None,
            content_type: None,
        },
    );
    let kept = offset + appended.bytes;
    let failure = appended
        .failure
        .as_ref()
        .map(|e| (cut_of(e).map(Cut::kind), e.to_string()));
    // Bytes past the length (or the size limit) make the whole append invalid: none of it is
    // kept, and the upload stays where it was.
    if let Some((Some(kind @ (CutKind::PastLength | CutKind::PastLimit)), why)) = &failure {
        forget(resumable, row, &appended).await;
        return Err(ApiError::new(
            if *kind == CutKind::PastLength {
                Code::InconsistentLength
            } else {
                Code::TooLarge
            },
            format!("{why}; nothing of this append was kept"),
        )
        .into());
    }
    // Refused bytes were hashed but not kept: the upload ends here whatever the counts say.
    if let Some((Some(CutKind::NotAudio), _)) = failure {
        drop(renewal);
        give_up(state, row, &appended).await;
        return Err(ApiError::from(UploadError::NotAudio).into());
    }
    if watch.hash.len() != kept {
        // The store kept other bytes than passed by: nothing of this append can be trusted.
        forget(resumable, row, &appended).await;
        return Err(ApiError::internal(&format!(
            "the store kept {kept} bytes, {} were hashed",
            watch.hash.len()
        ))
        .into());
    }
    if let Some(checksum) = &checksum {
        let digest = watch.checksum.map(|c| c.finish().as_ref().to_vec());
        if failure.is_some() || digest.as_deref() != Some(checksum.digest.as_slice()) {
            forget(resumable, row, &appended).await;
            return Err(match failure {
                Some((_, why)) => ApiError::new(
                    Code::BadRequest,
                    format!("the chunk was not received whole ({why}); a chunk with a checksum is kept only whole"),
                ),
                None => ApiError::new(
                    Code::ChecksumMismatch,
                    "the chunk does not match its Upload-Checksum; it was discarded",
                ),
            }
            .into());
        }
    }
    let hash = watch.hash.to_bytes();
    let progress = Progress {
        offset: kept,
        length,
        head: &watch.head,
        hash: &hash,
        blob_state: &appended.state,
        content_type: watch.content_type.as_ref().map(|t| t.as_str()),
    };
    let committed = resumable
        .store
        .commit(&row.id, lease, &progress)
        .await
        .map_err(|e| unavailable(&e))?;
    if !committed {
        forget(resumable, row, &appended).await;
        return Err(busy().into());
    }
    if let Err(e) = resumable
        .blobs
        .settle(&row.id, &row.blob_state, &appended.state)
        .await
    {
        tracing::warn!(upload = %row.id, error = %e, "an earlier state's bytes were not removed");
    }
    // All the bytes of a tus upload are in even if the connection broke after the last one.
    let whole = complete_at_length && length == Some(kept);
    if let Some((cut, why)) = failure.filter(|_| !whole) {
        return Err(ApiError::new(
            match cut {
                Some(CutKind::Short) => Code::InconsistentLength,
                Some(CutKind::Idle) => Code::RequestTimeout,
                _ => Code::BadRequest,
            },
            format!("{why}; the upload holds the first {kept} bytes"),
        )
        .into());
    }
    // The draft's last append of an upload whose length was never said gives it.
    let length = if last { length.or(Some(kept)) } else { length };
    let updated = UploadRow {
        offset: kept,
        length,
        head: watch.head.clone(),
        hash,
        blob_state: appended.state.clone(),
        content_type: watch.content_type.map(|t| t.as_str().to_owned()),
        ..row.clone()
    };
    if !((last && length == Some(kept)) || whole) {
        return Ok(AppendOutcome::Progress(updated));
    }
    // The lease stays renewed while the clip is recorded.
    let completed = complete(state, updated, lease, appended.finished, request_id).await;
    drop(renewal);
    completed
}

/// Records the clip of an upload whose last byte is in.
async fn complete(
    state: &AppState,
    row: UploadRow,
    lease: &str,
    finished: bool,
    request_id: Option<String>,
) -> Result<AppendOutcome, AppendError> {
    let resumable = &state.resumable;
    let key = blob_key(&row.clip_id);
    let content_type = match sniff_head(&row.head, true) {
        Ok(Some(content_type)) => content_type,
        _ => {
            let gone = Appended {
                state: row.blob_state.clone(),
                bytes: 0,
                finished,
                failure: None,
            };
            give_up(state, &row, &gone).await;
            return Err(ApiError::from(UploadError::NotAudio).into());
        }
    };
    if !finished {
        let empty: ByteStream = Box::pin(futures::stream::empty());
        let done = resumable
            .blobs
            .append(&row.id, &key, &row.blob_state, row.offset, empty, true)
            .await
            .map_err(|e| unavailable(&e))?;
        if !done.finished {
            return Err(ApiError::internal(&"the partial upload did not finish").into());
        }
        if let Err(e) = resumable
            .blobs
            .settle(&row.id, &row.blob_state, &done.state)
            .await
        {
            tracing::warn!(upload = %row.id, error = %e, "an earlier state's bytes were not removed");
        }
    }
    let owner = AccountId::parse(&row.owner).map_err(|e| ApiError::internal(&e))?;
    let clip = ClipId::parse(&row.clip_id).map_err(|e| ApiError::internal(&e))?;
    let meta: RawMeta = serde_json::from_str(&row.meta).map_err(|e| ApiError::internal(&e))?;
    let recorded = async {
        let request: UploadRequest =
            meta.into_request(owner, state.service.lifetimes(), request_id)?;
        let hash = ResumableSha256::from_bytes(&row.hash).map_err(|e| ApiError::internal(&e))?;
        let stored = Stored {
            id: clip,
            blob_key: key.clone(),
            content_type,
            size_bytes: row.offset,
            sha256: Sha256Digest::from_bytes(hash.finish()),
        };
        Ok::<_, ApiError>(state.service.record_stored(request, stored).await?)
    }
    .await;
    let id = match recorded {
        Ok(id) => id,
        Err(e) => {
            // Refused (the blob is gone with it) or failed: the upload is over either way.
            if let Err(cleanup) = state.service.blobs().delete(&key).await {
                tracing::warn!(error = %cleanup, "could not remove the blob of a refused upload");
            }
            if let Err(cleanup) = resumable.store.remove_upload(&row.id).await {
                tracing::warn!(upload = %row.id, error = %cleanup, "a refused upload's record stays until it expires");
            }
            return Err(e.into());
        }
    };
    state.metrics.uploaded();
    let at = now();
    let expires_at = at + KEEP_COMPLETED.as_secs() as i64;
    if let Err(e) = resumable
        .store
        .complete(&row.id, lease, at, expires_at)
        .await
    {
        tracing::warn!(upload = %row.id, error = %e, "a completed upload is not marked so");
    }
    let view = state
        .views
        .get(id.as_str())
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| {
            ApiError::unavailable(&"upload recorded but its view is not readable yet")
        })?;
    let item = Item::owner(&view, &state.urls);
    Ok(AppendOutcome::Completed(
        UploadRow {
            completed_at: Some(at),
            expires_at,
            ..row
        },
        Box::new(item),
    ))
}

/// Removes an open upload whose client cannot know it, with whatever it holds by now.
async fn abandon(resumable: &Resumable, id: &str) {
    match resumable.store.upload(id, i64::MIN).await {
        Ok(Some(row)) if row.completed_at.is_none() => {
            discard(resumable, &row).await;
            if let Err(e) = resumable.store.remove_upload(id).await {
                tracing::warn!(upload = %id, error = %e, "an abandoned upload's record stays until it expires");
            }
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(upload = %id, error = %e, "an abandoned upload stays until it expires")
        }
    }
}

/// Drops what an uncommitted append wrote (its new tail), leaving the committed state whole.
async fn forget(resumable: &Resumable, row: &UploadRow, appended: &Appended) {
    if let Err(e) = resumable
        .blobs
        .settle(&row.id, &appended.state, &row.blob_state)
        .await
    {
        tracing::warn!(upload = %row.id, error = %e, "an uncommitted append's bytes were not removed");
    }
}

/// Ends an upload that can never become a clip: its bytes and its record go.
async fn give_up(state: &AppState, row: &UploadRow, appended: &Appended) {
    let resumable = &state.resumable;
    let key = blob_key(&row.clip_id);
    if appended.finished {
        if let Err(e) = state.service.blobs().delete(&key).await {
            tracing::warn!(error = %e, "could not remove the blob of a refused upload");
        }
    } else {
        forget(resumable, row, appended).await;
        discard(resumable, row).await;
    }
    if let Err(e) = resumable.store.remove_upload(&row.id).await {
        tracing::warn!(upload = %row.id, error = %e, "a refused upload's record stays until it expires");
    }
}

/// Partial bytes untouched this long belong to no upload (every upload expires within
/// [`MAX_WINDOW`]).
const ORPHAN_AGE: Duration = Duration::from_secs(48 * 3600);

/// Removes expired uploads: an open one with its bytes, a completed one's record only; then
/// partial bytes no upload owns. Returns how many uploads were removed.
pub async fn sweep(resumable: &Resumable) -> Result<usize, voicebin_projections::StoreError> {
    let mut removed = 0;
    loop {
        let due = resumable.store.expired_uploads(now(), 100).await?;
        if due.is_empty() {
            match resumable.blobs.sweep_orphans(ORPHAN_AGE).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "orphaned partial upload bytes removed"),
                Err(e) => tracing::warn!(error = %e, "could not remove orphaned partial bytes"),
            }
            return Ok(removed);
        }
        for row in due {
            if row.completed_at.is_none() {
                discard(resumable, &row).await;
            }
            if resumable.store.remove_upload(&row.id).await? {
                removed += 1;
            }
        }
    }
}

/// The state of a [`watched`] body.
struct Watched {
    body: ByteStream,
    watch: Arc<Mutex<Watch>>,
    seen: u64,
    limit: u64,
    limit_cut: Option<Cut>,
    pending: Option<std::io::Error>,
    done: bool,
    /// Whether the body is the upload's last bytes: its end decides the media type.
    whole: bool,
    /// How many bytes the body must bring, when it is said to complete an upload of a known
    /// length: ending short of that is an error.
    remaining: Option<u64>,
}

/// The body, watched: hashed, its first bytes kept and sniffed, cut after `limit` bytes (with
/// `limit_cut`), ended after [`IDLE`] without bytes.
fn watched(
    body: ByteStream,
    watch: Arc<Mutex<Watch>>,
    limit: u64,
    limit_cut: Cut,
    whole: bool,
    remaining: Option<u64>,
) -> ByteStream {
    let state = Watched {
        body,
        watch,
        seen: 0,
        limit,
        limit_cut: Some(limit_cut),
        pending: None,
        done: false,
        whole,
        remaining,
    };
    Box::pin(futures::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        if let Some(e) = st.pending.take() {
            st.done = true;
            return Some((Err(e), st));
        }
        loop {
            let Ok(next) = tokio::time::timeout(IDLE, st.body.next()).await else {
                st.done = true;
                return Some((Err(std::io::Error::other(Cut::Idle(IDLE))), st));
            };
            let mut chunk = match next {
                None => {
                    st.done = true;
                    if let Some(remaining) = st.remaining.filter(|r| *r != st.seen) {
                        let cut = Cut::Short(remaining - st.seen.min(remaining));
                        return Some((Err(std::io::Error::other(cut)), st));
                    }
                    // The whole upload is in: its first bytes are all there are.
                    let refused = st.whole && {
                        let watch = st.watch.lock().unwrap_or_else(|p| p.into_inner());
                        watch.content_type.is_none() && sniff_head(&watch.head, true).is_err()
                    };
                    if refused {
                        return Some((Err(std::io::Error::other(Cut::NotAudio)), st));
                    }
                    return None;
                }
                Some(Err(e)) => {
                    st.done = true;
                    return Some((Err(e), st));
                }
                Some(Ok(chunk)) => chunk,
            };
            let room = st.limit - st.seen;
            if chunk.len() as u64 > room {
                chunk.truncate(usize::try_from(room).unwrap_or(usize::MAX));
                let cut = st.limit_cut.take().unwrap_or(Cut::PastLimit(st.limit));
                st.pending = Some(std::io::Error::other(cut));
            }
            st.seen += chunk.len() as u64;
            let sniffed = {
                let mut watch = st.watch.lock().unwrap_or_else(|p| p.into_inner());
                watch.hash.update(&chunk);
                if let Some(context) = watch.checksum.as_mut() {
                    context.update(&chunk);
                }
                if watch.content_type.is_none() && watch.head.len() < SNIFF_LEN {
                    let take = (SNIFF_LEN - watch.head.len()).min(chunk.len());
                    watch.head.extend_from_slice(&chunk[..take]);
                    sniff_head(&watch.head, false).map(|found| watch.content_type = found)
                } else {
                    Ok(())
                }
            };
            if let Err(cut) = sniffed {
                st.done = true;
                return Some((Err(std::io::Error::other(cut)), st));
            }
            if !chunk.is_empty() {
                return Some((Ok(chunk), st));
            }
            if let Some(e) = st.pending.take() {
                st.done = true;
                return Some((Err(e), st));
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn watch() -> Arc<Mutex<Watch>> {
        Arc::new(Mutex::new(Watch {
            hash: ResumableSha256::new(),
            head: Vec::new(),
            checksum: None,
            content_type: None,
        }))
    }

    fn wav_head() -> Bytes {
        let mut head = b"RIFF\x24\x00\x00\x00WAVEfmt ".to_vec();
        head.resize(100, 0);
        Bytes::from(head)
    }

    async fn cut_kind(mut body: ByteStream) -> (usize, Option<CutKind>) {
        let mut bytes = 0;
        while let Some(item) = body.next().await {
            match item {
                Ok(chunk) => bytes += chunk.len(),
                Err(e) => return (bytes, cut_of(&e).map(Cut::kind)),
            }
        }
        (bytes, None)
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stalls_ends_after_the_idle_time_keeping_what_came() {
        let stalled: ByteStream =
            Box::pin(futures::stream::iter([Ok(wav_head())]).chain(futures::stream::pending()));
        let body = watched(stalled, watch(), 1000, Cut::PastLength(1000), false, None);
        // With time paused, the idle timer fires as soon as nothing else can run.
        assert_eq!(cut_kind(body).await, (100, Some(CutKind::Idle)));
    }

    #[tokio::test]
    async fn a_body_is_cut_at_its_limit_and_a_last_one_must_bring_the_rest() {
        let body: ByteStream = Box::pin(futures::stream::iter([Ok(wav_head()), Ok(wav_head())]));
        let cut = watched(body, watch(), 150, Cut::PastLength(150), false, None);
        assert_eq!(cut_kind(cut).await, (150, Some(CutKind::PastLength)));

        let body: ByteStream = Box::pin(futures::stream::iter([Ok(wav_head())]));
        let short = watched(body, watch(), 1000, Cut::PastLength(1000), true, Some(300));
        assert_eq!(cut_kind(short).await, (100, Some(CutKind::Short)));

        let text: ByteStream = Box::pin(futures::stream::iter([Ok(Bytes::from_static(
            b"<!doctype html>",
        ))]));
        let refused = watched(text, watch(), 1000, Cut::PastLength(1000), true, None);
        assert_eq!(cut_kind(refused).await, (15, Some(CutKind::NotAudio)));
    }
}
