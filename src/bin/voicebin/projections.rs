//! `voicebin projections rebuild`: rebuilds every read model from the event store, aside, and
//! swaps it in; safe while the API runs.

use crate::args::GlobalArgs;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Rebuild every read model (clip views, report queue, blocklist) from the event store,
    /// aside, then swap it in; safe while the API runs.
    Rebuild,
}

pub async fn run(global: &GlobalArgs, command: Command) -> anyhow::Result<()> {
    let Command::Rebuild = command;
    let db = global.database().await?;
    db.migrate().await?;
    let (views, log) = db.projections();
    let stats = voicebin_projections::rebuild(log.as_ref(), views.as_ref()).await?;
    eprintln!(
        "rebuilt the read models (views, reports, blocklist) of {} {} from {} events \
         in {:.2}s ({:.0} events/s)",
        stats.views,
        if stats.views == 1 { "clip" } else { "clips" },
        stats.events,
        stats.seconds,
        stats.events_per_second()
    );
    Ok(())
}
