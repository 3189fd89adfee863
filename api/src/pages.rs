//! Routes outside the OpenAPI document: the view page, the direct download, the JWKS of the
//! embedded issuer, health checks and the OpenAPI document itself.

use poem::http::{header, StatusCode};
use poem::web::Data;
use poem::{handler, IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

/// Escapes text for HTML element content and quoted attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// `Content-Disposition` per RFC 6266 / RFC 8187: an ASCII fallback plus the exact UTF-8 name.
pub fn content_disposition(kind: &str, filename: &str) -> String {
    let fallback: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' && c != '%' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in filename.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// The policy of the static text pages (`/docs`, `/privacy`, `/abuse`): no scripts, own styles.
const TEXT_PAGE_CSP: &str =
    "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'";

/// A static text page: `main` (trusted HTML, user text already escaped) in the site's layout.
pub fn text_page(title: &str, main: &str) -> Response {
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · voicebin</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/static/view.css"></head>
<body><main>
{main}
</main></body></html>
"#
    );
    Response::builder()
        .content_type("text/html; charset=utf-8")
        .header(header::CONTENT_SECURITY_POLICY, TEXT_PAGE_CSP)
        .body(html)
}

fn problem(e: ApiError) -> Response {
    e.into_response()
}

/// `GET /.well-known/jwks.json`: the embedded issuer's public keys.
#[handler]
pub async fn jwks(Data(state): Data<&AppState>) -> Response {
    match &state.jwks {
        Some(jwks) => Response::builder()
            .content_type("application/jwk-set+json")
            .header(header::CACHE_CONTROL, "public, max-age=300")
            .body(jwks.to_string()),
        None => problem(ApiError::new(
            crate::error::Code::NotFound,
            "this deployment trusts an external issuer; fetch its JWKS there",
        )),
    }
}

/// `GET /healthz`: the process is up.
#[handler]
pub async fn healthz() -> Response {
    Response::builder()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

/// `GET /readyz`: every dependency is usable (200), or which one is not (503).
#[handler]
pub async fn readyz(Data(state): Data<&AppState>) -> Response {
    let mut checks = serde_json::Map::new();
    let mut ok = true;
    let mut record = |name: &str, result: Result<(), String>| {
        let entry = match result {
            Ok(()) => serde_json::json!({"status": "ok"}),
            Err(e) => {
                ok = false;
                serde_json::json!({"status": "error", "error": e})
            }
        };
        checks.insert(name.to_owned(), entry);
    };
    record(
        "database",
        state.views.ping().await.map_err(|e| e.to_string()),
    );
    record(
        "blob_store",
        state
            .service
            .blobs()
            .ping()
            .await
            .map_err(|e| e.to_string()),
    );
    for check in &state.readiness {
        record(check.name(), check.check().await);
    }
    let body = serde_json::json!({
        "status": if ok { "ok" } else { "unavailable" },
        "scanner": state.scanner,
        "checks": checks,
    });
    Response::builder()
        .status(if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        })
        .content_type("application/json")
        .body(body.to_string())
}
