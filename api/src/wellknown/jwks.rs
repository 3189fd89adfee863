//! `/.well-known/jwks.json`: the embedded issuer's public keys (embedded mode only).

use poem::http::header;
use poem::web::Data;
use poem::{handler, IntoResponse, Response};

use crate::error::{ApiError, Code};
use crate::state::AppState;

/// `GET /.well-known/jwks.json`: the embedded issuer's public keys.
#[handler]
pub async fn jwks(Data(state): Data<&AppState>) -> Response {
    match &state.jwks {
        Some(jwks) => Response::builder()
            .content_type("application/jwk-set+json")
            .header(header::CACHE_CONTROL, "public, max-age=300")
            .body(jwks.to_string()),
        None => ApiError::new(
            Code::NotFound,
            "this deployment trusts an external issuer; fetch its JWKS there",
        )
        .into_response(),
    }
}
