//! `voicebin keys mint`: prints an API key signed by the embedded issuer, whose key is in the data
//! directory (so run it where `serve` runs). `voicebin keys login-link`: prints a one-time link
//! that signs a browser in (the token rides in the URL's fragment, which browsers never send to
//! a server or put in a `Referer`).

use std::net::SocketAddr;
use std::time::Duration;

use voicebin::embedded_issuer;
use voicebin_api::access;
use voicebin_api::auth::MintRequest;
use voicebin_api::usecases::signin::{DEFAULT_LINK_TTL, MAX_LINK_TTL};

use crate::args::{GlobalArgs, DEFAULT_LISTEN};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Print a new API key signed by the embedded issuer.
    Mint(MintOpts),
    /// Print a one-time link that signs a browser in as the account (for eight hours).
    LoginLink(LoginLinkOpts),
}

#[derive(clap::Args)]
pub struct LoginLinkOpts {
    /// The account the browser signs in as.
    #[arg(long)]
    account: String,
    /// Comma-separated scopes of the session.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = access::OWNER_SCOPES
    )]
    scopes: Vec<String>,
    /// Minutes the link works (1 to 60); it works once.
    #[arg(
        long,
        default_value_t = DEFAULT_LINK_TTL.as_secs() / 60,
        value_parser = clap::value_parser!(u64).range(1..=MAX_LINK_TTL.as_secs() / 60)
    )]
    ttl_minutes: u64,
    /// The address `serve` listens on: without a public URL, the link is for `http://<listen>`.
    #[arg(long, env = "VOICEBIN_LISTEN", default_value_t = DEFAULT_LISTEN)]
    listen: SocketAddr,
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
    /// Lifetime in days (1 to 36500); omitted, the key does not expire.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=36_500))]
    ttl_days: Option<u64>,
    /// The address `serve` listens on: without a public URL, the key is for `http://<listen>`,
    /// as `serve` derives it.
    #[arg(long, env = "VOICEBIN_LISTEN", default_value_t = DEFAULT_LISTEN)]
    listen: SocketAddr,
}

pub fn run(global: &GlobalArgs, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Mint(opts) => mint(global, opts),
        Command::LoginLink(opts) => login_link(global, opts),
    }
}

fn login_link(global: &GlobalArgs, opts: LoginLinkOpts) -> anyhow::Result<()> {
    known_scopes(&opts.scopes)?;
    let public_url = global.public_url(opts.listen)?;
    let issuer = embedded_issuer(&global.data_dir, &public_url)?;
    let token = issuer.mint_login_link(&MintRequest {
        account: opts.account,
        scopes: opts.scopes,
        audience: public_url.clone(),
        ttl: Some(Duration::from_secs(opts.ttl_minutes * 60)),
    })?;
    println!("{public_url}/signin#login={token}");
    eprintln!(
        "This link signs one browser in, once, within {} minute(s). Send it privately.",
        opts.ttl_minutes
    );
    Ok(())
}

fn mint(global: &GlobalArgs, opts: MintOpts) -> anyhow::Result<()> {
    known_scopes(&opts.scopes)?;
    let public_url = global.public_url(opts.listen)?;
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

/// Refuses a scope voicebin does not know: it would grant nothing, so the key would be useless.
fn known_scopes(scopes: &[String]) -> anyhow::Result<()> {
    match scopes
        .iter()
        .find(|s| !access::SCOPES.iter().any(|(known, _)| known == s))
    {
        Some(unknown) => {
            let known: Vec<&str> = access::SCOPES.iter().map(|(s, _)| *s).collect();
            anyhow::bail!(
                "unknown scope `{unknown}`; the scopes are {}",
                known.join(", ")
            )
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        keys: Command,
    }

    #[test]
    fn only_known_scopes_and_sane_lifetimes_are_minted() {
        assert!(known_scopes(&["voice:read".into(), "voice:moderate".into()]).is_ok());
        let err = known_scopes(&["voice:raed".into()]).unwrap_err();
        assert!(err.to_string().contains("voice:raed"), "{err}");
        for bad in ["0", "36501", "213503982334602"] {
            let parsed = Cli::try_parse_from(["keys", "mint", "--account", "a", "--ttl-days", bad]);
            assert!(parsed.is_err(), "--ttl-days {bad}");
        }
        assert!(
            Cli::try_parse_from(["keys", "mint", "--account", "a", "--ttl-days", "30"]).is_ok()
        );
        for bad in ["0", "61"] {
            let parsed =
                Cli::try_parse_from(["keys", "login-link", "--account", "a", "--ttl-minutes", bad]);
            assert!(parsed.is_err(), "--ttl-minutes {bad}");
        }
        let Command::LoginLink(opts) =
            Cli::try_parse_from(["keys", "login-link", "--account", "a"])
                .unwrap()
                .keys
        else {
            panic!("login-link parsed as another command")
        };
        assert_eq!(opts.ttl_minutes, 10);
    }
}
