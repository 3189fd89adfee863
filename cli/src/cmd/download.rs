//! `vb download ID`: the clip's original bytes, into `FILE.part` first, resumed when a
//! `.part` is left from an interrupted download, renamed to `FILE` once complete.
//!
//! The ETag the `.part` started with is kept beside it (`FILE.part.etag`); a resumed request
//! sends `Range: bytes=N-` with `If-Range: <that ETag>`, so if the clip's bytes are not those
//! any more the server sends them whole and the download starts over.

use std::path::{Path, PathBuf};

use anyhow::Context;
use futures::StreamExt;
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_RANGE, ETAG, IF_RANGE, RANGE};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::client::{segment, Client};
use crate::error::Failure;
use crate::{disposition, output, progress, Ctx};

/// Which clip, and where to.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The clip's id.
    // Ids are URL-safe base64 and may start with `-`.
    #[arg(allow_hyphen_values = true)]
    id: String,
    /// Where to save it: a file (replaced if it exists), a directory (the clip's file name in
    /// it), or `-` for standard output (no resuming). Default: the clip's file name in the
    /// current directory, never replacing a file.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Where `-o` points, checked before a byte is fetched: never a device, socket or other
/// non-regular file (renaming over `/dev/null` would replace it).
fn checked_target(target: PathBuf) -> Result<PathBuf, Failure> {
    match std::fs::metadata(&target) {
        Ok(meta) if !meta.is_file() => Err(Failure::Usage(format!(
            "{} exists and is not a regular file; refusing to replace it",
            target.display()
        ))),
        _ => Ok(target),
    }
}

/// Downloads, resuming or starting over, until the file is complete.
pub async fn run(ctx: &Ctx, args: Args) -> Result<(), Failure> {
    let client = &ctx.client;
    let path = format!("/{}/download", segment(&args.id));
    let target = match &args.output {
        Some(target) if target.as_os_str() == "-" => return to_stdout(ctx, &path).await,
        Some(dir) if dir.is_dir() || dir.to_string_lossy().ends_with('/') => {
            let target = dir.join(default_name(client, &args.id, &path).await?);
            checked_target(target)?
        }
        Some(target) => checked_target(target.clone())?,
        None => {
            let target = PathBuf::from(default_name(client, &args.id, &path).await?);
            if target.exists() {
                return Err(Failure::Usage(format!(
                    "{} already exists: pass -o to choose where to save",
                    target.display()
                )));
            }
            target
        }
    };
    let part = with_suffix(&target, ".part");
    let etag_file = with_suffix(&target, ".part.etag");

    // A `.part` without its ETag cannot be checked: start over.
    let mut etag = std::fs::read_to_string(&etag_file)
        .ok()
        .map(|t| t.trim().to_owned());
    let mut have = match (&etag, std::fs::metadata(&part)) {
        (Some(_), Ok(meta)) => meta.len(),
        _ => 0,
    };
    let mut resumed_from = have;
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&part)
        .await
        .with_context(|| format!("cannot write {}", part.display()))?;
    if have == 0 {
        file.set_len(0).await.context("cannot truncate")?;
    }

    // Bytes that came over the network this time (less than the file's size when resumed).
    let mut received = 0u64;
    let bar = progress::bar(&target.display().to_string(), None);
    loop {
        let mut request = client.request(Method::GET, &path);
        if have > 0 {
            request = request
                .header(RANGE, format!("bytes={have}-"))
                .header(IF_RANGE, etag.clone().unwrap_or_default());
        }
        let response = request
            .send()
            .await
            .map_err(|e| Failure::network(client.base(), &e))?;
        let status = response.status();
        let total = match status {
            StatusCode::OK => {
                // The whole clip: a fresh start, or the `.part` was of other bytes.
                have = 0;
                resumed_from = 0;
                file.set_len(0).await.context("cannot truncate")?;
                etag = header(&response, ETAG);
                match &etag {
                    Some(tag) => std::fs::write(&etag_file, tag)
                        .with_context(|| format!("cannot write {}", etag_file.display()))?,
                    None => {
                        let _ = std::fs::remove_file(&etag_file);
                    }
                }
                response.content_length()
            }
            StatusCode::PARTIAL_CONTENT => {
                let range = header(&response, CONTENT_RANGE)
                    .and_then(|v| content_range(&v))
                    .filter(|(start, _, _)| *start == have)
                    .ok_or_else(|| {
                        anyhow::anyhow!("the server answered a range that was not asked for")
                    })?;
                Some(range.2)
            }
            StatusCode::RANGE_NOT_SATISFIABLE
                if header(&response, CONTENT_RANGE).as_deref()
                    == Some(&format!("bytes */{have}")) =>
            {
                // The `.part` already holds every byte.
                break;
            }
            _ => {
                bar.finish_and_clear();
                // A refusal before any byte leaves nothing behind.
                if have == 0 {
                    drop(file);
                    let _ = std::fs::remove_file(&part);
                    let _ = std::fs::remove_file(&etag_file);
                }
                return Err(client.refusal(response).await);
            }
        };
        if let Some(total) = total {
            bar.set_length(total);
            bar.set_style(progress::bytes_style());
        }
        bar.set_position(have);
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| Failure::network(client.base(), &e))?;
            file.write_all(&chunk)
                .await
                .with_context(|| format!("cannot write {}", part.display()))?;
            have += chunk.len() as u64;
            received += chunk.len() as u64;
            bar.set_position(have);
        }
        // A 206 may hold less than was asked for; ask for the rest.
        match total {
            Some(total) if have < total && status == StatusCode::PARTIAL_CONTENT => continue,
            Some(total) if have != total => {
                bar.finish_and_clear();
                return Err(Failure::Network(format!(
                    "the download stopped at {have} of {total} bytes; run the same command \
                     again to resume it"
                )));
            }
            _ => break,
        }
    }
    bar.finish_and_clear();
    file.flush().await.context("cannot write")?;
    file.sync_all().await.context("cannot write")?;
    drop(file);
    std::fs::rename(&part, &target)
        .with_context(|| format!("cannot rename {} to {}", part.display(), target.display()))?;
    let _ = std::fs::remove_file(&etag_file);

    if ctx.json {
        output::print_json(&json!({
            "id": args.id,
            "file": target.display().to_string(),
            "bytes": have,
            "resumed_from": resumed_from,
            "received": received,
            "etag": etag,
        }));
    } else {
        crate::outln!(
            "Saved {} ({}){}",
            target.display(),
            output::bytes(have),
            if resumed_from > 0 {
                format!(", resumed from {}", output::bytes(resumed_from))
            } else {
                String::new()
            }
        );
    }
    Ok(())
}

/// `-o -`: the clip's bytes on standard output, as they arrive (no `.part`, so no resuming).
async fn to_stdout(ctx: &Ctx, path: &str) -> Result<(), Failure> {
    let client = &ctx.client;
    let response = client.send(client.request(Method::GET, path)).await?;
    let mut body = response.bytes_stream();
    let mut stdout = tokio::io::stdout();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| Failure::network(client.base(), &e))?;
        match stdout.write_all(&chunk).await {
            Ok(()) => {}
            // The reader has gone (`vb download ID -o - | head -c 10`): nothing more to do.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context("cannot write to standard output")
                    .into())
            }
        }
    }
    stdout
        .flush()
        .await
        .context("cannot write to standard output")?;
    Ok(())
}

/// The name the server gives the download (`HEAD`, which never counts as a download), else
/// the clip's `filename`, else its id.
async fn default_name(client: &Client, id: &str, path: &str) -> Result<String, Failure> {
    let head = client.send(client.request(Method::HEAD, path)).await?;
    if let Some(name) = header(&head, CONTENT_DISPOSITION).and_then(|v| disposition::filename(&v)) {
        return Ok(name);
    }
    let item = client
        .json(client.request(Method::GET, &format!("/api/v1/items/{}", segment(id))))
        .await?;
    Ok(item["filename"]
        .as_str()
        .and_then(disposition::safe_name)
        .or_else(|| disposition::safe_name(id))
        .unwrap_or_else(|| "clip".into()))
}

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// `path` with `suffix` added to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// `bytes first-last/total` as `(first, last, total)`.
fn content_range(value: &str) -> Option<(u64, u64, u64)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    Some((
        first.trim().parse().ok()?,
        last.trim().parse().ok()?,
        total.trim().parse().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_are_read_and_others_refused() {
        assert_eq!(content_range("bytes 100-199/200"), Some((100, 199, 200)));
        assert_eq!(content_range("bytes */200"), None);
        assert_eq!(content_range("items 1-2/3"), None);
    }

    #[test]
    fn the_part_file_sits_beside_the_target() {
        assert_eq!(
            with_suffix(Path::new("dir/clip.ogg"), ".part"),
            PathBuf::from("dir/clip.ogg.part")
        );
    }
}
