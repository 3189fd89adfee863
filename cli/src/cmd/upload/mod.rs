//! `vb upload FILE...`: each file through a resumable (tus) upload when the server offers
//! them ([`resumable`]), else in one raw-body `POST /api/v1/audio` ([`whole`]); the choice is
//! made once per run, in [`upload_one`].

mod resumable;
mod state;
mod tus;
mod whole;

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{json, Value};

use crate::client::Client;
use crate::error::{Exit, Failure};
use crate::{output, Ctx};

/// Files and the metadata they all get.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The audio files.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Title (at most 200 characters).
    #[arg(long)]
    title: Option<String>,
    /// Description (at most 5000 characters).
    #[arg(long)]
    description: Option<String>,
    /// Downloads allowed to others than you (1 to 1000000000; default: unlimited).
    #[arg(long, value_name = "N")]
    limit: Option<u64>,
    /// Lifetime: seconds (3600) or an ISO 8601 duration (PT1H, P7D, P1DT12H).
    #[arg(long, value_name = "DURATION")]
    expires: Option<String>,
}

/// Uploads each file in turn; a failed one is reported and the next is tried. Ends with the
/// first failure's exit code when any failed.
pub async fn run(ctx: &Ctx, args: Args) -> Result<(), Failure> {
    if let Some(limit) = args.limit {
        if !(1..=1_000_000_000).contains(&limit) {
            return Err(Failure::Usage(
                "--limit must be a whole number from 1 to 1000000000".into(),
            ));
        }
    }
    if args.expires.as_deref().is_some_and(|e| e.trim().is_empty()) {
        return Err(Failure::Usage(
            "--expires needs a lifetime: seconds (3600) or an ISO 8601 duration (PT1H, P7D)".into(),
        ));
    }
    let mut results = Vec::new();
    let mut first_failure: Option<Exit> = None;
    let mut failed = 0;
    // Whether the server offers resumable uploads, once asked.
    let mut resumable: Option<bool> = None;
    for (n, file) in args.files.iter().enumerate() {
        match upload_one(&ctx.client, file, &args, &mut resumable).await {
            Ok(item) => {
                if !ctx.json {
                    crate::outln!(
                        "{}  {}  {}",
                        output::text(&item, "id"),
                        output::text(&item["urls"], "view"),
                        file.display()
                    );
                }
                results.push(json!({"file": file.display().to_string(), "item": item}));
            }
            Err(failure) => {
                eprintln!("error: {}: {failure}", file.display());
                failed += 1;
                first_failure.get_or_insert(failure.exit());
                let mut entry = json!({
                    "file": file.display().to_string(),
                    "error": failure.to_string(),
                    "exit_code": failure.exit() as u8,
                });
                if let Failure::Api {
                    body: Some(body), ..
                } = &failure
                {
                    entry["problem"] = body.clone();
                }
                results.push(entry);
                // Every file is sent with the same details: when the server refuses one of
                // them (an --expires it does not take, say), it would refuse them all.
                if refuses_the_details(&failure) {
                    let untried = args.files.len() - n - 1;
                    if untried > 0 {
                        eprintln!("error: the {untried} other file(s) were not sent");
                        failed += untried;
                    }
                    break;
                }
            }
        }
    }
    if ctx.json {
        output::print_json(&Value::Array(results));
    }
    match first_failure {
        None => Ok(()),
        Some(exit) => Err(Failure::Partial {
            failed,
            total: args.files.len(),
            exit,
        }),
    }
}

/// Whether `failure` is the server refusing the upload's details (a 400 naming a field other
/// than the file), which every other file would meet too.
fn refuses_the_details(failure: &Failure) -> bool {
    match failure {
        Failure::Api {
            status,
            problem: Some(problem),
            ..
        } => {
            *status == reqwest::StatusCode::BAD_REQUEST
                && problem.field.as_deref().is_some_and(|f| f != "file")
        }
        _ => false,
    }
}

/// What every file is uploaded with.
pub struct Details<'a> {
    /// The file's name.
    pub filename: String,
    /// `--title`.
    pub title: Option<&'a str>,
    /// `--description`.
    pub description: Option<&'a str>,
    /// `--limit`.
    pub limit: Option<String>,
    /// `--expires`.
    pub expires: Option<&'a str>,
}

/// Uploads one file: resumably when the server offers it (asked once, on the first file),
/// else in one request.
async fn upload_one(
    client: &Client,
    path: &Path,
    args: &Args,
    resumable: &mut Option<bool>,
) -> Result<Value, Failure> {
    client.signed_in()?;
    let file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("cannot open {}", path.display()))?;
    let meta = file
        .metadata()
        .await
        .with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_file() {
        return Err(anyhow::anyhow!("{} is not a file", path.display()).into());
    }
    let details = Details {
        filename: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        title: args.title.as_deref(),
        description: args.description.as_deref(),
        limit: args.limit.map(|n| n.to_string()),
        expires: args.expires.as_deref(),
    };
    if resumable.is_none() {
        *resumable = Some(tus::offered(client).await?);
    }
    if *resumable == Some(true) {
        match resumable::upload(client, path, &meta, &details).await? {
            resumable::Outcome::Item(item) => return Ok(item),
            resumable::Outcome::NotOffered => *resumable = Some(false),
        }
    }
    // `file` has not been read from: the whole upload streams it from the start.
    whole::upload(client, file, meta.len(), &details).await
}
