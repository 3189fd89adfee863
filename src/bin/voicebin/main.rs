//! The `voicebin` command. Its subcommands:
//!
//! - `serve`: the HTTP server (and, in embedded mode, the scan worker beside it);
//! - `worker`: consume scan jobs from RabbitMQ (production mode);
//! - `dead-letters list` / `dead-letters requeue`: inspect or re-queue scan (or stage) jobs that
//!   kept failing;
//! - `migrate`: apply database migrations;
//! - `keys mint`: print an API key signed by the embedded issuer;
//! - `projections rebuild`: rebuild every read model from the event store;
//! - `quota show|set|clear`: an account's usage and limits, and per-account overrides;
//! - `history`: print a clip's events from the event store;
//! - `transcribe`: transcribe one audio file with the configured speech-to-text engine.
//!
//! Each lives in its own module with its flags (`Opts` or `Command`) and a `run`; flags several
//! subcommands share, and their mapping to [`voicebin::Settings`], are in `args`. `main` only
//! parses and dispatches.
#![forbid(unsafe_code)]

mod analyse;
mod args;
mod dead_letters;
mod history;
mod keys;
mod migrate;
mod projections;
mod quota;
mod serve;
mod shutdown;
mod transcribe;
mod worker;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A self-hostable audio clip bin.
#[derive(Parser)]
#[command(name = "voicebin", version, about)]
struct Cli {
    #[command(flatten)]
    global: args::GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (and, in embedded mode, the scan worker).
    Serve(Box<serve::Opts>),
    /// Consume scan jobs from RabbitMQ (production mode).
    Worker(worker::Opts),
    /// Inspect or re-queue scan jobs that kept failing.
    #[command(subcommand)]
    DeadLetters(dead_letters::Command),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage API keys of the embedded issuer.
    #[command(subcommand)]
    Keys(keys::Command),
    /// Manage read models.
    #[command(subcommand)]
    Projections(projections::Command),
    /// Show an account's quota usage and limits, or override its limits.
    #[command(subcommand)]
    Quota(quota::Command),
    /// Print a clip's history (every event, with actor and request id) from the event store.
    History(history::Opts),
    /// Transcribe one audio file with the configured speech-to-text engine, as the
    /// transcription stage does.
    Transcribe(Box<transcribe::Opts>),
    /// Analyse one file under resource limits and print the report (the scan sandbox's child).
    #[command(name = "analyse-sandboxed", hide = true)]
    AnalyseSandboxed(analyse::Opts),
    /// Write one file as FLAC on stdout under resource limits (the rendition stage's child).
    #[command(name = "render-sandboxed", hide = true)]
    RenderSandboxed(analyse::Opts),
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    // The sandbox's child runs alone: no runtime, no threads, no logging set up before it has
    // lowered its limits.
    match cli.command {
        Command::AnalyseSandboxed(opts) => return Ok(analyse::run(opts)),
        Command::RenderSandboxed(opts) => return Ok(analyse::render(opts)),
        _ => {}
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(run(cli))?;
    Ok(ExitCode::SUCCESS)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    voicebin::telemetry::init(cli.global.log_json);
    let global = &cli.global;
    match cli.command {
        Command::Serve(opts) => serve::run(global, *opts).await,
        Command::Worker(opts) => worker::run(global, opts).await,
        Command::DeadLetters(command) => dead_letters::run(global, command).await,
        Command::Migrate => migrate::run(global).await,
        Command::Keys(command) => keys::run(global, command),
        Command::Projections(command) => projections::run(global, command).await,
        Command::Quota(command) => quota::run(global, command).await,
        Command::History(opts) => history::run(global, opts).await,
        Command::Transcribe(opts) => transcribe::run(global, *opts).await,
        Command::AnalyseSandboxed(_) | Command::RenderSandboxed(_) => {
            unreachable!("run before the runtime starts")
        }
    }
}

#[test]
fn the_command_line_definition_is_consistent() {
    use clap::CommandFactory;
    Cli::command().debug_assert();
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn a_clip_id_may_start_with_a_hyphen() {
        // Ids are URL-safe base64: one in 64 starts with `-`.
        let cli = Cli::try_parse_from(["voicebin", "history", "-zAbCdEfGhIjKlMn"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(cli.command, Command::History(_)));
    }
}
