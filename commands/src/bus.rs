//! Running commands through cqrs-es, over either event store, with conflict retries.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use cqrs_es::{AggregateError, CqrsFramework, EventStore, Query};
use rand::Rng;
use sqlx::{PgPool, SqlitePool};
use voicebin_domain::{Clip, ClipCommand, ClipError, ClipId};

/// Events between snapshots: loading a clip replays at most this many events.
const SNAPSHOT_EVERY: usize = 100;
/// Attempts before an optimistic-concurrency conflict is reported to the caller.
const MAX_ATTEMPTS: u32 = 10;

/// Who caused a command and in which request; stored as event metadata.
#[derive(Debug, Clone, Default)]
pub struct CommandMeta {
    /// `account:<id>` or a system component such as `system:scanner`.
    pub actor: String,
    /// The HTTP request id, when there is one.
    pub request_id: Option<String>,
}

impl CommandMeta {
    /// Metadata for a command a system component issues.
    pub fn system(component: &str) -> Self {
        CommandMeta {
            actor: format!("system:{component}"),
            request_id: None,
        }
    }

    fn into_map(self) -> HashMap<String, String> {
        let mut map = HashMap::from([("actor".to_owned(), self.actor)]);
        if let Some(id) = self.request_id {
            map.insert("request_id".to_owned(), id);
        }
        map
    }
}

/// Why a command did not run.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// A business rule said no.
    #[error(transparent)]
    Rule(#[from] ClipError),
    /// Concurrent writers kept winning the race; try again shortly.
    #[error("too many concurrent changes to this clip")]
    Conflict,
    /// The event store could not be reached.
    #[error("event store unavailable: {0}")]
    Unavailable(String),
    /// A stored event could not be read back: a bug or corrupted data.
    #[error("event store is inconsistent: {0}")]
    Internal(String),
}

impl CommandError {
    /// Whether the caller should retry later (maps to 503 + `Retry-After`).
    pub fn is_transient(&self) -> bool {
        matches!(self, CommandError::Conflict | CommandError::Unavailable(_))
    }
}

/// An object-safe handle on a cqrs-es framework for `Clip`, whatever its event store.
#[async_trait]
pub trait ClipStore: Send + Sync {
    /// Runs one command once (no retries).
    async fn execute_once(
        &self,
        id: &str,
        command: ClipCommand,
        metadata: HashMap<String, String>,
    ) -> Result<(), AggregateError<ClipError>>;

    /// Runs a command, retrying optimistic-concurrency conflicts with jittered backoff.
    async fn execute(
        &self,
        id: &ClipId,
        command: ClipCommand,
        meta: CommandMeta,
    ) -> Result<(), CommandError> {
        let metadata = meta.into_map();
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self
                .execute_once(id.as_str(), command.clone(), metadata.clone())
                .await
            {
                Ok(()) => return Ok(()),
                Err(AggregateError::AggregateConflict) if attempt < MAX_ATTEMPTS => {
                    let ceiling = 2u64.pow(attempt.min(7));
                    let wait = rand::thread_rng().gen_range(1..=ceiling);
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
                Err(AggregateError::AggregateConflict) => return Err(CommandError::Conflict),
                Err(AggregateError::UserError(rule)) => return Err(CommandError::Rule(rule)),
                Err(AggregateError::DatabaseConnectionError(e))
                | Err(AggregateError::UnexpectedError(e)) => {
                    return Err(CommandError::Unavailable(e.to_string()))
                }
                Err(AggregateError::DeserializationError(e)) => {
                    return Err(CommandError::Internal(e.to_string()))
                }
            }
        }
    }
}

#[async_trait]
impl<ES> ClipStore for CqrsFramework<Clip, ES>
where
    ES: EventStore<Clip> + 'static,
    ES::AC: Send,
{
    async fn execute_once(
        &self,
        id: &str,
        command: ClipCommand,
        metadata: HashMap<String, String>,
    ) -> Result<(), AggregateError<ClipError>> {
        self.execute_with_metadata(id, command, metadata).await
    }
}

/// The command side over the embedded SQLite event store.
pub fn sqlite_bus(pool: SqlitePool, queries: Vec<Box<dyn Query<Clip>>>) -> impl ClipStore {
    let repo = sqlite_es::SqliteEventRepository::new(pool);
    let store = cqrs_es::persist::PersistedEventStore::new_snapshot_store(repo, SNAPSHOT_EVERY);
    CqrsFramework::new(store, queries, ())
}

/// The command side over the PostgreSQL event store.
pub fn postgres_bus(pool: PgPool, queries: Vec<Box<dyn Query<Clip>>>) -> impl ClipStore {
    postgres_es::postgres_snapshot_cqrs(pool, queries, SNAPSHOT_EVERY, ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Fails with a conflict `failures` times, then succeeds.
    struct Contended {
        failures: u32,
        calls: AtomicU32,
    }

    #[async_trait]
    impl ClipStore for Contended {
        async fn execute_once(
            &self,
            _id: &str,
            _command: ClipCommand,
            _metadata: HashMap<String, String>,
        ) -> Result<(), AggregateError<ClipError>> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            if n < self.failures {
                Err(AggregateError::AggregateConflict)
            } else {
                Ok(())
            }
        }
    }

    fn command() -> ClipCommand {
        ClipCommand::RecordDownload {
            at: chrono::Utc::now(),
        }
    }

    fn id() -> ClipId {
        ClipId::from_random_bytes([0; 12])
    }

    #[tokio::test]
    async fn conflicts_are_retried_until_the_command_goes_through() {
        let store = Contended {
            failures: 3,
            calls: AtomicU32::new(0),
        };
        store
            .execute(&id(), command(), CommandMeta::system("test"))
            .await
            .unwrap();
        assert_eq!(store.calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn endless_conflicts_surface_as_a_transient_error_after_bounded_attempts() {
        let store = Contended {
            failures: u32::MAX,
            calls: AtomicU32::new(0),
        };
        let err = store
            .execute(&id(), command(), CommandMeta::system("test"))
            .await
            .unwrap_err();
        assert!(matches!(err, CommandError::Conflict));
        assert!(err.is_transient());
        assert_eq!(store.calls.load(Ordering::SeqCst), MAX_ATTEMPTS);
    }

    #[test]
    fn metadata_names_the_actor_and_request() {
        let map = CommandMeta {
            actor: "account:alice".into(),
            request_id: Some("req-1".into()),
        }
        .into_map();
        assert_eq!(map["actor"], "account:alice");
        assert_eq!(map["request_id"], "req-1");
    }
}
