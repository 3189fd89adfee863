//! The blob adapters: [`LocalBlobStore`] (a directory, embedded mode) and [`S3BlobStore`]
//! (an S3-compatible object store, server mode), both implementing [`crate::BlobStore`].
//!
//! The key rules both enforce live here, so the two stores refuse exactly the same keys and
//! listing prefixes: a key is what the service generates (`clips/<id>`), never `..`, an absolute
//! path or odd bytes.

mod cached;
mod local;
mod local_partial;
mod paced;
mod s3;
mod s3_download;
mod s3_partial;
pub mod sendfile;
#[cfg(test)]
mod testing;

use std::time::{Duration, SystemTime};

use crate::ports::BlobError;

pub use cached::DiskCached;
pub use local::LocalBlobStore;
pub use paced::{paced, ReadBudget};
pub use s3::{S3BlobStore, S3Settings};

/// Where a clip's playback rendition is kept (`renditions/<id>`): one key per clip, so a
/// repeated job overwrites rather than adds, and deleting a clip knows what to purge.
pub fn rendition_key(id: &voicebin_domain::ClipId) -> String {
    format!("renditions/{id}")
}

/// Refuses any key the service would not generate (`clips/<id>`-like: `[A-Za-z0-9_-]` segments
/// joined by `/`), so no store ever sees `..`, absolute paths or odd bytes.
fn validate_key(key: &str) -> Result<(), BlobError> {
    let valid = !key.is_empty()
        && key.len() <= 200
        && key.split('/').all(|part| {
            !part.is_empty()
                && !part.starts_with('.')
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if valid {
        Ok(())
    } else {
        Err(BlobError::InvalidKey)
    }
}

/// Refuses any listing prefix that is not a valid key, optionally followed by one `/`
/// (`clips/`, `clips/ab`).
fn validate_prefix(prefix: &str) -> Result<(), BlobError> {
    validate_key(prefix.strip_suffix('/').unwrap_or(prefix))
}

/// How long ago `modified` was; a time in the future (clock skew) counts as zero.
fn age_since(now: SystemTime, modified: SystemTime) -> Duration {
    now.duration_since(modified).unwrap_or(Duration::ZERO)
}
