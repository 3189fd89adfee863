//! A resumable upload of one file (tus 1.0): created (or found again in the upload state),
//! then appended to in chunks of [`CHUNK`] bytes streamed from the file, until the server
//! names the clip.
//!
//! A broken connection or a 5xx is retried [`RETRIES`] times, waiting longer each time, each
//! retry asking the server (`HEAD`) how many bytes it kept and going on from there. The
//! upload's URL is stored before the first byte is sent ([`super::state`]), so when `vb` is
//! stopped (Ctrl-C, a lost network it gave up on) the next `vb upload` of the same file to the
//! same server goes on where the server stands.

use std::io::SeekFrom;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use futures::TryStreamExt;
use indicatif::ProgressBar;
use reqwest::{Method, Url};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::state::{self, FileStamp, Stale, Store};
use super::tus::{self, Created, Reply, Standing};
use super::Details;
use crate::client::Client;
use crate::error::{Exit, Failure};
use crate::{output, progress};

/// The bytes one `PATCH` carries: a broken connection costs at most this much again, and
/// the server commits what it has at least this often.
const CHUNK: u64 = 8 * 1024 * 1024;

/// Network failures (or 5xx answers) in a row that are retried before giving up.
const RETRIES: u32 = 4;

/// 423 answers in a row that are waited out before giving up.
const BUSY_WAITS: u32 = 30;

/// 429 answers that are waited out (each for at most [`LONGEST_LIMIT_WAIT`]) before giving up.
const LIMIT_WAITS: u32 = 5;

/// The longest `Retry-After` of a 429 that is waited out: a longer one ends the run (exit 6),
/// and the next run resumes.
const LONGEST_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// 409 answers in a row that are followed before deciding the server makes no sense.
const CONFLICTS: u32 = 5;

/// The file is read this much at a time: memory stays bounded whatever the file's size.
const READ_BUFFER: usize = 256 * 1024;

/// The wait before retry number `n` (1, 2, 4, 8 seconds).
fn backoff(n: u32) -> Duration {
    Duration::from_secs(1 << n.saturating_sub(1).min(5))
}

/// What a resumable upload came to.
pub enum Outcome {
    /// The clip, as `GET /api/v1/items/{id}` answers it.
    Item(Value),
    /// The server does not take resumable uploads after all (creation answered 404 or 405).
    NotOffered,
}

/// Uploads `path` (whose metadata is `meta`) with `details`, resuming an upload of it the
/// upload state knows about.
pub async fn upload(
    client: &Client,
    path: &Path,
    meta: &std::fs::Metadata,
    details: &Details<'_>,
) -> Result<Outcome, Failure> {
    let stamp =
        FileStamp::of(path, meta).with_context(|| format!("cannot read {}", path.display()))?;
    let metadata = tus::metadata(&[
        ("filename", Some(details.filename.as_str())),
        ("title", details.title),
        ("description", details.description),
        ("download_limit", details.limit.as_deref()),
        ("expires_in", details.expires),
    ]);
    let store = Store::for_server(client.base());
    if let Some(store) = &store {
        store.prune(state::now());
    }
    let bar = Bar(progress::bar(&details.filename, Some(stamp.size)));
    let upload = Upload {
        client,
        path,
        stamp,
        metadata,
        store,
        bar: &bar.0,
    };
    upload.run().await
}

/// Clears the progress bar however the upload ends.
struct Bar(ProgressBar);

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// One file's upload.
struct Upload<'a> {
    client: &'a Client,
    path: &'a Path,
    stamp: FileStamp,
    metadata: String,
    store: Option<Store>,
    bar: &'a ProgressBar,
}

/// How a run of appends ended.
enum Sent {
    /// The upload is complete; the clip's URL.
    Item(String),
    /// The upload is not there any more (it expired, or was cancelled).
    Gone,
}

/// Counts of the answers that are retried, so that retrying ends.
#[derive(Default)]
struct Tries {
    failures: u32,
    busy: u32,
    limited: u32,
    conflicts: u32,
}

impl Upload<'_> {
    async fn run(&self) -> Result<Outcome, Failure> {
        let (mut upload, mut offset) = match self.resume().await? {
            Some((url, standing)) => match standing.item {
                Some(item) => return self.finish(&item).await.map(Outcome::Item),
                None => (url, standing.offset),
            },
            None => match self.create().await? {
                Some(url) => (url, 0),
                None => return Ok(Outcome::NotOffered),
            },
        };
        let mut started_over = false;
        loop {
            match self.send(&upload, offset).await? {
                Sent::Item(item) => return self.finish(&item).await.map(Outcome::Item),
                // Removed by the server while it was being sent (it expired): once, start
                // over with a new upload.
                Sent::Gone if !started_over => {
                    started_over = true;
                    self.forget();
                    self.say("the upload was removed from the server; starting over");
                    match self.create().await? {
                        Some(url) => (upload, offset) = (url, 0),
                        None => return Ok(Outcome::NotOffered),
                    }
                }
                Sent::Gone => {
                    self.forget();
                    return Err(Failure::Unexpected(format!(
                        "the server at {} removed the upload while it was being sent, twice",
                        self.client.base()
                    )));
                }
            }
        }
    }

    /// The upload the state knows of for this file, if it can go on, with where it stands.
    async fn resume(&self) -> Result<Option<(Url, Standing)>, Failure> {
        let Some(store) = &self.store else {
            return Ok(None);
        };
        let Some(entry) = store.load(&self.stamp.path) else {
            return Ok(None);
        };
        let Ok(url) = self.client.on_server(&entry.upload) else {
            self.forget();
            return Ok(None);
        };
        if let Some(stale) = entry.stale(&self.stamp, &self.metadata, state::now()) {
            let why = match stale {
                Stale::FileChanged => "the file changed since its upload began",
                Stale::DetailsChanged => {
                    "the title, description, limit or expiry differ from the interrupted upload's"
                }
                Stale::Expired => "the interrupted upload has expired",
            };
            self.say(&format!("{why}; starting over"));
            if stale != Stale::Expired {
                tus::cancel(self.client, &url).await;
            }
            self.forget();
            return Ok(None);
        }
        let mut tries = Tries::default();
        let Some(standing) = self.standing(&url, &mut tries).await? else {
            self.say("the interrupted upload is gone from the server; starting over");
            self.forget();
            return Ok(None);
        };
        if standing.length.is_some_and(|len| len != self.stamp.size)
            || standing.offset > self.stamp.size
        {
            self.say("the interrupted upload is of another length; starting over");
            tus::cancel(self.client, &url).await;
            self.forget();
            return Ok(None);
        }
        if standing.item.is_none() {
            self.say(&format!(
                "resuming at {} of {}",
                output::bytes(standing.offset),
                output::bytes(self.stamp.size)
            ));
        }
        Ok(Some((url, standing)))
    }

    /// Creates an upload and stores its URL before any byte is sent; none when the server
    /// does not take resumable uploads.
    async fn create(&self) -> Result<Option<Url>, Failure> {
        let mut tries = Tries::default();
        let created = loop {
            match tus::create(self.client, self.stamp.size, &self.metadata).await {
                Ok(created) => break created,
                // Only a connection never made is retried: a creation that may have reached
                // the server is not sent twice.
                Err(e) if e.is_connect() => self.network_failure(&mut tries, &e).await?,
                Err(e) => return Err(Failure::network(self.client.base(), &e)),
            }
        };
        let (url, expires) = match created {
            Created::At(url, expires) => (url, expires),
            Created::NotOffered => return Ok(None),
            Created::Failed(failure) => return Err(failure),
        };
        if let Some(store) = &self.store {
            let entry = state::entry(
                self.client.base(),
                &self.stamp,
                &self.metadata,
                url.as_str(),
                expires,
            );
            if let Err(e) = store.save(&entry) {
                self.say(&format!(
                    "warning: cannot keep the upload's state ({e}); an interrupted upload will \
                     start over"
                ));
            }
        }
        Ok(Some(url))
    }

    /// Appends from `offset` until the upload is complete.
    async fn send(&self, upload: &Url, mut offset: u64) -> Result<Sent, Failure> {
        let size = self.stamp.size;
        let mut tries = Tries::default();
        // Whether to ask where the upload stands before the next append.
        let mut ask = false;
        loop {
            if ask {
                match self.standing(upload, &mut tries).await? {
                    None => return Ok(Sent::Gone),
                    Some(Standing {
                        item: Some(item), ..
                    }) => return Ok(Sent::Item(item)),
                    Some(standing) => offset = standing.offset,
                }
            }
            if offset > size {
                return Err(self.nonsense(format!(
                    "the server holds {offset} bytes of a {size}-byte upload"
                )));
            }
            if offset == size {
                // Every byte is there but the server has not named the clip: ask it.
                if ask {
                    return Err(self.nonsense(
                        "the server holds every byte but does not name the clip".into(),
                    ));
                }
                ask = true;
                continue;
            }
            self.unchanged(upload).await?;
            let length = CHUNK.min(size - offset);
            self.bar.set_position(offset);
            let body = self.chunk(offset, length).await?;
            ask = false;
            match tus::append(self.client, upload, offset, length, body).await {
                Err(e) => {
                    self.network_failure(&mut tries, &e).await?;
                    ask = true;
                }
                Ok(Reply::Ok(standing)) => {
                    if let Some(item) = standing.item {
                        return Ok(Sent::Item(item));
                    }
                    if standing.offset <= offset {
                        return Err(self.nonsense(format!(
                            "an append at byte {offset} was taken, but the upload stands at {}",
                            standing.offset
                        )));
                    }
                    tries = Tries::default();
                    offset = standing.offset;
                }
                Ok(Reply::Conflict {
                    offset: there,
                    complete,
                }) => {
                    tries.conflicts += 1;
                    if tries.conflicts > CONFLICTS {
                        return Err(self.nonsense(format!(
                            "the server keeps answering that the upload stands elsewhere \
                             (at {there})"
                        )));
                    }
                    offset = there;
                    ask = complete;
                }
                Ok(Reply::Busy(wait)) => self.busy(&mut tries, wait).await?,
                Ok(Reply::Limited(wait, failure)) => {
                    self.limited(&mut tries, wait, failure).await?
                }
                Ok(Reply::Gone) => return Ok(Sent::Gone),
                Ok(Reply::Unavailable(failure)) => {
                    self.unavailable(&mut tries, failure).await?;
                    ask = true;
                }
                Ok(Reply::Refused(failure)) => return Err(self.refused(upload, failure).await),
            }
        }
    }

    /// Where the upload stands (`HEAD`), retrying as appends are; none when it is gone.
    async fn standing(&self, upload: &Url, tries: &mut Tries) -> Result<Option<Standing>, Failure> {
        loop {
            match tus::head(self.client, upload).await {
                Err(e) => self.network_failure(tries, &e).await?,
                Ok(Reply::Ok(standing)) => return Ok(Some(standing)),
                Ok(Reply::Gone) => return Ok(None),
                Ok(Reply::Busy(wait)) => self.busy(tries, wait).await?,
                Ok(Reply::Limited(wait, failure)) => self.limited(tries, wait, failure).await?,
                Ok(Reply::Unavailable(failure)) => self.unavailable(tries, failure).await?,
                Ok(Reply::Refused(failure)) => return Err(failure),
                Ok(Reply::Conflict { .. }) => {
                    return Err(self.nonsense("a HEAD was answered 409".into()))
                }
            }
        }
    }

    /// `length` bytes of the file from `offset`, read as they are sent.
    async fn chunk(&self, offset: u64, length: u64) -> Result<reqwest::Body, Failure> {
        let mut file = tokio::fs::File::open(self.path)
            .await
            .with_context(|| format!("cannot open {}", self.path.display()))?;
        file.seek(SeekFrom::Start(offset))
            .await
            .with_context(|| format!("cannot read {}", self.path.display()))?;
        let bar = self.bar.clone();
        let stream = ReaderStream::with_capacity(file.take(length), READ_BUFFER)
            .inspect_ok(move |bytes| bar.inc(bytes.len() as u64));
        Ok(reqwest::Body::wrap_stream(stream))
    }

    /// Stops (and cancels the upload) when the file changed while it was being sent: the
    /// server would otherwise get the start of one file and the end of another.
    async fn unchanged(&self, upload: &Url) -> Result<(), Failure> {
        let now = std::fs::metadata(self.path).and_then(|meta| FileStamp::of(self.path, &meta));
        if now.as_ref().is_ok_and(|now| *now == self.stamp) {
            return Ok(());
        }
        tus::cancel(self.client, upload).await;
        self.forget();
        Err(anyhow::anyhow!(
            "{} changed while it was being uploaded; the upload was cancelled (run the command \
             again to upload it as it is now)",
            self.path.display()
        )
        .into())
    }

    /// Counts a network failure: waits before the next try, or gives up after [`RETRIES`].
    async fn network_failure(
        &self,
        tries: &mut Tries,
        error: &reqwest::Error,
    ) -> Result<(), Failure> {
        let failure = Failure::network(self.client.base(), error);
        self.unavailable(tries, failure).await
    }

    /// Counts a failure worth retrying (the network, a 5xx): waits before the next try, or
    /// gives up after [`RETRIES`], keeping the upload for the next run.
    async fn unavailable(&self, tries: &mut Tries, failure: Failure) -> Result<(), Failure> {
        tries.failures += 1;
        if tries.failures > RETRIES {
            let kept = if self.store.is_some() {
                "; what was sent is kept: run the same command again to resume"
            } else {
                ""
            };
            return Err(match failure {
                Failure::Network(message) => Failure::Network(format!("{message}{kept}")),
                other => {
                    self.say(&format!("giving up{kept}"));
                    other
                }
            });
        }
        let wait = backoff(tries.failures);
        self.say(&format!(
            "{failure}; trying again in {}s ({} of {RETRIES})",
            wait.as_secs(),
            tries.failures
        ));
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// Waits out a 423 (another request is appending), or gives up after [`BUSY_WAITS`].
    async fn busy(&self, tries: &mut Tries, wait: Duration) -> Result<(), Failure> {
        tries.busy += 1;
        if tries.busy > BUSY_WAITS {
            return Err(Failure::Unexpected(format!(
                "the upload of {} stays busy: is another `vb upload` of it running?",
                self.path.display()
            )));
        }
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// Waits out a 429 whose `Retry-After` is short; a long one, or too many, end the run
    /// with the server's answer (exit 6), keeping the upload for the next run.
    async fn limited(
        &self,
        tries: &mut Tries,
        wait: Option<Duration>,
        failure: Failure,
    ) -> Result<(), Failure> {
        tries.limited += 1;
        let wait = wait.unwrap_or_else(|| backoff(tries.limited));
        if tries.limited > LIMIT_WAITS || wait > LONGEST_LIMIT_WAIT {
            if self.store.is_some() {
                self.say("what was sent is kept: run the same command again later to resume");
            }
            return Err(failure);
        }
        self.say(&format!("{failure}; waiting {}s", wait.as_secs().max(1)));
        tokio::time::sleep(wait.max(Duration::from_secs(1))).await;
        Ok(())
    }

    /// A refusal: the upload is cancelled and forgotten, unless signing in again or waiting
    /// (401, 403, 429) would let the next run go on with it.
    async fn refused(&self, upload: &Url, failure: Failure) -> Failure {
        if !matches!(failure.exit(), Exit::Auth | Exit::Limited) {
            tus::cancel(self.client, upload).await;
            self.forget();
        }
        failure
    }

    /// The clip the completed upload became, read from its URL (retried as appends are);
    /// the state is forgotten only once it is read (a run stopped before then finds the clip
    /// through the upload).
    async fn finish(&self, item: &str) -> Result<Value, Failure> {
        self.bar.set_position(self.stamp.size);
        let url = self.client.on_server(item)?;
        let mut tries = Tries::default();
        let item = loop {
            match self
                .client
                .json(self.client.at(Method::GET, url.clone()))
                .await
            {
                Ok(item) => break item,
                Err(failure @ Failure::Api { status, .. })
                    if status == reqwest::StatusCode::TOO_MANY_REQUESTS =>
                {
                    self.limited(&mut tries, None, failure).await?
                }
                Err(failure @ Failure::Api { status, .. }) if status.is_server_error() => {
                    self.unavailable(&mut tries, failure).await?
                }
                Err(failure @ Failure::Network(_)) => self.unavailable(&mut tries, failure).await?,
                Err(failure) => return Err(failure),
            }
        };
        self.forget();
        Ok(item)
    }

    fn forget(&self) {
        if let Some(store) = &self.store {
            store.remove(&self.stamp.path);
        }
    }

    fn nonsense(&self, what: String) -> Failure {
        Failure::Unexpected(format!(
            "{what} ({}); is it a tus server?",
            self.client.base()
        ))
    }

    /// A note about this file on stderr, around the progress bar.
    fn say(&self, note: &str) {
        self.bar
            .suspend(|| eprintln!("{}: {note}", self.path.display()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_longer_each_time() {
        let waits: Vec<u64> = (1..=RETRIES).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8]);
    }
}
