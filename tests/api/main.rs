//! End-to-end tests of the whole application over HTTP, against SQLite and real PostgreSQL.

mod helpers;

mod auth;
mod concurrency;
mod listing;
mod openapi;
mod rebuild;
mod upload;
mod visibility;
mod walkthrough;
