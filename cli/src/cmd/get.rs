//! `vb get ID`: a clip's metadata.

use reqwest::Method;

use crate::client::segment;
use crate::error::Failure;
use crate::{output, Ctx};

/// `GET /api/v1/items/{id}` (with the token when there is one: owners see more).
pub async fn run(ctx: &Ctx, id: &str) -> Result<(), Failure> {
    let client = &ctx.client;
    let path = format!("/api/v1/items/{}", segment(id));
    let item = client.json(client.request(Method::GET, &path)).await?;
    if ctx.json {
        output::print_json(&item);
    } else {
        crate::out!("{}", output::details(&item));
    }
    Ok(())
}
