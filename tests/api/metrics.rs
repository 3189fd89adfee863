//! `/metrics`: after real traffic (an upload, its scan, a download, 404s) the scrape passes
//! `promtool check metrics` and every family counts what happened, with route templates as
//! labels (never a clip id).

use std::io::Write;
use std::process::{Command, Stdio};

use reqwest::StatusCode;

use crate::helpers::{fixture, spawn_app, Backend, TestApp};
use crate::on_both_backends;

/// `promtool`, as `scripts/test` installs it (`ensure_promtool` exports VOICEBIN_PROMTOOL).
fn promtool() -> String {
    std::env::var("VOICEBIN_PROMTOOL").unwrap_or_else(|_| "promtool".to_owned())
}

/// Runs `promtool check metrics` on `text`; panics with what it reports unless it is clean.
pub fn promtool_check(text: &str) {
    let tool = promtool();
    let mut child = Command::new(&tool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{tool} is needed (Debian's prometheus package; scripts/test installs it): {e}")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool check metrics: {:?}\n{report}\n--- the scrape:\n{text}",
        out.status
    );
}

/// The value of the sample `series` (name and labels exactly as exposed), if present.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        Some(value.trim().parse().expect("a sample value"))
    })
}

/// [`sample`], which must be present.
pub fn value(text: &str, series: &str) -> f64 {
    sample(text, series).unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
}

/// `GET /metrics` on `app`: 200 in the Prometheus text format.
async fn scrape(app: &TestApp) -> String {
    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    res.text().await.unwrap()
}

async fn metrics_count_real_traffic_and_pass_promtool(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.alice();
    let before = scrape(&app).await;
    promtool_check(&before);
    assert_eq!(value(&before, "voicebin_uploads_total"), 0.0);

    let audio = fixture("hello.ogg");
    let id = app.upload_ok(&alice, audio.clone(), &[]).await;
    let scanned = app.wait_scanned(&id, &alice).await;
    assert_eq!(scanned["scan_state"], "clean", "{scanned}");
    let download = app
        .client
        .get(app.url(&format!("/{id}/download")))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(download.bytes().await.unwrap().len(), audio.len());
    let missing = app
        .client
        .get(app.url("/no/such/path"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let unknown = app
        .client
        .get(app.url("/AAAAAAAAAAAAAAAAAAAAAA/audio"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    // An API error is counted under its route too, not as unmatched.
    let no_item = app
        .client
        .get(app.url("/api/v1/items/AAAAAAAAAAAAAAAA"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_item.status(), StatusCode::NOT_FOUND);

    let text = scrape(&app).await;
    promtool_check(&text);
    assert_eq!(value(&text, "voicebin_uploads_total"), 1.0);
    assert_eq!(value(&text, "voicebin_downloads_counted_total"), 1.0);
    assert_eq!(
        value(&text, r#"voicebin_scans_total{outcome="clean"}"#),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"voicebin_scan_duration_seconds_count{outcome="clean"}"#
        ),
        1.0
    );
    assert!(
        value(
            &text,
            r#"voicebin_scan_duration_seconds_sum{outcome="clean"}"#
        ) > 0.0
    );
    assert_eq!(
        value(
            &text,
            r#"voicebin_http_requests_total{method="POST",route="/api/v1/audio",status="201"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"voicebin_http_requests_total{method="GET",route="/{id}/download",status="200"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"voicebin_http_requests_total{method="GET",route="unmatched",status="404"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"voicebin_http_requests_total{method="GET",route="/{id}/audio",status="404"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"voicebin_http_requests_total{method="GET",route="/api/v1/items/{id}",status="404"}"#
        ),
        1.0
    );
    // The owner's polling of the item is one series, whatever the id.
    assert!(
        value(
            &text,
            r#"voicebin_http_requests_total{method="GET",route="/api/v1/items/{id}",status="200"}"#
        ) >= 1.0
    );
    assert_eq!(
        value(
            &text,
            r#"voicebin_http_request_duration_seconds_count{method="GET",route="/{id}/download"}"#
        ),
        1.0
    );
    // Bytes as they streamed: the upload's body in, the download's body out.
    assert_eq!(
        value(
            &text,
            r#"voicebin_http_request_body_bytes_total{method="POST",route="/api/v1/audio"}"#
        ),
        audio.len() as f64
    );
    assert_eq!(
        value(
            &text,
            r#"voicebin_http_response_body_bytes_total{method="GET",route="/{id}/download"}"#
        ),
        audio.len() as f64
    );
    // Read at scrape time from the database in embedded mode: nothing waits any more.
    assert_eq!(value(&text, r#"voicebin_queue_depth{queue="scan"}"#), 0.0);
    // An Ogg clip needs no rendition: the rendition stage has nothing pending either.
    assert_eq!(
        value(&text, r#"voicebin_queue_depth{queue="rendition"}"#),
        0.0
    );
    assert_eq!(
        value(&text, r#"voicebin_relay_lag_seconds{queue="scan"}"#),
        0.0
    );
    assert!(text.contains("# TYPE voicebin_clips_expired_total counter"));
    assert!(text.contains("# TYPE voicebin_http_request_duration_seconds histogram"));
    // Bounded labels: no clip id, no raw path.
    assert!(!text.contains(&id), "a clip id in a label:\n{text}");
    assert!(
        !text.contains("/no/such/path"),
        "a raw path in a label:\n{text}"
    );
}
on_both_backends!(metrics_count_real_traffic_and_pass_promtool);

/// Whether the relay holds a claim on `id` (it published a job for it).
async fn claimed(app: &TestApp, id: &str) -> bool {
    let sql = "SELECT COUNT(*) FROM scan_dispatch WHERE clip_id = $1";
    let count: i64 = match &app.database {
        voicebin::Database::Sqlite(pool) => sqlx::query_scalar(sql)
            .bind(id)
            .fetch_one(pool)
            .await
            .unwrap(),
        voicebin::Database::Postgres(pool) => sqlx::query_scalar(sql)
            .bind(id)
            .fetch_one(pool)
            .await
            .unwrap(),
    };
    count > 0
}

async fn a_pending_clip_shows_in_the_queue_depth_and_the_relay_lag(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.alice();
    let id = app.upload_ok(&alice, fixture("hello.ogg"), &[]).await;
    app.wait_scanned(&id, &alice).await;
    // Put the clip back to pending, uploaded a minute ago, as if the relay had not published
    // its job yet: the depth counts it and the relay lag is its age. (Its verdict stands: a
    // second scan is ignored by the aggregate, so it stays pending in the view.)
    crate::helpers::execute_sql(
        &app.database,
        &format!(
            "UPDATE clip_views SET scan_state = 'pending', created_at = created_at - 60000000 \
             WHERE id = '{id}'"
        ),
    )
    .await;
    // The relay may claim the clip at any moment (every 2 s); a scrape that saw no claim is
    // one after which there is still none, since only the relay adds claims.
    let mut lag = None;
    for _ in 0..20 {
        crate::helpers::execute_sql(&app.database, "DELETE FROM scan_dispatch").await;
        let text = scrape(&app).await;
        promtool_check(&text);
        assert_eq!(value(&text, r#"voicebin_queue_depth{queue="scan"}"#), 1.0);
        if !claimed(&app, &id).await {
            lag = Some(value(&text, r#"voicebin_relay_lag_seconds{queue="scan"}"#));
            break;
        }
        // Scrapes closer together share one reading of the gauges.
        tokio::time::sleep(voicebin_metrics::PROBE_INTERVAL).await;
    }
    let lag = lag.expect("a scrape between two relay passes");
    assert!(lag >= 60.0, "relay lag {lag}");
}
on_both_backends!(a_pending_clip_shows_in_the_queue_depth_and_the_relay_lag);
