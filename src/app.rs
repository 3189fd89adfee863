//! `serve`'s application: [`build`] connects the adapters and assembles the API's state and the
//! background tasks (scan relay, the post-clean stages' relays, orphan and expiry sweepers, download counter
//! and, in embedded mode, the scan worker and the stages' workers).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use voicebin_api::auth::dpop::DpopVerifier;
use voicebin_api::auth::Trust;
use voicebin_api::site::Discovery;
use voicebin_api::usecases::anonymous::{Anonymous, Challenges, ManagementTokens};
use voicebin_api::usecases::grants::Grants;
use voicebin_api::usecases::limits::Limiter;
use voicebin_api::usecases::resumable::Resumable;
use voicebin_api::usecases::signin::LoginLinks;
use voicebin_api::State;
use voicebin_commands::{ClipService, DownloadCounter, ScanQueue};
use voicebin_domain::Stage;
use voicebin_projections::{
    ClipProjector, Clock as _, MemoryRateLimits, RateLimits, RedisRateLimits, SystemClock,
};
use voicebin_workers::{
    BlobSweeper, EmbeddedWorker, ExpirySweeper, InProcessQueue, RelaySettings, ScanJobRunner,
    ScanJobs, ScanRelay, StageJobRunner, StageWork,
};

use crate::adapters::{adapters, Adapters, StoreQuotas, ViewsBlocklist};
use crate::{Database, Settings};

/// A built application: its state, plus the background tasks to run beside it.
pub struct App {
    /// Shared state for the HTTP layer.
    pub state: State,
    /// The database, for operator commands and tests.
    pub database: Database,
    /// The process's metrics registry, also in `state` (for a separate metrics listener).
    pub metrics: Arc<voicebin_metrics::Metrics>,
    /// The scan-job relay and, in embedded mode, the scan worker.
    pub background: Background,
}

/// Background tasks, not yet started.
pub struct Background {
    relay: ScanRelay,
    /// One relay per enabled post-clean stage.
    stage_relays: Vec<ScanRelay>,
    sweeper: BlobSweeper,
    expiry: ExpirySweeper,
    downloads: Arc<DownloadCounter>,
    download_flush: Duration,
    grants: Arc<Grants>,
    login_links: Option<Arc<LoginLinks>>,
    resumable: Arc<Resumable>,
    /// The request buckets and the allowances (perhaps the same store).
    rate_limits: [Arc<dyn RateLimits>; 2],
    /// In embedded mode, the in-process workers: the scans', then each stage's.
    workers: Vec<(EmbeddedWorker, ScanJobs)>,
}

/// How often expired playback grants, redeemed sign-in links and resumable uploads are purged,
/// and full rate-limit buckets forgotten.
const PURGE_INTERVAL: Duration = Duration::from_secs(60);

/// Purges expired playback grants, the redeemed sign-in links that have expired, expired
/// resumable uploads (with their bytes) and the full rate-limit buckets, every
/// [`PURGE_INTERVAL`] until `shutdown`.
async fn purge_expired(
    grants: Arc<Grants>,
    login_links: Option<Arc<LoginLinks>>,
    resumable: Arc<Resumable>,
    rate_limits: [Arc<dyn RateLimits>; 2],
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(PURGE_INTERVAL) => {}
        }
        match grants.purge_expired().await {
            Ok(0) => {}
            Ok(purged) => tracing::debug!(purged, "expired playback grants purged"),
            Err(e) => tracing::warn!(error = %e, "purging expired playback grants failed"),
        }
        if let Some(links) = &login_links {
            match links.purge_expired().await {
                Ok(0) => {}
                Ok(purged) => tracing::debug!(purged, "expired sign-in links purged"),
                Err(e) => tracing::warn!(error = %e, "purging expired sign-in links failed"),
            }
        }
        match voicebin_api::usecases::resumable::sweep(&resumable).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "expired resumable uploads removed"),
            Err(e) => tracing::warn!(error = %e, "removing expired resumable uploads failed"),
        }
        for store in &rate_limits {
            match store.purge_full(SystemClock.now_ms()).await {
                Ok(0) => {}
                Ok(purged) => tracing::debug!(purged, "full rate-limit buckets forgotten"),
                Err(e) => tracing::warn!(error = %e, "forgetting full rate-limit buckets failed"),
            }
        }
    }
}

/// Running background tasks; dropping it (or [`BackgroundHandle::stop`]) stops them.
pub struct BackgroundHandle {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    // Returns on `stop` or when the handle is dropped.
    let _ = rx.wait_for(|stop| *stop).await;
}

impl Background {
    /// Records batched download counts of unlimited clips every `interval` (default: one
    /// second) and once more when stopped.
    pub fn flush_downloads_every(mut self, interval: Duration) -> Self {
        self.download_flush = interval;
        self
    }

    /// Starts the tasks on the current runtime.
    pub fn start(self) -> BackgroundHandle {
        let (stop, rx) = watch::channel(false);
        let mut tasks = vec![
            tokio::spawn(self.relay.run(stopped(rx.clone()))),
            tokio::spawn(self.sweeper.run(stopped(rx.clone()))),
            tokio::spawn(self.expiry.run(stopped(rx.clone()))),
            tokio::spawn(self.downloads.run(self.download_flush, stopped(rx.clone()))),
            tokio::spawn(purge_expired(
                self.grants,
                self.login_links,
                self.resumable,
                self.rate_limits,
                stopped(rx.clone()),
            )),
        ];
        for relay in self.stage_relays {
            tasks.push(tokio::spawn(relay.run(stopped(rx.clone()))));
        }
        for (worker, jobs) in self.workers {
            tasks.push(tokio::spawn(worker.run(jobs, stopped(rx.clone()))));
        }
        BackgroundHandle { stop, tasks }
    }
}

impl BackgroundHandle {
    /// Stops the tasks and waits for scans in flight.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Where the rate-limit buckets are kept: the request buckets and the report and sign-in-link
/// allowances. Redis when configured; else PostgreSQL; in embedded mode the request buckets in
/// process (one process, and no database write per request) and the allowances in SQLite.
async fn rate_limit_stores(
    settings: &Settings,
    database: &Database,
) -> anyhow::Result<(Arc<dyn RateLimits>, Arc<dyn RateLimits>)> {
    use secrecy::ExposeSecret;
    let stores: (Arc<dyn RateLimits>, Arc<dyn RateLimits>) =
        match (&settings.rate_limits.redis_url, database) {
            (Some(url), _) => {
                let redis: Arc<dyn RateLimits> = Arc::new(
                    RedisRateLimits::connect(
                        url.expose_secret(),
                        &settings.rate_limits.redis_key_prefix,
                    )
                    .await
                    .context("connecting to Redis (VOICEBIN_REDIS_URL)")?,
                );
                (redis.clone(), redis)
            }
            (None, Database::Postgres(_)) => (database.rate_limits(), database.rate_limits()),
            (None, Database::Sqlite(_)) => (
                Arc::new(MemoryRateLimits::default()),
                database.rate_limits(),
            ),
        };
    tracing::info!(
        requests = stores.0.describe(),
        allowances = stores.1.describe(),
        "rate-limit buckets"
    );
    Ok(stores)
}

fn random_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Connects every adapter and builds the application (migrating the store first).
pub async fn build(settings: &Settings) -> anyhow::Result<App> {
    let Adapters {
        database,
        views,
        recent,
        log,
        store,
        blobs,
        partial,
        scanner,
        rabbit,
        stage_queues,
        readiness,
    } = adapters(settings).await?;
    let metrics = Arc::new(voicebin_metrics::Metrics::new());
    crate::metrics::register_probes(&metrics, database.dispatch(), rabbit.clone(), &stage_queues);
    // Embedded mode scans in process; with RabbitMQ, `voicebin worker` processes do.
    let in_process = rabbit.is_none();
    let (queue, jobs): (Arc<dyn ScanQueue>, Option<ScanJobs>) = match rabbit {
        Some(rabbit) => (rabbit, None),
        None => {
            let (queue, jobs) = InProcessQueue::new();
            (Arc::new(queue), Some(jobs))
        }
    };
    let relay = ScanRelay::new(
        database.dispatch(),
        queue,
        ClipProjector::new(views.clone(), log.clone()).forgetting(recent.clone()),
        RelaySettings::default(),
    );
    let sweeper = BlobSweeper::new(blobs.clone(), log.clone(), settings.sweeper);
    let service = ClipService::new(
        store,
        blobs,
        Arc::new(relay.trigger()),
        Arc::new(ViewsBlocklist(views.clone())),
        settings.max_upload_bytes,
    )
    .with_quotas(Arc::new(StoreQuotas {
        store: database.quotas(),
        defaults: settings.quotas,
    }))
    .with_lifetimes(settings.lifetimes);
    let expiry = ExpirySweeper::new(
        service.clone(),
        database.expiry_index(),
        log.clone(),
        settings.expiry,
    )
    .with_metrics(metrics.clone());

    let Trust {
        verifier,
        issuer,
        jwks,
        embedded,
    } = settings
        .issuer
        .trust(&settings.data_dir, &settings.public_url)?;
    let replay = database.replay_cache();
    let nonce_secret = views
        .shared_secret("dpop-nonces", &random_secret())
        .await
        .context("reading the DPoP nonce secret")?;
    let dpop = DpopVerifier::new(
        &settings.public_url,
        replay,
        nonce_secret.as_bytes(),
        settings.issuer.dpop_nonce,
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let discovery = Discovery {
        issuer,
        authorization_endpoint: settings.issuer.authorization_endpoint.clone(),
        token_endpoint: settings.issuer.token_endpoint.clone(),
        browser_client: settings.issuer.browser.clone(),
        abuse_contact: settings.site.abuse_contact.clone(),
        operator: settings.site.operator.clone(),
    };
    let grant_secret = views
        .shared_secret("playback-grants", &random_secret())
        .await
        .context("reading the playback-grant secret")?;
    let reporter_secret = views
        .shared_secret("reporter-tags", &random_secret())
        .await
        .context("reading the reporter-tag secret")?;
    let challenge_secret = views
        .shared_secret("anonymous-challenges", &random_secret())
        .await
        .context("reading the anonymous-upload challenge secret")?;
    let management_secret = views
        .shared_secret("anonymous-management", &random_secret())
        .await
        .context("reading the anonymous-upload management secret")?;
    let anonymous = Arc::new(Anonymous {
        settings: settings.anonymous.clone(),
        challenges: Challenges::new(challenge_secret.as_bytes(), settings.anonymous.work),
        tokens: ManagementTokens::new(management_secret.as_bytes()),
        replay: database.replay_cache(),
    });
    let (rate_limits, allowances) = rate_limit_stores(settings, &database).await?;
    let downloads = service.downloads().clone();
    let grants = Arc::new(Grants::new(
        grant_secret.as_bytes(),
        database.playback_grants(),
    ));
    let login_links = embedded.map(|issuer| {
        Arc::new(LoginLinks::new(
            issuer,
            database.redeemed_links(),
            settings.public_url.clone(),
        ))
    });
    let resumable = Arc::new(Resumable::new(
        database.uploads(),
        partial,
        settings.resumable,
    ));
    let mut state = State {
        service: service.clone(),
        views: views.clone(),
        recent,
        rendered: Arc::new(voicebin_api::usecases::rendered::RenderedItems::new(
            settings.read_cache.entries,
        )),
        events: log,
        verifier,
        urls: voicebin_api::urls::Urls::new(settings.public_url.clone()),
        jwks,
        scanner: scanner.describe(),
        readiness,
        grants: grants.clone(),
        dpop: Arc::new(dpop),
        discovery,
        moderation: settings.moderation.clone(),
        limits: Arc::new(Limiter::new(
            rate_limits.clone(),
            allowances.clone(),
            Arc::new(SystemClock),
            settings.rate_limits.quotas.clone(),
        )),
        reporter_tags: Arc::new(voicebin_api::usecases::reporters::ReporterTags::new(
            reporter_secret.as_bytes(),
        )),
        login_links: login_links.clone(),
        quotas: voicebin_api::state::QuotaSettings {
            store: database.quotas(),
            defaults: settings.quotas,
        },
        anonymous,
        resumable: resumable.clone(),
        transcription: false,
        metrics: metrics.clone(),
        metrics_here: true,
        draining: Default::default(),
    };
    let mut workers = Vec::new();
    if let Some(jobs) = jobs {
        let runner = ScanJobRunner {
            service: service.clone(),
            views: views.clone(),
            scanner,
            attempts: database.dispatch(),
            metrics: metrics.clone(),
        };
        workers.push((
            EmbeddedWorker {
                runner: Arc::new(runner),
            },
            jobs,
        ));
    }
    // Each post-clean stage: its relay to its queue (RabbitMQ's, consumed by `voicebin
    // worker`, or an in-process one with its own worker).
    let mut stage_relays = Vec::new();
    let stages: Vec<(Stage, Option<Arc<dyn StageWork>>)> = if in_process {
        crate::stages::works(settings)
            .await?
            .into_iter()
            .map(|(stage, work)| (stage, Some(work)))
            .collect()
    } else {
        // `voicebin worker` processes run the jobs; this one only relays them.
        crate::stages::configured(settings)
            .into_iter()
            .map(|stage| (stage, None))
            .collect()
    };
    state.transcription = stages.iter().any(|(stage, _)| *stage == Stage::Transcript);
    let in_process_stages: Vec<Stage> = stages
        .iter()
        .filter(|(_, work)| work.is_some())
        .map(|(stage, _)| *stage)
        .collect();
    crate::metrics::register_stage_probes(&metrics, &database.stage_dispatch(), &in_process_stages);
    for (stage, work) in stages {
        let queue: Arc<dyn ScanQueue> = if let Some(work) = work {
            let (queue, jobs) = InProcessQueue::new();
            let runner = StageJobRunner {
                work,
                service: service.clone(),
                views: views.clone(),
                attempts: database.stage_dispatch(),
            };
            workers.push((
                EmbeddedWorker {
                    runner: Arc::new(runner),
                },
                jobs,
            ));
            Arc::new(queue)
        } else {
            match stage_queues.iter().find(|(s, _)| *s == stage) {
                Some((_, queue)) => queue.clone(),
                None => anyhow::bail!("no RabbitMQ queue for the {} stage", stage.as_str()),
            }
        };
        stage_relays.push(ScanRelay::for_stage(
            database.stage_dispatch(),
            stage,
            queue,
            RelaySettings::default(),
        ));
    }
    Ok(App {
        state,
        database,
        metrics,
        background: Background {
            relay,
            sweeper,
            expiry,
            downloads,
            download_flush: Duration::from_secs(1),
            grants,
            login_links,
            resumable,
            rate_limits: [rate_limits, allowances],
            workers,
            stage_relays,
        },
    })
}
