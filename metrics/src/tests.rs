use std::time::Duration;

use super::*;

#[tokio::test]
async fn families_render_with_their_help_types_and_samples() {
    let metrics = Metrics::new();
    metrics.request("GET", "/{id}/audio", 200, Duration::from_millis(20));
    metrics.bytes_out("GET", "/{id}/audio").inc_by(1234);
    metrics.uploaded();
    metrics.scanned(ScanOutcome::Clean, Some(Duration::from_millis(300)));
    metrics.scanned(ScanOutcome::Failed, None);
    metrics.rate_limit_refused("reports", "address");
    metrics.clips_expired(2);
    let text = metrics.render().await;
    for line in [
        "# TYPE voicebin_http_requests_total counter",
        r#"voicebin_http_requests_total{method="GET",route="/{id}/audio",status="200"} 1"#,
        "# TYPE voicebin_http_request_duration_seconds histogram",
        r#"voicebin_http_response_body_bytes_total{method="GET",route="/{id}/audio"} 1234"#,
        "voicebin_uploads_total 1",
        "voicebin_downloads_counted_total 0",
        r#"voicebin_scans_total{outcome="clean"} 1"#,
        r#"voicebin_scans_total{outcome="failed"} 1"#,
        r#"voicebin_scan_duration_seconds_count{outcome="clean"} 1"#,
        r#"voicebin_rate_limit_refusals_total{class="reports",scope="address"} 1"#,
        "voicebin_clips_expired_total 2",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
    // A verdict recorded without scanning has no duration.
    assert!(!text.contains(r#"voicebin_scan_duration_seconds_count{outcome="failed"}"#));
}

struct Depth(Result<u64, String>);

#[async_trait::async_trait]
impl Probe for Depth {
    async fn observe(&self, metrics: &Metrics) -> Result<(), String> {
        let depth = self.0.clone()?;
        metrics.set_queue_depth("scan", depth);
        Ok(())
    }
    fn forget(&self, metrics: &Metrics) {
        metrics.forget_queue_depth("scan");
    }
}

#[tokio::test]
async fn probes_set_gauges_at_scrape_time_and_a_failed_one_leaves_them_out() {
    let metrics = Metrics::new();
    metrics.add_probe(Arc::new(Depth(Ok(7))));
    let text = metrics.render().await;
    assert!(
        text.contains("voicebin_queue_depth{queue=\"scan\"} 7"),
        "{text}"
    );

    let failing = Metrics::new();
    failing.set_queue_depth("scan", 3);
    failing.add_probe(Arc::new(Depth(Err("broker down".into()))));
    let text = failing.render().await;
    assert!(!text.contains("voicebin_queue_depth{"), "{text}");
}

struct Counting(std::sync::atomic::AtomicU64);

#[async_trait::async_trait]
impl Probe for Counting {
    async fn observe(&self, metrics: &Metrics) -> Result<(), String> {
        let runs = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        metrics.set_queue_depth("scan", runs);
        Ok(())
    }
    fn forget(&self, metrics: &Metrics) {
        metrics.forget_queue_depth("scan");
    }
}

#[tokio::test]
async fn a_burst_of_scrapes_runs_the_probes_once() {
    let metrics = Metrics::new();
    let probe = Arc::new(Counting(Default::default()));
    metrics.add_probe(probe.clone());
    let texts = futures::future::join_all((0..20).map(|_| metrics.render())).await;
    assert_eq!(probe.0.load(std::sync::atomic::Ordering::SeqCst), 1);
    for text in texts {
        assert!(
            text.contains("voicebin_queue_depth{queue=\"scan\"} 1"),
            "{text}"
        );
    }
    // A scrape after the interval reads afresh.
    tokio::time::sleep(PROBE_INTERVAL + std::time::Duration::from_millis(50)).await;
    let text = metrics.render().await;
    assert!(
        text.contains("voicebin_queue_depth{queue=\"scan\"} 2"),
        "{text}"
    );
}
