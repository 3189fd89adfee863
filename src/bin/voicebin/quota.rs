//! `voicebin quota show|set|clear <account>`: an account's usage and limits, and the
//! operator's overrides of the default limits (`VOICEBIN_QUOTA_BYTES`, `VOICEBIN_QUOTA_CLIPS`)
//! for one account. Overrides live in the database, so every replica applies them at once.

use anyhow::Context;
use voicebin_domain::quota::{format_bytes, parse_limit};
use voicebin_domain::{AccountId, Limits, Resource};
use voicebin_projections::{Overrides, QuotaStore};

use crate::args::{GlobalArgs, QuotaArgs};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Print an account's usage, its limits and where each comes from (an override or the
    /// default).
    Show {
        /// The account id (a token's `sub`).
        account: String,
        #[command(flatten)]
        defaults: QuotaArgs,
    },
    /// Override an account's limits: `--bytes 2GiB`, `--clips 500`, either `unlimited`.
    Set {
        /// The account id (a token's `sub`).
        account: String,
        /// Bytes its live clips may take: a number of bytes, with a unit (`500MB`, `2GiB`),
        /// or `unlimited`.
        #[arg(long, value_parser = bytes_limit)]
        bytes: Option<Limit>,
        /// Live clips it may have: a whole number, or `unlimited`.
        #[arg(long, value_parser = clips_limit)]
        clips: Option<Limit>,
    },
    /// Drop an account's overrides: the defaults apply to it again.
    Clear {
        /// The account id (a token's `sub`).
        account: String,
    },
}

/// A limit as written on the command line: `None` is no limit.
#[derive(Debug, Clone, Copy)]
pub struct Limit(Option<u64>);

fn bytes_limit(raw: &str) -> Result<Limit, String> {
    parse_limit(Resource::Bytes, raw)
        .map(Limit)
        .map_err(|e| format!("{e} (or `unlimited`)"))
}

fn clips_limit(raw: &str) -> Result<Limit, String> {
    parse_limit(Resource::Clips, raw)
        .map(Limit)
        .map_err(|e| format!("{e} (or `unlimited`)"))
}

fn account(raw: &str) -> anyhow::Result<AccountId> {
    AccountId::parse(raw).map_err(|e| anyhow::anyhow!("not an account id: {e}"))
}

pub async fn run(global: &GlobalArgs, command: Command) -> anyhow::Result<()> {
    let db = global.database().await?;
    db.migrate().await?;
    let store = db.quotas();
    match command {
        Command::Show {
            account: raw,
            defaults,
        } => {
            let account = account(&raw)?;
            print!(
                "{}",
                show(store.as_ref(), &account, defaults.limits()).await?
            );
        }
        Command::Set {
            account: raw,
            bytes,
            clips,
        } => {
            let account = account(&raw)?;
            anyhow::ensure!(
                bytes.is_some() || clips.is_some(),
                "say what to override: --bytes and/or --clips"
            );
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            for (resource, limit) in [(Resource::Bytes, bytes), (Resource::Clips, clips)] {
                if let Some(Limit(max)) = limit {
                    store
                        .set_override(account.as_str(), resource, max, now)
                        .await
                        .context("storing the override")?;
                }
            }
            eprintln!("quota of {} overridden", account.as_str());
        }
        Command::Clear { account: raw } => {
            let account = account(&raw)?;
            let dropped = store
                .clear_overrides(account.as_str())
                .await
                .context("dropping the overrides")?;
            eprintln!(
                "dropped {dropped} override{} of {}; the defaults apply",
                if dropped == 1 { "" } else { "s" },
                account.as_str()
            );
        }
    }
    Ok(())
}

/// What `quota show` prints: one line per resource, `<resource>\t<used>\t<limit>\t<source>`
/// (`none` for no limit, source `override` or `default`), bytes as exact numbers followed by
/// a readable size.
async fn show(
    store: &dyn QuotaStore,
    account: &AccountId,
    defaults: Limits,
) -> anyhow::Result<String> {
    let usage = store
        .usage(account.as_str())
        .await
        .context("reading usage")?;
    let overrides: Overrides = store
        .overrides(account.as_str())
        .await
        .context("reading overrides")?;
    let limits = overrides.over(defaults);
    let source = |o: Option<Option<u64>>| if o.is_some() { "override" } else { "default" };
    let bytes = |n: u64| format!("{n} ({})", format_bytes(n));
    Ok(format!(
        "account\t{}\nbytes\t{}\t{}\t{}\nclips\t{}\t{}\t{}\n",
        account.as_str(),
        bytes(usage.bytes),
        limits.bytes.map_or("none".to_owned(), bytes),
        source(overrides.bytes),
        usage.clips,
        limits.clips.map_or("none".to_owned(), |n| n.to_string()),
        source(overrides.clips),
    ))
}
