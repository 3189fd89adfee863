//! The documents a site publishes about itself at well-known places: RFC 9728
//! protected-resource metadata for the REST API and for `/mcp` (`oauth`), the agent card at
//! `/.well-known/agent.json` (`agent`), `/llms.txt` (`llms`), the embedded issuer's JWKS
//! (`jwks`), and the health checks `/healthz` and `/readyz` (`health`). Every URL in them is
//! built from the configured public URL, so a deployment describes itself, never the reference
//! site.

pub mod agent;
pub mod health;
pub mod jwks;
pub mod llms;
pub mod oauth;

use poem::http::{header, StatusCode};
use poem::{Request, Response};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::http::none_match;

const CACHE_CONTROL: &str = "public, max-age=3600";

/// A cacheable JSON document with a strong `ETag` (and 304 for a matching `If-None-Match`).
pub(crate) fn json_document(req: &Request, doc: &Value, content_type: &str) -> Response {
    let body = serde_json::to_string_pretty(doc).unwrap_or_default();
    cacheable(req, body, content_type)
}

pub(crate) fn cacheable(req: &Request, body: String, content_type: &str) -> Response {
    let etag = format!(
        "\"{}\"",
        hex::encode(&Sha256::digest(body.as_bytes())[..16])
    );
    let matches = req
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| none_match(v, &etag));
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
