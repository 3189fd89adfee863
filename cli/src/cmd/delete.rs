//! `vb delete ID`.

use reqwest::Method;
use serde_json::json;

use crate::client::segment;
use crate::error::Failure;
use crate::{output, Ctx};

/// `DELETE /api/v1/items/{id}`.
pub async fn run(ctx: &Ctx, id: &str) -> Result<(), Failure> {
    let client = &ctx.client;
    let path = format!("/api/v1/items/{}", segment(id));
    client
        .expect(
            client.authed(Method::DELETE, &path)?,
            reqwest::StatusCode::NO_CONTENT,
        )
        .await?;
    if ctx.json {
        output::print_json(&json!({"id": id, "deleted": true}));
    } else {
        crate::outln!("Deleted {id}");
    }
    Ok(())
}
