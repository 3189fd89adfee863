//! [`ClipService`]: the use cases that change clips.

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use rand::RngCore;
use sha2::{Digest, Sha256};
use tracing::instrument;
use voicebin_domain::sniff::sniff_audio;
use voicebin_domain::{
    AccountId, ClipCommand, ClipError, ClipId, ContentType, Description, DownloadLimit, Filename,
    Lifetime, Lifetimes, ModerationReason, ReportNote, ReportReason, Reporter, ScanOutcome,
    Sha256Digest, Title, Transcript,
};

use crate::blobs::rendition_key;
use crate::bus::{ClipStore, CommandError, CommandMeta};
use crate::download_counter::DownloadCounter;
use crate::ports::{
    BlobError, BlobStore, Blocklist, BlocklistError, ByteStream, NoQuotas, QuotaError, QuotaGrant,
    Quotas, ScanQueue,
};

/// How many leading bytes are inspected to decide the media type.
const SNIFF_BYTES: usize = 64 * 1024;

/// An upload's metadata, already validated.
#[derive(Debug, Clone)]
pub struct UploadRequest {
    /// The uploading account.
    pub owner: AccountId,
    /// Optional title.
    pub title: Option<Title>,
    /// Optional description.
    pub description: Option<Description>,
    /// Client filename; a fallback is derived from the id when absent.
    pub filename: Option<Filename>,
    /// Optional download limit.
    pub download_limit: Option<DownloadLimit>,
    /// How long the clip lives once recorded, already within the operator's maximum
    /// ([`Lifetimes::for_upload`]); `None` is forever.
    pub lifetime: Option<Lifetime>,
    /// Request id, for the event metadata.
    pub request_id: Option<String>,
    /// The body's length when the client declared it (`Content-Length` of a raw body): the
    /// quota's room is checked against it before a byte is read. `None`: unknown.
    pub declared_bytes: Option<u64>,
    /// A size limit below the service's for this upload (an anonymous upload's); `None`: the
    /// service's limit.
    pub max_bytes: Option<u64>,
}

/// Bytes already stored under a clip's blob key, ready to be recorded as that clip.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The clip's id.
    pub id: ClipId,
    /// Where the bytes are.
    pub blob_key: String,
    /// Their media type, sniffed from the first bytes.
    pub content_type: ContentType,
    /// How many.
    pub size_bytes: u64,
    /// Their digest.
    pub sha256: Sha256Digest,
}

/// Why an upload was not accepted. In every case nothing is left behind.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The body is empty.
    #[error("the body is empty")]
    Empty,
    /// The bytes are not a supported audio format.
    #[error("the body is not a supported audio format")]
    NotAudio,
    /// The body exceeds the configured size limit.
    #[error("the body exceeds the {max} byte limit")]
    TooLarge {
        /// The limit in bytes.
        max: u64,
    },
    /// One more clip, or these bytes, would take the account past its quota (refused before
    /// the bytes were kept).
    #[error("the upload would take the account past its quota")]
    OverQuota {
        /// The account's stored clips.
        usage: voicebin_domain::Usage,
        /// Its limits.
        limits: voicebin_domain::Limits,
    },
    /// The quota store could not be consulted.
    #[error(transparent)]
    QuotaUnavailable(QuotaError),
    /// Reading the body failed (the client went away or sent a malformed stream).
    #[error("could not read the body: {0}")]
    Body(std::io::Error),
    /// Blob storage failed.
    #[error(transparent)]
    Storage(BlobError),
    /// A moderator took these exact bytes down; they may not be uploaded again.
    #[error("this audio was taken down by a moderator and cannot be uploaded again")]
    Blocked,
    /// The blocklist could not be consulted.
    #[error(transparent)]
    BlocklistUnavailable(BlocklistError),
    /// Recording the upload failed.
    #[error(transparent)]
    Command(#[from] CommandError),
}

/// The application service for clips.
#[derive(Clone)]
pub struct ClipService {
    store: Arc<dyn ClipStore>,
    blobs: Arc<dyn BlobStore>,
    queue: Arc<dyn ScanQueue>,
    downloads: Arc<DownloadCounter>,
    blocklist: Arc<dyn Blocklist>,
    max_upload_bytes: u64,
    quotas: Arc<dyn Quotas>,
    lifetimes: Lifetimes,
}

/// What a moderator decided about a clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Hide it from everyone but its owner and moderators.
    Block,
    /// Make it public again (or dismiss open reports).
    Restore,
    /// Take it down for good: purge the bytes, blocklist the digest.
    Remove,
}

/// Room held in a quota for an upload in progress. Given back with [`Held::release`]; if
/// the upload's future is dropped first (the client went away), given back by a task
/// spawned on drop. A process that dies holding room loses it when the reservation lapses.
struct Held {
    quotas: Arc<dyn Quotas>,
    ticket: Option<String>,
}

impl Held {
    async fn release(mut self) {
        if let Some(ticket) = self.ticket.take() {
            give_back(self.quotas.as_ref(), &ticket).await;
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let Some(ticket) = self.ticket.take() else {
            return;
        };
        let quotas = self.quotas.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move { give_back(quotas.as_ref(), &ticket).await });
            }
            Err(_) => tracing::warn!("quota room of an abandoned upload is held until it lapses"),
        }
    }
}

async fn give_back(quotas: &dyn Quotas, ticket: &str) {
    if let Err(e) = quotas.release(ticket).await {
        tracing::warn!(error = %e, "quota room not given back; it is held until it lapses");
    }
}

/// Marker error carried through the byte stream when the size limit is crossed.
#[derive(Debug, thiserror::Error)]
#[error("upload size limit exceeded")]
struct LimitExceeded;

impl ClipService {
    /// Builds the service from its ports.
    pub fn new(
        store: Arc<dyn ClipStore>,
        blobs: Arc<dyn BlobStore>,
        queue: Arc<dyn ScanQueue>,
        blocklist: Arc<dyn Blocklist>,
        max_upload_bytes: u64,
    ) -> Self {
        Self {
            downloads: Arc::new(DownloadCounter::new(store.clone())),
            store,
            blobs,
            queue,
            blocklist,
            max_upload_bytes,
            quotas: Arc::new(NoQuotas),
            lifetimes: Lifetimes::default(),
        }
    }

    /// The same service, holding uploads to `quotas` (without, nothing is limited).
    pub fn with_quotas(mut self, quotas: Arc<dyn Quotas>) -> Self {
        self.quotas = quotas;
        self
    }

    /// The service with the operator's clip lifetimes (default: no maximum, no default).
    pub fn with_lifetimes(mut self, lifetimes: Lifetimes) -> Self {
        self.lifetimes = lifetimes;
        self
    }

    /// The operator's clip lifetimes: the maximum and the default.
    pub fn lifetimes(&self) -> Lifetimes {
        self.lifetimes
    }

    /// The configured upload size limit in bytes.
    pub fn max_upload_bytes(&self) -> u64 {
        self.max_upload_bytes
    }

    /// The download counter (its flush loop runs in the background).
    pub fn downloads(&self) -> &Arc<DownloadCounter> {
        &self.downloads
    }

    /// The blob store (downloads and the scan worker read from it).
    pub fn blobs(&self) -> &Arc<dyn BlobStore> {
        &self.blobs
    }

    /// Streams `body` to blob storage while hashing and measuring it, records `Uploaded` and
    /// queues a scan. The media type is decided from the first bytes; nothing stays behind
    /// when the upload is refused.
    ///
    /// Before a byte is read, room is held in the owner's quota: the declared length, or as
    /// much as the upload could take; the body may not pass what was granted. The room is
    /// given back once the upload is recorded (its view then counts it) or refused.
    #[instrument(skip_all, fields(clip.id))]
    pub async fn upload(
        &self,
        request: UploadRequest,
        body: ByteStream,
    ) -> Result<ClipId, UploadError> {
        let max = request
            .max_bytes
            .map_or(self.max_upload_bytes, |m| m.min(self.max_upload_bytes));
        let (want, min) = match request.declared_bytes {
            Some(len) if len > max => return Err(UploadError::TooLarge { max }),
            Some(len) => (len, len),
            None => (max, 1),
        };
        let (grant, held) = self.hold(&request.owner, want, min).await?;
        let result = self.store_upload(request, body, max, &grant).await;
        held.release().await;
        result
    }

    /// The refusal of a body that passed `cap` of an upload limited to `max` bytes: the
    /// quota's, when the quota set the cap.
    fn over(cap: u64, max: u64, grant: &QuotaGrant) -> UploadError {
        if cap < max {
            UploadError::OverQuota {
                usage: grant.usage,
                limits: grant.limits,
            }
        } else {
            UploadError::TooLarge { max }
        }
    }

    /// [`ClipService::upload`] once the quota's room is held: at most `max` bytes, and at
    /// most `grant.bytes`.
    async fn store_upload(
        &self,
        request: UploadRequest,
        mut body: ByteStream,
        max: u64,
        grant: &QuotaGrant,
    ) -> Result<ClipId, UploadError> {
        let cap = max.min(grant.bytes);
        let mut prefix = BytesMut::new();
        while prefix.len() < SNIFF_BYTES {
            match body.next().await {
                Some(Ok(chunk)) => prefix.extend_from_slice(&chunk),
                Some(Err(e)) => return Err(UploadError::Body(e)),
                None => break,
            }
            if prefix.len() as u64 > cap {
                return Err(Self::over(cap, max, grant));
            }
        }
        if prefix.is_empty() {
            return Err(UploadError::Empty);
        }
        let content_type =
            ContentType::from_sniffed(sniff_audio(&prefix).ok_or(UploadError::NotAudio)?);

        let id = new_clip_id();
        tracing::Span::current().record("clip.id", id.as_str());
        let blob_key = format!("clips/{id}");

        let state = Arc::new(Mutex::new((Sha256::new(), 0u64)));
        let hashing = {
            let state = state.clone();
            futures::stream::once(async move { Ok(prefix.freeze()) })
                .chain(body)
                .map(move |chunk: std::io::Result<Bytes>| {
                    let chunk = chunk?;
                    let mut guard = state.lock().unwrap_or_else(|p| p.into_inner());
                    guard.0.update(&chunk);
                    guard.1 += chunk.len() as u64;
                    if guard.1 > cap {
                        return Err(std::io::Error::other(LimitExceeded));
                    }
                    Ok(chunk)
                })
        };
        match self.blobs.put(&blob_key, Box::pin(hashing)).await {
            Ok(_) => {}
            Err(BlobError::Source(e)) if is_limit(&e) => return Err(Self::over(cap, max, grant)),
            Err(BlobError::Source(e)) => return Err(UploadError::Body(e)),
            Err(e) => return Err(UploadError::Storage(e)),
        }
        let (hasher, size_bytes) = {
            let mut guard = state.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::take(&mut *guard)
        };
        let sha256 = Sha256Digest::from_bytes(hasher.finalize().into());
        self.record(
            request,
            Stored {
                id,
                blob_key,
                content_type,
                size_bytes,
                sha256,
            },
        )
        .await
    }

    /// Records a clip whose bytes a resumable upload has stored under `stored.blob_key`
    /// (ADR 0025), as [`ClipService::upload`] records one it streamed: room for its exact size
    /// is held in the owner's quota, the blocklist is asked, `Uploaded` recorded and a scan
    /// queued. Refused, the blob is removed.
    #[instrument(skip_all, fields(clip.id = %stored.id))]
    pub async fn record_stored(
        &self,
        request: UploadRequest,
        stored: Stored,
    ) -> Result<ClipId, UploadError> {
        let size = stored.size_bytes;
        let max = request
            .max_bytes
            .map_or(self.max_upload_bytes, |m| m.min(self.max_upload_bytes));
        let refusal = if size > max {
            UploadError::TooLarge { max }
        } else {
            match self.hold(&request.owner, size, size).await {
                Ok((_, held)) => {
                    let recorded = self.record(request, stored).await;
                    held.release().await;
                    return recorded;
                }
                Err(refusal) => refusal,
            }
        };
        if let Err(cleanup) = self.blobs.delete(&stored.blob_key).await {
            tracing::warn!(error = %cleanup, "could not remove the blob of a refused upload");
        }
        Err(refusal)
    }

    /// Whether one more clip of `bytes` would fit `owner`'s quota now (a resumable upload of
    /// a declared length asks when it begins; the room is held only when it completes).
    pub async fn check_room(&self, owner: &AccountId, bytes: u64) -> Result<(), UploadError> {
        let (_, held) = self.hold(owner, bytes, bytes).await?;
        held.release().await;
        Ok(())
    }

    /// Holds room for one more clip of `owner`'s, of at least `min` and at most `want` bytes;
    /// refused as the upload's refusal.
    async fn hold(
        &self,
        owner: &AccountId,
        want: u64,
        min: u64,
    ) -> Result<(QuotaGrant, Held), UploadError> {
        match self.quotas.reserve(owner, want, min).await {
            Ok(grant) => {
                let held = Held {
                    quotas: self.quotas.clone(),
                    ticket: grant.ticket.clone(),
                };
                Ok((grant, held))
            }
            Err(QuotaError::Exceeded { usage, limits }) => {
                Err(UploadError::OverQuota { usage, limits })
            }
            Err(e) => Err(UploadError::QuotaUnavailable(e)),
        }
    }

    /// A fresh clip id (a resumable upload takes its clip's id, and so its blob key, when it
    /// begins).
    pub fn new_clip_id() -> ClipId {
        new_clip_id()
    }

    /// Records `Uploaded` for bytes stored under `stored.blob_key`, unless the blocklist
    /// refuses them; queues the scan. Refused or failed, the blob is removed.
    async fn record(&self, request: UploadRequest, stored: Stored) -> Result<ClipId, UploadError> {
        let Stored {
            id,
            blob_key,
            content_type,
            size_bytes,
            sha256,
        } = stored;
        let blocked = match self.blocklist.is_blocked(&sha256).await {
            Ok(false) => None,
            Ok(true) => Some(UploadError::Blocked),
            Err(e) => Some(UploadError::BlocklistUnavailable(e)),
        };
        if let Some(refusal) = blocked {
            if let Err(cleanup) = self.blobs.delete(&blob_key).await {
                tracing::warn!(error = %cleanup, "could not remove the blob of a refused upload");
            }
            return Err(refusal);
        }

        // The name handed out must not promise another type than the bytes are.
        let filename = request
            .filename
            .map(|name| name.matching(&content_type))
            .unwrap_or_else(|| Filename::fallback(&id, &content_type));
        // The lifetime runs from when the upload is recorded, not from when its first byte
        // arrived, so a slow upload is not born expired.
        let at = Utc::now();
        let command = ClipCommand::UploadClip {
            owner: request.owner.clone(),
            title: request.title,
            description: request.description,
            filename,
            content_type,
            size_bytes,
            sha256,
            blob_key: blob_key.clone(),
            download_limit: request.download_limit,
            expires_at: request.lifetime.map(|l| l.after(at)),
            at,
        };
        let meta = CommandMeta {
            actor: format!("account:{}", request.owner),
            request_id: request.request_id,
        };
        if let Err(e) = self.store.execute(&id, command, meta).await {
            if let Err(cleanup) = self.blobs.delete(&blob_key).await {
                tracing::warn!(error = %cleanup, "could not remove the blob of a failed upload");
            }
            return Err(e.into());
        }
        if let Err(e) = self.queue.enqueue(&id).await {
            // The upload is recorded; pending clips are re-queued when a worker starts.
            tracing::warn!(error = %e, "scan job not queued; it will be recovered");
        }
        Ok(id)
    }

    /// Edits title, description, download limit and/or expiry (`None` = leave alone). An
    /// expiry is checked against the operator's maximum by the caller
    /// ([`Lifetimes::check_instant`]).
    #[instrument(skip_all, fields(clip.id = %id))]
    #[allow(clippy::too_many_arguments)]
    pub async fn edit(
        &self,
        id: &ClipId,
        actor: &AccountId,
        title: Option<Option<Title>>,
        description: Option<Option<Description>>,
        download_limit: Option<Option<DownloadLimit>>,
        expires_at: Option<Option<DateTime<Utc>>>,
        request_id: Option<String>,
    ) -> Result<(), CommandError> {
        let command = ClipCommand::EditClip {
            actor: actor.clone(),
            title,
            description,
            download_limit,
            expires_at,
            at: Utc::now(),
        };
        let meta = CommandMeta {
            actor: format!("account:{actor}"),
            request_id,
        };
        self.store.execute(id, command, meta).await
    }

    /// Deletes a clip and purges its bytes. The clip stops being served when `Deleted` is
    /// committed; a purge failure is logged and retried by the sweeper, never shown to the user.
    #[instrument(skip_all, fields(clip.id = %id))]
    pub async fn delete(
        &self,
        id: &ClipId,
        actor: &AccountId,
        blob_key: &str,
        request_id: Option<String>,
    ) -> Result<(), CommandError> {
        let command = ClipCommand::DeleteClip {
            actor: actor.clone(),
            at: Utc::now(),
        };
        let meta = CommandMeta {
            actor: format!("account:{actor}"),
            request_id,
        };
        self.store.execute(id, command, meta).await?;
        self.purge(id, blob_key, "deleted").await;
        Ok(())
    }

    /// Records `Expired` for a clip whose expiry has come, as the system (the expiry sweeper).
    /// Nothing is recorded for a clip already expired, not due by its own history (its owner
    /// moved or cleared the expiry since the read model was read) or removed; a deleted one
    /// is done too. Conflicts with another replica's sweeper are retried, and the retry finds
    /// the clip expired: `Expired` is recorded once. The caller purges the bytes once the
    /// event log holds `Expired` ([`ClipService::purge`]).
    /// `at` is when: an `Expired` event this call records carries it, so the caller can tell its
    /// own from a racing replica's.
    #[instrument(skip_all, fields(clip.id = %id))]
    pub async fn expire(&self, id: &ClipId, at: DateTime<Utc>) -> Result<(), CommandError> {
        let command = ClipCommand::ExpireClip { at };
        match self
            .store
            .execute(id, command, CommandMeta::system("expiry"))
            .await
        {
            Err(CommandError::Rule(ClipError::Deleted)) => Ok(()),
            other => other,
        }
    }

    /// Deletes the bytes of a clip that is gone (`why`: deleted, removed, expired): the
    /// original at `blob_key` and its rendition. A failure is logged and left to the orphan
    /// sweeper, which removes the blobs of such clips.
    pub async fn purge(&self, id: &ClipId, blob_key: &str, why: &str) {
        for key in [blob_key.to_owned(), rendition_key(id)] {
            if let Err(e) = self.blobs.delete(&key).await {
                tracing::warn!(blob = %key, error = %e, why, "blob of a gone clip not purged yet");
            }
        }
    }

    /// Records an abuse report (and hides the clip when `hide_threshold` distinct reporters
    /// have open reports). A repeat from the same reporter is accepted and not recorded again.
    #[instrument(skip_all, fields(clip.id = %id))]
    pub async fn report(
        &self,
        id: &ClipId,
        reporter: Reporter,
        reason: ReportReason,
        note: Option<ReportNote>,
        hide_threshold: u32,
        request_id: Option<String>,
    ) -> Result<(), CommandError> {
        // The reporter is the actor: `account:<id>`, or `anonymous:<tag>` for someone known only
        // by a keyed hash of their address. Owners see neither.
        let actor = reporter.to_string();
        let command = ClipCommand::ReportClip {
            reporter,
            reason,
            note,
            at: Utc::now(),
        };
        let meta = CommandMeta { actor, request_id };
        self.store.execute(id, command, meta).await?;
        // Hiding is the system's doing, so it is a command of its own with the system as actor.
        // Should this process die in between, the next report of the clip hides it.
        let command = ClipCommand::ApplyReportThreshold {
            threshold: hide_threshold,
            at: Utc::now(),
        };
        self.store
            .execute(id, command, CommandMeta::system("moderation"))
            .await
    }

    /// Records a moderator's decision. A removal purges the bytes once it is committed (a purge
    /// failure is logged and left to the sweeper, as for deletions).
    #[instrument(skip_all, fields(clip.id = %id, decision = ?decision))]
    #[allow(clippy::too_many_arguments)]
    pub async fn moderate(
        &self,
        id: &ClipId,
        moderator: &AccountId,
        decision: Decision,
        reason: ModerationReason,
        sha256: Sha256Digest,
        blob_key: &str,
        request_id: Option<String>,
    ) -> Result<(), CommandError> {
        let at = Utc::now();
        let moderator_id = moderator.clone();
        let command = match decision {
            Decision::Block => ClipCommand::BlockClip {
                moderator: moderator_id,
                reason,
                at,
            },
            Decision::Restore => ClipCommand::RestoreClip {
                moderator: moderator_id,
                reason,
                at,
            },
            Decision::Remove => ClipCommand::RemoveClip {
                moderator: moderator_id,
                reason,
                sha256,
                at,
            },
        };
        let meta = CommandMeta {
            actor: format!("account:{moderator}"),
            request_id,
        };
        self.store.execute(id, command, meta).await?;
        if decision == Decision::Remove {
            self.purge(id, blob_key, "removed").await;
        }
        Ok(())
    }

    /// Records a scan verdict; `retry` when the scan was a retry an operator asked for (only
    /// such a scan may record a verdict on a `failed` clip). A verdict for a clip deleted or
    /// expired meanwhile is dropped quietly.
    #[instrument(skip_all, fields(clip.id = %id, verdict = ?outcome.verdict, retry))]
    pub async fn complete_scan(
        &self,
        id: &ClipId,
        outcome: ScanOutcome,
        retry: bool,
        component: &str,
    ) -> Result<(), CommandError> {
        let command = ClipCommand::CompleteScan {
            outcome,
            retry,
            at: Utc::now(),
        };
        match self
            .store
            .execute(id, command, CommandMeta::system(component))
            .await
        {
            Err(CommandError::Rule(ClipError::Deleted | ClipError::Expired)) => Ok(()),
            other => other,
        }
    }

    /// Records the playback rendition stored under `blob_key` for a clean clip.
    #[instrument(skip_all, fields(clip.id = %id))]
    pub async fn complete_rendition(
        &self,
        id: &ClipId,
        blob_key: String,
        content_type: ContentType,
        size_bytes: u64,
        sha256: Sha256Digest,
    ) -> Result<(), CommandError> {
        let command = ClipCommand::CompleteRendition {
            blob_key,
            content_type,
            size_bytes,
            sha256,
            at: Utc::now(),
        };
        self.store
            .execute(id, command, CommandMeta::system("renditions"))
            .await
    }

    /// Records that no rendition could be made for a clip, and why.
    #[instrument(skip_all, fields(clip.id = %id))]
    pub async fn fail_rendition(&self, id: &ClipId, reason: String) -> Result<(), CommandError> {
        let command = ClipCommand::FailRendition {
            reason,
            at: Utc::now(),
        };
        self.store
            .execute(id, command, CommandMeta::system("renditions"))
            .await
    }

    /// Records the speech-to-text stage's transcript (`component` names the worker). A
    /// transcript for a clip deleted or taken down meanwhile is dropped quietly.
    #[instrument(skip_all, fields(clip.id = %id))]
    pub async fn complete_transcript(
        &self,
        id: &ClipId,
        transcript: Transcript,
        engine: &str,
        component: &str,
    ) -> Result<(), CommandError> {
        let command = ClipCommand::CompleteTranscript {
            transcript,
            engine: engine.to_owned(),
            at: Utc::now(),
        };
        quietly_gone(
            self.store
                .execute(id, command, CommandMeta::system(component))
                .await,
        )
    }

    /// Records that the speech-to-text stage gave up on a clip, and why.
    #[instrument(skip_all, fields(clip.id = %id))]
    pub async fn fail_transcript(
        &self,
        id: &ClipId,
        reason: &str,
        engine: &str,
        component: &str,
    ) -> Result<(), CommandError> {
        let command = ClipCommand::FailTranscript {
            reason: reason.to_owned(),
            engine: engine.to_owned(),
            at: Utc::now(),
        };
        quietly_gone(
            self.store
                .execute(id, command, CommandMeta::system(component))
                .await,
        )
    }

    /// The owner sets the clip's transcript.
    #[instrument(skip_all, fields(clip.id = %id))]
    pub async fn correct_transcript(
        &self,
        id: &ClipId,
        actor: &AccountId,
        transcript: Transcript,
        request_id: Option<String>,
    ) -> Result<(), CommandError> {
        let command = ClipCommand::CorrectTranscript {
            actor: actor.clone(),
            transcript,
            at: Utc::now(),
        };
        let meta = CommandMeta {
            actor: format!("account:{actor}"),
            request_id,
        };
        self.store.execute(id, command, meta).await
    }
}

/// A stage's result for a clip that was deleted, taken down, expired or is not clean (any more) has
/// nothing to record: done, not an error.
fn quietly_gone(result: Result<(), CommandError>) -> Result<(), CommandError> {
    match result {
        Err(CommandError::Rule(
            ClipError::Deleted | ClipError::Removed | ClipError::Expired | ClipError::NotAvailable,
        )) => Ok(()),
        other => other,
    }
}

fn is_limit(e: &std::io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<LimitExceeded>())
}

fn new_clip_id() -> ClipId {
    let mut bytes = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut bytes);
    ClipId::from_random_bytes(bytes)
}
