//! RFC 9728 protected-resource metadata: the REST API and the MCP endpoint, each a resource of
//! its own, protected by the configured issuer.

use poem::web::Data;
use poem::{handler, Request, Response};
use serde_json::{json, Value};

use super::json_document;
use crate::access::SCOPES;
use crate::auth::dpop::PROOF_ALGS;
use crate::state::AppState;

/// The RFC 9728 metadata of the resource identified by `resource`.
pub fn protected_resource_metadata(state: &AppState, resource: &str) -> Value {
    json!({
        "resource": resource,
        "resource_name": "voicebin",
        "authorization_servers": [state.discovery.issuer],
        "scopes_supported": SCOPES.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        "bearer_methods_supported": ["header"],
        "dpop_signing_alg_values_supported": PROOF_ALGS,
        "resource_documentation": state.urls.at("/docs"),
        "resource_policy_uri": state.urls.at("/privacy"),
    })
}

/// `GET /.well-known/oauth-protected-resource`: the REST API as a protected resource.
#[handler]
pub async fn resource_metadata(Data(state): Data<&AppState>, req: &Request) -> Response {
    json_document(
        req,
        &protected_resource_metadata(state, state.urls.base()),
        "application/json",
    )
}

/// `GET /.well-known/oauth-protected-resource/mcp`: the MCP endpoint as a protected resource.
#[handler]
pub async fn mcp_resource_metadata(Data(state): Data<&AppState>, req: &Request) -> Response {
    let resource = state.urls.at("/mcp");
    json_document(
        req,
        &protected_resource_metadata(state, &resource),
        "application/json",
    )
}
