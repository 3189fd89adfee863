//! Ports of the projection layer: where views are kept ([`ReadStore`]) and where events are
//! read back from ([`EventLog`]).

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use cqrs_es::EventEnvelope;
use voicebin_domain::{Clip, Stage};

use crate::moderation::{BlockedDigest, ModerationChange, QueuePage, QueueQuery, ReportRow};
use crate::search::{SearchHit, SearchQuery, TranscriptSegment};
use crate::view::ClipView;

/// A read-model or event-log failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or answered with an error.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// A stored event or read-model row could not be decoded (an unknown state name, say).
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// A store other than the database (Redis, for rate limits) could not be reached or
    /// answered with an error.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            // The database answered; what it holds does not fit the model.
            sqlx::Error::ColumnDecode { index, source } => {
                StoreError::Corrupt(format!("column {index}: {source}"))
            }
            e => StoreError::Database(e),
        }
    }
}

/// A position in the owner listing: the last row of the previous page. Pages are ordered by
/// (`rank`, `created_at`, `id`), all descending: a search ranks each clip by the best field it
/// matched in ([`crate::MatchField::rank`]); the plain listing has no rank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The search rank of the last row seen; `None` in the plain listing.
    pub rank: Option<i64>,
    /// `created_at` of the last row seen.
    pub created_at: i64,
    /// `id` of the last row seen.
    pub id: String,
}

impl Cursor {
    /// The opaque form handed to clients.
    pub fn encode(&self) -> String {
        let text = match self.rank {
            None => format!("{}:{}", self.created_at, self.id),
            Some(rank) => format!("r{rank}:{}:{}", self.created_at, self.id),
        };
        URL_SAFE_NO_PAD.encode(text)
    }

    /// Parses the opaque form; `None` when it was not made by [`Cursor::encode`].
    pub fn decode(raw: &str) -> Option<Self> {
        if raw.len() > 128 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (rank, rest) = match text.strip_prefix('r') {
            Some(ranked) => {
                let (rank, rest) = ranked.split_once(':')?;
                (Some(rank.parse().ok()?), rest)
            }
            None => (None, text.as_str()),
        };
        let (created_at, id) = rest.split_once(':')?;
        let id = voicebin_domain::ClipId::parse(id).ok()?;
        Some(Cursor {
            rank,
            created_at: created_at.parse().ok()?,
            id: id.into_inner(),
        })
    }
}

/// One page of the owner listing request.
#[derive(Debug, Clone)]
pub struct ListQuery {
    /// The owner whose clips to list.
    pub owner: String,
    /// Full-text search over title, filename, description and transcript; best match first.
    pub q: Option<SearchQuery>,
    /// Continue after this position.
    pub after: Option<Cursor>,
    /// Page size.
    pub limit: u32,
}

/// A listed clip, and where it matched the search (if one was asked for).
#[derive(Debug, Clone)]
pub struct Listed {
    /// The clip.
    pub view: ClipView,
    /// Where it matched `q`; `None` without `q`.
    pub hit: Option<SearchHit>,
}

/// A page of views and where the next one starts.
#[derive(Debug, Clone)]
pub struct Page {
    /// Newest first; with `q`, best match first (then newest).
    pub items: Vec<Listed>,
    /// Present when more rows follow.
    pub next: Option<Cursor>,
}

/// Where the read models live.
#[async_trait]
pub trait ReadStore: Send + Sync {
    /// One clip's view.
    async fn get(&self, id: &str) -> Result<Option<ClipView>, StoreError>;
    /// The owner listing: live clips, newest first, stable keyset pagination.
    async fn list(&self, query: &ListQuery) -> Result<Page, StoreError>;
    /// Ids of live clips still waiting for a scan verdict.
    async fn pending_ids(&self) -> Result<Vec<String>, StoreError>;
    /// Writes what events did to clip `id`, in one transaction: `changes` to the moderation
    /// read models, in order (each idempotent: applying one again changes nothing), and `view`,
    /// unless the stored view is already at a later version. With `after: Some(v)` only if the
    /// stored view is still at version `v` (0: none yet); otherwise nothing is written and the
    /// answer is `false`. With `transcript: Some(segments)`, the clip's transcript segments are
    /// replaced in the same transaction (and the clip re-indexed for search), so no reader sees
    /// a view whose transcript its segments do not match yet. Never astride a rebuild's swap: a
    /// view's version always covers the moderation rows of the events it counts.
    async fn write_projection(
        &self,
        id: &str,
        after: Option<i64>,
        view: Option<&ClipView>,
        changes: &[ModerationChange],
        transcript: Option<&[TranscriptSegment]>,
    ) -> Result<bool, StoreError>;
    /// The moderators' queue: clips with matching reports, oldest report first.
    async fn report_queue(&self, query: &QueueQuery) -> Result<QueuePage, StoreError>;
    /// The blocklist entry of a digest, if a moderator took those bytes down.
    async fn blocked(&self, sha256: &str) -> Result<Option<BlockedDigest>, StoreError>;
    /// Starts a rebuild: empties (creating if needed) the tables it builds aside.
    async fn rebuild_begin(&self) -> Result<(), StoreError>;
    /// Adds rows to the tables being built aside.
    async fn rebuild_write(&self, batch: &RebuildBatch) -> Result<(), StoreError>;
    /// Swaps the tables built aside in for the live ones, in one transaction, and drops them.
    async fn rebuild_swap(&self) -> Result<(), StoreError>;
    /// Every view, ordered by id (used to compare a rebuild with the live tables).
    async fn all(&self) -> Result<Vec<ClipView>, StoreError>;
    /// Every report, ordered by clip and sequence (for the same comparison).
    async fn all_reports(&self) -> Result<Vec<ReportRow>, StoreError>;
    /// The whole blocklist, ordered by digest (for the same comparison).
    async fn all_blocked(&self) -> Result<Vec<BlockedDigest>, StoreError>;
    /// Replaces every transcript segment of clip `id` with `segments` (in order) and
    /// re-indexes the clip for search, in one transaction.
    async fn replace_transcript(
        &self,
        id: &str,
        segments: &[TranscriptSegment],
    ) -> Result<(), StoreError>;
    /// Removes clip `id`'s transcript (a deleted or removed clip) and re-indexes the clip.
    async fn clear_transcript(&self, id: &str) -> Result<(), StoreError> {
        self.replace_transcript(id, &[]).await
    }
    /// Clip `id`'s transcript segments, in order (none when it has no transcript).
    async fn transcript(&self, id: &str) -> Result<Vec<TranscriptSegment>, StoreError>;
    /// Every transcript segment, ordered by clip and position (to compare a rebuild).
    async fn all_transcripts(&self) -> Result<Vec<(String, TranscriptSegment)>, StoreError>;
    /// The whole search index as text, one entry per clip ordered by clip id, in the
    /// backend's own terms (to compare a rebuilt index with the live one).
    async fn all_search_entries(&self) -> Result<Vec<String>, StoreError>;
    /// Whether the store answers at all.
    async fn ping(&self) -> Result<(), StoreError>;
    /// The shared secret called `name`, storing `candidate` if there is none yet (the first
    /// replica to ask wins; everyone gets the same value).
    async fn shared_secret(&self, name: &str, candidate: &str) -> Result<String, StoreError>;
}

/// Rows a rebuild writes aside in one go.
#[derive(Debug, Default)]
pub struct RebuildBatch {
    /// Clip views.
    pub views: Vec<ClipView>,
    /// Abuse reports.
    pub reports: Vec<ReportRow>,
    /// Blocklist entries.
    pub blocked: Vec<BlockedDigest>,
    /// Transcripts, by clip (each clip of `views` at most once).
    pub transcripts: Vec<(String, Vec<TranscriptSegment>)>,
}

impl RebuildBatch {
    /// Rows held.
    pub fn len(&self) -> usize {
        self.views.len()
            + self.reports.len()
            + self.blocked.len()
            + self.transcripts.iter().map(|(_, t)| t.len()).sum::<usize>()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One-time tokens seen by any replica (DPoP proof ids), kept until they expire.
#[async_trait]
pub trait ReplayCache: Send + Sync {
    /// Records `key` until `expires_at` (Unix seconds). `true` the first time; `false` while an
    /// earlier record of the same key is still live (a replay). Atomic across replicas.
    async fn first_use(&self, key: &str, expires_at: i64, now: i64) -> Result<bool, StoreError>;
    /// Forgets every record whose time is up; returns how many.
    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError>;
}

/// One-time sign-in links already redeemed (their `jti`), kept until the link expires.
#[async_trait]
pub trait RedeemedLinks: Send + Sync {
    /// Records the link `jti` as redeemed until `expires_at` (Unix seconds). `true` the first
    /// time; `false` when it already was. Atomic across replicas: of concurrent redemptions of
    /// one link, exactly one gets `true`.
    async fn redeem(&self, jti: &str, expires_at: i64) -> Result<bool, StoreError>;
    /// Forgets the links whose time is up at `now` (they are refused as expired anyway);
    /// returns how many.
    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError>;
}

/// Bytes a request took from a paid grant (see [`PlaybackGrants::reserve`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    /// How many bytes were taken.
    pub bytes: i64,
    /// Which payment of the grant they were taken from (refunds go back to that one only).
    pub generation: i64,
}

/// Playback grants paid for by a counted download, shared by every replica, so a listener's
/// seeks and resumes are not counted again on any replica (docs/adr/0005-download-counting.md).
/// Times are Unix seconds; budgets are bytes.
#[async_trait]
pub trait PlaybackGrants: Send + Sync {
    /// Takes up to `want` bytes, and at least `min`, from what is left of the live, paid grant
    /// `nonce` for `clip`. Atomic across replicas.
    async fn reserve(
        &self,
        nonce: &str,
        clip: &str,
        want: i64,
        min: i64,
        now: i64,
    ) -> Result<Option<Reservation>, StoreError>;
    /// Claims the right to pay for grant `nonce` of `clip` until `lease_until`: `true` when
    /// this caller holds it (nobody else does, or their lease lapsed). What was paid before is
    /// kept. The holder then [`pays`](Self::pay) or [`releases`](Self::release) it.
    async fn claim(
        &self,
        nonce: &str,
        clip: &str,
        lease_until: i64,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Records a payment for a claimed grant: `budget` bytes until `expires_at`, of which the
    /// paying request takes `used`; releases the claim. Returns the payment's generation.
    async fn pay(
        &self,
        nonce: &str,
        budget: i64,
        used: i64,
        expires_at: i64,
    ) -> Result<i64, StoreError>;
    /// Releases a claim without paying; the grant keeps what was paid before (if anything).
    async fn release(&self, nonce: &str) -> Result<(), StoreError>;
    /// Returns `bytes` a request reserved from payment `generation` but did not send.
    async fn refund(&self, nonce: &str, generation: i64, bytes: i64) -> Result<(), StoreError>;
    /// Forgets every grant whose time is up and every lapsed claim of a grant never paid;
    /// returns how many.
    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError>;
}

/// Bookkeeping of published scan jobs (the relay's claim table).
/// A clip whose expiry has come, as the read model knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueClip {
    /// Its id.
    pub id: String,
    /// Where its bytes are (purged once it has expired).
    pub blob_key: String,
}

/// The clips whose expiry has come (the expiry sweeper's work list).
#[async_trait]
pub trait ExpiryIndex: Send + Sync {
    /// Up to `limit` clips whose `expires_at` is at or before `now` (µs since the epoch) and
    /// that are not yet expired, deleted or removed, soonest first. The read model may lag: the
    /// aggregate decides whether each is really due.
    async fn due(&self, now: i64, limit: u32) -> Result<Vec<DueClip>, StoreError>;
}

#[async_trait]
pub trait ScanDispatch: Send + Sync {
    /// Claims up to `limit` pending clips whose job was never published or not since `cutoff`
    /// (µs), marking them published at `now`. Atomic across replicas: a clip is claimed by one
    /// caller per interval.
    async fn claim_pending(
        &self,
        now: i64,
        cutoff: i64,
        limit: u32,
    ) -> Result<Vec<String>, StoreError>;
    /// Forgets a claim whose publish failed, so the next pass retries it.
    async fn release(&self, clip_id: &str) -> Result<(), StoreError>;
    /// Drops claims and attempt counts of clips that are no longer pending.
    async fn prune(&self) -> Result<u64, StoreError>;
    /// Counts one more scan of `clip_id` as started and returns how many were started so far
    /// (1 the first time). Counted before the scan runs, so a scan that kills its worker
    /// still counts; every job of the clip (redeliveries, republished jobs) shares the count.
    async fn start_attempt(&self, clip_id: &str) -> Result<u32, StoreError>;
    /// Forgets the attempts of `clip_id`: an operator's retry starts a fresh count.
    async fn reset_attempts(&self, clip_id: &str) -> Result<(), StoreError>;
    /// The scan backlog, for metrics: how many clips wait for a verdict, and since when the
    /// oldest one the relay never published a job for has waited.
    async fn backlog(&self) -> Result<ScanBacklog, StoreError>;
}

/// The clips waiting for a scan verdict ([`ScanDispatch::backlog`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanBacklog {
    /// Live clips whose scan is pending.
    pub pending: u64,
    /// Upload time (µs) of the oldest pending clip whose job the relay never published.
    pub oldest_unrelayed_at: Option<i64>,
}

/// Bookkeeping of published stage jobs, per (clip, stage): the stage relay's claims and the
/// count of attempts, as [`ScanDispatch`] keeps them for scans. A clip is pending in a stage
/// while its view says so (`ClipView::stage_state`).
#[async_trait]
pub trait StageDispatch: Send + Sync {
    /// Claims up to `limit` clips pending in `stage` whose job was never published or not since
    /// it came due (µs), marking them published at `now`. Atomic across replicas.
    async fn claim_pending(
        &self,
        stage: Stage,
        now: i64,
        first_retry: i64,
        limit: u32,
    ) -> Result<Vec<String>, StoreError>;
    /// Forgets a claim whose publish failed, so the next pass retries it.
    async fn release(&self, stage: Stage, clip_id: &str) -> Result<(), StoreError>;
    /// Drops claims and attempt counts of clips no longer pending in `stage`.
    async fn prune(&self, stage: Stage) -> Result<u64, StoreError>;
    /// Counts one more run of `stage` on `clip_id` as started; returns how many so far.
    async fn start_attempt(&self, stage: Stage, clip_id: &str) -> Result<u32, StoreError>;
    /// Forgets the attempts of `stage` on `clip_id` (an operator's retry starts afresh).
    async fn reset_attempts(&self, stage: Stage, clip_id: &str) -> Result<(), StoreError>;
    /// How many live clips are pending in `stage`, for metrics.
    async fn pending(&self, stage: Stage) -> Result<u64, StoreError>;
}

/// One stored event exactly as written: the audit view of a clip's history.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Position in the clip's stream, from 1.
    pub sequence: i64,
    /// The event's type name (`Uploaded`, `ScanCompleted`, …).
    pub event_type: String,
    /// The event's schema version.
    pub event_version: String,
    /// The serialized event (externally tagged: `{"Uploaded": {...}}`).
    pub payload: serde_json::Value,
    /// Who caused it and in which request (`actor`, `request_id`).
    pub metadata: serde_json::Value,
}

/// Read access to the `Clip` event streams.
#[async_trait]
pub trait EventLog: Send + Sync {
    /// Up to `limit` events of one clip with a sequence above `after`, in order, as stored.
    async fn history(
        &self,
        id: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError>;
    /// Ids of clips whose view is behind (or missing from) their event stream.
    async fn stale_views(&self) -> Result<Vec<String>, StoreError>;
    /// One clip's events, in order.
    async fn events_for(&self, id: &str) -> Result<Vec<EventEnvelope<Clip>>, StoreError>;
    /// Up to `limit` events of all clips, ordered by clip id and then sequence, starting after
    /// event `after` (a clip id and sequence; `None` starts at the beginning). Paging through
    /// this reads the whole store.
    async fn events_page(
        &self,
        after: Option<(&str, i64)>,
        limit: u32,
    ) -> Result<Vec<EventEnvelope<Clip>>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let c = Cursor {
            rank: None,
            created_at: 1_700_000_000_000_000,
            id: "AAAAAAAAAAAAAAAA".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c.clone()));
        let ranked = Cursor { rank: Some(3), ..c };
        assert_eq!(Cursor::decode(&ranked.encode()), Some(ranked));
        assert_eq!(
            Cursor::decode(&URL_SAFE_NO_PAD.encode("rx:1:AAAAAAAAAAAAAAAA")),
            None
        );
        assert_eq!(Cursor::decode("not a cursor"), None);
        assert_eq!(Cursor::decode(&URL_SAFE_NO_PAD.encode("x:y")), None);
        assert_eq!(Cursor::decode(&"A".repeat(500)), None);
    }
}
