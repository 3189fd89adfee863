//! `vb list`: your clips, newest first, or a search.

use reqwest::Method;
use serde_json::{json, Value};

use crate::error::Failure;
use crate::{output, Ctx};

/// Which clips.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Search title, filename, description and transcript (words, "phrases", -excluded).
    #[arg(short, long, value_name = "QUERY")]
    query: Option<String>,
    /// Clips per page, 1 to 100 (the server's default: 20).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    limit: Option<u32>,
    /// Follow the pages to the end.
    #[arg(long, conflicts_with = "cursor")]
    all: bool,
    /// Start from a page's `next_cursor`.
    #[arg(long)]
    cursor: Option<String>,
}

/// `GET /api/v1/account/items`, page after page with `--all`.
pub async fn run(ctx: &Ctx, args: Args) -> Result<(), Failure> {
    let client = &ctx.client;
    let mut items: Vec<Value> = Vec::new();
    let mut cursor = args.cursor.clone();
    let mut last_page;
    loop {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(q) = &args.query {
            query.push(("q", q.clone()));
        }
        if let Some(limit) = args.limit {
            query.push(("limit", limit.to_string()));
        }
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor.clone()));
        }
        let page = client
            .json(
                client
                    .authed(Method::GET, "/api/v1/account/items")?
                    .query(&query),
            )
            .await?;
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        last_page = page;
        if !args.all || cursor.is_none() {
            break;
        }
    }
    if ctx.json {
        if args.all {
            output::print_json(&json!({ "items": items }));
        } else {
            output::print_json(&last_page);
        }
        return Ok(());
    }
    if items.is_empty() {
        crate::outln!("No clips.");
    } else {
        crate::outln!("{}", output::table(&items));
    }
    if let Some(cursor) = cursor.filter(|_| !args.all) {
        eprintln!(
            "More: the same command with --cursor {}, or --all",
            output::clean(&cursor)
        );
    }
    Ok(())
}
