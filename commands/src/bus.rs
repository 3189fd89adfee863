//! Running commands through cqrs-es, over either event store, with conflict retries.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use cqrs_es::persist::{
    PersistedEventRepository, PersistedEventStore, PersistenceError, ReplayStream, SerializedEvent,
    SerializedSnapshot,
};
use cqrs_es::{Aggregate, AggregateError, CqrsFramework, EventEnvelope, EventStore, Query};
use postgres_es::PostgresEventRepository;
use rand::Rng;
use serde_json::Value;
use sqlite_es::SqliteEventRepository;
use sqlx::{PgPool, SqlitePool};
use voicebin_domain::{Clip, ClipCommand, ClipError, ClipId};

/// Events between snapshots: loading a clip replays at most this many events.
pub const SNAPSHOT_EVERY: usize = 100;
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
#[derive(Debug, Clone, thiserror::Error)]
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

/// The clip event store over SQLite: events plus a snapshot every [`SNAPSHOT_EVERY`] events.
pub type SqliteClipEvents = PersistedEventStore<CompleteSnapshots<SqliteEventRepository>, Clip>;
/// The clip event store over PostgreSQL: events plus a snapshot every [`SNAPSHOT_EVERY`] events.
pub type PostgresClipEvents = PersistedEventStore<CompleteSnapshots<PostgresEventRepository>, Clip>;

/// The event store the SQLite command side loads clips from and commits to.
pub fn sqlite_event_store(pool: SqlitePool) -> SqliteClipEvents {
    let repo = CompleteSnapshots::new(SqliteEventRepository::new(pool));
    PersistedEventStore::new_snapshot_store(repo, SNAPSHOT_EVERY)
}

/// The event store the PostgreSQL command side loads clips from and commits to.
pub fn postgres_event_store(pool: PgPool) -> PostgresClipEvents {
    let repo = CompleteSnapshots::new(PostgresEventRepository::new(pool));
    PersistedEventStore::new_snapshot_store(repo, SNAPSHOT_EVERY)
}

/// The command side over the embedded SQLite event store.
pub fn sqlite_bus(pool: SqlitePool, queries: Vec<Box<dyn Query<Clip>>>) -> impl ClipStore {
    CqrsFramework::new(sqlite_event_store(pool), queries, ())
}

/// The command side over the PostgreSQL event store.
pub fn postgres_bus(pool: PgPool, queries: Vec<Box<dyn Query<Clip>>>) -> impl ClipStore {
    CqrsFramework::new(postgres_event_store(pool), queries, ())
}

/// An event repository whose snapshots hold exactly the state after the events they claim.
///
/// cqrs-es 0.5 builds the snapshot it writes from the command's aggregate, to which the
/// `EventSink` has already applied the new events, and applies (some of) them again: every
/// snapshot counted the `Downloaded` of its commit twice, so limits were reached early. And it
/// stores the snapshot as of the commit's last event even when it applied only the events up to
/// the last multiple of the snapshot size. This wrapper instead rebuilds the snapshot from the
/// stored one, the events stored since, and the events being committed, and writes it in the
/// same transaction as the events (a snapshot is written once every [`SNAPSHOT_EVERY`] events).
pub struct CompleteSnapshots<R> {
    inner: R,
}

impl<R> CompleteSnapshots<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        CompleteSnapshots { inner }
    }
}

impl<R: PersistedEventRepository> PersistedEventRepository for CompleteSnapshots<R> {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.inner.get_events::<A>(aggregate_id).await
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.inner
            .get_last_events::<A>(aggregate_id, last_sequence)
            .await
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        self.inner.get_snapshot::<A>(aggregate_id).await
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        let snapshot_update = match snapshot_update {
            Some((id, _double_applied, number)) => {
                let state = self.rebuilt_state::<A>(&id, events).await?;
                Some((id, state, number))
            }
            None => None,
        };
        self.inner.persist::<A>(events, snapshot_update).await
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        self.inner.stream_events::<A>(aggregate_id).await
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        self.inner.stream_all_events::<A>().await
    }
}

impl<R: PersistedEventRepository> CompleteSnapshots<R> {
    /// The aggregate after the stored snapshot, the events stored since and `events`.
    async fn rebuilt_state<A: Aggregate>(
        &self,
        id: &str,
        events: &[SerializedEvent],
    ) -> Result<Value, PersistenceError> {
        let (mut aggregate, since) = match self.inner.get_snapshot::<A>(id).await? {
            Some(snapshot) => match serde_json::from_value::<A>(snapshot.aggregate) {
                Ok(aggregate) => (aggregate, snapshot.current_sequence),
                Err(_) => (A::default(), 0),
            },
            None => (A::default(), 0),
        };
        let first_new = events.first().map_or(usize::MAX, |e| e.sequence);
        let stored = self.inner.get_last_events::<A>(id, since).await?;
        for event in stored.into_iter().filter(|e| e.sequence < first_new) {
            let envelope: EventEnvelope<A> = event.try_into()?;
            aggregate.apply(envelope.payload);
        }
        for event in events {
            let envelope: EventEnvelope<A> = event.clone().try_into()?;
            aggregate.apply(envelope.payload);
        }
        Ok(serde_json::to_value(aggregate)?)
    }
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
