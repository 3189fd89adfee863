//! The capabilities card at `/.well-known/agent.json`.

use poem::web::Data;
use poem::{handler, Request, Response};
use serde_json::{json, Value};

use super::json_document;
use crate::access::{self, SCOPES};
use crate::auth::dpop::PROOF_ALGS;
use crate::site::MCP_PROTOCOL_VERSION;
use crate::state::AppState;

/// The capabilities card, with A2A AgentCard field names where they fit. It names no A2A
/// transport (`url`/`preferredTransport`), because voicebin does not serve the A2A protocol:
/// agents reach it over MCP or REST, listed under `endpoints`.
pub fn agent_card(state: &AppState) -> Value {
    let url = state.urls.base();
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
        security.push(json!({"oauth2": [access::READ, access::CREATE, access::DELETE]}));
    }
    let mut card = json!({
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
                "resourceMetadata": state.urls.mcp_metadata(),
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
    });
    if state.anonymous.settings.enabled {
        let skill = json!({
            "id": "upload-anonymously",
            "name": "Upload audio without an account",
            "description": format!(
                "Upload a clip with no token: GET {url}/api/v1/challenge, solve the ALTCHA \
                 proof-of-work challenge (PBKDF2/SHA-256; see {url}/docs#anonymous), and send \
                 the solution as x-altcha with POST {url}/api/v1/audio. The clip expires within \
                 {}, may be at most {} bytes, and is deleted with the management token in the \
                 answer (x-management-token on DELETE /api/v1/items/{{id}}).",
                crate::usecases::anonymous::lifetime(state),
                crate::usecases::anonymous::max_bytes(state),
            ),
            "tags": ["audio", "upload", "anonymous"],
            "inputModes": ["audio/*"],
            "outputModes": ["application/json"],
        });
        if let Some(skills) = card["skills"].as_array_mut() {
            skills.push(skill);
        }
    }
    card
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
