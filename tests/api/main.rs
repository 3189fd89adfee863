//! End-to-end tests of the whole application over HTTP, against SQLite and real PostgreSQL.

mod helpers;

mod auth;
mod browser;
mod concurrency;
mod contract;
mod discovery;
mod downloads;
mod dpop;
mod errors;
mod event_snapshots;
mod history;
mod listing;
mod mcp;
mod moderation;
mod multipart;
mod openapi;
mod production;
mod rate_limits;
mod rebuild;
mod recovery;
mod renditions;
mod sandbox;
mod search;
mod transcripts;
mod upload;
mod visibility;
mod walkthrough;
mod webapp;
mod webapp_hostile;
mod webapp_manage;
mod webapp_outcomes;
mod webapp_pages;
mod webapp_search;
mod webapp_signin;
mod webapp_upload;
