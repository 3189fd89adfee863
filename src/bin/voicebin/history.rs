//! `voicebin history <id>`: a clip's events from the event store, as a table or (`--json`) one
//! JSON object per line in the shape `GET /api/v1/items/{id}/history` gives a moderator. The
//! operator sees everything, deleted and removed clips included.

use voicebin_api::rest::history::entry;
use voicebin_domain::ClipId;

use crate::args::GlobalArgs;

/// Events read from the store at a time.
const PAGE: u32 = 1000;

#[derive(clap::Args)]
pub struct Opts {
    /// The clip id (ids are URL-safe base64, so one may start with `-`).
    #[arg(allow_hyphen_values = true)]
    id: String,
    /// One JSON object per line (as `GET /api/v1/items/{id}/history` shows a moderator).
    #[arg(long)]
    json: bool,
}

pub async fn run(global: &GlobalArgs, opts: Opts) -> anyhow::Result<()> {
    let id =
        ClipId::parse(&opts.id).map_err(|_| anyhow::anyhow!("`{}` is not a clip id", opts.id))?;
    let db = global.database().await?;
    db.migrate().await?;
    let (_, log) = db.projections();
    let mut after = 0;
    let mut printed = 0;
    loop {
        let page = log.history(id.as_str(), after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.sequence;
        for event in page {
            // The operator sees everything, like a moderator.
            let entry = entry(event, "", true);
            printed += 1;
            if opts.json {
                // Through a `Value`, whose keys are sorted, as in the API's answer.
                println!("{}", serde_json::to_value(&entry)?);
            } else {
                let actor = entry.actor.as_ref().map_or("-".to_owned(), |a| {
                    format!("{}:{}", a.kind, a.id.as_deref().unwrap_or("?"))
                });
                println!(
                    "{:>6}  {:<32}  {:<20} {:<4}  {:<24}  {:<12}  {}",
                    entry.sequence,
                    entry.time.as_deref().unwrap_or("-"),
                    entry.event_type,
                    entry.version,
                    actor,
                    entry.request_id.as_deref().unwrap_or("-"),
                    entry.payload
                );
            }
        }
    }
    if printed == 0 {
        anyhow::bail!("no events for clip {}", id.as_str());
    }
    Ok(())
}
