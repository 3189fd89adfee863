//! Discovery documents: RFC 9728 protected-resource metadata (for the REST API and for `/mcp`),
//! the agent card at `/.well-known/agent.json`, and `/llms.txt`. Every URL in them is built from
//! the configured public URL, so a deployment describes itself, never the reference site.

use poem::http::{header, StatusCode};
use poem::web::Data;
use poem::{handler, Request, Response};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::auth::dpop::PROOF_ALGS;
use crate::state::AppState;

/// The scopes this resource server understands.
pub const SCOPES: &[(&str, &str)] = &[
    (
        "voice:read",
        "Read and list your clips, including owner-only fields.",
    ),
    ("voice:create", "Upload clips."),
    ("voice:delete", "Delete your clips."),
    (
        "voice:moderate",
        "Moderate: review reports, block, restore or remove any clip.",
    ),
];
/// The largest clip `upload_audio` accepts over MCP (decoded bytes; base64 in JSON is bigger).
pub const MCP_UPLOAD_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// The MCP protocol revision served at `/mcp`.
pub const MCP_PROTOCOL_VERSION: &str = "2025-11-25";
const CACHE_CONTROL: &str = "public, max-age=3600";

/// What the deployment says about its issuer and its operator.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// The authorization server (token issuer, `iss`).
    pub issuer: String,
    /// The issuer's OAuth authorization endpoint, when it offers the authorization-code flow.
    pub authorization_endpoint: Option<String>,
    /// The issuer's OAuth token endpoint.
    pub token_endpoint: Option<String>,
    /// Where to report abuse besides the `/abuse` page (an e-mail address or URL).
    pub abuse_contact: Option<String>,
    /// Who runs this deployment (shown as the agent card's provider).
    pub operator: Option<String>,
}

impl Discovery {
    /// Both OAuth endpoints, when configured.
    fn oauth_endpoints(&self) -> Option<(&str, &str)> {
        Some((
            self.authorization_endpoint.as_deref()?,
            self.token_endpoint.as_deref()?,
        ))
    }
}

/// The RFC 9728 metadata of the resource identified by `resource`.
pub fn protected_resource_metadata(state: &AppState, resource: &str) -> Value {
    json!({
        "resource": resource,
        "resource_name": "voicebin",
        "authorization_servers": [state.discovery.issuer],
        "scopes_supported": SCOPES.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        "bearer_methods_supported": ["header"],
        "dpop_signing_alg_values_supported": PROOF_ALGS,
        "resource_documentation": format!("{}/docs", state.public_url),
        "resource_policy_uri": format!("{}/privacy", state.public_url),
    })
}

/// The RFC 9728 metadata URL for the MCP endpoint (used in `/mcp`'s 401 challenge).
pub fn mcp_metadata_url(state: &AppState) -> String {
    format!(
        "{}/.well-known/oauth-protected-resource/mcp",
        state.public_url
    )
}

/// `GET /.well-known/oauth-protected-resource`: the REST API as a protected resource.
#[handler]
pub async fn resource_metadata(Data(state): Data<&AppState>, req: &Request) -> Response {
    json_document(
        req,
        &protected_resource_metadata(state, &state.public_url),
        "application/json",
    )
}

/// `GET /.well-known/oauth-protected-resource/mcp`: the MCP endpoint as a protected resource.
#[handler]
pub async fn mcp_resource_metadata(Data(state): Data<&AppState>, req: &Request) -> Response {
    let resource = format!("{}/mcp", state.public_url);
    json_document(
        req,
        &protected_resource_metadata(state, &resource),
        "application/json",
    )
}

/// The capabilities card, with A2A AgentCard field names where they fit. It names no A2A
/// transport (`url`/`preferredTransport`), because voicebin does not serve the A2A protocol:
/// agents reach it over MCP or REST, listed under `endpoints`.
pub fn agent_card(state: &AppState) -> Value {
    let url = &state.public_url;
    let d = &state.discovery;
    let scopes: serde_json::Map<String, Value> = SCOPES
        .iter()
        .map(|(s, why)| ((*s).to_owned(), json!(why)))
        .collect();
    let mut schemes = json!({
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": format!(
                "An API key (pbca_live_…) or OAuth access token issued by {} with audience {url} \
                 (or {url}/mcp). Key-bound tokens use the DPoP scheme with a DPoP proof (RFC 9449).",
                d.issuer
            ),
        }
    });
    let mut security = vec![json!({"bearer": []})];
    if let Some((authorize, token)) = d.oauth_endpoints() {
        schemes["oauth2"] = json!({
            "type": "oauth2",
            "description": "OAuth 2.1 authorization code with PKCE; DPoP-bound tokens accepted.",
            "oauth2MetadataUrl": oauth_metadata_url(&d.issuer),
            "flows": {
                "authorizationCode": {
                    "authorizationUrl": authorize,
                    "tokenUrl": token,
                    "scopes": scopes,
                }
            }
        });
        security.push(json!({"oauth2": ["voice:read", "voice:create", "voice:delete"]}));
    }
    json!({
        "name": "voicebin",
        "description": "An audio clip bin: upload voice or audio clips, get stable view and \
            download URLs, list, inspect, edit and delete your clips. Every clip is validated as \
            audio and scanned before anyone but its owner can fetch it.",
        "version": env!("CARGO_PKG_VERSION"),
        "provider": {
            "organization": d.operator.as_deref().unwrap_or("voicebin"),
            "url": url,
        },
        "documentationUrl": format!("{url}/docs"),
        "iconUrl": null,
        "capabilities": {"streaming": false, "pushNotifications": false},
        "defaultInputModes": ["application/json", "audio/*"],
        "defaultOutputModes": ["application/json"],
        "endpoints": {
            "mcp": {
                "url": format!("{url}/mcp"),
                "transport": "streamable-http",
                "protocolVersion": MCP_PROTOCOL_VERSION,
                "resourceMetadata": mcp_metadata_url(state),
            },
            "rest": {
                "url": format!("{url}/api/v1"),
                "openapi": format!("{url}/api/v1/openapi.json"),
                "resourceMetadata": format!("{url}/.well-known/oauth-protected-resource"),
            },
        },
        "authorization": {
            "issuer": d.issuer,
            "authorizationEndpoint": d.authorization_endpoint,
            "tokenEndpoint": d.token_endpoint,
            "scopes": scopes,
            "dpopSigningAlgValuesSupported": PROOF_ALGS,
        },
        "securitySchemes": schemes,
        "security": security,
        "skills": [
            {
                "id": "upload",
                "name": "Upload audio",
                "description": "Upload a clip (MCP tool upload_audio with base64 data, or \
                    POST /api/v1/audio with the bytes). Needs voice:create.",
                "tags": ["audio", "upload"],
                "inputModes": ["audio/*", "application/json"],
                "outputModes": ["application/json"],
            },
            {
                "id": "get",
                "name": "Get a clip",
                "description": "A clip's metadata and URLs (MCP get_audio, GET /api/v1/items/{id}).",
                "tags": ["audio", "read"],
                "outputModes": ["application/json"],
            },
            {
                "id": "list",
                "name": "List your clips",
                "description": "Your clips, newest first, with search and a cursor \
                    (MCP list_audio, GET /api/v1/account/items). Needs voice:read.",
                "tags": ["audio", "list"],
                "outputModes": ["application/json"],
            },
            {
                "id": "delete",
                "name": "Delete a clip",
                "description": "Delete one of your clips (MCP delete_audio, \
                    DELETE /api/v1/items/{id}). Needs voice:delete.",
                "tags": ["audio", "delete"],
                "outputModes": ["application/json"],
            },
        ],
    })
}

/// RFC 8414 §3: the metadata URL of an issuer (well-known segment before the issuer's path).
fn oauth_metadata_url(issuer: &str) -> String {
    match url::Url::parse(issuer) {
        Ok(u) => {
            let path = u.path().trim_end_matches('/');
            let origin = u.origin().ascii_serialization();
            format!("{origin}/.well-known/oauth-authorization-server{path}")
        }
        Err(_) => format!("{issuer}/.well-known/oauth-authorization-server"),
    }
}

/// `GET /.well-known/agent.json`.
#[handler]
pub async fn agent(Data(state): Data<&AppState>, req: &Request) -> Response {
    json_document(req, &agent_card(state), "application/json")
}

/// A cacheable JSON document with a strong `ETag` (and 304 for a matching `If-None-Match`).
fn json_document(req: &Request, doc: &Value, content_type: &str) -> Response {
    let body = serde_json::to_string_pretty(doc).unwrap_or_default();
    cacheable(req, body, content_type)
}

fn cacheable(req: &Request, body: String, content_type: &str) -> Response {
    let etag = format!(
        "\"{}\"",
        hex::encode(&Sha256::digest(body.as_bytes())[..16])
    );
    let matches = req
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| crate::download::none_match(v, &etag));
    let builder = Response::builder()
        .header(header::ETAG, etag.as_str())
        .header(header::CACHE_CONTROL, CACHE_CONTROL)
        .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*");
    if matches {
        builder.status(StatusCode::NOT_MODIFIED).finish()
    } else {
        builder.content_type(content_type).body(body)
    }
}

/// `GET /llms.txt`: what the site is, for language models, with this deployment's URLs.
#[handler]
pub async fn llms_txt(Data(state): Data<&AppState>, req: &Request) -> Response {
    cacheable(req, llms(state), "text/plain; charset=utf-8")
}

fn llms(state: &AppState) -> String {
    let url = &state.public_url;
    let issuer = &state.discovery.issuer;
    let max_mib = state.service.max_upload_bytes() as f64 / (1024.0 * 1024.0);
    let mcp_cap = MCP_UPLOAD_MAX_BYTES / (1024 * 1024);
    format!(
        "# voicebin\n\n\
> An audio clip bin for uploading, sharing, and managing voice/audio files.\n\
> Uploads receive stable view and direct download URLs, with owner controls for\n\
> listing, metadata, deletion, and download limits. Audio is scan-gated before\n\
> broad availability. Accounts, OAuth, and API keys are federated from {issuer}.\n\n\
## How it works\n\n\
- Upload an audio clip as raw bytes or multipart/form-data; metadata can include filename, title, and description. Uploads are limited to {max_mib:.0} MiB ({mcp_cap} MiB through MCP).\n\
- Public clips expose share/view and direct download URLs. Owners can list, inspect, edit, and delete their clips, including scan state and download-limit metadata.\n\
- Malware and abuse scanning gates availability; clients should treat scan_state as authoritative for owner workflows.\n\n\
## Developer docs\n\n\
- [Developer guide]({url}/docs): REST API, MCP, OAuth, and discovery.\n\
- [OpenAPI 3.1 spec]({url}/api/v1/openapi.json): the full REST contract.\n\
- [MCP server]({url}/mcp): Model Context Protocol endpoint for AI agents (streamable HTTP, protocol {MCP_PROTOCOL_VERSION}).\n\
- [Agent card]({url}/.well-known/agent.json): machine-readable capabilities.\n\
- [MCP discovery]({url}/.well-known/oauth-protected-resource/mcp): protected-resource metadata.\n\n\
## API summary\n\n\
- POST {url}/api/v1/audio — upload an audio clip (scope voice:create). Raw body or multipart file; optional x-filename, x-title, x-description, x-download-limit headers.\n\
- GET {url}/api/v1/items/{{id}} — read audio metadata; owners see scan and limit fields (scope voice:read for owner API-key reads).\n\
- PATCH {url}/api/v1/items/{{id}} — edit title, description, download limit (owner).\n\
- GET {url}/api/v1/account/items — list your audio clips (scope voice:read); filters include q.\n\
- DELETE {url}/api/v1/items/{{id}} — delete one of your audio clips (scope voice:delete).\n\n\
## Authentication\n\n\
- Account API keys are minted by {issuer} and audience-bound to {url}.\n\
- Send them as: Authorization: Bearer pbca_live_…\n\
- OAuth 2.1 access tokens (RFC 9068) from {issuer} are accepted too, with audience {url} or {url}/mcp; DPoP-bound tokens are sent as Authorization: DPoP with a DPoP proof (RFC 9449).\n\n\
## Policy\n\n\
- Uploaded audio may be scan-gated, blocked, removed, or rate limited for abuse.\n\
- Owner-only fields expose scan state and download limits so clients can avoid assuming immediate public availability.\n\
- Privacy: {url}/privacy\n\
- Report abuse at {url}/abuse.\n"
    )
}
