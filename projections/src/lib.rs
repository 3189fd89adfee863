//! Read models built from `Clip` events: the public item view and the owner listing (one
//! `clip_views` row per clip), the moderators' report queue (`clip_reports`) and the blocklist
//! (`blocked_digests`), kept current by [`ClipProjector`] and rebuildable from the event
//! store at any time with [`rebuild`].
//!
//! Handlers answer every GET from here, never from the event store. This crate knows SQL (SQLite
//! and PostgreSQL, via sqlx) but nothing about HTTP.
#![forbid(unsafe_code)]

mod moderation;
mod projector;
mod sql;
mod store;
mod stored;
mod view;

pub use moderation::{
    changes_for, BlockedDigest, ModerationChange, QueueCursor, QueueEntry, QueuePage, QueueQuery,
    ReportRow, ReportState, Resolution,
};
pub use projector::{rebuild, repair, ClipProjector, RebuildStats};
pub use sql::{PostgresStore, SqliteStore};
pub use store::{
    Cursor, EventLog, ListQuery, Page, RateLimits, ReadStore, RebuildBatch, ReplayCache,
    ScanDispatch, StoreError, StoredEvent,
};
pub use view::ClipView;
