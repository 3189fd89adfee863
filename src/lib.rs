//! The composition root of voicebin: reads settings, connects the adapters (SQLite or
//! PostgreSQL, the local blob directory, the embedded or an external token issuer), and hands
//! them to the API and the workers. The `voicebin` binary is a thin clap layer over this.
//!
//! # Layout
//!
//! - `settings.rs`: the settings tree, [`Settings`] and its parts. The binary fills it from flags
//!   and environment variables (`src/bin/voicebin/args.rs`); tests fill it directly.
//! - `database.rs`: [`Database`], SQLite or PostgreSQL, and the stores it offers.
//! - `adapters.rs`: what `serve` and `worker` both connect (blobs, scanner, RabbitMQ).
//! - `stages.rs`: the post-clean stages the settings switch on (playback renditions), each
//!   with its work; `serve` relays their jobs and, in embedded mode, runs them.
//! - `app.rs`: [`build`] assembles `serve`'s [`App`], the API's state and its [`Background`] tasks.
//! - `worker.rs`: [`Worker`], the `voicebin worker` process.
//! - `server.rs`: the HTTP server that runs the API (hyper under poem, with the graceful
//!   shutdown).
//! - `metrics.rs`: the probes that read `/metrics`' gauges (queue depths, dead letters, relay
//!   lag) at scrape time; the registry itself is `voicebin_metrics::Metrics`, one per process.
//! - `telemetry.rs`: the tracing subscriber.
//! - `src/bin/voicebin/`: the `voicebin` command, one module per subcommand.
//!
//! Which issuer's tokens the API trusts is decided with the auth code:
//! [`IssuerSettings::trust`] in `api/src/auth/trust.rs`.
#![forbid(unsafe_code)]

mod adapters;
mod app;
mod database;
mod metrics;
pub mod server;
mod settings;
mod stages;
pub mod telemetry;
mod worker;

pub use app::{build, App, Background, BackgroundHandle};
pub use database::Database;
pub use settings::RateLimiting;
pub use settings::{
    normalize_public_url, AmqpSettings, ClamdSettings, ReadCacheSettings, Settings, SiteSettings,
    DEFAULT_MAX_UPLOAD_BYTES,
};
pub use voicebin_api::auth::dpop::NoncePolicy;
pub use voicebin_api::auth::{
    embedded_issuer, BrowserClient, IntrospectionSettings, IssuerSettings,
};
pub use voicebin_api::usecases::anonymous::{AnonymousSettings, Work};
pub use voicebin_api::usecases::limits::{ClassLimits, Quota, RateLimitSettings};
pub use voicebin_api::usecases::reporters::ModerationSettings;
pub use voicebin_api::usecases::resumable::ResumableSettings;
pub use voicebin_metrics::Metrics;
pub use worker::Worker;
