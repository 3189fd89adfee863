//! Partial blobs of resumable uploads in a local directory (embedded mode): one file per upload
//! under `<root>/.partial/`, appended to and renamed into place when the last byte is in.
//!
//! The committed offset is the truth: an append first cuts the file back to it, so bytes a
//! request wrote but never committed (it died, or its checksum failed) are dropped.

use std::io::SeekFrom;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use super::local::LocalBlobStore;
use super::validate_key;
use crate::ports::{Appended, BlobError, ByteStream, PartialBlobs};

/// Write buffer per append.
const WRITE_BUFFER: usize = 256 * 1024;

fn io_err(e: std::io::Error) -> BlobError {
    BlobError::Unavailable(e.to_string())
}

impl LocalBlobStore {
    /// The file holding upload `upload`'s bytes so far.
    fn partial_path(&self, upload: &str) -> Result<PathBuf, BlobError> {
        validate_key(upload)?;
        if upload.contains('/') {
            return Err(BlobError::InvalidKey);
        }
        Ok(self.root().join(".partial").join(upload))
    }

    /// Removes partial files not touched for `age` (left by uploads whose record is gone);
    /// returns how many.
    pub async fn sweep_partial(&self, age: Duration) -> std::io::Result<usize> {
        let mut removed = 0;
        let mut dir = match tokio::fs::read_dir(self.root().join(".partial")).await {
            Ok(dir) => dir,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        while let Some(entry) = dir.next_entry().await? {
            let metadata = match entry.metadata().await {
                Ok(metadata) => metadata,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let old = metadata
                .modified()?
                .elapsed()
                .is_ok_and(|elapsed| elapsed >= age);
            if old && tokio::fs::remove_file(entry.path()).await.is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[async_trait]
impl PartialBlobs for LocalBlobStore {
    async fn begin(&self, upload: &str, key: &str) -> Result<String, BlobError> {
        validate_key(key)?;
        let path = self.partial_path(upload)?;
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(io_err)?;
        }
        tokio::fs::File::create(&path).await.map_err(io_err)?;
        Ok(String::new())
    }

    async fn append(
        &self,
        upload: &str,
        key: &str,
        _state: &str,
        offset: u64,
        mut body: ByteStream,
        finish: bool,
    ) -> Result<Appended, BlobError> {
        let target = self.path_for(key)?;
        let path = self.partial_path(upload)?;
        let file = match tokio::fs::OpenOptions::new().write(true).open(&path).await {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(BlobError::NotFound),
            Err(e) => return Err(io_err(e)),
        };
        let len = file.metadata().await.map_err(io_err)?.len();
        if len < offset {
            // Bytes the record says are kept are missing: the upload cannot go on.
            return Err(BlobError::Unavailable(format!(
                "partial file holds {len} bytes, {offset} were committed"
            )));
        }
        // Drop whatever was written after the committed offset.
        file.set_len(offset).await.map_err(io_err)?;
        let mut file = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
        file.seek(SeekFrom::Start(offset)).await.map_err(io_err)?;
        let mut bytes = 0u64;
        let mut failure = None;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(chunk) => {
                    file.write_all(&chunk).await.map_err(io_err)?;
                    bytes += chunk.len() as u64;
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        file.flush().await.map_err(io_err)?;
        file.get_ref().sync_all().await.map_err(io_err)?;
        drop(file);
        let finished = finish && failure.is_none();
        if finished {
            if let Some(parent) = target.parent() {
                tokio::fs::create_dir_all(parent).await.map_err(io_err)?;
            }
            tokio::fs::rename(&path, &target).await.map_err(io_err)?;
            self.forget_open(key);
        }
        Ok(Appended {
            state: String::new(),
            bytes,
            finished,
            failure,
        })
    }

    async fn settle(&self, _upload: &str, _old: &str, _new: &str) -> Result<(), BlobError> {
        // One file per upload: nothing of an older state lives elsewhere.
        Ok(())
    }

    async fn sweep_orphans(&self, min_age: Duration) -> Result<usize, BlobError> {
        self.sweep_partial(min_age).await.map_err(io_err)
    }

    async fn discard(&self, upload: &str, _key: &str, _state: &str) -> Result<(), BlobError> {
        let path = self.partial_path(upload)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(e)),
        }
    }
}
