//! The MCP endpoint, driven by rmcp's own Streamable HTTP client against the live app.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use base64::Engine;
use reqwest::StatusCode;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, ErrorCode,
    Implementation, ProtocolVersion, ReadResourceRequestParams, ReadResourceResult,
    ResourceContents,
};
use rmcp::service::{RunningService, ServiceError};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{json, Value};

use crate::helpers::{
    fixture, json, spawn_app, spawn_app_with, spawn_with_settings, Backend, Options, TestApp,
    ALL_SCOPES,
};

pub(crate) type Client = RunningService<RoleClient, ClientConfig>;

fn client_config() -> ClientConfig {
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("voicebin-tests", "1"),
    )
    .with_protocol_version(ProtocolVersion::V_2025_11_25)
}

/// An MCP client session against `url` with bearer `key`.
async fn connect_to(url: &str, key: &str) -> Client {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.to_owned()).auth_header(key),
    );
    client_config().serve(transport).await.expect("MCP session")
}

pub(crate) async fn connect(app: &TestApp, key: &str) -> Client {
    connect_to(&app.url("/mcp"), key).await
}

pub(crate) async fn call(client: &Client, tool: &str, arguments: Value) -> CallToolResult {
    let Value::Object(arguments) = arguments else {
        panic!("arguments must be an object")
    };
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments))
        .await
        .unwrap_or_else(|e| panic!("{tool}: {e}"))
}

/// The structured result of a successful call.
pub(crate) fn ok(result: CallToolResult) -> Value {
    assert_eq!(result.is_error, Some(false), "{result:?}");
    let value = result
        .structured_content
        .clone()
        .expect("structuredContent");
    // The same JSON also travels as text, for clients that read only content.
    let text = &result.content[0].as_text().expect("text content").text;
    assert_eq!(serde_json::from_str::<Value>(text).unwrap(), value);
    value
}

/// The message of a business error.
fn error(result: CallToolResult) -> String {
    assert_eq!(result.is_error, Some(true), "{result:?}");
    assert!(result.structured_content.is_none());
    result.content[0]
        .as_text()
        .expect("text content")
        .text
        .clone()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Every property the schema requires is present, and nothing else is undeclared.
fn conforms(value: &Value, schema: &Value) {
    let defs = &schema["$defs"];
    let resolve = |s: &Value| -> Value {
        match s["$ref"].as_str().and_then(|r| r.strip_prefix("#/$defs/")) {
            Some(name) => defs[name].clone(),
            None => s.clone(),
        }
    };
    let schema = resolve(schema);
    for required in schema["required"].as_array().into_iter().flatten() {
        let name = required.as_str().unwrap();
        assert!(value.get(name).is_some(), "{name} missing in {value}");
    }
    for name in value.as_object().unwrap().keys() {
        assert!(
            schema["properties"].get(name).is_some(),
            "{name} not in the output schema"
        );
    }
}

/// A WAV file of `seconds` of silence (16-bit mono, 44.1 kHz).
fn silent_wav(seconds: u32) -> Vec<u8> {
    crate::helpers::pcm_wav(44_100, &vec![0; 44_100 * seconds as usize])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_uploads_reads_lists_updates_and_deletes_a_clip_over_mcp() {
    let app = spawn_app(Backend::Sqlite).await;
    let key = app.alice();
    let client = connect(&app, &key).await;
    let server = client.peer_info().expect("initialized");
    assert_eq!(server.protocol_version.as_str(), "2025-11-25");
    assert_eq!(server.server_info.as_ref().unwrap().name, "voicebin");
    let tools = client.list_all_tools().await.unwrap();
    let schema_of = |name: &str| {
        Value::Object(
            (*tools
                .iter()
                .find(|t| t.name == name)
                .unwrap()
                .output_schema
                .clone()
                .unwrap())
            .clone(),
        )
    };

    let audio = fixture("hello.ogg");
    let created = ok(call(
        &client,
        "upload_audio",
        json!({
            "data": b64(&audio),
            "filename": "standup.ogg",
            "title": "Morning standup",
            "download_limit": 3,
        }),
    )
    .await);
    conforms(&created, &schema_of("upload_audio"));
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["title"], "Morning standup");
    assert_eq!(created["filename"], "standup.ogg");
    assert_eq!(created["content_type"], "audio/ogg");
    assert_eq!(created["size_bytes"], audio.len() as i64);
    assert_eq!(created["download_limit"], 3);
    assert_eq!(created["urls"]["view"], app.url(&format!("/{id}")));
    assert_eq!(app.blob_files().0, 1);
    // The upload went through the command layer: the event is in the store.
    assert_eq!(app.event_types(&id).await[0], "Uploaded");

    let rest = app.wait_scanned(&id, &key).await;
    assert_eq!(rest["scan_state"], "clean", "{rest}");
    // get_audio answers exactly what the REST API answers.
    let got = ok(call(&client, "get_audio", json!({"id": id})).await);
    assert_eq!(got, rest);
    conforms(&got, &schema_of("get_audio"));

    let page = ok(call(&client, "list_audio", json!({"q": "standup"})).await);
    conforms(&page, &schema_of("list_audio"));
    let (_, rest_page) = json(app.list(&key, &[("q", "standup")]).await).await;
    assert_eq!(page, rest_page);
    assert_eq!(page["items"][0]["id"], id.as_str());
    // A search says where it matched, for agents as for the REST API.
    let found = &page["items"][0]["match"];
    assert!(
        found["snippet"]
            .as_array()
            .is_some_and(|parts| parts.iter().any(|p| p["hit"] == true
                && p["text"]
                    .as_str()
                    .is_some_and(|t| t.eq_ignore_ascii_case("standup")))),
        "{page}"
    );
    let none = ok(call(&client, "list_audio", json!({"q": "no such words"})).await);
    assert_eq!(none["items"], json!([]));

    let updated = ok(call(
        &client,
        "update_audio",
        json!({"id": id, "title": "Evening standup", "download_limit": null}),
    )
    .await);
    assert_eq!(updated["title"], "Evening standup");
    assert_eq!(updated["filename"], "standup.ogg");
    assert!(updated["download_limit"].is_null(), "{updated}");
    let (_, rest) = json(app.get_item(&id, Some(&key)).await).await;
    assert_eq!(rest["title"], "Evening standup");
    assert!(app
        .event_types(&id)
        .await
        .iter()
        .any(|t| t != "Uploaded" && t != "ScanCompleted"));

    let deleted = ok(call(&client, "delete_audio", json!({"id": id})).await);
    conforms(&deleted, &schema_of("delete_audio"));
    assert_eq!(deleted, json!({"id": id, "deleted": true}));
    assert_eq!(app.get_item(&id, None).await.status(), StatusCode::GONE);
    assert_eq!(app.blob_files().0, 0);
    assert_eq!(app.event_types(&id).await.last().unwrap(), "Deleted");
    let again = error(call(&client, "get_audio", json!({"id": id})).await);
    assert!(again.contains("urn:voicebin:problem:gone"), "{again}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn tools_are_listed_with_input_and_output_schemas_and_annotations() {
    let app = spawn_app(Backend::Sqlite).await;
    let client = connect(&app, &app.alice()).await;
    let tools = client.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "delete_audio",
            "get_account",
            "get_audio",
            "get_transcript",
            "list_audio",
            "update_audio",
            "upload_audio"
        ]
    );
    let tool = |name: &str| tools.iter().find(|t| t.name == name).unwrap();
    let hints = |name: &str| {
        let a = tool(name).annotations.clone().unwrap();
        (
            a.read_only_hint.unwrap(),
            a.destructive_hint.unwrap(),
            a.idempotent_hint.unwrap(),
        )
    };
    assert_eq!(hints("upload_audio"), (false, false, false));
    assert_eq!(hints("get_audio"), (true, false, true));
    assert_eq!(hints("list_audio"), (true, false, true));
    assert_eq!(hints("update_audio"), (false, false, true));
    assert_eq!(hints("delete_audio"), (false, true, true));

    let upload = tool("upload_audio");
    let description = upload.description.as_deref().unwrap();
    assert!(description.contains("never fetched"), "{description}");
    assert!(description.contains("10485760 bytes"), "{description}");
    let input = Value::Object((*upload.input_schema).clone());
    assert_eq!(input["type"], "object");
    assert_eq!(input["required"], json!(["data"]));
    for field in ["data", "filename", "title", "description", "download_limit"] {
        assert!(input["properties"].get(field).is_some(), "{field}: {input}");
    }
    for t in &tools {
        // Only formats JSON Schema defines, so strict validators accept every schema.
        let schemas = format!("{:?} {:?}", t.input_schema, t.output_schema);
        assert!(
            !schemas.contains("int64") && !schemas.contains("uint32"),
            "{schemas}"
        );
    }
    let update = Value::Object((*tool("update_audio").input_schema).clone());
    assert_eq!(update["required"], json!(["id"]));
    let list = Value::Object((*tool("list_audio").input_schema).clone());
    assert!(list["properties"].get("q").is_some() && list["properties"].get("cursor").is_some());

    // Outputs are the REST shapes, described by the OpenAPI document's schemas.
    let (_, doc) = json(
        app.client
            .get(app.url("/api/v1/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let rest_item = &doc["components"]["schemas"]["Item"];
    for name in ["upload_audio", "get_audio", "update_audio"] {
        let output = Value::Object((*tool(name).output_schema.clone().unwrap()).clone());
        assert_eq!(output["type"], "object");
        assert_eq!(output["required"], rest_item["required"], "{name}");
        let keys = |v: &Value| {
            let mut k: Vec<String> = v["properties"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            k.sort();
            k
        };
        assert_eq!(keys(&output), keys(rest_item), "{name}");
        assert!(!output.to_string().contains("#/components/"));
    }
    let page = Value::Object((*tool("list_audio").output_schema.clone().unwrap()).clone());
    assert_eq!(page["properties"]["items"]["items"]["$ref"], "#/$defs/Item");
}

#[tokio::test]
async fn business_errors_are_tool_results_marked_as_errors_and_change_nothing() {
    let app = spawn_app_with(
        Backend::Sqlite,
        Options {
            max_upload_bytes: 50_000,
            ..Options::default()
        },
    )
    .await;
    let client = connect(&app, &app.alice()).await;

    let not_audio = error(
        call(
            &client,
            "upload_audio",
            json!({"data": b64(&fixture("not-audio.mp3"))}),
        )
        .await,
    );
    assert!(
        not_audio.contains("urn:voicebin:problem:not-audio"),
        "{not_audio}"
    );
    assert!(not_audio.contains("415"), "{not_audio}");

    let too_large = error(
        call(
            &client,
            "upload_audio",
            json!({"data": b64(&fixture("hello.wav"))}),
        )
        .await,
    );
    assert!(
        too_large.contains("urn:voicebin:problem:too-large"),
        "{too_large}"
    );
    assert!(too_large.contains("50000 bytes"), "{too_large}");

    let missing = error(call(&client, "get_audio", json!({"id": "AAAAAAAAAAAAAAAA"})).await);
    assert!(
        missing.contains("urn:voicebin:problem:not-found"),
        "{missing}"
    );

    assert_eq!(app.total_events().await, 0);
    assert_eq!(app.blob_files(), (0, 0));
}

/// The `-32602` error of a call the server refused as invalid params.
async fn invalid_params(client: &Client, tool: &str, arguments: Value) -> rmcp::ErrorData {
    let Value::Object(arguments) = arguments else {
        panic!("arguments must be an object")
    };
    match client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments))
        .await
    {
        Err(ServiceError::McpError(e)) => {
            assert_eq!(e.code, ErrorCode::INVALID_PARAMS, "{tool}: {e:?}");
            e
        }
        other => panic!("{tool}: expected -32602, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arguments_rest_would_refuse_are_invalid_params_and_change_nothing() {
    let app = spawn_app(Backend::Sqlite).await;
    let key = app.alice();
    let id = app.upload_ok(&key, fixture("hello.wav"), &[]).await;
    app.wait_scanned(&id, &key).await;
    let events = app.total_events().await;
    let client = connect(&app, &key).await;
    let wav = b64(&fixture("hello.opus"));

    // (tool, arguments, the field the problem names, if any)
    let cases = [
        // Missing, unknown and mistyped arguments.
        ("get_audio", json!({}), None),
        (
            "get_audio",
            json!({"id": id, "url": "https://example.com"}),
            None,
        ),
        ("get_audio", json!({"id": 42}), None),
        ("list_audio", json!({"limit": "ten"}), None),
        ("list_audio", json!({"limit": -1}), None),
        (
            "update_audio",
            json!({"id": id, "download_limit": "5"}),
            None,
        ),
        ("upload_audio", json!({"title": "no data"}), None),
        // Values out of range: REST answers 400 for each (`limit` is not clamped).
        ("list_audio", json!({"limit": 0}), Some("limit")),
        ("list_audio", json!({"limit": 101}), Some("limit")),
        ("list_audio", json!({"q": "x".repeat(201)}), Some("q")),
        ("list_audio", json!({"cursor": "garbage"}), Some("cursor")),
        (
            "upload_audio",
            json!({"data": "https://example.com/a.mp3"}),
            Some("data"),
        ),
        (
            "upload_audio",
            json!({"data": wav, "title": "x".repeat(201)}),
            Some("title"),
        ),
        (
            "upload_audio",
            json!({"data": wav, "download_limit": 0}),
            Some("download_limit"),
        ),
        (
            "update_audio",
            json!({"id": id, "download_limit": 0}),
            Some("download_limit"),
        ),
        (
            "update_audio",
            json!({"id": id, "download_limit": 1_000_000_001_i64}),
            Some("download_limit"),
        ),
        (
            "update_audio",
            json!({"id": id, "description": "x".repeat(5001)}),
            Some("description"),
        ),
    ];
    for (tool, arguments, field) in cases {
        let e = invalid_params(&client, tool, arguments.clone()).await;
        let problem = e.data.unwrap_or_default();
        assert_eq!(problem["status"], 400, "{tool} {arguments}: {problem}");
        if let Some(field) = field {
            assert_eq!(problem["field"], field, "{tool} {arguments}: {problem}");
        }
    }
    // An unknown tool is one too.
    let e = invalid_params(&client, "fetch_url", json!({})).await;
    assert!(e.message.contains("fetch_url"), "{e:?}");

    // Nothing was recorded or stored; the valid neighbours still work.
    assert_eq!(app.total_events().await, events);
    assert_eq!(app.blob_files(), (1, 0));
    let page = ok(call(&client, "list_audio", json!({"limit": 100})).await);
    assert_eq!(page["items"][0]["id"], id.as_str());
}

/// POSTs `body` to `/mcp` as JSON with a valid token.
async fn post_raw(app: &TestApp, key: &str, body: &str) -> reqwest::Response {
    app.client
        .post(app.url("/mcp"))
        .bearer_auth(key)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn bodies_that_are_not_json_rpc_requests_get_json_rpc_errors_with_400() {
    let app = spawn_app(Backend::Sqlite).await;
    let key = app.alice();
    // (body, code, the id answered with)
    let cases = [
        ("{not json", -32700, Value::Null),
        ("", -32700, Value::Null),
        ("[]", -32600, Value::Null),
        (
            r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
            -32600,
            Value::Null,
        ),
        ("\"ping\"", -32600, Value::Null),
        (r#"{"id":1,"method":"ping"}"#, -32600, json!(1)),
        (
            r#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#,
            -32600,
            Value::Null,
        ),
        (
            r#"{"jsonrpc":"2.0","id":"x","method":["ping"]}"#,
            -32600,
            json!("x"),
        ),
        (
            r#"{"jsonrpc":"2.0","id":2,"result":{},"error":{}}"#,
            -32600,
            json!(2),
        ),
    ];
    for (body, code, id) in cases {
        let res = post_raw(&app, &key, body).await;
        let status = res.status();
        if status != StatusCode::BAD_REQUEST {
            panic!("{body}: {status} {}", res.text().await.unwrap());
        }
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        let (_, answer) = json(res).await;
        assert_eq!(answer["jsonrpc"], "2.0", "{body}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{body}: {answer}");
        assert!(answer["error"]["message"].is_string(), "{answer}");
        assert_eq!(
            answer.get("id").cloned().unwrap_or(Value::Null),
            id,
            "{body}: {answer}"
        );
    }
    // A request of a method this server answers, with params that do not fit it, is answered
    // like any request (200), with -32602 rather than "method not found".
    for (id, body) in [
        (
            3,
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":5}}"#,
        ),
        (
            4,
            r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"get_audio","arguments":"x"}}"#,
        ),
        (
            5,
            r#"{"jsonrpc":"2.0","id":5,"method":"resources/read","params":{}}"#,
        ),
        (
            6,
            r#"{"jsonrpc":"2.0","id":6,"method":"initialize","params":{"protocolVersion":7}}"#,
        ),
    ] {
        let (status, answer) = json(post_raw(&app, &key, body).await).await;
        assert_eq!(status, StatusCode::OK, "{body}: {answer}");
        assert_eq!(answer["id"], id, "{answer}");
        assert_eq!(answer["error"]["code"], -32602, "{body}: {answer}");
    }
    // The same endpoint still answers a good request, and an unknown method is -32601.
    let (status, pong) =
        json(post_raw(&app, &key, r#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#).await).await;
    assert_eq!(status, StatusCode::OK, "{pong}");
    assert_eq!(pong["id"], 7);
    assert!(pong["result"].is_object(), "{pong}");
    let (_, unknown) =
        json(post_raw(&app, &key, r#"{"jsonrpc":"2.0","id":8,"method":"nope"}"#).await).await;
    assert_eq!(unknown["error"]["code"], -32601, "{unknown}");
    // A body that is not said to be JSON is still a 415 problem.
    let res = app
        .client
        .post(app.url("/mcp"))
        .bearer_auth(&key)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "text/plain")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
}

/// An app whose scanner cannot be reached, so uploads stay `pending` for several seconds.
async fn spawn_app_with_stalled_scanner() -> TestApp {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap().to_string();
    drop(closed);
    spawn_with_settings(move |dir, base| {
        Box::pin(async move {
            voicebin::Settings {
                data_dir: dir.to_owned(),
                database_url: None,
                public_url: base,
                max_upload_bytes: voicebin::DEFAULT_MAX_UPLOAD_BYTES,
                issuer: Default::default(),
                site: Default::default(),
                moderation: Default::default(),
                s3: None,
                amqp: None,
                clamd: Some(voicebin::ClamdSettings {
                    addr,
                    max_stream_bytes: 100 * 1024 * 1024,
                }),
                sweeper: Default::default(),
                lifetimes: Default::default(),
                expiry: Default::default(),

                sandbox: crate::helpers::sandbox_settings(),

                rendition: Some(Default::default()),
                transcription: None,
                quotas: Default::default(),
                rate_limits: Default::default(),
                anonymous: Default::default(),
                resumable: Default::default(),
                read_cache: Default::default(),
                download_buffer_bytes: voicebin_commands::ReadBudget::DEFAULT_BYTES as u64,
                s3_cache_bytes: 0,
            }
        })
    })
    .await
}

#[tokio::test]
async fn another_account_cannot_read_a_pending_clip_nor_edit_or_delete_someone_elses() {
    let app = spawn_app_with_stalled_scanner().await;
    let alice = connect(&app, &app.alice()).await;
    let bob = connect(&app, &app.key("bob", ALL_SCOPES)).await;
    let created = ok(call(
        &alice,
        "upload_audio",
        json!({"data": b64(&fixture("hello.mp3")), "title": "private"}),
    )
    .await);
    let id = created["id"].as_str().unwrap();
    let owner = ok(call(&alice, "get_audio", json!({"id": id})).await);
    assert_eq!(owner["scan_state"], "pending");

    let seen = error(call(&bob, "get_audio", json!({"id": id})).await);
    assert!(seen.contains("urn:voicebin:problem:not-found"), "{seen}");
    let edit = error(call(&bob, "update_audio", json!({"id": id, "title": "mine"})).await);
    assert!(edit.contains("urn:voicebin:problem:not-found"), "{edit}");
    let delete = error(call(&bob, "delete_audio", json!({"id": id})).await);
    assert!(
        delete.contains("urn:voicebin:problem:not-found"),
        "{delete}"
    );
    let listed = ok(call(&bob, "list_audio", json!({})).await);
    assert_eq!(listed["items"], json!([]));

    // Nothing changed: the clip is still Alice's, untouched.
    assert_eq!(app.event_types(id).await, ["Uploaded"]);
    let still = ok(call(&alice, "get_audio", json!({"id": id})).await);
    assert_eq!(still["title"], "private");
}

#[tokio::test]
async fn a_clean_clip_reads_as_its_public_view_for_others() {
    let app = spawn_app(Backend::Sqlite).await;
    let key = app.alice();
    let id = app.upload_ok(&key, fixture("hello.flac"), &[]).await;
    app.wait_scanned(&id, &key).await;
    let bob = connect(&app, &app.key("bob", ALL_SCOPES)).await;
    let public = ok(call(&bob, "get_audio", json!({"id": id})).await);
    let (_, rest) = json(app.get_item(&id, None).await).await;
    assert_eq!(public, rest);
    assert!(public.get("scan_state").is_none());
}

#[tokio::test]
async fn a_token_without_the_scope_gets_an_error_result_naming_it() {
    let app = spawn_app(Backend::Sqlite).await;
    let id = app.upload_ok(&app.alice(), fixture("hello.ogg"), &[]).await;
    app.wait_scanned(&id, &app.alice()).await;

    let reader = connect(&app, &app.key("alice", &["voice:read"])).await;
    let upload = error(
        call(
            &reader,
            "upload_audio",
            json!({"data": b64(&fixture("hello.ogg"))}),
        )
        .await,
    );
    assert!(
        upload.contains("urn:voicebin:problem:insufficient-scope"),
        "{upload}"
    );
    assert!(upload.contains("voice:create"), "{upload}");
    let delete = error(call(&reader, "delete_audio", json!({"id": id})).await);
    assert!(delete.contains("voice:delete"), "{delete}");
    let edit = error(call(&reader, "update_audio", json!({"id": id, "title": "x"})).await);
    assert!(edit.contains("voice:create"), "{edit}");
    let page = ok(call(&reader, "list_audio", json!({})).await);
    assert_eq!(page["items"][0]["id"], id.as_str());

    let writer = connect(&app, &app.key("alice", &["voice:create"])).await;
    let list = error(call(&writer, "list_audio", json!({})).await);
    assert!(list.contains("voice:read"), "{list}");

    // Only the first upload and nothing else reached the store.
    assert_eq!(app.total_events().await, app.event_count(&id).await);
    assert_eq!(app.get_item(&id, None).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn clips_are_resources_with_a_template_and_reads_that_respect_visibility() {
    let app = spawn_app(Backend::Sqlite).await;
    let key = app.alice();
    let client = connect(&app, &key).await;
    let templates = client.list_resource_templates(None).await.unwrap();
    assert_eq!(templates.resource_templates.len(), 2);
    assert_eq!(
        templates.resource_templates[0].uri_template,
        app.url("/{id}")
    );
    assert_eq!(
        templates.resource_templates[1].uri_template,
        app.url("/{id}/transcript.vtt")
    );

    let audio = fixture("hello.ogg");
    let id = app
        .upload_ok(&key, audio.clone(), &[("x-title", "Hello")])
        .await;
    let uri = app.url(&format!("/{id}"));

    // The owner gets the audio itself, even while it is pending.
    let result = read(&client, uri.clone()).await.unwrap();
    match &result.contents[..] {
        [ResourceContents::BlobResourceContents {
            uri: got,
            mime_type,
            blob,
            ..
        }] => {
            assert_eq!(got, &uri);
            assert_eq!(mime_type.as_deref(), Some("audio/ogg"));
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(blob)
                .unwrap();
            assert_eq!(bytes, audio);
        }
        other => panic!("expected one blob, got {other:?}"),
    }
    let listed = client.list_resources(None).await.unwrap();
    assert_eq!(listed.resources.len(), 1);
    assert_eq!(listed.resources[0].uri, uri);
    assert_eq!(listed.resources[0].title.as_deref(), Some("Hello"));
    assert_eq!(listed.resources[0].mime_type.as_deref(), Some("audio/ogg"));

    // Someone else reads a clean clip as a link to its download URL (where limits count).
    app.wait_scanned(&id, &key).await;
    let bob = connect(&app, &app.key("bob", ALL_SCOPES)).await;
    let result = read(&bob, uri.clone()).await.unwrap();
    match &result.contents[..] {
        [ResourceContents::TextResourceContents {
            mime_type, text, ..
        }] => {
            assert_eq!(mime_type.as_deref(), Some("text/uri-list"));
            assert!(
                text.contains(&app.url(&format!("/{id}/download"))),
                "{text}"
            );
        }
        other => panic!("expected a uri-list, got {other:?}"),
    }
    assert!(bob.list_resources(None).await.unwrap().resources.is_empty());

    // A clip that is not clean is not a resource for anyone but its owner.
    let mut damaged = fixture("hello.wav");
    damaged.truncate(44);
    damaged[4..8].copy_from_slice(&36u32.to_le_bytes());
    let hidden = app.upload_ok(&key, damaged, &[]).await;
    assert_eq!(
        app.wait_scanned(&hidden, &key).await["scan_state"],
        "rejected"
    );
    for uri in [
        app.url(&format!("/{hidden}")),
        "https://elsewhere.example/x".into(),
    ] {
        match read(&bob, uri).await {
            Err(ServiceError::McpError(e)) => assert_eq!(e.code, ErrorCode::RESOURCE_NOT_FOUND),
            other => panic!("expected resource not found, got {other:?}"),
        }
    }

    // A clip a moderator removed is a resource nobody else can read: not found, not an
    // internal error. Its owner reads the notice that the audio is gone.
    let moderator = app.key("moderator", &["voice:moderate"]);
    let res = app
        .client
        .post(app.url(&format!("/api/v1/moderation/items/{id}/remove")))
        .bearer_auth(&moderator)
        .json(&json!({"reason": "test takedown"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    match read(&bob, uri.clone()).await {
        Err(ServiceError::McpError(e)) => {
            assert_eq!(e.code, ErrorCode::RESOURCE_NOT_FOUND);
            assert_eq!(e.data.unwrap()["type"], "urn:voicebin:problem:removed");
        }
        other => panic!("expected resource not found, got {other:?}"),
    }
    match &read(&client, uri.clone()).await.unwrap().contents[..] {
        [ResourceContents::TextResourceContents { text, .. }] => {
            assert!(text.contains("removed by a moderator"), "{text}")
        }
        other => panic!("expected the removal notice, got {other:?}"),
    }

    // A large clip is a link even for its owner.
    let big = app.upload_ok(&key, silent_wav(13), &[]).await;
    let result = read(&client, app.url(&format!("/{big}"))).await.unwrap();
    match &result.contents[..] {
        [ResourceContents::TextResourceContents {
            mime_type, text, ..
        }] => {
            assert_eq!(mime_type.as_deref(), Some("text/uri-list"));
            assert!(text.contains(&format!("/{big}/download")), "{text}");
        }
        other => panic!("expected a uri-list, got {other:?}"),
    }
}

pub(crate) async fn read(client: &Client, uri: String) -> Result<ReadResourceResult, ServiceError> {
    client
        .read_resource(ReadResourceRequestParams::new(uri))
        .await
}

async fn post_initialize(app: &TestApp, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(&json!({
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "curl", "version": "1"}
            }
        }));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn without_a_valid_token_the_endpoint_answers_401_with_the_discovery_challenge() {
    let app = spawn_app(Backend::Sqlite).await;
    let res = post_initialize(&app, &[]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let challenge = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        challenge,
        format!(
            r#"Bearer resource_metadata="{}", scope="voice:read voice:create voice:delete""#,
            app.url("/.well-known/oauth-protected-resource/mcp")
        )
    );
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/problem+json"));
    let (_, body) = json(res).await;
    assert_eq!(body["type"], "urn:voicebin:problem:unauthorized");
    assert_eq!(body["status"], 401);

    let res = post_initialize(&app, &[("authorization", "Bearer not-a-token")]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let challenge = res.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with(&format!(
        r#"Bearer resource_metadata="{}", scope="voice:read voice:create voice:delete", error="invalid_token""#,
        app.url("/.well-known/oauth-protected-resource/mcp")
    )), "{challenge}");
    let (_, body) = json(res).await;
    assert_eq!(body["type"], "urn:voicebin:problem:unauthorized");

    // A token for another site is refused the same way.
    let foreign = app
        .issuer
        .mint(&voicebin_api::auth::MintRequest {
            account: "alice".into(),
            scopes: vec!["voice:read".into()],
            audience: "https://elsewhere.example".into(),
            ttl: None,
        })
        .unwrap();
    let res = post_initialize(&app, &[("authorization", &format!("Bearer {foreign}"))]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn requests_answer_json_without_a_session_and_foreign_origins_or_hosts_are_refused() {
    let app = spawn_app(Backend::Sqlite).await;
    let auth = format!("Bearer {}", app.alice());

    let res = post_initialize(&app, &[("authorization", &auth), ("origin", &app.base)]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("mcp-session-id").is_none());
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let (_, body) = json(res).await;
    assert_eq!(body["result"]["protocolVersion"], "2025-11-25");

    let res = post_initialize(
        &app,
        &[("authorization", &auth), ("origin", "https://evil.example")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let (_, body) = json(res).await;
    assert_eq!(body["type"], "urn:voicebin:problem:forbidden");
    assert!(
        body["detail"].as_str().unwrap().contains("Origin"),
        "{body}"
    );

    // DNS rebinding: a name that resolves here but is not this site.
    let res = post_initialize(&app, &[("authorization", &auth), ("host", "evil.example")]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // No SSE stream to open and no session to end.
    let res = app
        .client
        .get(app.url("/mcp"))
        .header("authorization", &auth)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
}

/// A TCP load balancer: each new connection goes to the next backend in turn.
async fn round_robin(backends: Vec<String>) -> (String, Arc<Vec<AtomicUsize>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(
        backends
            .iter()
            .map(|_| AtomicUsize::new(0))
            .collect::<Vec<_>>(),
    );
    let counts = hits.clone();
    tokio::spawn(async move {
        let mut next = 0;
        while let Ok((mut inbound, _)) = listener.accept().await {
            let i = next % backends.len();
            next += 1;
            counts[i].fetch_add(1, Ordering::SeqCst);
            let backend = backends[i].trim_start_matches("http://").to_owned();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    (url, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_replica_answers_any_request_of_one_client_session() {
    let app = spawn_app(Backend::Postgres).await;
    let (replica, _replica_tasks) = crate::helpers::spawn_replica(&app).await;
    let (balancer, hits) = round_robin(vec![app.base.clone(), replica]).await;
    // The client speaks to the public URL through the balancer, as behind a proxy that keeps
    // `Host`; one connection per request, so consecutive requests land on different replicas.
    let http = mcp_reqwest::Client::builder()
        .proxy(mcp_reqwest::Proxy::http(&balancer).unwrap())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let transport = StreamableHttpClientTransport::with_client(
        http,
        StreamableHttpClientTransportConfig::with_uri(app.url("/mcp")).auth_header(app.alice()),
    );
    let client = client_config().serve(transport).await.expect("MCP session");
    assert_eq!(
        client.peer_info().unwrap().protocol_version.as_str(),
        "2025-11-25"
    );

    let created = ok(call(
        &client,
        "upload_audio",
        json!({"data": b64(&fixture("hello.ogg")), "title": "replicated"}),
    )
    .await);
    let id = created["id"].as_str().unwrap();
    for _ in 0..4 {
        let got = ok(call(&client, "get_audio", json!({"id": id})).await);
        assert_eq!(got["title"], "replicated");
        let page = ok(call(&client, "list_audio", json!({})).await);
        assert_eq!(page["items"][0]["id"], id);
    }
    let deleted = ok(call(&client, "delete_audio", json!({"id": id})).await);
    assert_eq!(deleted["deleted"], true);
    let (first, second) = (
        hits[0].load(Ordering::SeqCst),
        hits[1].load(Ordering::SeqCst),
    );
    assert!(
        first >= 5 && second >= 5,
        "requests per replica: {first}, {second}"
    );
    assert_eq!(app.get_item(id, None).await.status(), StatusCode::GONE);
}

#[tokio::test]
async fn a_removed_clip_can_neither_be_updated_nor_deleted_over_mcp() {
    let app = spawn_app(Backend::Sqlite).await;
    let key = app.alice();
    let alice = connect(&app, &key).await;
    let created = ok(call(
        &alice,
        "upload_audio",
        json!({"data": b64(&fixture("hello.wav")), "filename": "note.hta"}),
    )
    .await);
    // The name handed back tells the truth about the bytes.
    assert_eq!(created["filename"], "note.wav");
    let id = created["id"].as_str().unwrap().to_owned();
    app.wait_scanned(&id, &key).await;
    let moderator = app.key("mod", &["voice:moderate"]);
    let res = app
        .client
        .post(app.url(&format!("/api/v1/moderation/items/{id}/remove")))
        .bearer_auth(&moderator)
        .json(&json!({"reason": "takedown"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let events = app.event_count(&id).await;

    let edit = error(call(&alice, "update_audio", json!({"id": id, "title": "x"})).await);
    assert!(edit.contains("urn:voicebin:problem:conflict"), "{edit}");
    let delete = error(call(&alice, "delete_audio", json!({"id": id})).await);
    assert!(delete.contains("urn:voicebin:problem:conflict"), "{delete}");
    assert_eq!(app.event_count(&id).await, events);
    assert_eq!(
        app.get_item(&id, None).await.status(),
        StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS
    );
}

#[tokio::test]
async fn an_exhausted_clip_is_gone_over_mcp_for_everyone_but_its_owner() {
    let app = spawn_app(Backend::Sqlite).await;
    let key = app.alice();
    let id = app
        .upload_ok(&key, fixture("hello.flac"), &[("x-download-limit", "1")])
        .await;
    app.wait_scanned(&id, &key).await;
    let res = app
        .client
        .get(app.url(&format!("/{id}/download")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let bob = connect(&app, &app.key("bob", ALL_SCOPES)).await;
    let refused = error(call(&bob, "get_audio", json!({"id": id})).await);
    assert!(refused.contains("410"), "{refused}");
    assert!(read(&bob, app.url(&format!("/{id}"))).await.is_err());
    let alice = connect(&app, &key).await;
    let owned = ok(call(&alice, "get_audio", json!({"id": id})).await);
    assert_eq!(owned["download_count"], 1);
}
