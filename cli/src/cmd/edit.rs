//! `vb edit ID`: title, description, download limit, expiry.

use reqwest::Method;
use serde_json::{Map, Value};

use crate::client::segment;
use crate::error::Failure;
use crate::{output, Ctx};

/// What to change; what is not given is left alone.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The clip's id.
    // Ids are URL-safe base64 and may start with `-`.
    #[arg(allow_hyphen_values = true)]
    id: String,
    /// A new title (`""` clears it).
    #[arg(long)]
    title: Option<String>,
    /// A new description (`""` clears it).
    #[arg(long)]
    description: Option<String>,
    /// Downloads allowed to others than you (1 to 1000000000).
    #[arg(long, value_name = "N", conflicts_with = "no_limit")]
    limit: Option<u64>,
    /// Remove the download limit.
    #[arg(long)]
    no_limit: bool,
    /// When the clip expires (RFC 3339, e.g. 2027-01-31T12:00:00Z).
    #[arg(long, value_name = "RFC3339", conflicts_with = "never_expires")]
    expires_at: Option<String>,
    /// Never expire.
    #[arg(long)]
    never_expires: bool,
}

impl Args {
    /// The JSON merge document `PATCH` takes: absent leaves alone, `null` clears.
    fn patch(&self) -> Map<String, Value> {
        let mut patch = Map::new();
        let text = |v: &String| {
            if v.trim().is_empty() {
                Value::Null
            } else {
                Value::String(v.clone())
            }
        };
        if let Some(title) = &self.title {
            patch.insert("title".into(), text(title));
        }
        if let Some(description) = &self.description {
            patch.insert("description".into(), text(description));
        }
        if let Some(limit) = self.limit {
            patch.insert("download_limit".into(), limit.into());
        }
        if self.no_limit {
            patch.insert("download_limit".into(), Value::Null);
        }
        if let Some(at) = &self.expires_at {
            patch.insert("expires_at".into(), Value::String(at.clone()));
        }
        if self.never_expires {
            patch.insert("expires_at".into(), Value::Null);
        }
        patch
    }
}

/// `PATCH /api/v1/items/{id}`.
pub async fn run(ctx: &Ctx, args: Args) -> Result<(), Failure> {
    let patch = args.patch();
    if patch.is_empty() {
        return Err(Failure::Usage(
            "nothing to change: pass --title, --description, --limit, --no-limit, \
             --expires-at or --never-expires"
                .into(),
        ));
    }
    let client = &ctx.client;
    let path = format!("/api/v1/items/{}", segment(&args.id));
    let item = client
        .json(client.authed(Method::PATCH, &path)?.json(&patch))
        .await?;
    if ctx.json {
        output::print_json(&item);
    } else {
        crate::out!("{}", output::details(&item));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        args: Args,
    }

    fn patch(argv: &[&str]) -> Value {
        let cmd = Cmd::try_parse_from([&["edit"], argv].concat()).unwrap();
        Value::Object(cmd.args.patch())
    }

    #[test]
    fn only_what_is_given_is_sent_and_clearing_sends_null() {
        assert_eq!(
            patch(&["id", "--title", "New", "--limit", "3"]),
            serde_json::json!({"title": "New", "download_limit": 3})
        );
        assert_eq!(
            patch(&["id", "--description", "", "--no-limit", "--never-expires"]),
            serde_json::json!({"description": null, "download_limit": null, "expires_at": null})
        );
        assert!(Cmd::try_parse_from(["edit", "id", "--limit", "3", "--no-limit"]).is_err());
    }
}
