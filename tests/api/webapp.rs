//! The web app's pages over HTTP: each is a shell under a strict policy whose scripts and
//! styles are served from `/static/` (what they do in a browser is tested in
//! `tests/browser/*.mjs`, run by `browser.rs` and the `webapp_*` modules).

use reqwest::StatusCode;

use crate::helpers::{spawn_app, Backend};

const PAGES: &[(&str, &str)] = &[
    ("/", "upload"),
    ("/clips", "clips"),
    ("/moderation", "moderation"),
    ("/signin", "signin"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_app_page_is_a_shell_under_a_strict_policy_with_its_module() {
    let app = spawn_app(Backend::Sqlite).await;
    let client = reqwest::Client::new();
    for (path, name) in PAGES {
        let res = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let csp = res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("script-src 'self';"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-"), "{path}: {csp}");
        let html = res.text().await.unwrap();
        assert!(!html.contains("<script>"), "{path}: inline script");
        assert!(!html.contains("style=\""), "{path}: inline style");
        let module = format!(r#"<script type="module" src="/static/app/{name}.js">"#);
        assert!(html.contains(&module), "{path}: {html}");
        assert!(html.contains(r#"<main id="main""#), "{path}");
        for asset in [
            format!("/static/app/{name}.js"),
            "/static/app/app.css".into(),
        ] {
            let res = client.get(app.url(&asset)).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{asset}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_files_revalidate_with_their_etag() {
    let app = spawn_app(Backend::Sqlite).await;
    let client = reqwest::Client::new();
    let res = client
        .get(app.url("/static/app/session.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");
    let again = client
        .get(app.url("/static/app/session.js"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    for missing in [
        "/static/app/nope.js",
        "/static/../Cargo.toml",
        "/static/app/",
    ] {
        let res = client.get(app.url(missing)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{missing}");
    }
}
