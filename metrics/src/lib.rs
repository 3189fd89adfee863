//! voicebin's metrics: one Prometheus registry ([`Metrics`]) holding every metric family the
//! service exposes on `/metrics`, with a typed method for each thing that can be counted, so
//! no caller names a metric or a label by string.
//!
//! The binary is the composition root: it builds one [`Metrics`] per process and hands it down
//! (to `api`'s state, to the scan workers) and registers the [`Probe`]s that read gauges at
//! scrape time (queue depths, dead letters, relay lag). Nothing here does I/O beyond calling
//! those probes; what they read lives with the adapters that know how to read it.
//!
//! Label values are bounded: routes are templates (`/{id}/audio`), never raw paths; outcomes,
//! queues, classes and scopes are small fixed sets chosen by the callers' enums. See
//! `docs/adr/0020-metrics-and-graceful-shutdown.md`.
#![forbid(unsafe_code)]

use std::sync::{Arc, RwLock};
use std::time::Duration;

use prometheus::core::{AtomicU64, GenericCounter};
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// The content type of what [`Metrics::render`] returns: the Prometheus text format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Longest wait for one [`Probe`] during a scrape; a slower one leaves its gauges absent.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Scrapes closer together than this share one run of the probes: `/metrics` answers anyone
/// who can reach it, and a flood of scrapes must not become a flood of database queries.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// A counter of bytes, added to as a body streams.
pub type ByteCounter = GenericCounter<AtomicU64>;

/// A scan's recorded verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanOutcome {
    /// Valid audio, no malware.
    Clean,
    /// Not valid audio.
    Rejected,
    /// Malware found.
    Infected,
    /// Scanning kept failing and was given up.
    Failed,
}

impl ScanOutcome {
    fn label(self) -> &'static str {
        match self {
            ScanOutcome::Clean => "clean",
            ScanOutcome::Rejected => "rejected",
            ScanOutcome::Infected => "infected",
            ScanOutcome::Failed => "failed",
        }
    }
}

/// Reads gauges at scrape time (a queue's depth, its dead letters, the relay's lag). Each
/// probe is bounded by [`PROBE_TIMEOUT`]; one that fails or times out leaves its series
/// absent rather than stale.
#[async_trait::async_trait]
pub trait Probe: Send + Sync {
    /// Sets the gauges this probe owns, or returns why it could not read them.
    async fn observe(&self, metrics: &Metrics) -> Result<(), String>;
    /// Removes the gauges this probe owns (it failed: a stale value would mislead).
    fn forget(&self, metrics: &Metrics);
}

/// Every metric family of a voicebin process, registered in one registry.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    durations: HistogramVec,
    bytes_in: prometheus::core::GenericCounterVec<AtomicU64>,
    bytes_out: prometheus::core::GenericCounterVec<AtomicU64>,
    uploads: IntCounter,
    downloads: IntCounter,
    scans: IntCounterVec,
    scan_durations: HistogramVec,
    queue_depth: IntGaugeVec,
    dead_letters: IntGaugeVec,
    relay_lag: GaugeVec,
    rate_limit_refusals: IntCounterVec,
    expirations: IntCounter,
    kernel_sent: IntCounter,
    read_cache: IntCounterVec,
    probes: RwLock<Vec<Arc<dyn Probe>>>,
    /// When the probes last ran; held while they run, so concurrent scrapes wait for one run.
    probed: tokio::sync::Mutex<Option<std::time::Instant>>,
}

/// Latency buckets of HTTP requests, in seconds: from a cached page to a slow upload.
const REQUEST_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Duration buckets of scans, in seconds: a short clip's probe to a large clip through clamd.
const SCAN_BUCKETS: [f64; 12] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Registers `metric` in `registry` and returns it. The names and label sets are constants
/// of this file, distinct and valid, so registering cannot fail.
fn registered<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: prometheus::Result<M>,
) -> M {
    let metric = metric.expect("a valid metric definition");
    registry
        .register(Box::new(metric.clone()))
        .expect("a metric name registered once");
    metric
}

impl Metrics {
    /// A registry with every family registered and no samples yet.
    pub fn new() -> Self {
        let registry = Registry::new();
        let r = &registry;
        Metrics {
            requests: registered(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "voicebin_http_requests_total",
                        "HTTP requests answered, by method, route template and status.",
                    ),
                    &["method", "route", "status"],
                ),
            ),
            durations: registered(
                r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "voicebin_http_request_duration_seconds",
                        "Time from a request's arrival to its response's headers, by method and route template.",
                    )
                    .buckets(REQUEST_BUCKETS.to_vec()),
                    &["method", "route"],
                ),
            ),
            bytes_in: registered(
                r,
                prometheus::core::GenericCounterVec::new(
                    Opts::new(
                        "voicebin_http_request_body_bytes_total",
                        "Request body bytes read, counted as they stream, by method and route template.",
                    ),
                    &["method", "route"],
                ),
            ),
            bytes_out: registered(
                r,
                prometheus::core::GenericCounterVec::new(
                    Opts::new(
                        "voicebin_http_response_body_bytes_total",
                        "Response body bytes sent, counted as they stream, by method and route template.",
                    ),
                    &["method", "route"],
                ),
            ),
            uploads: registered(
                r,
                IntCounter::new("voicebin_uploads_total", "Clips uploaded (accepted and recorded)."),
            ),
            downloads: registered(
                r,
                IntCounter::new(
                    "voicebin_downloads_counted_total",
                    "Downloads counted against clips (owners, moderators and paid-for ranges do not count).",
                ),
            ),
            scans: registered(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "voicebin_scans_total",
                        "Scans finished and recorded, by outcome (clean, rejected, infected, failed; a duplicate job racing the first counts too, though only the first verdict stands).",
                    ),
                    &["outcome"],
                ),
            ),
            scan_durations: registered(
                r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "voicebin_scan_duration_seconds",
                        "Time from a scan's start to its recorded verdict, by outcome.",
                    )
                    .buckets(SCAN_BUCKETS.to_vec()),
                    &["outcome"],
                ),
            ),
            queue_depth: registered(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "voicebin_queue_depth",
                        "Jobs waiting: messages ready in the RabbitMQ queue, or in embedded mode clips pending in the database, by queue.",
                    ),
                    &["queue"],
                ),
            ),
            dead_letters: registered(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "voicebin_dead_letters",
                        "Messages in a RabbitMQ dead-letter queue, by queue (absent in embedded mode, which has none).",
                    ),
                    &["queue"],
                ),
            ),
            relay_lag: registered(
                r,
                GaugeVec::new(
                    Opts::new(
                        "voicebin_relay_lag_seconds",
                        "Age of the oldest pending clip the relay has not yet published a job for (0 when none), by queue.",
                    ),
                    &["queue"],
                ),
            ),
            rate_limit_refusals: registered(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "voicebin_rate_limit_refusals_total",
                        "Requests refused by a rate limit, by class and scope.",
                    ),
                    &["class", "scope"],
                ),
            ),
            read_cache: registered(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "voicebin_read_cache_lookups_total",
                        "Clip views looked up for reads without credentials, by whether one \
                         read moments ago answered (hit) or the store did (miss).",
                    ),
                    &["outcome"],
                ),
            ),
            expirations: registered(
                r,
                IntCounter::new("voicebin_clips_expired_total", "Clips deleted because they expired."),
            ),
            kernel_sent: registered(
                r,
                IntCounter::new(
                    "voicebin_download_bytes_sent_by_kernel_total",
                    "Download bytes the kernel sent straight from clip files to clients \
                     (sendfile), never copied through the process.",
                ),
            ),
            probes: RwLock::new(Vec::new()),
            probed: tokio::sync::Mutex::new(None),
            registry,
        }
    }

    /// Adds a probe run at every scrape.
    pub fn add_probe(&self, probe: Arc<dyn Probe>) {
        self.probes
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(probe);
    }

    /// Runs the probes (concurrently, each bounded by [`PROBE_TIMEOUT`]; at most once per
    /// [`PROBE_INTERVAL`]) and encodes every family in the text format.
    pub async fn render(&self) -> String {
        {
            let mut probed = self.probed.lock().await;
            if probed.is_none_or(|at| at.elapsed() >= PROBE_INTERVAL) {
                self.run_probes().await;
                *probed = Some(std::time::Instant::now());
            }
        }
        let mut text = Vec::new();
        // Encoding into memory fails only on metric families this file never builds.
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut text) {
            tracing::error!(error = %e, "encoding the metrics failed");
        }
        String::from_utf8(text).unwrap_or_default()
    }

    async fn run_probes(&self) {
        let probes = self
            .probes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let observed = probes.iter().map(|probe| async move {
            match tokio::time::timeout(PROBE_TIMEOUT, probe.observe(self)).await {
                Ok(Ok(())) => {}
                Ok(Err(why)) => {
                    tracing::warn!(error = %why, "a metrics probe failed; its gauges are left out");
                    probe.forget(self);
                }
                Err(_) => {
                    tracing::warn!("a metrics probe timed out; its gauges are left out");
                    probe.forget(self);
                }
            }
        });
        futures::future::join_all(observed).await;
    }

    /// One HTTP request answered: its route template (`unmatched` for no route), method,
    /// status and time to the response's headers.
    pub fn request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.requests
            .with_label_values(&[method, route, status.to_string().as_str()])
            .inc();
        self.durations
            .with_label_values(&[method, route])
            .observe(elapsed.as_secs_f64());
    }

    /// The counter of request body bytes of `route`, to add to as the body streams.
    pub fn bytes_in(&self, method: &str, route: &str) -> ByteCounter {
        self.bytes_in.with_label_values(&[method, route])
    }

    /// The counter of response body bytes of `route`, to add to as the body streams.
    pub fn bytes_out(&self, method: &str, route: &str) -> ByteCounter {
        self.bytes_out.with_label_values(&[method, route])
    }

    /// A clip was uploaded.
    pub fn uploaded(&self) {
        self.uploads.inc();
    }

    /// A download was counted against a clip.
    pub fn download_counted(&self) {
        self.downloads.inc();
    }

    /// A scan verdict was recorded, `elapsed` after the scan started (`None` when it was
    /// recorded without scanning, as when attempts ran out).
    pub fn scanned(&self, outcome: ScanOutcome, elapsed: Option<Duration>) {
        let labels = [outcome.label()];
        self.scans.with_label_values(&labels).inc();
        if let Some(elapsed) = elapsed {
            self.scan_durations
                .with_label_values(&labels)
                .observe(elapsed.as_secs_f64());
        }
    }

    /// A request refused by the rate limit of `class` (what is limited: `reports`,
    /// `uploads`, …) and `scope` (whose budget: `address`, `account`, …).
    pub fn rate_limit_refused(&self, class: &'static str, scope: &'static str) {
        self.rate_limit_refusals
            .with_label_values(&[class, scope])
            .inc();
    }

    /// A read without credentials looked up a clip's view: answered by one read moments ago
    /// (`hit`) or by the store.
    pub fn read_cache_lookup(&self, hit: bool) {
        let outcome = if hit { "hit" } else { "miss" };
        self.read_cache.with_label_values(&[outcome]).inc();
    }

    /// `count` clips were deleted because they expired.
    pub fn clips_expired(&self, count: u64) {
        self.expirations.inc_by(count);
    }

    /// The kernel has sent `total` download bytes from clip files since the process started.
    pub fn set_download_bytes_sent_by_kernel(&self, total: u64) {
        self.kernel_sent
            .inc_by(total.saturating_sub(self.kernel_sent.get()));
    }

    /// Sets the number of jobs waiting in `queue`.
    pub fn set_queue_depth(&self, queue: &'static str, depth: u64) {
        self.queue_depth
            .with_label_values(&[queue])
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    /// Sets the number of dead letters of `queue`.
    pub fn set_dead_letters(&self, queue: &'static str, count: u64) {
        self.dead_letters
            .with_label_values(&[queue])
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Sets the relay lag of `queue`.
    pub fn set_relay_lag(&self, queue: &'static str, lag: Duration) {
        self.relay_lag
            .with_label_values(&[queue])
            .set(lag.as_secs_f64());
    }

    /// Removes the queue depth of `queue` (it could not be read).
    pub fn forget_queue_depth(&self, queue: &'static str) {
        let _ = self.queue_depth.remove_label_values(&[queue]);
    }

    /// Removes the dead-letter count of `queue` (it could not be read).
    pub fn forget_dead_letters(&self, queue: &'static str) {
        let _ = self.dead_letters.remove_label_values(&[queue]);
    }

    /// Removes the relay lag of `queue` (it could not be read).
    pub fn forget_relay_lag(&self, queue: &'static str) {
        let _ = self.relay_lag.remove_label_values(&[queue]);
    }
}

#[cfg(test)]
mod tests;
