//! The settings tree `serve` and `worker` are built from. The binary fills it from flags and
//! environment variables; tests fill it directly.

use std::path::PathBuf;

use anyhow::{bail, Context};
use secrecy::SecretString;
use voicebin_api::auth::IssuerSettings;
use voicebin_api::usecases::anonymous::AnonymousSettings;
use voicebin_api::usecases::limits::RateLimitSettings;
use voicebin_api::usecases::reporters::ModerationSettings;
use voicebin_api::usecases::resumable::ResumableSettings;
use voicebin_commands::S3Settings;
use voicebin_domain::Lifetimes;
use voicebin_workers::stage::transcript::TranscriptionSettings;
use voicebin_workers::{ExpirySettings, RenditionSettings, SandboxSettings, SweeperSettings};

/// Default upload size limit: 100 MiB.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 100 * 1024 * 1024;

/// What the deployment says about itself on `/privacy`, `/abuse` and in the agent card.
#[derive(Debug, Clone, Default)]
pub struct SiteSettings {
    /// Where to report abuse (an e-mail address or URL).
    pub abuse_contact: Option<String>,
    /// Who operates this deployment.
    pub operator: Option<String>,
}

/// The RabbitMQ scan queue (production mode).
#[derive(Clone)]
pub struct AmqpSettings {
    /// `amqp://user:pass@host:5672/vhost`.
    pub url: SecretString,
    /// The scan queue's name (its dead-letter queue is `<name>.dead`); each post-clean stage
    /// has its own queue, `<name>.<stage>` (`voicebin.scan.rendition`).
    pub queue: String,
}

impl AmqpSettings {
    /// The queue of a post-clean stage's jobs.
    pub fn stage_queue(&self, stage: voicebin_domain::Stage) -> String {
        format!("{}.{}", self.queue, stage.as_str())
    }
}

/// The clamd malware scanner.
#[derive(Debug, Clone)]
pub struct ClamdSettings {
    /// `host:port` of clamd's TCP socket.
    pub addr: String,
    /// Must equal clamd's `StreamMaxLength`; larger clips are never reported clean.
    pub max_stream_bytes: u64,
}

/// Rate limits: the quotas of each class of request, and where the buckets are kept.
#[derive(Clone)]
pub struct RateLimiting {
    /// The quotas.
    pub quotas: RateLimitSettings,
    /// Redis for the buckets; `None` keeps them in PostgreSQL (in process in embedded mode).
    pub redis_url: Option<SecretString>,
    /// The prefix of every key written in Redis.
    pub redis_key_prefix: String,
}

impl RateLimiting {
    /// The default prefix of the keys in Redis.
    pub const DEFAULT_KEY_PREFIX: &'static str = "voicebin:rate:";
}

impl Default for RateLimiting {
    fn default() -> Self {
        RateLimiting {
            quotas: RateLimitSettings::default(),
            redis_url: None,
            redis_key_prefix: Self::DEFAULT_KEY_PREFIX.to_owned(),
        }
    }
}

/// Everything `serve` and `worker` need.
/// How long public reads may be answered from views read moments ago, and how many are kept
/// (`VOICEBIN_READ_CACHE_MS`, `VOICEBIN_READ_CACHE_ENTRIES`; ADR 0026).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadCacheSettings {
    /// The oldest an entry is served at: at most a second, zero for none.
    pub age: std::time::Duration,
    /// Entries kept at most.
    pub entries: usize,
}

impl Default for ReadCacheSettings {
    fn default() -> Self {
        ReadCacheSettings {
            age: std::time::Duration::from_millis(500),
            entries: 4096,
        }
    }
}

impl ReadCacheSettings {
    /// The cache these settings make.
    pub fn cache(&self) -> voicebin_projections::RecentViews {
        voicebin_projections::RecentViews::new(self.age, self.entries)
    }
}

#[derive(Clone)]
pub struct Settings {
    /// Data directory (SQLite file, blobs, embedded issuer key).
    pub data_dir: PathBuf,
    /// PostgreSQL URL; `None` for the embedded store.
    pub database_url: Option<SecretString>,
    /// Canonical public URL, no trailing slash.
    pub public_url: String,
    /// Upload size limit.
    pub max_upload_bytes: u64,
    /// Token issuer.
    pub issuer: IssuerSettings,
    /// Operator contacts shown on the public pages.
    pub site: SiteSettings,
    /// S3 blob storage; `None` keeps blobs in the data directory.
    pub s3: Option<S3Settings>,
    /// RabbitMQ; `None` scans in process.
    pub amqp: Option<AmqpSettings>,
    /// clamd; `None` validates audio only.
    pub clamd: Option<ClamdSettings>,
    /// The orphan-blob sweeper's timing.
    pub sweeper: SweeperSettings,
    /// Abuse-report limits and the auto-hide threshold.
    pub moderation: ModerationSettings,
    /// Where the sandboxed audio analyser is, and its resource limits (the rendition's child
    /// is the same program, under the same memory limit).
    pub sandbox: SandboxSettings,
    /// Playback renditions of clips browsers cannot play (FLAC or Opus, bounded in time and size);
    /// `None` makes none (`VOICEBIN_RENDITIONS=off`).
    pub rendition: Option<RenditionSettings>,
    /// Speech-to-text; `None` transcribes nothing.
    pub transcription: Option<TranscriptionSettings>,
    /// The default per-account quotas (`VOICEBIN_QUOTA_BYTES`, `VOICEBIN_QUOTA_CLIPS`);
    /// `voicebin quota set` overrides them per account. Default: no limit.
    pub quotas: voicebin_domain::Limits,
    /// The longest lifetime a clip may be given and the lifetime of uploads that ask for none
    /// (default: no maximum; clips never expire unless asked to).
    pub lifetimes: Lifetimes,
    /// The expiry sweeper's timing.
    pub expiry: ExpirySettings,
    /// Rate limits, and Redis when their buckets are kept there.
    pub rate_limits: RateLimiting,
    /// Anonymous uploads (off by default).
    pub anonymous: AnonymousSettings,
    /// Resumable uploads: how long one stays open, how many an account may have open.
    pub resumable: ResumableSettings,
    /// Public reads answered from views read moments ago.
    pub read_cache: ReadCacheSettings,
    /// The bytes all downloads of the process may hold while their clients read
    /// (`VOICEBIN_DOWNLOAD_BUFFER`).
    pub download_buffer_bytes: u64,
    /// With S3, the bytes of local copies of clips downloads are served from, in `s3-cache`
    /// under the data directory (`VOICEBIN_S3_CACHE`; 0 for none, and for processes that serve
    /// no downloads).
    pub s3_cache_bytes: u64,
}

impl Settings {
    /// Embedded-mode settings for `data_dir` and `public_url`, everything else default.
    pub fn embedded(data_dir: PathBuf, public_url: String) -> Self {
        Settings {
            data_dir,
            database_url: None,
            public_url,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            issuer: IssuerSettings::default(),
            site: SiteSettings::default(),
            s3: None,
            amqp: None,
            clamd: None,
            sweeper: SweeperSettings::default(),
            moderation: ModerationSettings::default(),
            sandbox: SandboxSettings::this_binary(),
            rendition: Some(RenditionSettings::default()),
            transcription: None,
            quotas: voicebin_domain::Limits::UNLIMITED,
            lifetimes: Lifetimes::default(),
            expiry: ExpirySettings::default(),
            rate_limits: RateLimiting::default(),
            anonymous: AnonymousSettings::default(),
            resumable: ResumableSettings::default(),
            read_cache: ReadCacheSettings::default(),
            download_buffer_bytes: voicebin_commands::ReadBudget::DEFAULT_BYTES as u64,
            s3_cache_bytes: 0,
        }
    }
}

/// Normalises and checks a public URL (`http(s)://host[:port][/path]`, no trailing slash).
pub fn normalize_public_url(raw: &str) -> anyhow::Result<String> {
    let url = raw.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .context("the public URL must start with http:// or https://")?;
    if rest.is_empty() || rest.contains(['?', '#', ' ']) {
        bail!("the public URL must be an absolute URL without query or fragment");
    }
    Ok(url.to_owned())
}
