//! Blob storage in an S3-compatible object store (server mode: MinIO, AWS S3, ...).
//!
//! Uploads stream: the body is cut into parts of [`PART_SIZE`] and only one part is held in
//! memory at a time. A body that fits in one part is sent as a single `PutObject`; a larger one
//! becomes a multipart upload, which S3 makes visible only when it is completed, so a key never
//! shows a partial blob. Any failure (the store's, or the body's) aborts the multipart upload so
//! its parts do not linger (and cost) on the server; a `put` that is dropped half-way aborts it
//! from a background task.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use futures::StreamExt;
use minio::s3::creds::StaticProvider;
use minio::s3::error::{Error as S3Error, NetworkError, S3ServerError};
use minio::s3::http::BaseUrl;
use minio::s3::lifecycle_config::{LifecycleConfig, LifecycleRule};
use minio::s3::minio_error_response::MinioErrorCode;
use minio::s3::response_traits::HasEtagFromHeaders;
use minio::s3::segmented_bytes::SegmentedBytes;
use minio::s3::types::{
    BucketName, ETag, Filter, ObjectKey, PartInfo, Region, S3Api, ToStream, UploadId,
};
use minio::s3::{MinioClient, MinioClientBuilder};
use secrecy::{ExposeSecret, SecretString};

use super::paced::{paced, ReadBudget};
use super::s3_download::{downloader, Downloader};
use super::{age_since, validate_key, validate_prefix};
use crate::ports::{BlobError, BlobStore, ByteStream};

/// Bytes per multipart part: S3's minimum for every part but the last, which also bounds the
/// memory one upload holds.
pub(super) const PART_SIZE: usize = 5 * 1024 * 1024;

/// S3 refuses multipart uploads with more parts than this (so blobs stop at ~48 GiB).
const MAX_PARTS: u16 = 10_000;

/// Keys per ListObjectsV2 page: S3's maximum, since most listed keys may be too young to return.
const LIST_PAGE: u16 = 1000;

/// ID of the lifecycle rule [`S3BlobStore::connect`] installs.
const ABORT_RULE_ID: &str = "voicebin-abort-incomplete-multipart";

/// The bucket's lifecycle rule: the server itself aborts multipart uploads still open a day
/// after they began, i.e. those of a process killed before it could abort them.
fn abort_incomplete_uploads_rule() -> LifecycleRule {
    LifecycleRule {
        id: ABORT_RULE_ID.into(),
        status: true,
        // Empty: every key. (`<Prefix></Prefix>` would do too, but minio 0.4 cannot parse it back.)
        filter: Filter::default(),
        abort_incomplete_multipart_upload_days_after_initiation: Some(1),
        ..LifecycleRule::default()
    }
}

/// Where the S3 store lives and how to sign in.
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// Base URL of the server, e.g. `http://127.0.0.1:9000` (no path).
    pub endpoint: String,
    /// Bucket holding the blobs; created by [`S3BlobStore::connect`] when missing.
    pub bucket: String,
    /// Region to sign requests for (`us-east-1` for MinIO).
    pub region: String,
    /// Access key id.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: SecretString,
}

/// A [`BlobStore`] over one bucket of an S3-compatible object store.
#[derive(Clone)]
pub struct S3BlobStore {
    client: MinioClient,
    bucket: BucketName,
    endpoint: String,
    /// What downloads may hold while their clients read (`paced.rs`).
    budget: Arc<ReadBudget>,
    /// The client downloads read with (`s3_download.rs`).
    downloader: Downloader,
}

// By hand: the client's own `Debug` prints the secret key.
impl std::fmt::Debug for S3BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3BlobStore")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket.as_str())
            .finish_non_exhaustive()
    }
}

/// minio's top-level `Display` often hides the cause ("Network error occurred"), so the message
/// carries the whole source chain.
pub(super) fn s3_err(e: S3Error) -> BlobError {
    BlobError::Unavailable(with_causes(e.to_string(), &e))
}

/// `msg` followed by the messages of `e`'s causes that it does not already say.
pub(super) fn with_causes(mut msg: String, e: &dyn std::error::Error) -> String {
    let mut source = e.source();
    while let Some(s) = source {
        let s_msg = s.to_string();
        if !msg.contains(&s_msg) {
            msg.push_str(": ");
            msg.push_str(&s_msg);
        }
        source = s.source();
    }
    msg
}

pub(super) fn validation_err(e: minio::s3::error::ValidationErr) -> BlobError {
    s3_err(e.into())
}

/// The S3 error code of a server-side failure, if that is what `e` is.
fn error_code(e: &S3Error) -> Option<MinioErrorCode> {
    match e {
        S3Error::S3Server(S3ServerError::S3Error(resp)) => Some(resp.code()),
        _ => None,
    }
}

fn is_missing_key(e: &S3Error) -> bool {
    matches!(error_code(e), Some(MinioErrorCode::NoSuchKey))
}

/// A range starting at or past the end of the blob: S3 answers 416 (`InvalidRange`, or a bare
/// status when the server sends no XML body).
fn is_unsatisfiable_range(e: &S3Error) -> bool {
    match e {
        S3Error::S3Server(S3ServerError::S3Error(resp)) => {
            matches!(resp.code(), MinioErrorCode::OtherError(code) if code == "invalidrange")
        }
        S3Error::S3Server(S3ServerError::HttpError(416, _))
        | S3Error::Network(NetworkError::ServerError(416)) => true,
        _ => false,
    }
}

fn empty_stream() -> ByteStream {
    Box::pin(futures::stream::empty())
}

/// Reads the next part of `body`: exactly `PART_SIZE` bytes, or fewer only at the end of the
/// stream. A chunk straddling the boundary is split and its tail kept in `carry`.
async fn read_part(
    body: &mut ByteStream,
    carry: &mut Option<bytes::Bytes>,
) -> Result<SegmentedBytes, BlobError> {
    let mut part = SegmentedBytes::new();
    while part.len() < PART_SIZE {
        let mut chunk = match carry.take() {
            Some(chunk) => chunk,
            None => match body.next().await {
                Some(chunk) => chunk.map_err(BlobError::Source)?,
                None => break,
            },
        };
        let room = PART_SIZE - part.len();
        if chunk.len() > room {
            *carry = Some(chunk.split_off(room));
        }
        if !chunk.is_empty() {
            part.append(chunk);
        }
    }
    Ok(part)
}

/// Aborts a multipart upload unless disarmed. `put` aborts explicitly (and waits) on errors;
/// this covers the future being dropped mid-upload (e.g. the HTTP client went away), where
/// nothing can be awaited any more.
struct AbortOnDrop {
    client: MinioClient,
    bucket: BucketName,
    object: ObjectKey,
    upload_id: Option<UploadId>,
}

impl AbortOnDrop {
    /// Aborts now, waiting for the server; best effort, since the caller is already failing.
    async fn abort(mut self) {
        if let Some(upload_id) = self.upload_id.take() {
            abort_upload(&self.client, &self.bucket, &self.object, upload_id).await;
        }
    }

    fn disarm(mut self) {
        self.upload_id = None;
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        let Some(upload_id) = self.upload_id.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(%upload_id, "multipart upload left behind: no runtime to abort it");
            return;
        };
        let (client, bucket, object) = (
            self.client.clone(),
            self.bucket.clone(),
            self.object.clone(),
        );
        runtime.spawn(async move { abort_upload(&client, &bucket, &object, upload_id).await });
    }
}

pub(super) async fn abort_upload(
    client: &MinioClient,
    bucket: &BucketName,
    object: &ObjectKey,
    upload_id: UploadId,
) {
    let sent = match client.abort_multipart_upload(bucket, object, &upload_id) {
        Ok(req) => req.build().send().await.map(|_| ()),
        Err(e) => Err(e.into()),
    };
    if let Err(e) = sent {
        // The bucket's lifecycle rules (or an operator) must clean it up; the key stays absent.
        tracing::warn!(%upload_id, object = %object, error = %s3_err(e), "could not abort multipart upload");
    }
}

impl S3BlobStore {
    pub(super) fn client(&self) -> &MinioClient {
        &self.client
    }

    pub(super) fn bucket(&self) -> &BucketName {
        &self.bucket
    }

    pub(super) fn downloader(&self) -> &Downloader {
        &self.downloader
    }

    /// Connects to the store, creating the bucket if it does not exist.
    pub async fn connect(settings: S3Settings) -> Result<Self, BlobError> {
        let mut base_url: BaseUrl = settings.endpoint.parse().map_err(|e| {
            BlobError::Unavailable(format!("invalid S3 endpoint {:?}: {e}", settings.endpoint))
        })?;
        // A fixed region saves a GetBucketLocation round trip per bucket and is what MinIO wants.
        base_url.region = Region::new(settings.region).map_err(validation_err)?;
        let provider = StaticProvider::new(
            &settings.access_key,
            settings.secret_key.expose_secret(),
            None,
        );
        let client = MinioClientBuilder::new(base_url)
            .provider(Some(provider))
            .app_info(Some(("voicebin".into(), env!("CARGO_PKG_VERSION").into())))
            .build()
            .map_err(s3_err)?;
        let bucket = BucketName::new(settings.bucket).map_err(validation_err)?;
        let store = S3BlobStore {
            client,
            bucket,
            endpoint: settings.endpoint,
            budget: Arc::new(ReadBudget::default()),
            downloader: downloader()?,
        };
        store.ensure_bucket().await?;
        store.ensure_lifecycle().await;
        Ok(store)
    }

    /// The same store, its downloads holding their chunks in `budget` (one for the process).
    pub fn with_read_budget(mut self, budget: Arc<ReadBudget>) -> Self {
        self.budget = budget;
        self
    }

    /// Installs [`abort_incomplete_uploads_rule`] as the bucket's lifecycle configuration.
    /// Best effort, so never an error: a server without lifecycle support (or one that refuses
    /// this rule: MinIO ignores the action and rejects a rule with no other) gets a warning.
    /// A PUT replaces the whole configuration, so a bucket that already has rules of its own is
    /// left alone rather than have them deleted.
    async fn ensure_lifecycle(&self) {
        let bucket = self.bucket.as_str();
        let wanted = abort_incomplete_uploads_rule();
        let current = match self.client.get_bucket_lifecycle(&self.bucket) {
            Ok(req) => req.build().send().await,
            Err(e) => Err(e.into()),
        };
        match current {
            Ok(resp) => match resp.config() {
                Ok(config) if config.rules == [wanted.clone()] => return,
                // Empty, or only our rule in an older form: ours to replace.
                Ok(config) if config.rules.iter().all(|r| r.id == ABORT_RULE_ID) => {}
                Ok(_) => {
                    tracing::warn!(
                        bucket,
                        "S3 bucket has lifecycle rules of its own, left unchanged; add an \
                         AbortIncompleteMultipartUpload rule to them so uploads abandoned by a \
                         killed process are cleaned up"
                    );
                    return;
                }
                Err(e) => {
                    tracing::warn!(
                        bucket,
                        error = %validation_err(e),
                        "unreadable S3 bucket lifecycle configuration, left unchanged"
                    );
                    return;
                }
            },
            Err(e)
                if matches!(
                    error_code(&e),
                    Some(MinioErrorCode::NoSuchLifecycleConfiguration)
                ) => {}
            Err(e) => {
                tracing::warn!(
                    bucket,
                    error = %s3_err(e),
                    "cannot read the S3 bucket lifecycle configuration, so no rule aborts \
                     multipart uploads abandoned by a killed process"
                );
                return;
            }
        }
        let put = match self.client.put_bucket_lifecycle(&self.bucket) {
            Ok(req) => req
                .life_cycle_config(LifecycleConfig {
                    rules: vec![wanted],
                })
                .build()
                .send()
                .await
                .map(|_| ()),
            Err(e) => Err(e.into()),
        };
        if let Err(e) = put {
            tracing::warn!(
                bucket,
                error = %s3_err(e),
                "the S3 server refused the lifecycle rule aborting incomplete multipart \
                 uploads; uploads abandoned by a killed process stay until cleaned up otherwise"
            );
        }
    }

    /// [`BlobStore::list_older_than`], reading `page` keys per request.
    async fn list_older_than_paged(
        &self,
        prefix: &str,
        min_age: Duration,
        limit: usize,
        page: u16,
    ) -> Result<Vec<String>, BlobError> {
        validate_prefix(prefix)?;
        let mut found = Vec::new();
        if limit == 0 {
            return Ok(found);
        }
        let now = SystemTime::now();
        // One request per page, made as the stream is polled: stopping stops the listing.
        let mut pages = self
            .client
            .list_objects(&self.bucket)
            .map_err(validation_err)?
            .prefix(prefix.to_owned())
            .recursive(true)
            .max_keys(page)
            .build()
            .to_stream()
            .await;
        while let Some(listed) = pages.next().await {
            for entry in listed.map_err(s3_err)?.contents {
                // Objects this service did not write (or could not address) are not its keys.
                if entry.is_prefix || validate_key(&entry.name).is_err() {
                    continue;
                }
                let Some(modified) = entry.last_modified else {
                    continue;
                };
                if age_since(now, modified.into()) >= min_age {
                    found.push(entry.name);
                    if found.len() >= limit {
                        return Ok(found);
                    }
                }
            }
        }
        Ok(found)
    }

    async fn ensure_bucket(&self) -> Result<(), BlobError> {
        if self.bucket_exists().await? {
            return Ok(());
        }
        let created = self
            .client
            .create_bucket(&self.bucket)
            .map_err(validation_err)?
            .build()
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            // Another instance created it between our check and our request.
            Err(e)
                if matches!(
                    error_code(&e),
                    Some(MinioErrorCode::BucketAlreadyOwnedByYou)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(s3_err(e)),
        }
    }

    async fn bucket_exists(&self) -> Result<bool, BlobError> {
        let resp = self
            .client
            .bucket_exists(&self.bucket)
            .map_err(validation_err)?
            .build()
            .send()
            .await
            .map_err(s3_err)?;
        Ok(resp.exists())
    }

    pub(super) fn object_key(key: &str) -> Result<ObjectKey, BlobError> {
        validate_key(key)?;
        ObjectKey::new(key).map_err(|_| BlobError::InvalidKey)
    }

    /// Begins a multipart upload of `object`; its id.
    pub(super) async fn create_multipart(&self, object: &ObjectKey) -> Result<UploadId, BlobError> {
        let created = self
            .client
            .create_multipart_upload(&self.bucket, object)
            .map_err(validation_err)?
            .build()
            .send()
            .await
            .map_err(s3_err)?;
        created.upload_id().await.map_err(validation_err)
    }

    /// The number of the part after `parts` parts, within S3's limit.
    pub(super) fn part_number(parts: usize) -> Result<u16, BlobError> {
        u16::try_from(parts + 1)
            .ok()
            .filter(|n| *n <= MAX_PARTS)
            .ok_or_else(|| BlobError::Unavailable("blob exceeds S3's 10,000 parts".into()))
    }

    /// Uploads part `number` of a multipart upload; its ETag.
    pub(super) async fn upload_part(
        &self,
        object: &ObjectKey,
        upload_id: &UploadId,
        number: u16,
        data: SegmentedBytes,
    ) -> Result<ETag, BlobError> {
        let resp = self
            .client
            .upload_part(&self.bucket, object, upload_id, number, data)
            .map_err(validation_err)?
            .build()
            .send()
            .await
            .map_err(s3_err)?;
        resp.etag().map_err(validation_err)
    }

    /// Completes a multipart upload: `object` becomes visible, made of `parts`.
    pub(super) async fn complete_multipart(
        &self,
        object: &ObjectKey,
        upload_id: &UploadId,
        parts: Vec<PartInfo>,
    ) -> Result<(), BlobError> {
        self.client
            .complete_multipart_upload(&self.bucket, object, upload_id, parts)
            .map_err(validation_err)?
            .build()
            .send()
            .await
            .map_err(s3_err)?;
        Ok(())
    }

    pub(super) async fn put_single(
        &self,
        object: &ObjectKey,
        data: SegmentedBytes,
    ) -> Result<(), BlobError> {
        self.client
            .put_object(&self.bucket, object, data)
            .map_err(validation_err)?
            .build()
            .send()
            .await
            .map_err(s3_err)?;
        Ok(())
    }

    /// Uploads `first` and the rest of `body` as parts of a new multipart upload, aborting it on
    /// any failure.
    async fn put_multipart(
        &self,
        object: &ObjectKey,
        first: SegmentedBytes,
        mut body: ByteStream,
        mut carry: Option<bytes::Bytes>,
    ) -> Result<u64, BlobError> {
        let upload_id = self.create_multipart(object).await?;
        let guard = AbortOnDrop {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            object: object.clone(),
            upload_id: Some(upload_id.clone()),
        };
        let uploaded = async {
            let mut parts = Vec::new();
            let mut written = 0u64;
            let mut part = first;
            loop {
                let number = Self::part_number(parts.len())?;
                let size = part.len() as u64;
                let etag = self.upload_part(object, &upload_id, number, part).await?;
                parts.push(PartInfo::new(number, etag, size, None));
                written += size;
                if size < PART_SIZE as u64 {
                    break;
                }
                // Read the next part only now: one part in memory at a time.
                part = read_part(&mut body, &mut carry).await?;
                if part.is_empty() {
                    break;
                }
            }
            self.complete_multipart(object, &upload_id, parts).await?;
            Ok(written)
        }
        .await;
        match uploaded {
            Ok(written) => {
                guard.disarm();
                Ok(written)
            }
            Err(e) => {
                guard.abort().await;
                Err(e)
            }
        }
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, key: &str, mut body: ByteStream) -> Result<u64, BlobError> {
        let object = Self::object_key(key)?;
        let mut carry = None;
        let first = read_part(&mut body, &mut carry).await?;
        if first.len() < PART_SIZE {
            // The whole body fit in one part: a plain PutObject is atomic and one round trip.
            let written = first.len() as u64;
            self.put_single(&object, first).await?;
            return Ok(written);
        }
        self.put_multipart(&object, first, body, carry).await
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<ByteStream, BlobError> {
        let object = Self::object_key(key)?;
        let req = self
            .client
            .get_object(&self.bucket, &object)
            .map_err(validation_err)?;
        let req = match range {
            None => req.build(),
            Some(range) if range.start >= range.end => {
                // HTTP cannot ask for zero bytes; answer like the local store does.
                return if self.exists(key).await? {
                    Ok(empty_stream())
                } else {
                    Err(BlobError::NotFound)
                };
            }
            // Sent as `Range: bytes=start-(end-1)`.
            Some(range) => req
                .offset(range.start)
                .length(range.end - range.start)
                .build(),
        };
        match req.send().await {
            Ok(resp) => {
                let (stream, _len) = resp.into_boxed_stream().map_err(s3_err)?;
                Ok(stream)
            }
            Err(e) if is_missing_key(&e) => Err(BlobError::NotFound),
            // 416 implies the blob exists; past its end there is nothing, as in the local store.
            Err(e) if is_unsatisfiable_range(&e) => Ok(empty_stream()),
            Err(e) => Err(s3_err(e)),
        }
    }

    async fn download(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream, BlobError> {
        if matches!(&range, Some(r) if r.start >= r.end) {
            return self.get(key, range).await;
        }
        Ok(paced(self.fetch(key, range).await?, self.budget.clone()))
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        let object = Self::object_key(key)?;
        let deleted = self
            .client
            .delete_object(&self.bucket, &object)
            .map_err(validation_err)?
            .build()
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            // S3 answers 204 for a missing key; some compatible servers answer NoSuchKey.
            Err(e) if is_missing_key(&e) => Ok(()),
            Err(e) => Err(s3_err(e)),
        }
    }

    async fn exists(&self, key: &str) -> Result<bool, BlobError> {
        let object = Self::object_key(key)?;
        let stat = self
            .client
            .stat_object(&self.bucket, &object)
            .map_err(validation_err)?
            .build()
            .send()
            .await;
        match stat {
            Ok(_) => Ok(true),
            Err(e) if is_missing_key(&e) => Ok(false),
            Err(e) => Err(s3_err(e)),
        }
    }

    fn local_path(&self, _key: &str) -> Option<PathBuf> {
        None
    }

    async fn ping(&self) -> Result<(), BlobError> {
        if self.bucket_exists().await? {
            Ok(())
        } else {
            Err(BlobError::Unavailable(format!(
                "S3 bucket {} does not exist",
                self.bucket.as_str()
            )))
        }
    }

    async fn list_older_than(
        &self,
        prefix: &str,
        min_age: Duration,
        limit: usize,
    ) -> Result<Vec<String>, BlobError> {
        self.list_older_than_paged(prefix, min_age, limit, LIST_PAGE)
            .await
    }
}

#[cfg(test)]
mod tests {
    //! These run against a real S3-compatible server (moto's, started by `scripts/test` through
    //! `scripts/services/s3.sh`), each test in a bucket of its own.

    use super::*;
    use crate::blobs::testing::{body, collect, put_x, sorted};
    use crate::ports::PartialBlobs;
    use bytes::Bytes;
    use rand::RngCore;
    use sha2::{Digest, Sha256};
    use std::time::Duration;

    const MIB: u64 = 1024 * 1024;

    fn endpoint() -> String {
        std::env::var("VOICEBIN_TEST_S3_ENDPOINT")
            .unwrap_or_else(|_| "http://127.0.0.1:9090".into())
    }

    /// A store over a fresh bucket. Fails, never skips, when no server answers: a skipped
    /// adapter test would hide a broken adapter.
    async fn fresh_store() -> S3BlobStore {
        let mut suffix = [0u8; 6];
        rand::thread_rng().fill_bytes(&mut suffix);
        let settings = S3Settings {
            endpoint: endpoint(),
            bucket: format!("vbtest-{}", hex::encode(suffix)),
            region: "us-east-1".into(),
            access_key: "test".into(),
            secret_key: SecretString::from("test"),
        };
        match S3BlobStore::connect(settings).await {
            Ok(store) => store,
            Err(e) => panic!(
                "no S3 server at {} ({e}); run `scripts/test`, which starts one \
                 (scripts/services/s3.sh), or set VOICEBIN_TEST_S3_ENDPOINT",
                endpoint()
            ),
        }
    }

    /// Byte `i` of every generated blob: a pure function, so any range can be recomputed.
    fn pattern(i: u64) -> u8 {
        (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8
    }

    fn pattern_bytes(range: Range<u64>) -> Vec<u8> {
        range.map(pattern).collect()
    }

    /// `len` generated bytes, produced lazily in `chunk`-sized pieces of unknown total length;
    /// an odd `chunk` makes part boundaries fall inside chunks.
    fn generated(
        len: u64,
        chunk: u64,
    ) -> impl futures::Stream<Item = std::io::Result<Bytes>> + Send {
        futures::stream::unfold(0u64, move |pos| async move {
            (pos < len).then(|| {
                let end = (pos + chunk).min(len);
                (Ok(Bytes::from(pattern_bytes(pos..end))), end)
            })
        })
    }

    fn sha_of_pattern(len: u64) -> String {
        let mut hasher = Sha256::new();
        for start in (0..len).step_by(MIB as usize) {
            hasher.update(pattern_bytes(start..(start + MIB).min(len)));
        }
        hex::encode(hasher.finalize())
    }

    /// Size and SHA-256 of a stream, without holding it.
    async fn sha_of(mut s: ByteStream) -> (u64, String) {
        let mut hasher = Sha256::new();
        let mut len = 0u64;
        while let Some(c) = s.next().await {
            let c = c.unwrap();
            len += c.len() as u64;
            hasher.update(&c);
        }
        (len, hex::encode(hasher.finalize()))
    }

    /// Ids of the bucket's multipart uploads that were neither completed nor aborted. minio has
    /// no ListMultipartUploads, so this asks directly; moto answers it unsigned. `None` when the
    /// server wants a signature (a real MinIO): then only the absence of the key is checked.
    async fn open_uploads(store: &S3BlobStore) -> Option<Vec<String>> {
        let url = format!("{}/{}?uploads", endpoint(), store.bucket.as_str());
        let resp = reqwest::get(&url).await.unwrap();
        if resp.status() == reqwest::StatusCode::FORBIDDEN {
            eprintln!("{url}: 403, cannot check for leftover multipart uploads");
            return None;
        }
        assert!(resp.status().is_success(), "{url}: {}", resp.status());
        let xml = resp.text().await.unwrap();
        Some(
            xml.split("<UploadId>")
                .skip(1)
                .filter_map(|s| s.split_once("</UploadId>"))
                .map(|(id, _)| id.to_owned())
                .collect(),
        )
    }

    /// How many parts the server holds for upload `id` of `key` (ListParts, unsigned as above).
    async fn parts_of(store: &S3BlobStore, key: &str, id: &str) -> usize {
        let url = format!(
            "{}/{}/{key}?uploadId={id}",
            endpoint(),
            store.bucket.as_str()
        );
        let resp = reqwest::get(&url).await.unwrap();
        if !resp.status().is_success() {
            return 0;
        }
        resp.text().await.unwrap().matches("<Part>").count()
    }

    async fn assert_nothing_left(store: &S3BlobStore, key: &str) {
        assert!(!store.exists(key).await.unwrap(), "{key} is visible");
        assert!(matches!(
            store.get(key, None).await,
            Err(BlobError::NotFound)
        ));
        if let Some(open) = open_uploads(store).await {
            assert!(open.is_empty(), "multipart uploads left open: {open:?}");
        }
    }

    #[tokio::test]
    async fn s3_a_small_blob_reads_back_whole_and_by_range() {
        let store = fresh_store().await;
        let n = store
            .put(
                "clips/abc",
                body(vec![
                    Ok(Bytes::from_static(b"hello ")),
                    Ok(Bytes::from_static(b"world")),
                ]),
            )
            .await
            .unwrap();
        assert_eq!(n, 11);
        assert!(store.exists("clips/abc").await.unwrap());
        assert_eq!(
            collect(store.get("clips/abc", None).await.unwrap()).await,
            b"hello world"
        );
        for (range, expected) in [
            (6..11, &b"world"[..]),
            (0..1, b"h"),
            (4..7, b"o w"),
            // Past the end: what there is, then nothing, as in the local store.
            (6..100, b"world"),
            (11..20, b""),
            (50..60, b""),
            (3..3, b""),
        ] {
            let got = collect(store.get("clips/abc", Some(range.clone())).await.unwrap()).await;
            assert_eq!(got, expected, "{range:?}");
        }
        assert_eq!(store.local_path("clips/abc"), None);

        assert_eq!(store.put("clips/empty", body(vec![])).await.unwrap(), 0);
        assert!(collect(store.get("clips/empty", None).await.unwrap())
            .await
            .is_empty());
    }

    #[tokio::test]
    async fn s3_a_large_body_of_unknown_length_is_streamed_in_parts() {
        let store = fresh_store().await;
        let len = 12 * MIB;
        let n = store
            .put("clips/big", Box::pin(generated(len, 100_003)))
            .await
            .unwrap();
        assert_eq!(n, len);
        assert_eq!(
            sha_of(store.get("clips/big", None).await.unwrap()).await,
            (len, sha_of_pattern(len))
        );
        // A multipart object's ETag ends in `-<parts>`: 5 + 5 + 2 MiB.
        let stat = store
            .client
            .stat_object(&store.bucket, "clips/big")
            .unwrap()
            .build()
            .send()
            .await
            .unwrap();
        let etag = stat.etag().unwrap().to_string();
        assert!(etag.ends_with("-3"), "not a 3-part upload: {etag}");
        // Ranges across a part boundary and at the very end.
        for range in [5 * MIB - 7..5 * MIB + 9, len - 10..len, 3..100_500] {
            let got = collect(store.get("clips/big", Some(range.clone())).await.unwrap()).await;
            assert!(got == pattern_bytes(range.clone()), "{range:?}");
        }
        if let Some(open) = open_uploads(&store).await {
            assert!(open.is_empty(), "{open:?}");
        }
    }

    #[tokio::test]
    async fn s3_a_body_of_exactly_one_part_is_stored() {
        let store = fresh_store().await;
        let len = PART_SIZE as u64;
        let n = store
            .put("clips/edge", Box::pin(generated(len, 65_536)))
            .await
            .unwrap();
        assert_eq!(n, len);
        assert_eq!(
            sha_of(store.get("clips/edge", None).await.unwrap()).await,
            (len, sha_of_pattern(len))
        );
    }

    #[tokio::test]
    async fn s3_a_body_failing_mid_stream_leaves_nothing_behind() {
        let store = fresh_store().await;
        // After 7 MiB: one part is already uploaded, so a multipart upload must be aborted.
        let failing = generated(7 * MIB, 65_536).chain(futures::stream::once(async {
            Err(std::io::Error::other("client went away"))
        }));
        let err = store
            .put("clips/broken", Box::pin(failing))
            .await
            .unwrap_err();
        assert!(matches!(err, BlobError::Source(_)), "{err:?}");
        assert_nothing_left(&store, "clips/broken").await;

        // Failing inside the first part: nothing was sent at all.
        let err = store
            .put(
                "clips/broken",
                body(vec![
                    Ok(Bytes::from_static(b"partial")),
                    Err(std::io::Error::other("client went away")),
                ]),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, BlobError::Source(_)), "{err:?}");
        assert_nothing_left(&store, "clips/broken").await;
    }

    #[tokio::test]
    async fn s3_a_dropped_put_aborts_its_multipart_upload() {
        let store = fresh_store().await;
        assert!(
            open_uploads(&store).await.is_some(),
            "this test needs an S3 server that lists multipart uploads unsigned (moto, as \
             scripts/test starts it)"
        );
        // A part's worth and more, then a client that never sends the rest.
        let stalled = generated(6 * MIB, 65_536).chain(futures::stream::pending());
        let put = store.put("clips/stalled", Box::pin(stalled));
        // Wait until a part has arrived: the put sends parts only once it holds the upload's
        // id, so from then on dropping it must abort the upload. (Seeing the upload listed is
        // not enough: the server may list it before the put has read the id.)
        let part_uploaded = async {
            loop {
                if let Some(id) = open_uploads(&store).await.unwrap().first() {
                    if parts_of(&store, "clips/stalled", id).await > 0 {
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::select! {
            r = put => panic!("put of a stalled body returned {r:?}"),
            () = part_uploaded => {}
            () = tokio::time::sleep(Duration::from_secs(30)) => panic!("no part was uploaded"),
        }
        // The put is dropped now; its abort runs in the background (give a loaded server time).
        for _ in 0..600 {
            if open_uploads(&store).await.unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_nothing_left(&store, "clips/stalled").await;
    }

    #[tokio::test]
    async fn s3_delete_is_idempotent_and_missing_blobs_are_not_found() {
        let store = fresh_store().await;
        assert!(matches!(
            store.get("clips/nope", None).await,
            Err(BlobError::NotFound)
        ));
        assert!(matches!(
            store.get("clips/nope", Some(0..4)).await,
            Err(BlobError::NotFound)
        ));
        assert!(matches!(
            store.get("clips/nope", Some(2..2)).await,
            Err(BlobError::NotFound)
        ));
        assert!(!store.exists("clips/nope").await.unwrap());
        store.delete("clips/nope").await.unwrap();

        store
            .put("clips/abc", body(vec![Ok(Bytes::from_static(b"x"))]))
            .await
            .unwrap();
        store.delete("clips/abc").await.unwrap();
        assert!(!store.exists("clips/abc").await.unwrap());
        assert!(matches!(
            store.get("clips/abc", None).await,
            Err(BlobError::NotFound)
        ));
        store.delete("clips/abc").await.unwrap();
    }

    #[tokio::test]
    async fn s3_keys_the_service_would_not_generate_are_refused() {
        let store = fresh_store().await;
        for key in [
            "../x",
            "clips/../../x",
            "/etc/passwd",
            "clips/.tmp",
            "",
            "a//b",
            "a\nb",
            "clips/a b",
            "clips/a?b",
        ] {
            assert!(
                matches!(store.exists(key).await, Err(BlobError::InvalidKey)),
                "{key:?}"
            );
            assert!(
                matches!(store.get(key, None).await, Err(BlobError::InvalidKey)),
                "{key:?}"
            );
            assert!(
                matches!(store.delete(key).await, Err(BlobError::InvalidKey)),
                "{key:?}"
            );
            let put = store
                .put(key, body(vec![Ok(Bytes::from_static(b"x"))]))
                .await;
            assert!(matches!(put, Err(BlobError::InvalidKey)), "{key:?}");
        }
    }

    #[tokio::test]
    async fn s3_blobs_older_than_min_age_under_the_prefix_are_listed() {
        let store = fresh_store().await;
        for key in ["clips/a", "clips/b", "clips/c", "clipsy/d", "other/e"] {
            put_x(&store, key).await;
        }
        let clips = ["clips/a", "clips/b", "clips/c"];
        assert_eq!(
            sorted(
                store
                    .list_older_than("clips/", Duration::ZERO, 100)
                    .await
                    .unwrap()
            ),
            clips
        );
        // Just written: none is a day old.
        let day = Duration::from_secs(86_400);
        assert!(store
            .list_older_than("clips/", day, 100)
            .await
            .unwrap()
            .is_empty());
        // A string prefix, with or without the slash.
        assert_eq!(
            sorted(
                store
                    .list_older_than("clips", Duration::ZERO, 100)
                    .await
                    .unwrap()
            ),
            ["clips/a", "clips/b", "clips/c", "clipsy/d"]
        );
        assert_eq!(
            store
                .list_older_than("other/", Duration::ZERO, 100)
                .await
                .unwrap(),
            ["other/e"]
        );
        assert!(store
            .list_older_than("nothing/", Duration::ZERO, 100)
            .await
            .unwrap()
            .is_empty());

        // The limit, within a page and across pages (a page of 2 keys forces continuation).
        for (limit, page) in [
            (1, LIST_PAGE),
            (2, LIST_PAGE),
            (2, 2),
            (3, 2),
            (100, 2),
            (100, 1),
        ] {
            let keys = store
                .list_older_than_paged("clips/", Duration::ZERO, limit, page)
                .await
                .unwrap();
            assert_eq!(keys.len(), limit.min(3), "limit {limit}, page {page}");
            assert!(keys.iter().all(|k| clips.contains(&k.as_str())), "{keys:?}");
        }
        assert!(store
            .list_older_than("clips/", Duration::ZERO, 0)
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn s3_listing_skips_objects_the_service_would_not_write_and_refuses_odd_prefixes() {
        let store = fresh_store().await;
        put_x(&store, "clips/ok").await;
        // Written behind the adapter's back: a key `validate_key` refuses.
        store
            .client
            .put_object(
                &store.bucket,
                "clips/odd name",
                SegmentedBytes::from(Bytes::from_static(b"x")),
            )
            .unwrap()
            .build()
            .send()
            .await
            .unwrap();
        assert_eq!(
            store
                .list_older_than("clips/", Duration::ZERO, 100)
                .await
                .unwrap(),
            ["clips/ok"]
        );
        for prefix in ["", "/", "../", "clips//", ".tmp/", "clips/a b"] {
            assert!(
                matches!(
                    store.list_older_than(prefix, Duration::ZERO, 10).await,
                    Err(BlobError::InvalidKey)
                ),
                "{prefix:?}"
            );
        }
    }

    async fn lifecycle_rules(store: &S3BlobStore) -> Vec<LifecycleRule> {
        store
            .client
            .get_bucket_lifecycle(&store.bucket)
            .unwrap()
            .build()
            .send()
            .await
            .unwrap()
            .config()
            .unwrap()
            .rules
    }

    fn reconnect(store: &S3BlobStore) -> impl std::future::Future<Output = S3BlobStore> {
        let settings = S3Settings {
            endpoint: endpoint(),
            bucket: store.bucket.as_str().to_owned(),
            region: "us-east-1".into(),
            access_key: "test".into(),
            secret_key: SecretString::from("test"),
        };
        async move { S3BlobStore::connect(settings).await.unwrap() }
    }

    #[tokio::test]
    async fn an_s3_download_serves_what_a_read_does() {
        let store = fresh_store().await;
        crate::blobs::testing::download_scenario(&store).await;
    }

    #[tokio::test]
    async fn s3_partial_blobs_append_keep_what_arrived_finish_and_discard() {
        let store = fresh_store().await;
        crate::blobs::testing::partial_blob_scenario(&store).await;
        // No multipart upload is left open, and no tail object.
        if let Some(open) = open_uploads(&store).await {
            assert!(open.is_empty(), "multipart uploads left open: {open:?}");
        }
        let tails = store
            .list_older_than("partial/", Duration::ZERO, 100)
            .await
            .unwrap();
        assert!(tails.is_empty(), "tails left: {tails:?}");

        // A tail no upload will ever commit (its process died) is swept once old enough.
        let state = store.begin("up9", "clips/orphan").await.unwrap();
        let kept = store
            .append(
                "up9",
                "clips/orphan",
                &state,
                0,
                body(vec![Ok(Bytes::from(vec![7u8; 1000]))]),
                false,
            )
            .await
            .unwrap();
        assert_eq!(
            store
                .sweep_orphans(Duration::from_secs(3600))
                .await
                .unwrap(),
            0
        );
        assert_eq!(store.sweep_orphans(Duration::ZERO).await.unwrap(), 1);
        store
            .discard("up9", "clips/orphan", &kept.state)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn s3_connect_installs_the_abort_incomplete_uploads_rule() {
        let store = fresh_store().await;
        let rules = lifecycle_rules(&store).await;
        assert_eq!(rules, [abort_incomplete_uploads_rule()]);
        assert_eq!(rules[0].id, "voicebin-abort-incomplete-multipart");
        assert!(rules[0].status);
        assert_eq!(
            rules[0].abort_incomplete_multipart_upload_days_after_initiation,
            Some(1)
        );
        // Connecting again leaves it as it is.
        reconnect(&store).await;
        assert_eq!(
            lifecycle_rules(&store).await,
            [abort_incomplete_uploads_rule()]
        );
    }

    #[tokio::test]
    async fn s3_connect_keeps_a_lifecycle_configuration_of_the_operators() {
        let store = fresh_store().await;
        let theirs = LifecycleRule {
            id: "operator-expire-logs".into(),
            status: true,
            filter: Filter {
                prefix: Some("logs/".into()),
                ..Filter::default()
            },
            expiration_days: Some(30),
            ..LifecycleRule::default()
        };
        store
            .client
            .put_bucket_lifecycle(&store.bucket)
            .unwrap()
            .life_cycle_config(LifecycleConfig {
                rules: vec![theirs.clone()],
            })
            .build()
            .send()
            .await
            .unwrap();
        reconnect(&store).await;
        assert_eq!(lifecycle_rules(&store).await, [theirs]);
    }

    #[tokio::test]
    async fn s3_ping_answers_and_connect_reuses_an_existing_bucket() {
        let store = fresh_store().await;
        store.ping().await.unwrap();
        let again = S3BlobStore::connect(S3Settings {
            endpoint: endpoint(),
            bucket: store.bucket.as_str().to_owned(),
            region: "us-east-1".into(),
            access_key: "test".into(),
            secret_key: SecretString::from("test"),
        })
        .await
        .unwrap();
        again.ping().await.unwrap();
        let debug = format!("{again:?}");
        assert!(!debug.contains("secret_key"), "{debug}");
    }
}
