//! Read models built from `Clip` events: the public item view and the owner listing (one
//! `clip_views` row per clip), kept current by [`ClipProjector`] and rebuildable from the event
//! store at any time with [`rebuild`].
//!
//! Handlers answer every GET from here, never from the event store. This crate knows SQL (SQLite
//! and PostgreSQL, via sqlx) but nothing about HTTP.
#![forbid(unsafe_code)]

mod projector;
mod sql;
mod store;
mod view;

pub use projector::{rebuild, ClipProjector, RebuildStats};
pub use sql::{PostgresStore, SqliteStore};
pub use store::{
    Cursor, EventLog, ListQuery, Page, ReadStore, ReplayCache, ScanDispatch, StoreError,
    StoredEvent,
};
pub use view::ClipView;
