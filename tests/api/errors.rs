//! Every error the service answers, on every surface, is one RFC 9457 problem whose `status`
//! is the HTTP status; a 405 names the resource's methods in `Allow`. The exceptions are
//! answers whose format is fixed elsewhere, each checked here too: HTML pages (a clip's view
//! and embed pages, the report form), `/readyz` (a health document) and the JSON-RPC errors of
//! `/mcp` (`tests/api/mcp.rs`). Also: which pages may be framed.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use voicebin::{Database, ModerationSettings};

use crate::helpers::{fixture, json, spawn_app_with, Backend, Options, TestApp};

/// The largest body `/mcp` reads.
fn mcp_body_limit() -> usize {
    let max = voicebin_api::mcp::MAX_INLINE_UPLOAD_BYTES;
    usize::try_from(max.div_ceil(3) * 4 + 64 * 1024).unwrap()
}

/// One request and the status it must answer.
struct Case {
    method: Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    status: u16,
}

fn case(method: Method, path: impl Into<String>, status: u16) -> Case {
    Case {
        method,
        path: path.into(),
        headers: Vec::new(),
        body: None,
        status,
    }
}

impl Case {
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn bearer(self, key: &str) -> Self {
        self.header("authorization", format!("Bearer {key}"))
    }

    fn json(self, body: Value) -> Self {
        self.header("content-type", "application/json")
            .body(body.to_string().into_bytes())
    }

    fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// A JSON-RPC request to `/mcp` as an MCP client sends it.
    fn mcp(self) -> Self {
        self.header("accept", "application/json, text/event-stream")
            .json(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
    }
}

async fn send(app: &TestApp, case: &Case) -> reqwest::Response {
    // A connection of its own per request: the server closes one whose request body it did not
    // read, and a pooled connection could be reused just as it closes.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let mut req = client.request(case.method.clone(), app.url(&case.path));
    for (name, value) in &case.headers {
        req = req.header(*name, value);
    }
    if let Some(body) = &case.body {
        req = req.body(body.clone());
    }
    req.send().await.unwrap()
}

/// Sends `case` and checks that the answer is a problem document of its status; returns the
/// status.
async fn check_problem(app: &TestApp, case: &Case) -> u16 {
    let what = format!("{} {}", case.method, case.path);
    let res = send(app, case).await;
    let status = res.status();
    assert_eq!(status.as_u16(), case.status, "{what}");
    let headers = res.headers().clone();
    let content_type = headers
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let (_, problem) = json(res).await;
    assert_eq!(
        content_type.as_deref(),
        Some("application/problem+json"),
        "{what}: {problem}"
    );
    assert_eq!(problem["status"], status.as_u16(), "{what}: {problem}");
    assert!(
        problem["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("urn:voicebin:problem:")),
        "{what}: {problem}"
    );
    assert!(
        problem["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{what}: {problem}"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff", "{what}");
    // What each kind of answer must also say.
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            let allow = header("allow").unwrap_or_else(|| panic!("{what}: no Allow"));
            let allowed: Vec<&str> = allow.split(", ").collect();
            assert!(!allowed.is_empty(), "{what}: Allow: {allow}");
            assert!(
                !allowed.contains(&case.method.as_str()),
                "{what}: Allow: {allow}"
            );
        }
        StatusCode::UNAUTHORIZED => assert!(header("www-authenticate").is_some(), "{what}"),
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
            assert!(header("retry-after").is_some(), "{what}")
        }
        StatusCode::RANGE_NOT_SATISFIABLE => {
            assert!(header("content-range").is_some_and(|r| r.starts_with("bytes */")))
        }
        _ => {}
    }
    status.as_u16()
}

/// Sends `case` and checks that the answer is an HTML page of its status.
async fn check_page(app: &TestApp, case: &Case) {
    let what = format!("{} {}", case.method, case.path);
    let res = send(app, case).await;
    assert_eq!(res.status().as_u16(), case.status, "{what}");
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{what}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_answer_is_a_problem_whose_status_is_the_http_status() {
    let app = spawn_app_with(
        Backend::Sqlite,
        Options {
            max_upload_bytes: 50_000,
            moderation: ModerationSettings {
                hide_threshold: 0,
                reports_per_hour_per_ip: 1,
                reports_per_hour_per_account: 0,
                trust_forwarded_for: false,
            },
            ..Options::default()
        },
    )
    .await;
    let alice = app.alice();
    let bob = app.key("bob", &["voice:read"]);
    let moderator = app.key("mod", &["voice:moderate"]);
    let clean = |name: &'static str| {
        let (app, alice) = (&app, &alice);
        async move {
            let id = app.upload_ok(alice, fixture(name), &[]).await;
            assert_eq!(app.wait_scanned(&id, alice).await["scan_state"], "clean");
            id
        }
    };
    let id = clean("hello.opus").await;
    let gone = clean("hello.ogg").await;
    assert_eq!(app.delete_item(&gone, &alice).await.status(), 204);
    let removed = clean("hello.mp3").await;
    let res = app
        .client
        .post(app.url(&format!("/api/v1/moderation/items/{removed}/remove")))
        .bearer_auth(&moderator)
        .json(&json!({"reason": "illegal"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let nobody = "AAAAAAAAAAAAAAAA";
    let view = |id: &str| app.url(&format!("/{id}"));
    let item = |id: &str| format!("/api/v1/items/{id}");
    // A URL's characters are all allowed in a query as they are.
    let oembed = |url: &str, extra: &str| format!("/oembed?url={url}{extra}");
    // The one report this address may file; the next is a 429.
    let res = app
        .client
        .post(app.url(&format!("{}/reports", item(&id))))
        .json(&json!({"reason": "spam"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);

    let problems = vec![
        // The REST API.
        case(Method::GET, item(nobody), 404),
        case(Method::GET, item("not-an-id"), 404),
        case(Method::GET, "/api/v1/nope", 404),
        case(Method::GET, "/nope/nope/nope", 404),
        case(Method::GET, item(&gone), 410),
        case(Method::GET, item(&removed), 451),
        case(Method::GET, "/api/v1/account/items", 401),
        case(Method::GET, "/api/v1/account/items", 401).bearer("garbage"),
        case(Method::GET, "/api/v1/account/items?limit=0", 400).bearer(&alice),
        case(Method::GET, "/api/v1/account/items?limit=ten", 400).bearer(&alice),
        case(Method::GET, "/api/v1/account/items?cursor=garbage", 400).bearer(&alice),
        // Bodies the server refuses unread are small, so the client has sent them whole
        // before the answer comes (a larger one could meet a closed connection).
        case(Method::POST, "/api/v1/audio", 403)
            .bearer(&bob)
            .body(fixture("not-audio.mp3")),
        case(Method::POST, "/api/v1/audio", 415)
            .bearer(&alice)
            .body(fixture("not-audio.mp3")),
        case(Method::POST, "/api/v1/audio", 413)
            .bearer(&alice)
            .body(vec![0u8; 50_001]),
        case(Method::PATCH, item(&id), 400)
            .bearer(&alice)
            .json(json!({"title": 42})),
        case(Method::PATCH, item(&id), 400)
            .bearer(&alice)
            .header("content-type", "application/json")
            .body("{"),
        case(Method::PATCH, item(&id), 415)
            .bearer(&alice)
            .header("content-type", "text/plain")
            .body("title"),
        case(Method::PATCH, item(&id), 404)
            .bearer(&app.key("bob", &["voice:create"]))
            .json(json!({"title": "mine"})),
        case(Method::TRACE, item(&id), 405),
        case(Method::PUT, "/api/v1/audio", 405).bearer(&alice),
        case(Method::POST, format!("{}/reports", item(&id)), 422)
            .bearer(&alice)
            .json(json!({"reason": "spam"})),
        case(Method::POST, format!("{}/reports", item(&id)), 429).json(json!({"reason": "spam"})),
        case(Method::POST, format!("{}/reports", item(&id)), 400).json(json!({"reason": "boring"})),
        case(
            Method::POST,
            format!("/api/v1/moderation/items/{removed}/remove"),
            409,
        )
        .bearer(&moderator)
        .json(json!({"reason": "again"})),
        case(
            Method::POST,
            format!("/api/v1/moderation/items/{id}/block"),
            403,
        )
        .bearer(&alice)
        .json(json!({"reason": "no"})),
        case(Method::POST, "/api/v1/openapi.json", 405),
        // Media.
        case(Method::GET, format!("/{nobody}/download"), 404),
        case(Method::GET, format!("/{gone}/download"), 410),
        case(Method::GET, format!("/{removed}/audio"), 451),
        case(Method::GET, format!("/{id}/download"), 416).header("range", "bytes=99999999-"),
        case(Method::GET, format!("/{id}/download"), 412).header("if-match", "\"not-this\""),
        case(Method::GET, format!("/{id}/audio"), 401).bearer("garbage"),
        case(Method::POST, format!("/{id}/download"), 405),
        case(Method::DELETE, format!("/{id}/audio"), 405),
        // Pages and their assets.
        case(Method::POST, format!("/{id}"), 405),
        case(Method::PUT, format!("/{id}/embed"), 405),
        case(Method::GET, "/oembed", 400),
        case(Method::GET, oembed(&view(&id), "&maxwidth=wide"), 400),
        case(Method::GET, oembed("https://elsewhere.example/x", ""), 404),
        case(Method::GET, oembed(&view(&gone), ""), 410),
        case(Method::GET, oembed(&view(&removed), ""), 451),
        case(Method::GET, oembed(&view(&id), "&format=xml"), 501),
        case(Method::POST, oembed(&view(&id), ""), 405),
        case(Method::GET, "/static/nope.js", 404),
        case(Method::POST, "/static/view.js", 405),
        case(Method::PUT, "/docs", 405),
        case(Method::DELETE, "/privacy", 405),
        case(Method::PUT, "/abuse", 405),
        // Discovery documents and health checks.
        case(Method::POST, "/.well-known/jwks.json", 405),
        case(Method::POST, "/.well-known/oauth-protected-resource", 405),
        case(
            Method::DELETE,
            "/.well-known/oauth-protected-resource/mcp",
            405,
        ),
        case(Method::POST, "/.well-known/agent.json", 405),
        case(Method::POST, "/llms.txt", 405),
        case(Method::POST, "/healthz", 405),
        case(Method::POST, "/readyz", 405),
        // MCP: its transport's refusals (JSON-RPC errors are in mcp.rs).
        case(Method::POST, "/mcp", 401).mcp(),
        case(Method::GET, "/mcp", 405).bearer(&alice),
        case(Method::DELETE, "/mcp", 405),
        case(Method::POST, "/mcp", 403)
            .mcp()
            .bearer(&alice)
            .header("origin", "https://evil.example"),
        case(Method::POST, "/mcp", 406)
            .bearer(&alice)
            .header("accept", "text/html")
            .json(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})),
        case(Method::POST, "/mcp", 415)
            .bearer(&alice)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "text/plain")
            .body("ping"),
        // One byte over the endpoint's limit (room for the largest upload in base64 and
        // 64 KiB), so that it is read whole before the answer.
        case(Method::POST, "/mcp", 413)
            .bearer(&alice)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(vec![b' '; mcp_body_limit() + 1]),
    ];
    let mut seen = BTreeSet::new();
    for case in &problems {
        seen.insert(check_problem(&app, case).await);
    }

    // The HTML pages answer their refusals as pages, with the same statuses.
    for case in [
        case(Method::GET, format!("/{nobody}"), 404),
        case(Method::GET, format!("/{gone}"), 410),
        case(Method::GET, format!("/{removed}/embed"), 451),
        case(Method::POST, "/abuse", 403)
            .header("origin", "https://evil.example")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("clip={id}&reason=spam")),
    ] {
        check_page(&app, &case).await;
    }

    // With the database gone, every surface says 503, and `/readyz` says why in its own
    // health document.
    match &app.database {
        Database::Sqlite(pool) => pool.close().await,
        Database::Postgres(pool) => pool.close().await,
    }
    // A public read may be answered for up to a second from a view read before (ADR 0026).
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    for case in [
        case(Method::GET, item(&id), 503),
        case(Method::GET, format!("/{id}/download"), 503),
        case(Method::GET, oembed(&view(&id), ""), 503),
        case(Method::GET, "/api/v1/account/items", 503).bearer(&alice),
    ] {
        seen.insert(check_problem(&app, &case).await);
    }
    check_page(&app, &case(Method::GET, format!("/{id}"), 503)).await;
    let (status, health) = json(app.client.get(app.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health["checks"]["database"]["status"], "error", "{health}");

    // Every error status the service answers with was driven above (500 is a bug).
    let expected: BTreeSet<u16> = [
        400, 401, 403, 404, 405, 406, 409, 410, 412, 413, 415, 416, 422, 429, 451, 501, 503,
    ]
    .into();
    assert_eq!(seen, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_text_pages_cannot_be_framed_and_the_embed_player_can() {
    let app = spawn_app_with(Backend::Sqlite, Options::default()).await;
    let alice = app.alice();
    let id = app.upload_ok(&alice, fixture("hello.wav"), &[]).await;
    assert_eq!(app.wait_scanned(&id, &alice).await["scan_state"], "clean");
    let csp = |res: &reqwest::Response| {
        res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    let get = |path: String| {
        let app = &app;
        async move { app.client.get(app.url(&path)).send().await.unwrap() }
    };
    for path in [
        "/docs".to_owned(),
        "/privacy".to_owned(),
        "/abuse".to_owned(),
        format!("/abuse?clip={id}"),
        format!("/{id}"),
    ] {
        let res = get(path.clone()).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert!(
            csp(&res).contains("frame-ancestors 'none'"),
            "{path}: {}",
            csp(&res)
        );
    }
    // The report form's answers too, whatever they say.
    let res = app
        .client
        .post(app.url("/abuse"))
        .form(&[("clip", id.as_str()), ("reason", "boring")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(
        csp(&res).contains("frame-ancestors 'none'"),
        "{}",
        csp(&res)
    );
    // The embed player is what other sites frame.
    let res = get(format!("/{id}/embed")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(!csp(&res).contains("frame-ancestors"), "{}", csp(&res));
}
