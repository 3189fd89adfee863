//! Read models built from `Clip` events: the public item view and the owner listing (one
//! `clip_views` row per clip), the moderators' report queue (`clip_reports`) and the blocklist
//! (`blocked_digests`), kept current by [`ClipProjector`] and rebuildable from the event
//! store at any time with [`rebuild`].
//!
//! Handlers answer every GET from here, never from the event store. This crate knows SQL (SQLite
//! and PostgreSQL, via sqlx) but nothing about HTTP.
//!
//! # Layout
//!
//! - `view.rs`: `ClipView`, one row per clip, and how each event changes it.
//! - `search.rs`: full-text search: the word rule both indexes use, the query language of
//!   `q`, and the snippets of a hit; transcripts (`clip_transcript_segments`) are stored for
//!   it and read back from the store.
//! - `moderation.rs`: the report queue and the blocklist, as changes derived from events.
//! - `store.rs`: the ports the other crates read through (`ReadStore`, `EventLog`,
//!   `ExpiryIndex`, `ScanDispatch`, `RateLimits`, `ReplayCache`, `RedeemedLinks`, `PlaybackGrants`); `sql.rs`:
//!   their SQLite and PostgreSQL adapters; `stored.rs`: how typed values are stored by name.
//! - `quota.rs`: per-account quotas: usage read from the views, operators' overrides, and
//!   the room uploads in progress hold (`QuotaStore`, ADR 0022).
//! - `uploads.rs`: resumable uploads in progress (`UploadStore`, ADR 0025): how far each
//!   has got, and the lease that lets one request at a time append.
//! - `rate/`: rate limits: the GCRA step (pure) and the `RateLimits` port with its in-process
//!   and Redis stores (the PostgreSQL one is in `sql.rs`).
//! - `projector.rs`: the live projector (a cqrs-es query), repair of stale views, and the
//!   rebuild of every read model from the event store.
#![forbid(unsafe_code)]

mod moderation;
mod projector;
mod quota;
pub mod rate;
mod recent;
pub mod search;
pub mod sharded;
mod sql;
mod store;
mod stored;
mod uploads;
mod view;

pub use moderation::{
    changes_for, BlockedDigest, ModerationChange, QueueCursor, QueueEntry, QueuePage, QueueQuery,
    ReportRow, ReportState, Resolution,
};
pub use projector::{rebuild, repair, ClipProjector, RebuildStats};
pub use quota::{Overrides, QuotaStore, ReserveRequest, Reserved};
pub use rate::{Clock, MemoryRateLimits, Rate, RateLimits, RedisRateLimits, SystemClock, Take};
pub use recent::RecentViews;
pub use search::{MatchField, SearchHit, SearchQuery, SnippetPart, TranscriptSegment};
pub use sharded::Sharded;
pub use sql::{PostgresStore, SqliteStore};
pub use store::{
    Cursor, DueClip, EventLog, ExpiryIndex, ListQuery, Listed, Page, PlaybackGrants, ReadStore,
    RebuildBatch, RedeemedLinks, ReplayCache, Reservation, ScanDispatch, StageDispatch, StoreError,
    StoredEvent,
};
pub use uploads::{Claim, Progress, UploadRow, UploadStore};
pub use view::{stage_column, ClipView, Rendition};
