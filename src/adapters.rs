//! The adapters `serve` and `worker` share: the database, blob store, scanner and (in
//! production) the RabbitMQ queue, each chosen by the settings.

use std::sync::Arc;

use anyhow::Context;
use secrecy::ExposeSecret;
use voicebin_api::ReadinessCheck;
use voicebin_commands::{
    BlobStore, Blocklist, BlocklistError, ClipStore, LocalBlobStore, S3BlobStore, Scanner,
};
use voicebin_domain::Stage;
use voicebin_projections::{ClipProjector, EventLog, ReadStore};
use voicebin_workers::{AudioProbeScanner, ClamdClient, ClamdScanner, RabbitQueue};

use crate::{Database, Settings};

/// The adapters both `serve` and `worker` use.
pub(crate) struct Adapters {
    pub(crate) database: Database,
    pub(crate) views: Arc<dyn ReadStore>,
    pub(crate) log: Arc<dyn EventLog>,
    pub(crate) store: Arc<dyn ClipStore>,
    pub(crate) blobs: Arc<dyn BlobStore>,
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
    let store = database.command_store(ClipProjector::new(views.clone(), log.clone()));
    let blobs: Arc<dyn BlobStore> = match &settings.s3 {
        Some(s3) => Arc::new(
            S3BlobStore::connect(s3.clone())
                .await
                .with_context(|| format!("connecting to S3 at {}", s3.endpoint))?,
        ),
        None => Arc::new(
            LocalBlobStore::open(settings.data_dir.join("blobs"))
                .await
                .context("opening the blob directory")?,
        ),
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
        log,
        store,
        blobs,
        scanner,
        rabbit,
        stage_queues,
        readiness,
    })
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
