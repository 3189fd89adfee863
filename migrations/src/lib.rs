//! The SQL schema of voicebin, one directory per backend: the cqrs-es event and snapshot tables
//! and the read models. Embedded into the binary at compile time; applied by `voicebin migrate`
//! and at `voicebin serve` start-up. Migrations are append-only: never edit one that has shipped.
//!
//! # Layout
//!
//! `sqlite/` and `postgres/` hold the same numbered migrations (`NNNN_name.sql`), one per
//! backend; a change to the schema adds the next number to both.
#![forbid(unsafe_code)]

use sqlx::migrate::Migrator;

/// Migrations for the embedded SQLite store.
pub static SQLITE: Migrator = sqlx::migrate!("./sqlite");

/// Migrations for the production PostgreSQL store.
pub static POSTGRES: Migrator = sqlx::migrate!("./postgres");
