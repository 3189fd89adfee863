//! The download URL: headers, ranges, validators, and the counting rules.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{fixture, json, spawn_app, Backend};
use crate::on_both_backends;

async fn clean_clip(app: &crate::helpers::TestApp, limit: Option<&str>) -> String {
    let alice = app.alice();
    let mut headers = vec![("x-filename", "Grüße \"du\".ogg")];
    if let Some(limit) = limit {
        headers.push(("x-download-limit", limit));
    }
    let id = app.upload_ok(&alice, fixture("hello.ogg"), &headers).await;
    app.wait_scanned(&id, &alice).await;
    id
}

async fn count_of(app: &crate::helpers::TestApp, id: &str) -> i64 {
    // Unlimited clips are flushed about once a second.
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let (_, owner) = json(app.get_item(id, Some(&app.alice())).await).await;
    owner["download_count"].as_i64().unwrap()
}

#[tokio::test]
async fn a_download_carries_type_length_validators_and_a_safe_disposition() {
    let app = spawn_app(Backend::Sqlite).await;
    let id = clean_clip(&app, None).await;
    let bytes = fixture("hello.ogg");
    let res = app
        .client
        .get(app.url(&format!("/{id}/download")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers().clone();
    assert_eq!(h["content-type"], "audio/ogg");
    assert_eq!(h["content-length"], bytes.len().to_string().as_str());
    assert_eq!(h["accept-ranges"], "bytes");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let etag = h["etag"].to_str().unwrap().to_owned();
    assert!(
        etag.starts_with('"') && etag.len() == 66,
        "strong sha256 etag: {etag}"
    );
    assert!(h["last-modified"].to_str().unwrap().ends_with(" GMT"));
    assert_eq!(
        h["content-disposition"],
        "attachment; filename=\"Gr__e _du_.ogg\"; filename*=UTF-8''Gr%C3%BC%C3%9Fe%20%22du%22.ogg"
    );
    assert_eq!(res.bytes().await.unwrap().as_ref(), bytes.as_slice());

    let inline = app
        .client
        .get(app.url(&format!("/{id}/audio")))
        .send()
        .await
        .unwrap();
    assert!(inline.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("inline;"));
}

#[tokio::test]
async fn ranges_are_served_as_206_and_bad_ones_as_416() {
    let app = spawn_app(Backend::Sqlite).await;
    let id = clean_clip(&app, None).await;
    let bytes = fixture("hello.ogg");
    let len = bytes.len();
    let url = app.url(&format!("/{id}/download"));
    let res = app
        .client
        .get(&url)
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        res.headers()["content-range"],
        format!("bytes 100-199/{len}").as_str()
    );
    assert_eq!(res.headers()["content-length"], "100");
    assert_eq!(res.bytes().await.unwrap().as_ref(), &bytes[100..200]);

    let res = app
        .client
        .get(&url)
        .header("range", "bytes=-10")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.bytes().await.unwrap().as_ref(), &bytes[len - 10..]);

    let res = app
        .client
        .get(&url)
        .header("range", format!("bytes={len}-"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        res.headers()["content-range"],
        format!("bytes */{len}").as_str()
    );

    // If-Range with a stale validator: the whole file.
    let res = app
        .client
        .get(&url)
        .header("range", "bytes=0-9")
        .header("if-range", "\"stale\"")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap().len(), len);
}

#[tokio::test]
async fn conditional_and_head_requests_send_no_body_and_are_not_counted() {
    let app = spawn_app(Backend::Sqlite).await;
    let id = clean_clip(&app, None).await;
    let url = app.url(&format!("/{id}/download"));
    let etag = app.client.head(&url).send().await.unwrap().headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let res = app.client.head(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-length"],
        fixture("hello.ogg").len().to_string().as_str()
    );
    let res = app
        .client
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert!(res.bytes().await.unwrap().is_empty());
    // The view page does not count either.
    let page = app
        .client
        .get(app.url(&format!("/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(count_of(&app, &id).await, 0);
}

#[tokio::test]
async fn one_playback_with_seeking_counts_once_and_the_owner_never_counts() {
    let app = spawn_app(Backend::Sqlite).await;
    let id = clean_clip(&app, None).await;
    let player = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let url = app.url(&format!("/{id}/audio"));
    for range in ["bytes=0-", "bytes=5000-", "bytes=100-200", "bytes=-500"] {
        let res = player
            .get(&url)
            .header("range", range)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    }
    let res = app
        .client
        .get(&url)
        .bearer_auth(app.alice())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(count_of(&app, &id).await, 1);
    // A client without the grant (another browser) is a second download.
    app.client.get(&url).send().await.unwrap();
    assert_eq!(count_of(&app, &id).await, 2);
}

async fn exactly_n_downloads_succeed_under_concurrency(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = clean_clip(&app, Some("5")).await;
    let url = app.url(&format!("/{id}/download"));
    // Two API processes over one store, fifty racing clients split between them.
    let (replica, _replica_tasks) = crate::helpers::spawn_replica(&app).await;
    let replica_url = format!("{replica}/{id}/download");
    let mut tasks = Vec::new();
    for i in 0..50 {
        let client = reqwest::Client::new();
        let url = if i % 2 == 0 {
            url.clone()
        } else {
            replica_url.clone()
        };
        tasks.push(tokio::spawn(async move {
            let res = client.get(url).send().await.unwrap();
            let status = res.status();
            let body = res.bytes().await.unwrap();
            (status, body.len())
        }));
    }
    let mut ok = 0;
    for task in tasks {
        let (status, len) = task.await.unwrap();
        match status {
            StatusCode::OK => {
                ok += 1;
                assert_eq!(len, fixture("hello.ogg").len());
            }
            StatusCode::GONE => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(ok, 5);
    let (_, owner) = json(app.get_item(&id, Some(&app.alice())).await).await;
    assert_eq!(owner["download_count"], 5);
    assert_eq!(owner["downloads_remaining"], 0);
    assert_eq!(
        app.event_types(&id)
            .await
            .iter()
            .filter(|t| *t == "Downloaded")
            .count(),
        5
    );
    // Exhausted: 410 to others (page and API), the owner still gets the bytes.
    let (status, body) = json(app.client.get(&url).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    assert_eq!(
        app.client
            .get(app.url(&format!("/{id}")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::GONE
    );
    let res = app
        .client
        .get(&url)
        .bearer_auth(app.alice())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}
on_both_backends!(exactly_n_downloads_succeed_under_concurrency);

#[tokio::test]
async fn the_view_page_escapes_user_text_and_has_link_previews() {
    let app = spawn_app(Backend::Sqlite).await;
    let alice = app.alice();
    let evil = "<script>alert(1)</script>\"'&";
    let id = app
        .upload_ok(
            &alice,
            fixture("hello.ogg"),
            &[
                ("x-title", evil),
                ("x-filename", "<img src=x onerror=alert(1)>.ogg"),
            ],
        )
        .await;
    app.patch_item(
        &id,
        &alice,
        serde_json::json!({"description": "</p><script>x()</script>"}),
    )
    .await;
    app.wait_scanned(&id, &alice).await;
    let res = app
        .client
        .get(app.url(&format!("/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    let html = res.text().await.unwrap();
    assert!(!html.contains("<script>alert"), "title not escaped");
    assert!(!html.contains("<script>x()"), "description not escaped");
    assert!(!html.contains("<img src=x"), "filename not escaped");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"));
    // Exactly one script element: ours, from /static.
    assert_eq!(html.matches("<script").count(), 1);
    for tag in [
        "property=\"og:title\"",
        "property=\"og:description\"",
        "property=\"og:audio\"",
        "property=\"og:audio:type\" content=\"audio/ogg\"",
        "property=\"og:url\"",
        "name=\"twitter:card\" content=\"player\"",
        "name=\"twitter:player\"",
        "type=\"application/json+oembed\"",
    ] {
        assert!(html.contains(tag), "missing {tag}");
    }
    assert!(html.contains(&format!("src=\"{}/{id}/audio\"", app.base)));
}

#[tokio::test]
async fn oembed_returns_a_rich_embed_of_the_player_page() {
    let app = spawn_app(Backend::Sqlite).await;
    let id = clean_clip(&app, None).await;
    let page = app.url(&format!("/{id}"));
    let res = app
        .client
        .get(app.url("/oembed"))
        .query(&[("url", page.as_str())])
        .send()
        .await
        .unwrap();
    let (status, body): (StatusCode, Value) = json(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["type"], "rich");
    assert_eq!(body["version"], "1.0");
    assert_eq!(body["cache_age"], 3600, "a public clip may be cached");
    // `format` is matched without regard to case (and empty means the default, JSON).
    for format in ["JSON", ""] {
        let res = app
            .client
            .get(app.url("/oembed"))
            .query(&[("url", page.as_str()), ("format", format)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "format={format:?}");
    }
    let html = body["html"].as_str().unwrap();
    assert!(html.contains(&format!("{}/{id}/embed", app.base)), "{html}");
    let embed = app
        .client
        .get(app.url(&format!("/{id}/embed")))
        .send()
        .await
        .unwrap();
    assert_eq!(embed.status(), StatusCode::OK);
    assert!(!embed.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    let res = app
        .client
        .get(app.url("/oembed"))
        .query(&[("url", "https://elsewhere.example/x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn pages_of_hidden_or_deleted_clips_are_404_or_410() {
    let app = spawn_app(Backend::Sqlite).await;
    let alice = app.alice();
    let mut damaged = fixture("hello.wav");
    damaged.truncate(44);
    let rejected = app.upload_ok(&alice, damaged, &[]).await;
    app.wait_scanned(&rejected, &alice).await;
    assert_eq!(
        app.client
            .get(app.url(&format!("/{rejected}")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let id = clean_clip(&app, None).await;
    app.delete_item(&id, &alice).await;
    let res = app
        .client
        .get(app.url(&format!("/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::GONE);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
}

#[tokio::test]
async fn the_developer_guide_documents_the_counting_rule_with_this_sites_url() {
    let app = spawn_app(Backend::Sqlite).await;
    let res = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains(&format!("{}/api/v1/openapi.json", app.base)));
    assert!(html.contains("One playback with seeking counts once"));
    assert!(html.contains("never count"));
}
