//! Partial blobs of resumable uploads in S3 (production): an S3 multipart upload of the clip's
//! key, begun when the resumable upload is created, and completed when its last byte is in.
//!
//! S3 wants every part but the last to be at least [`PART_SIZE`]; an append that ends between
//! part boundaries keeps its unfinished tail as an object of its own (`partial/<upload>/<n>`),
//! which the next append reads back and continues. The state (stored by the caller with the
//! upload) names the multipart upload, the parts committed so far and the tail, so any replica
//! can continue, and parts or tails of an append that was never committed are simply
//! overwritten or removed.

use async_trait::async_trait;
use futures::StreamExt;
use minio::s3::segmented_bytes::SegmentedBytes;
use minio::s3::types::{ETag, ObjectKey, PartInfo, UploadId};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::s3::{abort_upload, validation_err, S3BlobStore, PART_SIZE};
use super::validate_key;
use crate::ports::{Appended, BlobError, BlobStore, ByteStream, PartialBlobs};

/// What the caller stores of an S3 partial blob.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct State {
    /// The multipart upload of the clip's key.
    upload_id: String,
    /// The parts uploaded and committed, in order; all [`PART_SIZE`] long.
    parts: Vec<Part>,
    /// The bytes after the last whole part, kept as an object of their own.
    tail: Option<Tail>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Part {
    number: u16,
    etag: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Tail {
    key: String,
    len: u64,
}

fn parse(state: &str) -> Result<State, BlobError> {
    serde_json::from_str(state)
        .map_err(|e| BlobError::Unavailable(format!("malformed partial upload state: {e}")))
}

fn render(state: &State) -> String {
    serde_json::to_string(state).unwrap_or_default()
}

fn tail_key(upload: &str) -> Result<String, BlobError> {
    let mut name = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut name);
    let key = format!("partial/{upload}/{}", hex::encode(name));
    validate_key(&key)?;
    Ok(key)
}

impl S3BlobStore {
    /// Uploads the part after `parts` and notes it there.
    async fn add_part(
        &self,
        object: &ObjectKey,
        upload_id: &UploadId,
        parts: &mut Vec<Part>,
        data: SegmentedBytes,
    ) -> Result<(), BlobError> {
        let number = Self::part_number(parts.len())?;
        let etag = self.upload_part(object, upload_id, number, data).await?;
        parts.push(Part {
            number,
            etag: etag.into_inner(),
        });
        Ok(())
    }
}

#[async_trait]
impl PartialBlobs for S3BlobStore {
    async fn begin(&self, upload: &str, key: &str) -> Result<String, BlobError> {
        validate_key(upload)?;
        let object = Self::object_key(key)?;
        let upload_id = self.create_multipart(&object).await?;
        Ok(render(&State {
            upload_id: upload_id.as_str().to_owned(),
            ..State::default()
        }))
    }

    async fn append(
        &self,
        upload: &str,
        key: &str,
        state: &str,
        offset: u64,
        mut body: ByteStream,
        finish: bool,
    ) -> Result<Appended, BlobError> {
        let object = Self::object_key(key)?;
        let old = parse(state)?;
        let upload_id = UploadId::new(old.upload_id.clone()).map_err(validation_err)?;
        let kept =
            old.parts.len() as u64 * PART_SIZE as u64 + old.tail.as_ref().map_or(0, |t| t.len);
        if kept != offset {
            return Err(BlobError::Unavailable(format!(
                "partial upload state holds {kept} bytes, {offset} were committed"
            )));
        }
        let mut new = old.clone();
        let mut part = SegmentedBytes::new();
        if let Some(tail) = &old.tail {
            let mut stream = self.get(&tail.key, None).await?;
            while let Some(chunk) = stream.next().await {
                part.append(chunk.map_err(|e| BlobError::Unavailable(e.to_string()))?);
            }
            if part.len() as u64 != tail.len {
                return Err(BlobError::Unavailable(format!(
                    "the partial upload's tail holds {} bytes, not {}",
                    part.len(),
                    tail.len
                )));
            }
        }
        new.tail = None;
        let mut bytes = 0u64;
        let mut failure = None;
        while let Some(chunk) = body.next().await {
            let mut chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            bytes += chunk.len() as u64;
            while !chunk.is_empty() {
                let room = PART_SIZE - part.len();
                let rest = if chunk.len() > room {
                    Some(chunk.split_off(room))
                } else {
                    None
                };
                part.append(chunk);
                if part.len() == PART_SIZE {
                    let whole = std::mem::replace(&mut part, SegmentedBytes::new());
                    self.add_part(&object, &upload_id, &mut new.parts, whole)
                        .await?;
                }
                chunk = rest.unwrap_or_default();
            }
        }
        if bytes == 0 && !(finish && failure.is_none()) {
            // Nothing new: the committed state stands as it is.
            return Ok(Appended {
                state: state.to_owned(),
                bytes,
                finished: false,
                failure,
            });
        }
        let finished = finish && failure.is_none();
        if finished {
            if !part.is_empty() || new.parts.is_empty() {
                self.add_part(&object, &upload_id, &mut new.parts, part)
                    .await?;
            }
            let parts = new
                .parts
                .iter()
                .map(|p| {
                    Ok(PartInfo::new(
                        p.number,
                        ETag::new(p.etag.clone()).map_err(validation_err)?,
                        0,
                        None,
                    ))
                })
                .collect::<Result<Vec<_>, BlobError>>()?;
            self.complete_multipart(&object, &upload_id, parts).await?;
        } else if !part.is_empty() {
            let key = tail_key(upload)?;
            let len = part.len() as u64;
            self.put_single(&Self::object_key(&key)?, part).await?;
            new.tail = Some(Tail { key, len });
        }
        Ok(Appended {
            state: render(&new),
            bytes,
            finished,
            failure,
        })
    }

    async fn settle(&self, _upload: &str, old: &str, new: &str) -> Result<(), BlobError> {
        let (old, new) = (parse(old)?, parse(new)?);
        match old.tail {
            Some(tail) if new.tail.as_ref() != Some(&tail) => self.delete(&tail.key).await,
            _ => Ok(()),
        }
    }

    async fn sweep_orphans(&self, min_age: std::time::Duration) -> Result<usize, BlobError> {
        // Only tails can be orphaned here: the bucket's lifecycle rule aborts multipart uploads.
        let mut removed = 0;
        loop {
            let keys = self.list_older_than("partial/", min_age, 100).await?;
            if keys.is_empty() {
                return Ok(removed);
            }
            for key in keys {
                self.delete(&key).await?;
                removed += 1;
            }
        }
    }

    async fn discard(&self, _upload: &str, key: &str, state: &str) -> Result<(), BlobError> {
        let object = Self::object_key(key)?;
        let state = parse(state)?;
        if let Some(tail) = &state.tail {
            self.delete(&tail.key).await?;
        }
        if let Ok(upload_id) = UploadId::new(state.upload_id) {
            abort_upload(self.client(), self.bucket(), &object, upload_id).await;
        }
        Ok(())
    }
}
