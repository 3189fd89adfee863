//! `vb account`: usage and limits.

use reqwest::Method;
use serde_json::Value;

use crate::error::Failure;
use crate::{output, Ctx};

/// `GET /api/v1/account`.
pub async fn run(ctx: &Ctx) -> Result<(), Failure> {
    let client = &ctx.client;
    let account = client
        .json(client.authed(Method::GET, "/api/v1/account")?)
        .await?;
    if ctx.json {
        output::print_json(&account);
        return Ok(());
    }
    let of = |used: String, limit: &Value, show: fn(u64) -> String| match limit.as_u64() {
        Some(limit) => format!("{used} of {}", show(limit)),
        None => format!("{used} (no limit)"),
    };
    let usage = &account["usage"];
    let limits = &account["limits"];
    crate::outln!("account  {}", output::text(&account, "account"));
    crate::outln!(
        "clips    {}",
        of(
            usage["clips"].as_u64().unwrap_or(0).to_string(),
            &limits["clips"],
            |n| n.to_string()
        )
    );
    crate::outln!(
        "stored   {}",
        of(
            output::bytes(usage["bytes"].as_u64().unwrap_or(0)),
            &limits["bytes"],
            output::bytes
        )
    );
    crate::outln!("server   {}", client.base());
    Ok(())
}
