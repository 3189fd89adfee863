//! `voicebin keys mint`: prints an API key signed by the embedded issuer, whose key is in the data
//! directory (so run it where `serve` runs).

use std::time::Duration;

use voicebin::embedded_issuer;
use voicebin_api::access;
use voicebin_api::auth::MintRequest;

use crate::args::{GlobalArgs, DEFAULT_LISTEN};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Print a new API key signed by the embedded issuer.
    Mint(MintOpts),
}

#[derive(clap::Args)]
pub struct MintOpts {
    /// The account the key acts for.
    #[arg(long)]
    account: String,
    /// Comma-separated scopes.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = access::OWNER_SCOPES
    )]
    scopes: Vec<String>,
    /// Lifetime in days; omitted, the key does not expire.
    #[arg(long)]
    ttl_days: Option<u64>,
}

pub fn run(global: &GlobalArgs, command: Command) -> anyhow::Result<()> {
    let Command::Mint(opts) = command;
    let public_url = global.public_url(DEFAULT_LISTEN)?;
    let issuer = embedded_issuer(&global.data_dir, &public_url)?;
    let key = issuer.mint(&MintRequest {
        account: opts.account,
        scopes: opts.scopes,
        audience: public_url,
        ttl: opts.ttl_days.map(|d| Duration::from_secs(d * 86_400)),
    })?;
    println!("{key}");
    Ok(())
}
