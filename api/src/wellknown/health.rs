//! `/healthz` (the process is up) and `/readyz` (every dependency is usable, and the process
//! is not shutting down).

use poem::http::StatusCode;
use poem::web::Data;
use poem::{handler, Response};

use crate::state::AppState;

/// `GET /healthz`: the process is up.
#[handler]
pub async fn healthz() -> Response {
    Response::builder()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

/// `GET /readyz`: every dependency is usable (200), or which one is not (503). From the
/// moment the process starts shutting down it answers 503 `draining`, so a load balancer stops
/// sending it new requests while those in flight finish.
#[handler]
pub async fn readyz(Data(state): Data<&AppState>) -> Response {
    if state.draining.is_draining() {
        return Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .content_type("application/json")
            .body(r#"{"status":"draining"}"#);
    }
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
