//! Routes outside the OpenAPI document: the view page, the direct download, the JWKS of the
//! embedded issuer, health checks and the OpenAPI document itself.

use futures::StreamExt;
use poem::http::{header, HeaderValue, StatusCode};
use poem::web::{Data, Path};
use poem::{handler, Body, IntoResponse, Request, Response};
use voicebin_domain::ClipId;
use voicebin_projections::ClipView;

use crate::error::{ApiError, AuthRejection};
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

fn problem(e: ApiError) -> Response {
    e.into_response()
}

/// Finds a clip the caller may fetch: public clips for everyone, any live clip for its owner.
async fn fetchable(
    state: &AppState,
    req: &Request,
    id: &str,
) -> Result<(ClipView, bool), ApiError> {
    let id = ClipId::parse(id).map_err(|_| ApiError::not_found())?;
    let view = state
        .views
        .get(id.as_str())
        .await?
        .ok_or_else(ApiError::not_found)?;
    if view.is_deleted() {
        return Err(ApiError::gone());
    }
    let owner = match crate::extract::optional_principal(req).await {
        Ok(p) => p.is_some_and(|p| p.account == view.owner && p.has_scope("voice:read")),
        Err(e) => {
            return Err(e
                .downcast_ref::<AuthRejection>()
                .map(|r| r.0.clone())
                .unwrap_or_else(|| ApiError::invalid_token("the token is invalid")))
        }
    };
    if !owner && !view.is_public() {
        return Err(ApiError::not_found());
    }
    if !owner && view.downloads_remaining() == Some(0) {
        return Err(ApiError::new(
            crate::error::Code::Gone,
            "this clip's download limit has been reached",
        ));
    }
    Ok((view, owner))
}

/// `GET|HEAD /{id}/download`: the clip's bytes as an attachment.
#[handler]
pub async fn download(
    req: &Request,
    Path(id): Path<String>,
    Data(state): Data<&AppState>,
) -> Response {
    let (view, _owner) = match fetchable(state, req, &id).await {
        Ok(v) => v,
        Err(e) => return problem(e),
    };
    let mut response = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, view.content_type.as_str())
        .header(header::CONTENT_LENGTH, view.size_bytes)
        .header(header::ETAG, format!("\"{}\"", view.sha256))
        .header(header::CACHE_CONTROL, "private, no-transform")
        .header("X-Content-Type-Options", "nosniff")
        .header(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; sandbox",
        );
    if let Ok(value) = HeaderValue::from_str(&content_disposition("attachment", &view.filename)) {
        response = response.header(header::CONTENT_DISPOSITION, value);
    }
    if req.method() == poem::http::Method::HEAD {
        return response.finish();
    }
    match state.service.blobs().get(&view.blob_key, None).await {
        Ok(stream) => response.body(Body::from_bytes_stream(stream.map(|r| r))),
        Err(voicebin_commands::BlobError::NotFound) => problem(ApiError::gone()),
        Err(e) => problem(ApiError::unavailable(&e)),
    }
}

/// `GET /{id}`: a minimal view page with a player. (The full page is tracked in the sharing
/// issue; everything user-provided is escaped.)
#[handler]
pub async fn view_page(
    req: &Request,
    Path(id): Path<String>,
    Data(state): Data<&AppState>,
) -> Response {
    let (view, _) = match fetchable(state, req, &id).await {
        Ok(v) => v,
        Err(e) => {
            let status = e.status();
            return Response::builder()
                .status(status)
                .content_type("text/html; charset=utf-8")
                .body(format!(
                    "<!doctype html><meta charset=utf-8><title>voicebin</title><h1>{}</h1>",
                    if status == StatusCode::GONE {
                        "This clip is gone"
                    } else {
                        "No such clip"
                    }
                ));
        }
    };
    let title = view.title.clone().unwrap_or_else(|| view.filename.clone());
    let duration = view
        .duration_ms
        .map(|ms| format!("{}:{:02}", ms / 60_000, (ms / 1000) % 60))
        .unwrap_or_default();
    let body = format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width, initial-scale=1\">\
         <title>{title} · voicebin</title>\
         <meta property=\"og:title\" content=\"{title}\"></head><body>\
         <h1>{title}</h1><p>{description}</p><p>{duration}</p>\
         <audio controls preload=metadata src=\"{download}\"></audio>\
         <p><a href=\"{download}\" download>Download {filename}</a></p></body></html>",
        title = html_escape(&title),
        description = html_escape(view.description.as_deref().unwrap_or_default()),
        duration = html_escape(&duration),
        download = html_escape(&state.download_url(&view.id)),
        filename = html_escape(&view.filename),
    );
    Response::builder()
        .content_type("text/html; charset=utf-8")
        .header(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; media-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'",
        )
        .body(body)
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
