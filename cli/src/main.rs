//! `vb`, a command-line client for a voicebin server: sign in once, then upload, list, fetch,
//! edit and delete clips over the REST API (`/api/v1`).
//!
//! This crate depends on no voicebin crate: it speaks HTTP and JSON only, so `cargo install
//! --path cli` builds a small client without the server (see
//! `docs/adr/0024-command-line-client.md`). `main` parses and dispatches; each subcommand is a
//! module in `cmd/`.

#![forbid(unsafe_code)]

mod client;
mod cmd;
mod config;
mod disposition;
mod error;
mod output;
mod private;
mod progress;

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::client::Client;
use crate::config::Layer;
use crate::error::{Exit, Failure, EXIT_CODES_HELP};

const AFTER_HELP: &str = "\
Settings: --url/--token beat VOICEBIN_URL/VOICEBIN_TOKEN, which beat the file `vb login` writes
(<config dir>/voicebin/config.toml, e.g. ~/.config/voicebin/config.toml; --config or
VOICEBIN_CONFIG to use another). `--token -` reads the token from standard input.";

/// A command-line client for a voicebin server.
#[derive(Debug, Parser)]
#[command(name = "vb", version, after_help = format!("{AFTER_HELP}\n\n{EXIT_CODES_HELP}"))]
struct Cli {
    /// The server's base URL (default: VOICEBIN_URL, then the config file).
    #[arg(long, global = true, value_name = "URL")]
    url: Option<String>,
    /// An API key (default: VOICEBIN_TOKEN, then the config file); `-` reads it from stdin.
    #[arg(long, global = true, value_name = "TOKEN")]
    token: Option<String>,
    /// The config file (default: <config dir>/voicebin/config.toml).
    #[arg(long, global = true, env = "VOICEBIN_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
    /// Print the API's JSON (or a JSON summary) instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a server URL and API key, and store them for the next commands.
    Login,
    /// Forget the stored server and API key.
    Logout,
    /// Upload audio files; prints each clip's id and view URL (run it again after an
    /// interruption and it resumes).
    Upload(cmd::upload::Args),
    /// List or search your clips.
    List(cmd::list::Args),
    /// Show a clip's metadata.
    Get {
        /// The clip's id.
        // Ids are URL-safe base64 and may start with `-`.
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
    /// Download a clip's audio (resumes an interrupted download).
    Download(cmd::download::Args),
    /// Change a clip's title, description, download limit or expiry.
    Edit(cmd::edit::Args),
    /// Delete a clip (its bytes are purged; it answers 410 from then on).
    Delete {
        /// The clip's id.
        // Ids are URL-safe base64 and may start with `-`.
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
    /// Show your account: what your clips take and your limits.
    Account,
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// What every command runs with.
pub struct Ctx {
    /// The server.
    pub client: Client,
    /// `--json`.
    pub json: bool,
}

/// The exit code after Ctrl-C (128 + SIGINT, as shells report a command stopped by it).
const INTERRUPTED: u8 = 130;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::from(Exit::Other as u8);
        }
    };
    let json = cli.json;
    // Ctrl-C is answered here, whatever the process inherited (a shell's background job
    // ignores SIGINT): an upload's state was written before its first byte, and a download's
    // `.part` file stays, so the next run goes on.
    let outcome = runtime.block_on(async {
        tokio::select! {
            result = run(cli) => Some(result),
            _ = tokio::signal::ctrl_c() => None,
        }
    });
    let Some(outcome) = outcome else {
        eprintln!(
            "\ninterrupted: what was sent or received is kept; run the same command again to go on"
        );
        return ExitCode::from(INTERRUPTED);
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {failure}");
            if let Some(hint) = hint(&failure) {
                eprintln!("hint: {hint}");
            }
            // With --json, the failure is JSON on standard output too (an upload of several
            // files has already printed each file's outcome).
            if json && !matches!(failure, Failure::Partial { .. }) {
                output::print_json(&failure.to_json());
            }
            ExitCode::from(failure.exit() as u8)
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    if let Command::Completions { shell } = cli.command {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "vb", &mut script);
        output::write_stdout(&String::from_utf8_lossy(&script));
        return Ok(());
    }
    let token = match cli.token.as_deref() {
        Some("-") => Some(read_stdin_token()?),
        _ => cli.token.clone(),
    };
    let flags = Layer {
        url: cli.url.clone(),
        token,
    };
    let path = config::path(cli.config.as_deref())?;
    match cli.command {
        Command::Login => return cmd::login::login(&path, flags, cli.json).await,
        Command::Logout => return cmd::login::logout(&path, cli.json),
        _ => {}
    }
    let env = config::from_env();
    // With a URL and a token from flags or the environment the file is not needed, so a
    // broken one does not stop a CI job that never meant to use it.
    let file = if config::given(&flags, &env) {
        Layer::default()
    } else {
        config::load(&path)?.into()
    };
    let settings = config::resolve(flags, env, file);
    let ctx = Ctx {
        client: Client::new(&settings)?,
        json: cli.json,
    };
    match cli.command {
        Command::Upload(args) => cmd::upload::run(&ctx, args).await,
        Command::List(args) => cmd::list::run(&ctx, args).await,
        Command::Get { id } => cmd::get::run(&ctx, &id).await,
        Command::Download(args) => cmd::download::run(&ctx, args).await,
        Command::Edit(args) => cmd::edit::run(&ctx, args).await,
        Command::Delete { id } => cmd::delete::run(&ctx, &id).await,
        Command::Account => cmd::account::run(&ctx).await,
        Command::Login | Command::Logout | Command::Completions { .. } => {
            unreachable!("handled above")
        }
    }
}

/// `--token -`: the first line of standard input.
fn read_stdin_token() -> Result<String, Failure> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(Failure::Usage(
            "`--token -` reads the token from standard input: pipe it in".into(),
        ));
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| anyhow::Error::new(e).context("cannot read the token from stdin"))?;
    let token = line.trim().to_owned();
    if token.is_empty() {
        return Err(Failure::Usage("standard input held no token".into()));
    }
    Ok(token)
}

/// What to do next, for failures where that is not obvious.
fn hint(failure: &Failure) -> Option<&'static str> {
    match failure {
        Failure::Api { status, .. } if status.as_u16() == 401 => {
            Some("the token was refused: sign in again with `vb login`")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed_and_lists_the_exit_codes() {
        Cli::command().debug_assert();
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("6  rate limited or quota exceeded"), "{help}");
    }

    #[test]
    fn ids_may_start_with_a_hyphen() {
        let id = "-_3kQmZpXw9aBcDe";
        match Cli::try_parse_from(["vb", "get", id]).unwrap().command {
            Command::Get { id: got } => assert_eq!(got, id),
            other => panic!("{other:?}"),
        }
        match Cli::try_parse_from(["vb", "delete", id, "--json"]).unwrap() {
            Cli {
                command: Command::Delete { id: got },
                json,
                ..
            } => assert!(got == id && json),
            other => panic!("{other:?}"),
        }
        let cli = Cli::try_parse_from(["vb", "download", id, "-o", "x.ogg"]).unwrap();
        assert!(matches!(cli.command, Command::Download(_)), "{cli:?}");
        let cli = Cli::try_parse_from(["vb", "edit", id, "--title", "t"]).unwrap();
        assert!(matches!(cli.command, Command::Edit(_)), "{cli:?}");
        // A flag is still a flag.
        assert!(Cli::try_parse_from(["vb", "get", "--help"]).is_err());
    }

    #[test]
    fn global_flags_go_anywhere() {
        let cli = Cli::try_parse_from(["vb", "list", "--json", "--url", "http://x"]).unwrap();
        assert!(cli.json);
        assert_eq!(cli.url.as_deref(), Some("http://x"));
    }
}
