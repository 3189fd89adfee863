//! `voicebin migrate`: applies pending database migrations and exits (`serve` and `worker` also
//! migrate on start; this is for deploy pipelines that migrate first).

use crate::args::GlobalArgs;

pub async fn run(global: &GlobalArgs) -> anyhow::Result<()> {
    let db = global.database().await?;
    db.migrate().await?;
    eprintln!("migrations applied ({})", db.describe());
    Ok(())
}
