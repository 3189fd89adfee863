//! The adapters `serve` and `worker` share: the database, blob store, scanner and (in
//! production) the RabbitMQ queue, each chosen by the settings.

use std::sync::Arc;

use anyhow::Context;
use secrecy::ExposeSecret;
use voicebin_api::ReadinessCheck;
use voicebin_commands::{
    BlobStore, Blocklist, BlocklistError, ClipStore, DiskCached, LocalBlobStore, PartialBlobs,
    ReadBudget, S3BlobStore, Scanner,
};
use voicebin_domain::Stage;
use voicebin_projections::{ClipProjector, EventLog, ReadStore, RecentViews};
use voicebin_workers::{AudioProbeScanner, ClamdClient, ClamdScanner, RabbitQueue};

use crate::{Database, Settings};

/// The adapters both `serve` and `worker` use.
pub(crate) struct Adapters {
    pub(crate) database: Database,
    pub(crate) views: Arc<dyn ReadStore>,
    /// Views read moments ago; this process's projector forgets what it changes.
    pub(crate) recent: Arc<RecentViews>,
    pub(crate) log: Arc<dyn EventLog>,
    pub(crate) store: Arc<dyn ClipStore>,
    pub(crate) blobs: Arc<dyn BlobStore>,
    /// The same store, for the partial blobs of resumable uploads.
    pub(crate) partial: Arc<dyn PartialBlobs>,
    pub(crate) scanner: Arc<dyn Scanner>,
    pub(crate) rabbit: Option<Arc<RabbitQueue>>,
    /// The queue of each enabled post-clean stage on RabbitMQ (`<scan queue>.<stage>`).
    pub(crate) stage_queues: Vec<(Stage, Arc<RabbitQueue>)>,
    pub(crate) readiness: Vec<Arc<dyn ReadinessCheck>>,
}

struct ClamdCheck(ClamdClient);

#[async_trait::async_trait]
impl ReadinessCheck for ClamdCheck {
    fn name(&self) -> &'static str {
        "clamd"
    }
    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|e| e.to_string())
    }
}

struct RabbitCheck(Arc<RabbitQueue>);

#[async_trait::async_trait]
impl ReadinessCheck for RabbitCheck {
    fn name(&self) -> &'static str {
        "rabbitmq"
    }
    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|e| e.to_string())
    }
}

pub(crate) async fn adapters(settings: &Settings) -> anyhow::Result<Adapters> {
    let database = Database::connect(&settings.data_dir, settings.database_url.as_ref()).await?;
    database.migrate().await.context("applying migrations")?;
    let (views, log) = database.projections();
    let recent = Arc::new(settings.read_cache.cache());
    let store = database
        .command_store(ClipProjector::new(views.clone(), log.clone()).forgetting(recent.clone()));
    let budget =
        ReadBudget::new(usize::try_from(settings.download_buffer_bytes).unwrap_or(usize::MAX));
    let (blobs, partial): (Arc<dyn BlobStore>, Arc<dyn PartialBlobs>) = match &settings.s3 {
        Some(s3) => {
            let store = Arc::new(
                S3BlobStore::connect(s3.clone())
                    .await
                    .with_context(|| format!("connecting to S3 at {}", s3.endpoint))?
                    .with_read_budget(budget.clone()),
            );
            let blobs: Arc<dyn BlobStore> = if settings.s3_cache_bytes > 0 {
                let dir = settings.data_dir.join("s3-cache");
                Arc::new(
                    DiskCached::open(store.clone(), &dir, settings.s3_cache_bytes, budget)
                        .await
                        .with_context(|| format!("opening the S3 cache in {}", dir.display()))?,
                )
            } else {
                store.clone()
            };
            (blobs, store)
        }
        None => {
            let store = Arc::new(
                LocalBlobStore::open(settings.data_dir.join("blobs"))
                    .await
                    .context("opening the blob directory")?
                    .with_read_budget(budget),
            );
            (store.clone(), store)
        }
    };
    let mut readiness: Vec<Arc<dyn ReadinessCheck>> = Vec::new();
    // Decoding untrusted audio happens in a child process with resource limits, never here.
    let audio = AudioProbeScanner::sandboxed(settings.sandbox.clone());
    let scanner: Arc<dyn Scanner> = match &settings.clamd {
        Some(clamd) => {
            let client =
                ClamdClient::new(clamd.addr.clone()).with_max_stream_bytes(clamd.max_stream_bytes);
            readiness.push(Arc::new(ClamdCheck(client.clone())));
            Arc::new(ClamdScanner::new(audio, client))
        }
        None => Arc::new(audio),
    };
    let mut stage_queues = Vec::new();
    let rabbit = match &settings.amqp {
        Some(amqp) => {
            let queue = RabbitQueue::connect(amqp.url.expose_secret(), &amqp.queue)
                .await
                .context("connecting to RabbitMQ")?;
            let queue = Arc::new(queue);
            readiness.push(Arc::new(RabbitCheck(queue.clone())));
            for stage in crate::stages::configured(settings) {
                let name = amqp.stage_queue(stage);
                let queue = RabbitQueue::connect(amqp.url.expose_secret(), &name)
                    .await
                    .with_context(|| format!("connecting to RabbitMQ's {name} queue"))?;
                stage_queues.push((stage, Arc::new(queue)));
            }
            Some(queue)
        }
        None => None,
    };
    Ok(Adapters {
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
    })
}

/// How long an upload's room in its quota is held at most: a process that dies mid-upload
/// stops holding it then. An upload still streaming after this long no longer holds room
/// (ADR 0022).
const QUOTA_HOLD: std::time::Duration = std::time::Duration::from_secs(3600);

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The quota store and the operator's defaults, as the upload path holds room in them.
pub(crate) struct StoreQuotas {
    pub(crate) store: Arc<dyn voicebin_projections::QuotaStore>,
    pub(crate) defaults: voicebin_domain::Limits,
}

#[async_trait::async_trait]
impl voicebin_commands::Quotas for StoreQuotas {
    async fn reserve(
        &self,
        account: &voicebin_domain::AccountId,
        want: u64,
        min: u64,
    ) -> Result<voicebin_commands::QuotaGrant, voicebin_commands::QuotaError> {
        use rand::RngCore;
        use voicebin_commands::QuotaError;
        use voicebin_projections::{ReserveRequest, Reserved};
        let mut bytes = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut bytes);
        let ticket: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let now = unix_now();
        let request = ReserveRequest {
            ticket: &ticket,
            account: account.as_str(),
            defaults: self.defaults,
            want,
            min,
            now,
            expires_at: now + QUOTA_HOLD.as_secs() as i64,
        };
        match self.store.reserve(&request).await {
            Ok(Reserved::Granted {
                bytes,
                held,
                usage,
                limits,
            }) => Ok(voicebin_commands::QuotaGrant {
                bytes,
                ticket: held.then_some(ticket),
                usage,
                limits,
            }),
            Ok(Reserved::Refused { usage, limits, .. }) => {
                Err(QuotaError::Exceeded { usage, limits })
            }
            Err(e) => Err(QuotaError::Unavailable(e.into())),
        }
    }

    async fn release(&self, ticket: &str) -> Result<(), voicebin_commands::QuotaError> {
        self.store
            .release(ticket)
            .await
            .map_err(|e| voicebin_commands::QuotaError::Unavailable(e.into()))?;
        // Now and then, forget the room that processes which died were holding (lapsed room
        // is ignored anyway; this only keeps the table small).
        if rand::random::<u8>() < 4 {
            let now = unix_now();
            if let Err(e) = self.store.purge_expired(now).await {
                tracing::warn!(error = %e, "purging lapsed quota reservations failed");
            }
        }
        Ok(())
    }
}

/// The blocklist read model, as the upload path consults it.
pub(crate) struct ViewsBlocklist(pub(crate) Arc<dyn ReadStore>);

#[async_trait::async_trait]
impl Blocklist for ViewsBlocklist {
    async fn is_blocked(
        &self,
        sha256: &voicebin_domain::Sha256Digest,
    ) -> Result<bool, BlocklistError> {
        self.0
            .blocked(sha256.as_str())
            .await
            .map(|entry| entry.is_some())
            .map_err(|e| BlocklistError::Unavailable(e.into()))
    }
}
