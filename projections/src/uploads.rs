//! Resumable uploads in progress (`resumable_uploads`, migration 0018, ADR 0025): the one row
//! that says how far an upload has got, shared by every replica.
//!
//! Appends are serialised by a lease: a request [`UploadStore::claim`]s the row, appends,
//! [`UploadStore::commit`]s the new offset in a statement that only succeeds while it still
//! holds the lease, and [`UploadStore::release`]s it. A request that died holding it stops blocking the
//! upload at `lease_until`.

use async_trait::async_trait;
use sqlx::Row;

use crate::sql::{PostgresStore, SqliteStore};
use crate::store::StoreError;

/// One resumable upload, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRow {
    /// The upload's id (its URL's last segment).
    pub id: String,
    /// The account uploading.
    pub owner: String,
    /// The clip it becomes once complete.
    pub clip_id: String,
    /// The whole upload's length, once the client has said it.
    pub length: Option<u64>,
    /// Bytes kept so far.
    pub offset: u64,
    /// The clip's metadata, as the client gave it (JSON).
    pub meta: String,
    /// The first bytes, until the media type is decided (at most the sniffer's prefix).
    pub head: Vec<u8>,
    /// The running SHA-256 state of every byte kept.
    pub hash: Vec<u8>,
    /// The blob store's own state of the bytes kept.
    pub blob_state: String,
    /// The media type, once decided.
    pub content_type: Option<String>,
    /// When the clip was recorded (Unix seconds); `None` while the upload is open.
    pub completed_at: Option<i64>,
    /// Created (Unix seconds).
    pub created_at: i64,
    /// When the upload is removed if still open, and forgotten if complete (Unix seconds).
    pub expires_at: i64,
}

/// What claiming an upload found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The caller holds the lease; the row as it was.
    Claimed(Box<UploadRow>),
    /// Another request holds the lease.
    Busy,
    /// No such upload (or it expired).
    Missing,
}

/// A committed append: what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress<'a> {
    /// The new offset.
    pub offset: u64,
    /// The length, when this append declared it.
    pub length: Option<u64>,
    /// The first bytes, as now known.
    pub head: &'a [u8],
    /// The new hash state.
    pub hash: &'a [u8],
    /// The blob store's new state.
    pub blob_state: &'a str,
    /// The media type, once decided.
    pub content_type: Option<&'a str>,
}

/// The store of resumable uploads.
#[async_trait]
pub trait UploadStore: Send + Sync {
    /// Records a new upload unless its owner already has `max_open` open, unexpired uploads
    /// (`false`, nothing recorded). Atomic across replicas: concurrent creations cannot pass
    /// the limit together.
    async fn create_upload(&self, row: &UploadRow, max_open: u64) -> Result<bool, StoreError>;
    /// One upload, unless it expired (`expires_at <= now`).
    async fn upload(&self, id: &str, now: i64) -> Result<Option<UploadRow>, StoreError>;
    /// Takes the lease on an open, unexpired upload until `until`, unless another live one
    /// holds it. Atomic across replicas.
    async fn claim(&self, id: &str, lease: &str, until: i64, now: i64)
        -> Result<Claim, StoreError>;
    /// Extends a lease still held; `false` when it is not.
    async fn renew(&self, id: &str, lease: &str, until: i64) -> Result<bool, StoreError>;
    /// Records an append (the lease stays held); `false` (nothing changed) when `lease` no
    /// longer holds the upload.
    async fn commit(
        &self,
        id: &str,
        lease: &str,
        progress: &Progress<'_>,
    ) -> Result<bool, StoreError>;
    /// Marks the upload complete at `at` (the clip is recorded), keeping the row until
    /// `expires_at`, and releases the lease.
    async fn complete(
        &self,
        id: &str,
        lease: &str,
        at: i64,
        expires_at: i64,
    ) -> Result<bool, StoreError>;
    /// Releases a lease without changing anything.
    async fn release(&self, id: &str, lease: &str) -> Result<(), StoreError>;
    /// Removes the upload; `false` when there was none.
    async fn remove_upload(&self, id: &str) -> Result<bool, StoreError>;
    /// Up to `limit` uploads whose `expires_at` is at or before `now` and that no request is
    /// appending to, oldest first.
    async fn expired_uploads(&self, now: i64, limit: u32) -> Result<Vec<UploadRow>, StoreError>;
}

const COLUMNS: &str = "id, owner, clip_id, length, upload_offset, meta, head, hash, blob_state, \
    content_type, completed_at, created_at, expires_at";

fn to_db(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn from_db(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

macro_rules! upload_store {
    ($store:ty, $db:ty, $begin:literal, $lock:literal) => {
        impl $store {
            fn upload_row(row: &<$db as sqlx::Database>::Row) -> Result<UploadRow, StoreError> {
                Ok(UploadRow {
                    id: row.try_get("id")?,
                    owner: row.try_get("owner")?,
                    clip_id: row.try_get("clip_id")?,
                    length: row.try_get::<Option<i64>, _>("length")?.map(from_db),
                    offset: from_db(row.try_get("upload_offset")?),
                    meta: row.try_get("meta")?,
                    head: row.try_get("head")?,
                    hash: row.try_get("hash")?,
                    blob_state: row.try_get("blob_state")?,
                    content_type: row.try_get("content_type")?,
                    completed_at: row.try_get("completed_at")?,
                    created_at: row.try_get("created_at")?,
                    expires_at: row.try_get("expires_at")?,
                })
            }
        }

        #[async_trait]
        impl UploadStore for $store {
            async fn create_upload(
                &self,
                row: &UploadRow,
                max_open: u64,
            ) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin_with($begin).await?;
                // One decision per account at a time: the count stays true until the insert
                // is committed.
                sqlx::query($lock).bind(&row.owner).execute(&mut *tx).await?;
                let open: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM resumable_uploads \
                     WHERE owner = $1 AND completed_at IS NULL AND expires_at > $2",
                )
                .bind(&row.owner)
                .bind(row.created_at)
                .fetch_one(&mut *tx)
                .await?;
                if from_db(open) >= max_open {
                    return Ok(false);
                }
                sqlx::query(
                    "INSERT INTO resumable_uploads (id, owner, clip_id, length, upload_offset, \
                     meta, head, hash, blob_state, content_type, completed_at, created_at, \
                     expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(&row.id)
                .bind(&row.owner)
                .bind(&row.clip_id)
                .bind(row.length.map(to_db))
                .bind(to_db(row.offset))
                .bind(&row.meta)
                .bind(&row.head)
                .bind(&row.hash)
                .bind(&row.blob_state)
                .bind(&row.content_type)
                .bind(row.completed_at)
                .bind(row.created_at)
                .bind(row.expires_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn upload(&self, id: &str, now: i64) -> Result<Option<UploadRow>, StoreError> {
                let row = sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM resumable_uploads WHERE id = $1 AND expires_at > $2"
                ))
                .bind(id)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(Self::upload_row).transpose()
            }

            async fn claim(
                &self,
                id: &str,
                lease: &str,
                until: i64,
                now: i64,
            ) -> Result<Claim, StoreError> {
                let row = sqlx::query(&format!(
                    "UPDATE resumable_uploads SET lease = $2, lease_until = $3 \
                     WHERE id = $1 AND completed_at IS NULL AND expires_at > $4 \
                     AND (lease IS NULL OR lease_until <= $4) RETURNING {COLUMNS}"
                ))
                .bind(id)
                .bind(lease)
                .bind(until)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
                if let Some(row) = row {
                    return Ok(Claim::Claimed(Box::new(Self::upload_row(&row)?)));
                }
                Ok(match self.upload(id, now).await? {
                    Some(row) if row.completed_at.is_none() => Claim::Busy,
                    _ => Claim::Missing,
                })
            }

            async fn renew(&self, id: &str, lease: &str, until: i64) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE resumable_uploads SET lease_until = $3 WHERE id = $1 AND lease = $2",
                )
                .bind(id)
                .bind(lease)
                .bind(until)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn commit(
                &self,
                id: &str,
                lease: &str,
                progress: &Progress<'_>,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE resumable_uploads SET upload_offset = $3, \
                     length = COALESCE($4, length), head = $5, hash = $6, blob_state = $7, \
                     content_type = COALESCE($8, content_type) WHERE id = $1 AND lease = $2",
                )
                .bind(id)
                .bind(lease)
                .bind(to_db(progress.offset))
                .bind(progress.length.map(to_db))
                .bind(progress.head)
                .bind(progress.hash)
                .bind(progress.blob_state)
                .bind(progress.content_type)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn complete(
                &self,
                id: &str,
                lease: &str,
                at: i64,
                expires_at: i64,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE resumable_uploads SET completed_at = $3, expires_at = $4, \
                     head = $5, lease = NULL, lease_until = NULL WHERE id = $1 AND lease = $2",
                )
                .bind(id)
                .bind(lease)
                .bind(at)
                .bind(expires_at)
                .bind(Vec::<u8>::new())
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn release(&self, id: &str, lease: &str) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE resumable_uploads SET lease = NULL, lease_until = NULL \
                     WHERE id = $1 AND lease = $2",
                )
                .bind(id)
                .bind(lease)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn remove_upload(&self, id: &str) -> Result<bool, StoreError> {
                let done = sqlx::query("DELETE FROM resumable_uploads WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn expired_uploads(
                &self,
                now: i64,
                limit: u32,
            ) -> Result<Vec<UploadRow>, StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM resumable_uploads WHERE expires_at <= $1 \
                     AND (lease IS NULL OR lease_until <= $1) ORDER BY expires_at LIMIT $2"
                ))
                .bind(now)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(Self::upload_row).collect()
            }
        }
    };
}

upload_store!(SqliteStore, sqlx::Sqlite, "BEGIN IMMEDIATE", "SELECT $1");
upload_store!(
    PostgresStore,
    sqlx::Postgres,
    "BEGIN",
    "SELECT pg_advisory_xact_lock(hashtextextended('voicebin-uploads:' || $1, 0))"
);
