//! `vb upload FILE...`: one raw-body `POST /api/v1/audio` per file, streamed from disk.
//!
//! Every upload goes through [`upload_one`]; a resumable (tus) path, when the server offers
//! one, belongs next to it, chosen per file.

use std::path::{Path, PathBuf};

use anyhow::Context;
use futures::TryStreamExt;
use reqwest::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::Method;
use serde_json::{json, Value};
use tokio_util::io::ReaderStream;

use crate::client::{segment, Client};
use crate::error::{Exit, Failure};
use crate::{output, progress, Ctx};

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
    for (n, file) in args.files.iter().enumerate() {
        match upload_one(&ctx.client, file, &args).await {
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

/// Streams one file as the raw body, with its length (so a server can refuse an upload past
/// its size limit or quota before reading it).
async fn upload_one(client: &Client, path: &Path, args: &Args) -> Result<Value, Failure> {
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
    let len = meta.len();
    let filename = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();

    let mut builder = client
        .authed(Method::POST, "/api/v1/audio")?
        .header(CONTENT_TYPE, "application/octet-stream")
        .header(CONTENT_LENGTH, len);
    // Header values carry UTF-8 as is (the server reads them so); a description with line
    // breaks cannot be a header, so it follows in a PATCH.
    let mut late_description = None;
    for (name, value) in [
        ("x-filename", Some(&filename)),
        ("x-title", args.title.as_ref()),
        ("x-description", args.description.as_ref()),
        (
            "x-download-limit",
            args.limit.map(|n| n.to_string()).as_ref(),
        ),
        ("x-expires-in", args.expires.as_ref()),
    ] {
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            continue;
        };
        match HeaderValue::from_bytes(value.as_bytes()) {
            Ok(value) => builder = builder.header(name, value),
            Err(_) if name == "x-description" => late_description = Some(value.clone()),
            Err(_) => {
                return Err(Failure::Usage(format!(
                    "the {} cannot hold line breaks or control characters",
                    name.trim_start_matches("x-")
                )))
            }
        }
    }

    let bar = progress::bar(&filename, Some(len));
    let counted = bar.clone();
    let body = ReaderStream::with_capacity(file, 256 * 1024).inspect_ok(move |chunk| {
        counted.inc(chunk.len() as u64);
    });
    let sent = builder.body(reqwest::Body::wrap_stream(body)).send().await;
    bar.finish_and_clear();
    let response = match sent {
        Ok(response) => response,
        Err(e) if e.is_connect() || e.is_timeout() => {
            return Err(Failure::network(client.base(), &e))
        }
        // A server that refuses an upload from its length answers without reading the body
        // and closes; the answer is then often lost to the broken pipe.
        Err(e) => return Err(cut_off(client, len, &e).await),
    };
    let item: Value = if response.status().is_success() {
        response
            .json()
            .await
            .map_err(|e| Failure::network(client.base(), &e))?
    } else {
        return Err(client.refusal(response).await);
    };
    match late_description {
        None => Ok(item),
        Some(description) => {
            let id = item["id"].as_str().unwrap_or_default();
            let path = format!("/api/v1/items/{}", segment(id));
            client
                .json(
                    client
                        .authed(Method::PATCH, &path)?
                        .json(&json!({ "description": description })),
                )
                .await
        }
    }
}

/// Why the server may have closed the connection during an upload of `len` bytes: the
/// account's quota when it has no room for them (asked of `GET /api/v1/account`), else a
/// network failure that names the likely cause.
async fn cut_off(client: &Client, len: u64, error: &reqwest::Error) -> Failure {
    let account = match client.authed(Method::GET, "/api/v1/account") {
        Ok(request) => client.json(request).await.ok(),
        Err(_) => None,
    };
    if let Some(account) = account {
        let (usage, limits) = (&account["usage"], &account["limits"]);
        let used = usage["bytes"].as_u64().unwrap_or(0);
        if let Some(limit) = limits["bytes"].as_u64().filter(|l| used + len > *l) {
            return Failure::QuotaFull(format!(
                "this file ({}) does not fit: the account stores {} of {} (the server closed \
                 the connection without reading it)",
                output::bytes(len),
                output::bytes(used),
                output::bytes(limit)
            ));
        }
        let clips = usage["clips"].as_u64().unwrap_or(0);
        if let Some(limit) = limits["clips"].as_u64().filter(|l| clips >= *l) {
            return Failure::QuotaFull(format!(
                "the account has {clips} of {limit} clips (the server closed the connection \
                 without reading the file)"
            ));
        }
    }
    Failure::Network(format!(
        "the connection to {} broke while the file was being sent ({}); the server may have \
         refused the file without reading it all (not audio, or past its upload limit)",
        client.base(),
        Failure::cause(error)
    ))
}
