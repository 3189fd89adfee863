//! Per-account quotas over the read side (migration 0017, ADR 0022): usage read from
//! `clip_views` (the live clips' originals: not deleted, not removed), operators' overrides
//! (`quota_overrides`), and the room held by uploads in progress (`quota_reservations`).
//!
//! Usage is never stored, so it follows every change of a clip's state (deletion, removal, a
//! rebuild) without bookkeeping of its own. What makes the check sound under concurrency is
//! [`QuotaStore::reserve`]: under a per-account lock (PostgreSQL: a transaction-scoped
//! advisory lock; SQLite: the write lock, taken at `BEGIN IMMEDIATE`) it adds the stored
//! clips and the live reservations, decides, and records the new reservation, so two uploads
//! that each fit but together do not can never both be let through, on any replica.

use async_trait::async_trait;
use sqlx::{PgPool, Row, SqlitePool};
use voicebin_domain::{Limits, Moderation, Resource, Usage};

use crate::sql::{PostgresStore, SqliteStore};
use crate::store::StoreError;

/// An operator's overrides of one account's limits: `None` follows the default,
/// `Some(None)` is no limit, `Some(Some(n))` is `n`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Overrides {
    /// The bytes limit.
    pub bytes: Option<Option<u64>>,
    /// The clips limit.
    pub clips: Option<Option<u64>>,
}

impl Overrides {
    /// The limits in force: each override, or else the default.
    pub fn over(&self, defaults: Limits) -> Limits {
        Limits {
            bytes: self.bytes.unwrap_or(defaults.bytes),
            clips: self.clips.unwrap_or(defaults.clips),
        }
    }

    /// Whether nothing is overridden.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_none() && self.clips.is_none()
    }
}

/// One upload asking for room ([`QuotaStore::reserve`]).
#[derive(Debug, Clone)]
pub struct ReserveRequest<'a> {
    /// Names the reservation (random, unique).
    pub ticket: &'a str,
    /// The uploading account.
    pub account: &'a str,
    /// The operator's default limits.
    pub defaults: Limits,
    /// Bytes wanted: the declared length, or the most the upload could be.
    pub want: u64,
    /// Fewer bytes than this are a refusal (the declared length; 1 when unknown).
    pub min: u64,
    /// Now, in Unix seconds.
    pub now: i64,
    /// When the reservation lapses if never given back, in Unix seconds.
    pub expires_at: i64,
}

/// The answer of [`QuotaStore::reserve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserved {
    /// Room for one more clip of at most `bytes` bytes.
    Granted {
        /// The bytes the upload may take (at least the request's `min`).
        bytes: u64,
        /// Whether a reservation was recorded (none is needed when nothing is limited), to
        /// give back with [`QuotaStore::release`].
        held: bool,
        /// The account's stored clips when it was granted.
        usage: Usage,
        /// Its limits.
        limits: Limits,
    },
    /// No room: one more clip, or `min` more bytes, would pass a limit.
    Refused {
        /// The account's stored clips.
        usage: Usage,
        /// Room held by its uploads in progress.
        in_flight: Usage,
        /// Its limits.
        limits: Limits,
    },
}

/// Quotas, kept in the database shared by every replica.
#[async_trait]
pub trait QuotaStore: Send + Sync {
    /// What `account`'s live clips take.
    async fn usage(&self, account: &str) -> Result<Usage, StoreError>;
    /// `account`'s overrides of the default limits.
    async fn overrides(&self, account: &str) -> Result<Overrides, StoreError>;
    /// Overrides one limit of `account` (`None`: no limit), at `now` (Unix seconds).
    async fn set_override(
        &self,
        account: &str,
        resource: Resource,
        max: Option<u64>,
        now: i64,
    ) -> Result<(), StoreError>;
    /// Drops every override of `account` (its limits are the defaults again); returns how
    /// many there were.
    async fn clear_overrides(&self, account: &str) -> Result<u64, StoreError>;
    /// Holds room for one more clip of at least `min` and at most `want` bytes, if the
    /// account's stored clips and its other uploads in progress leave it. Atomic across
    /// replicas.
    async fn reserve(&self, request: &ReserveRequest<'_>) -> Result<Reserved, StoreError>;
    /// Gives a reservation back (the upload was recorded, or refused); giving back one that
    /// is gone succeeds.
    async fn release(&self, ticket: &str) -> Result<(), StoreError>;
    /// Forgets the reservations that lapsed by `now` (their upload's process died); returns
    /// how many.
    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError>;
}

/// What an account's live clips take. One place says which clips are live; clip states
/// added later (expiry) that stop a clip counting belong in this condition.
/// A clip stops counting at its expiry instant, as it stops being served, not only once the
/// sweeper records `Expired`.
const USAGE_SQL: &str = "SELECT COUNT(*), CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) \
    FROM clip_views WHERE owner = $1 AND deleted_at IS NULL AND expired_at IS NULL \
    AND (expires_at IS NULL OR expires_at > $3) AND moderation_state <> $2";

const IN_FLIGHT_SQL: &str = "SELECT COUNT(*), CAST(COALESCE(SUM(bytes), 0) AS BIGINT) \
    FROM quota_reservations WHERE account = $1 AND expires_at > $2";

fn usage_of((clips, bytes): (i64, i64)) -> Usage {
    Usage {
        bytes: u64::try_from(bytes).unwrap_or(0),
        clips: u64::try_from(clips).unwrap_or(0),
    }
}

fn to_db(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The decision of [`QuotaStore::reserve`], from what is stored and held.
fn decide(
    request: &ReserveRequest<'_>,
    usage: Usage,
    in_flight: Usage,
    limits: Limits,
) -> Reserved {
    let refused = Reserved::Refused {
        usage,
        in_flight,
        limits,
    };
    if let Some(max) = limits.clips {
        if usage.clips.saturating_add(in_flight.clips) >= max {
            return refused;
        }
    }
    let room = limits
        .bytes
        .map(|max| max.saturating_sub(usage.bytes.saturating_add(in_flight.bytes)));
    let bytes = room.map_or(request.want, |room| room.min(request.want));
    if bytes < request.min {
        return refused;
    }
    Reserved::Granted {
        bytes,
        held: false,
        usage,
        limits,
    }
}

macro_rules! quota_store {
    ($store:ident, $db:ty, $begin:literal, $lock:literal) => {
        impl $store {
            async fn usage_in<'e, E>(executor: E, account: &str) -> Result<Usage, StoreError>
            where
                E: sqlx::Executor<'e, Database = $db>,
            {
                let row: (i64, i64) = sqlx::query_as(USAGE_SQL)
                    .bind(account)
                    .bind(Moderation::Removed.as_str())
                    .bind(chrono::Utc::now().timestamp_micros())
                    .fetch_one(executor)
                    .await?;
                Ok(usage_of(row))
            }

            async fn overrides_in<'e, E>(
                executor: E,
                account: &str,
            ) -> Result<Overrides, StoreError>
            where
                E: sqlx::Executor<'e, Database = $db>,
            {
                let rows = sqlx::query(
                    "SELECT resource, max_value FROM quota_overrides WHERE account = $1",
                )
                .bind(account)
                .fetch_all(executor)
                .await?;
                let mut overrides = Overrides::default();
                for row in rows {
                    let resource: String = row.try_get(0)?;
                    let max: Option<i64> = row.try_get(1)?;
                    let max = max.map(|m| u64::try_from(m).unwrap_or(0));
                    match resource
                        .parse::<Resource>()
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?
                    {
                        Resource::Bytes => overrides.bytes = Some(max),
                        Resource::Clips => overrides.clips = Some(max),
                    }
                }
                Ok(overrides)
            }
        }

        #[async_trait]
        impl QuotaStore for $store {
            async fn usage(&self, account: &str) -> Result<Usage, StoreError> {
                Self::usage_in(self.pool(), account).await
            }

            async fn overrides(&self, account: &str) -> Result<Overrides, StoreError> {
                Self::overrides_in(self.pool(), account).await
            }

            async fn set_override(
                &self,
                account: &str,
                resource: Resource,
                max: Option<u64>,
                now: i64,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO quota_overrides (account, resource, max_value, updated_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (account, resource) DO UPDATE SET \
                     max_value = excluded.max_value, updated_at = excluded.updated_at",
                )
                .bind(account)
                .bind(resource.as_str())
                .bind(max.map(to_db))
                .bind(now)
                .execute(self.pool())
                .await?;
                Ok(())
            }

            async fn clear_overrides(&self, account: &str) -> Result<u64, StoreError> {
                Ok(
                    sqlx::query("DELETE FROM quota_overrides WHERE account = $1")
                        .bind(account)
                        .execute(self.pool())
                        .await?
                        .rows_affected(),
                )
            }

            async fn reserve(&self, request: &ReserveRequest<'_>) -> Result<Reserved, StoreError> {
                // Nothing limited, nothing to hold: no lock taken (most deployments).
                let limits = Self::overrides_in(self.pool(), request.account)
                    .await?
                    .over(request.defaults);
                if limits.is_unlimited() {
                    return Ok(Reserved::Granted {
                        bytes: request.want,
                        held: false,
                        usage: Self::usage_in(self.pool(), request.account).await?,
                        limits,
                    });
                }
                let mut tx = self.pool().begin_with($begin).await?;
                // One decision per account at a time: what is read below stays true until
                // the reservation is written and committed.
                sqlx::query($lock)
                    .bind(request.account)
                    .execute(&mut *tx)
                    .await?;
                // Read again under the lock: an operator may have changed them meanwhile.
                let limits = Self::overrides_in(&mut *tx, request.account)
                    .await?
                    .over(request.defaults);
                // Reservations first, then the clips: an upload writes its clip's row before it
                // gives its reservation back, so under READ COMMITTED (each statement sees the
                // database anew) a reservation gone by the first read has its clip in the
                // second. The other order could miss an upload that finished in between.
                let in_flight: (i64, i64) = sqlx::query_as(IN_FLIGHT_SQL)
                    .bind(request.account)
                    .bind(request.now)
                    .fetch_one(&mut *tx)
                    .await?;
                let usage = Self::usage_in(&mut *tx, request.account).await?;
                let decision = decide(request, usage, usage_of(in_flight), limits);
                let Reserved::Granted { bytes, .. } = decision else {
                    return Ok(decision);
                };
                sqlx::query(
                    "INSERT INTO quota_reservations (ticket, account, bytes, expires_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(request.ticket)
                .bind(request.account)
                .bind(to_db(bytes))
                .bind(request.expires_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Reserved::Granted {
                    bytes,
                    held: true,
                    usage,
                    limits,
                })
            }

            async fn release(&self, ticket: &str) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM quota_reservations WHERE ticket = $1")
                    .bind(ticket)
                    .execute(self.pool())
                    .await?;
                Ok(())
            }

            async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
                Ok(
                    sqlx::query("DELETE FROM quota_reservations WHERE expires_at <= $1")
                        .bind(now)
                        .execute(self.pool())
                        .await?
                        .rows_affected(),
                )
            }
        }
    };
}

impl SqliteStore {
    fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

impl PostgresStore {
    fn pool(&self) -> &PgPool {
        &self.pool
    }
}

// The write lock, taken at once, excludes every other writer until commit; the bound
// account is unused.
quota_store!(SqliteStore, sqlx::Sqlite, "BEGIN IMMEDIATE", "SELECT $1");
// An advisory lock per account, released at commit or rollback.
quota_store!(
    PostgresStore,
    sqlx::Postgres,
    "BEGIN",
    "SELECT pg_advisory_xact_lock(hashtextextended('voicebin-quota:' || $1, 0))"
);

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(want: u64, min: u64) -> ReserveRequest<'static> {
        ReserveRequest {
            ticket: "t",
            account: "alice",
            defaults: Limits::UNLIMITED,
            want,
            min,
            now: 0,
            expires_at: 1,
        }
    }

    const USED: Usage = Usage {
        bytes: 600,
        clips: 2,
    };

    #[test]
    fn a_declared_length_fits_or_is_refused_whole() {
        let limits = Limits {
            bytes: Some(1000),
            clips: None,
        };
        assert!(matches!(
            decide(&ask(400, 400), USED, Usage::default(), limits),
            Reserved::Granted { bytes: 400, .. }
        ));
        assert!(matches!(
            decide(&ask(401, 401), USED, Usage::default(), limits),
            Reserved::Refused { .. }
        ));
    }

    #[test]
    fn an_unknown_length_gets_what_is_left_and_uploads_in_progress_hold_room() {
        let limits = Limits {
            bytes: Some(1000),
            clips: Some(10),
        };
        let held = Usage {
            bytes: 300,
            clips: 1,
        };
        assert!(matches!(
            decide(&ask(5000, 1), USED, held, limits),
            Reserved::Granted { bytes: 100, .. }
        ));
        let full = Usage {
            bytes: 400,
            clips: 1,
        };
        assert!(matches!(
            decide(&ask(5000, 1), USED, full, limits),
            Reserved::Refused { .. }
        ));
    }

    #[test]
    fn the_clip_limit_counts_stored_clips_and_uploads_in_progress() {
        let limits = Limits {
            bytes: None,
            clips: Some(3),
        };
        assert!(matches!(
            decide(&ask(10, 10), USED, Usage::default(), limits),
            Reserved::Granted { .. }
        ));
        let one = Usage { bytes: 0, clips: 1 };
        assert!(matches!(
            decide(&ask(10, 10), USED, one, limits),
            Reserved::Refused { .. }
        ));
    }

    #[test]
    fn overrides_beat_defaults_one_limit_at_a_time() {
        let defaults = Limits {
            bytes: Some(100),
            clips: Some(5),
        };
        let overrides = Overrides {
            bytes: Some(None),
            clips: None,
        };
        assert_eq!(
            overrides.over(defaults),
            Limits {
                bytes: None,
                clips: Some(5)
            }
        );
    }
}
