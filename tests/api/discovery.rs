//! Discovery documents and public pages: RFC 9728 metadata, the agent card, llms.txt, /docs,
//! /privacy and /abuse, all built from the configured public URL.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{spawn_app, spawn_with_settings, Backend};

async fn get_json(
    app: &crate::helpers::TestApp,
    path: &str,
) -> (reqwest::header::HeaderMap, Value) {
    let res = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    let headers = res.headers().clone();
    (headers, res.json().await.unwrap())
}

#[tokio::test]
async fn protected_resource_metadata_names_exactly_the_resource_it_was_built_from() {
    let app = spawn_app(Backend::Sqlite).await;
    for (path, resource) in [
        ("/.well-known/oauth-protected-resource", app.base.clone()),
        (
            "/.well-known/oauth-protected-resource/mcp",
            format!("{}/mcp", app.base),
        ),
    ] {
        let (headers, doc) = get_json(&app, path).await;
        assert!(headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        assert_eq!(doc["resource"], resource.as_str(), "{path}");
        // Embedded mode: the site is its own issuer.
        assert_eq!(doc["authorization_servers"], serde_json::json!([app.base]));
        let scopes: Vec<&str> = doc["scopes_supported"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        for s in ["voice:read", "voice:create", "voice:delete"] {
            assert!(scopes.contains(&s), "{s}");
        }
        assert_eq!(
            doc["bearer_methods_supported"],
            serde_json::json!(["header"])
        );
        let algs = doc["dpop_signing_alg_values_supported"].as_array().unwrap();
        assert!(algs.iter().any(|a| a == "ES256") && algs.iter().any(|a| a == "EdDSA"));
        assert!(!algs.iter().any(|a| a.as_str().unwrap().starts_with("HS")));
        assert_eq!(doc["resource_documentation"], format!("{}/docs", app.base));
    }
}

#[tokio::test]
async fn an_external_issuer_and_its_oauth_endpoints_are_advertised() {
    let app = spawn_with_settings(|dir, base| {
        Box::pin(async move {
            let mut settings = voicebin::Settings::embedded(dir.to_owned(), base);
            // The JWKS file is the embedded key's, so the app starts; only the names matter here.
            let issuer = voicebin::embedded_issuer(dir, &settings.public_url).unwrap();
            let jwks = dir.join("jwks.json");
            std::fs::write(&jwks, issuer.jwks().to_string()).unwrap();
            settings.issuer = voicebin::IssuerSettings {
                issuer: Some("https://issuer.example/tenant".into()),
                jwks_file: Some(jwks),
                authorization_endpoint: Some("https://issuer.example/oauth/authorize".into()),
                token_endpoint: Some("https://issuer.example/oauth/token".into()),
                ..Default::default()
            };
            settings.site.operator = Some("Example Ltd".into());
            settings
        })
    })
    .await;
    let (_, meta) = get_json(&app, "/.well-known/oauth-protected-resource/mcp").await;
    assert_eq!(
        meta["authorization_servers"],
        serde_json::json!(["https://issuer.example/tenant"])
    );
    let (_, card) = get_json(&app, "/.well-known/agent.json").await;
    let oauth = &card["securitySchemes"]["oauth2"];
    assert_eq!(oauth["type"], "oauth2");
    assert_eq!(
        oauth["flows"]["authorizationCode"]["tokenUrl"],
        "https://issuer.example/oauth/token"
    );
    assert_eq!(
        oauth["oauth2MetadataUrl"],
        "https://issuer.example/.well-known/oauth-authorization-server/tenant"
    );
    assert!(oauth["flows"]["authorizationCode"]["scopes"]["voice:create"].is_string());
    assert_eq!(card["provider"]["organization"], "Example Ltd");
}

#[tokio::test]
async fn the_agent_card_describes_this_deployment_and_is_cacheable() {
    let app = spawn_app(Backend::Sqlite).await;
    let (headers, card) = get_json(&app, "/.well-known/agent.json").await;
    assert_eq!(card["name"], "voicebin");
    assert!(card["description"].as_str().unwrap().len() > 20);
    assert_eq!(card["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(card["provider"]["url"], app.base.as_str());
    assert_eq!(card["documentationUrl"], format!("{}/docs", app.base));
    assert_eq!(card["endpoints"]["mcp"]["url"], format!("{}/mcp", app.base));
    assert_eq!(
        card["endpoints"]["rest"]["openapi"],
        format!("{}/api/v1/openapi.json", app.base)
    );
    assert_eq!(card["securitySchemes"]["bearer"]["scheme"], "bearer");
    // No OAuth endpoints configured: no oauth2 scheme is claimed.
    assert!(card["securitySchemes"].get("oauth2").is_none());
    // No A2A transport is claimed, since none is served.
    assert!(card.get("preferredTransport").is_none() && card.get("url").is_none());
    let skills: Vec<&str> = card["skills"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(skills, ["upload", "get", "list", "delete"]);
    assert!(!card.to_string().contains("voicebin.ca"));

    assert!(headers["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age"));
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'));
    let res = app
        .client
        .get(app.url("/.well-known/agent.json"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(res.headers()["etag"].to_str().unwrap(), etag);
    let res = app
        .client
        .get(app.url("/.well-known/agent.json"))
        .header("if-none-match", "\"something-else\"")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn llms_txt_and_the_public_pages_use_the_configured_public_url() {
    let app = spawn_with_settings(|dir, base| {
        Box::pin(async move {
            let mut settings = voicebin::Settings::embedded(dir.to_owned(), base);
            settings.site.abuse_contact = Some("abuse@<b>example</b>.test".into());
            settings
        })
    })
    .await;
    let res = app.client.get(app.url("/llms.txt")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = res.text().await.unwrap();
    assert!(text.starts_with("# voicebin"));
    for link in [
        "/docs",
        "/api/v1/openapi.json",
        "/mcp",
        "/.well-known/agent.json",
        "/.well-known/oauth-protected-resource/mcp",
        "/privacy",
        "/abuse",
    ] {
        assert!(
            text.contains(&format!("{}{link}", app.base)),
            "llms.txt lacks {link}"
        );
    }
    assert!(text.contains("100 MiB"), "the upload limit is stated");
    assert!(!text.contains("voicebin.ca"));

    for path in ["/privacy", "/abuse", "/docs"] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert!(res.headers().contains_key("content-security-policy"));
        let html = res.text().await.unwrap();
        assert!(
            html.contains(&app.base),
            "{path} does not use the public URL"
        );
        assert!(
            !html.contains("<b>example</b>"),
            "{path}: contact not escaped"
        );
    }
    let abuse = app
        .client
        .get(app.url("/abuse"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(abuse.contains("mailto:abuse@&lt;b&gt;example&lt;/b&gt;.test"));
}

#[tokio::test]
async fn the_developer_guide_covers_rest_mcp_oauth_discovery_errors_and_limits() {
    let app = spawn_app(Backend::Sqlite).await;
    let html = app
        .client
        .get(app.url("/docs"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for section in [
        "id=\"upload\"",
        "id=\"mcp\"",
        "id=\"oauth\"",
        "id=\"discovery\"",
        "id=\"errors\"",
        "id=\"limits\"",
    ] {
        assert!(html.contains(section), "/docs lacks {section}");
    }
    assert!(html.contains(&format!("{}/mcp", app.base)));
    assert!(html.contains("DPoP"));
    assert!(html.contains("upload_audio"));
}

/// The text of `path` (200).
async fn get_text(app: &crate::helpers::TestApp, path: &str) -> String {
    let res = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    res.text().await.unwrap()
}

#[tokio::test]
async fn the_agent_card_docs_llms_txt_and_openapi_say_whether_anonymous_uploads_are_on() {
    use crate::helpers::{spawn_app_with, Options};
    let on = spawn_app_with(
        Backend::Sqlite,
        Options {
            anonymous: voicebin::AnonymousSettings {
                enabled: true,
                ..voicebin::AnonymousSettings::default()
            },
            ..Options::default()
        },
    )
    .await;
    let off = spawn_app(Backend::Sqlite).await;
    for (app, enabled) in [(&on, true), (&off, false)] {
        let (_, card) = get_json(app, "/.well-known/agent.json").await;
        let skill = card["skills"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == "upload-anonymously")
            .cloned();
        assert_eq!(skill.is_some(), enabled, "{card}");
        if let Some(skill) = skill {
            let text = skill["description"].as_str().unwrap();
            for words in ["/api/v1/challenge", "x-altcha", "P1D", "10000000 bytes"] {
                assert!(text.contains(words), "{words}: {text}");
            }
        }
        let docs = get_text(app, "/docs").await;
        assert!(docs.contains(r#"<h2 id="anonymous">"#), "{docs}");
        let here = if enabled {
            "This deployment takes anonymous uploads: each lives at most <code>P1D</code>, may be at \
             most 10000000 bytes, and each network address may make 10 an hour."
        } else {
            "This deployment takes no anonymous uploads"
        };
        assert!(docs.contains(here), "{docs}");
        let llms = get_text(app, "/llms.txt").await;
        let line = llms
            .lines()
            .find(|l| l.contains("/api/v1/challenge"))
            .unwrap_or_else(|| panic!("{llms}"));
        assert_eq!(line.contains("x-altcha"), enabled, "{line}");
        assert_eq!(line.contains("404 here"), !enabled, "{line}");
        // The document describes the operation and the header either way (it is the API's
        // contract; the deployment decides whether the operation answers).
        let (_, doc) = get_json(app, "/api/v1/openapi.json").await;
        assert_eq!(
            doc["paths"]["/api/v1/challenge"]["get"]["operationId"],
            "getChallenge"
        );
        let upload = &doc["paths"]["/api/v1/audio"]["post"];
        assert!(
            upload["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "x-altcha"),
            "{upload}"
        );
        assert!(
            upload["responses"]["403"]
                .to_string()
                .contains("challenge-failed"),
            "{upload}"
        );
    }
}
