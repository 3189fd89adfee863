//! `AppState`: everything handlers need, built once by the binary and shared by all routes.

use std::sync::Arc;

use voicebin_commands::ClipService;
use voicebin_projections::{EventLog, ReadStore};

use crate::auth::{Principal, TokenVerifier};
use crate::error::ApiError;
use crate::urls::Urls;

/// One dependency `/readyz` checks (the database and blob store are always checked).
#[async_trait::async_trait]
pub trait ReadinessCheck: Send + Sync {
    /// The name shown in `/readyz`.
    fn name(&self) -> &'static str;
    /// `Ok` when the dependency is usable.
    async fn check(&self) -> Result<(), String>;
}

/// Where per-account quotas are kept, and the operator's default limits.
#[derive(Clone)]
pub struct QuotaSettings {
    /// Usage, overrides and the room uploads in progress hold.
    pub store: Arc<dyn voicebin_projections::QuotaStore>,
    /// The limits of an account without overrides (`VOICEBIN_QUOTA_BYTES`,
    /// `VOICEBIN_QUOTA_CLIPS`).
    pub defaults: voicebin_domain::Limits,
}

/// The application's state, shared by every request as [`AppState`].
pub struct State {
    /// Commands: upload, edit, delete.
    pub service: ClipService,
    /// Read models.
    pub views: Arc<dyn ReadStore>,
    /// Views read moments ago, for reads without credentials (ADR 0026); this process's
    /// projector forgets what it changes.
    pub recent: Arc<voicebin_projections::RecentViews>,
    /// The public documents of those views, written once per view (ADR 0028).
    pub rendered: Arc<crate::usecases::rendered::RenderedItems>,
    /// The event store, read-only: only the history endpoint reads it.
    pub events: Arc<dyn EventLog>,
    /// Verifies bearer tokens.
    pub verifier: Arc<dyn TokenVerifier>,
    /// The site's canonical URL (`https://voicebin.example`) and every URL built from it.
    pub urls: Urls,
    /// The embedded issuer's JWKS, served at `/.well-known/jwks.json` when it is in use.
    pub jwks: Option<serde_json::Value>,
    /// A one-line description of the scanner, for `/readyz`.
    pub scanner: String,
    /// Further dependencies to check in `/readyz` (scanner, queue).
    pub readiness: Vec<Arc<dyn ReadinessCheck>>,
    /// Signs playback grants (shared by all replicas through the database).
    pub grants: Arc<crate::usecases::grants::Grants>,
    /// Checks DPoP proofs (replay cache and nonce key shared by all replicas).
    pub dpop: Arc<crate::auth::dpop::DpopVerifier>,
    /// Where the site is described for OAuth clients and agents.
    pub discovery: crate::site::Discovery,
    /// Report limits and the auto-hide threshold.
    pub moderation: crate::usecases::reporters::ModerationSettings,
    /// Rate limits: the quotas of each class of request, over buckets shared by all replicas.
    pub limits: Arc<crate::usecases::limits::Limiter>,
    /// Names anonymous reporters (key shared by all replicas through the database).
    pub reporter_tags: Arc<crate::usecases::reporters::ReporterTags>,
    /// Redeems one-time sign-in links; `None` with an external issuer, which signs people in
    /// itself.
    pub login_links: Option<Arc<crate::usecases::signin::LoginLinks>>,
    /// Per-account quotas: where they are kept and the operator's defaults.
    pub quotas: QuotaSettings,
    /// Anonymous uploads: the settings, challenges and management tokens (keys shared by all
    /// replicas through the database).
    pub anonymous: Arc<crate::usecases::anonymous::Anonymous>,
    /// Resumable uploads (tus and the IETF draft; ADR 0025).
    pub resumable: Arc<crate::usecases::resumable::Resumable>,
    /// Whether this deployment transcribes clean clips (a clip without a transcript is then
    /// `pending`, otherwise `off`).
    pub transcription: bool,
    /// The process's metrics registry (built by the binary, shared with its workers).
    pub metrics: Arc<voicebin_metrics::Metrics>,
    /// Whether `/metrics` is served by this app (`false` when it has a listener of its own).
    pub metrics_here: bool,
    /// Set when the process starts shutting down: `/readyz` then answers 503 `draining`.
    pub draining: Arc<Draining>,
}

/// Everything handlers need, behind one reference count: each request is handed its
/// state (poem's `.data`), and that is one increment, not a copy of every field.
#[derive(Clone)]
pub struct AppState(Arc<State>);

impl AppState {
    /// Shares `state`.
    pub fn new(state: State) -> Self {
        AppState(Arc::new(state))
    }
}

impl std::ops::Deref for AppState {
    type Target = State;

    fn deref(&self) -> &State {
        &self.0
    }
}

/// Whether the process is shutting down. Set once, never cleared.
#[derive(Debug, Default)]
pub struct Draining(std::sync::atomic::AtomicBool);

impl Draining {
    /// Marks the process as shutting down.
    pub fn start(&self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether the process is shutting down.
    pub fn is_draining(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The caller of a request as already verified for it (by the rate limiter, which counts
/// requests per account before the handler runs). Kept in the request, so the token is
/// verified once: a DPoP proof may be used only once.
#[derive(Clone)]
pub(crate) struct Verified(pub(crate) Result<Option<Principal>, ApiError>);

impl AppState {
    /// The verified caller of `req`, if it sent a token; a token that is sent must be valid.
    pub async fn caller(&self, req: &poem::Request) -> Result<Option<Principal>, ApiError> {
        if let Some(Verified(caller)) = req.extensions().get::<Verified>() {
            return caller.clone();
        }
        crate::auth::authenticate(req, self.verifier.as_ref(), &self.dpop)
            .await
            .map_err(ApiError::from)
    }
}
