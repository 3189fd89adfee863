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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_and_error_pages_link_and_post_under_the_public_urls_path_prefix() {
    // A proxy serves the site at <base>/voice and strips the prefix.
    let app = crate::helpers::spawn_with_settings(|dir, base| {
        Box::pin(
            async move { voicebin::Settings::embedded(dir.to_owned(), format!("{base}/voice")) },
        )
    })
    .await;
    let client = reqwest::Client::new();
    let css = r#"href="/voice/static/view.css""#;
    for (path, status) in [
        ("/docs", StatusCode::OK),
        ("/privacy", StatusCode::OK),
        ("/abuse", StatusCode::OK),
        ("/AAAAAAAAAAAAAAAA", StatusCode::NOT_FOUND),
        ("/AAAAAAAAAAAAAAAA/embed", StatusCode::NOT_FOUND),
    ] {
        let res = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), status, "{path}");
        let html = res.text().await.unwrap();
        assert!(
            html.contains(css),
            "{path}: its stylesheet is under the prefix: {html}"
        );
        assert!(!html.contains(r#"="/static/"#), "{path}: {html}");
    }
    // The report form posts under the prefix, and its answer links back there.
    let html = client
        .get(app.url("/abuse"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(r#"<form method="post" action="/voice/abuse">"#),
        "{html}"
    );
    let res = client
        .post(app.url("/abuse"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("clip=AAAAAAAAAAAAAAAA&reason=spam")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let html = res.text().await.unwrap();
    assert!(html.contains(r#"action="/voice/abuse""#), "{html}");
    assert!(html.contains(css), "{html}");
    let alice = app.alice();
    let id = app
        .upload_ok(&alice, crate::helpers::fixture("hello.ogg"), &[])
        .await;
    app.wait_scanned(&id, &alice).await;
    let res = client
        .post(app.url("/abuse"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("clip={id}&reason=spam"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let html = res.text().await.unwrap();
    assert!(
        html.contains(r#"<a href="/voice/abuse">Report another clip</a>"#),
        "{html}"
    );
}
