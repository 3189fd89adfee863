//! Loading a clip with 100,000 events, with snapshots (the store the app uses) and without
//! (replay from the first event), on embedded SQLite and on PostgreSQL.
//!
//! Run with `bench/clip-load.sh` (release build). What it does, per backend:
//!
//! 1. A fresh database (SQLite: a temporary file opened like `voicebin serve` opens it;
//!    PostgreSQL: `vbbench_<random>` created on `VOICEBIN_BENCH_DATABASE_URL`, dropped at the end)
//!    with the app's migrations.
//! 2. The history, built through the app's event store (`voicebin_commands::*_event_store`, the
//!    one `sqlite_bus`/`postgres_bus` run commands over): `UploadClip` (limit 1,000,000,000) and
//!    `CompleteScan` as commands, then the first `--by-command` downloads as one `RecordDownload`
//!    command each, then the rest in batches of `--batch` `Downloaded` events committed with
//!    `EventStore::commit` (the call `CqrsFramework` makes after a command): the same rows, the
//!    same serialized form and the same snapshot rule as a command, without running the rule
//!    check once per event.
//! 3. Loads: `load_aggregate` on the snapshot store (`--loads` times) and on a replay-only store
//!    (`PersistedEventStore::new_event_store`, `--replays` times); the two states must be equal.
//! 4. One command: `RecordDownload` through `CqrsFramework` over each store (`--commands` times;
//!    each adds an event). The app's projector is not attached: this times the command side only.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::{Duration, Instant};

use chrono::Utc;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{AggregateContext, CqrsFramework, EventStore};
use postgres_es::PostgresEventRepository;
use sqlite_es::SqliteEventRepository;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, PgPool, SqlitePool};
use voicebin_domain::{
    AccountId, AudioFacts, Clip, ClipCommand, ClipEvent, ClipId, ContentType, DownloadLimit,
    Filename, ScanOutcome, ScanVerdict, Sha256Digest, Title,
};

type Error = Box<dyn std::error::Error + Send + Sync>;

struct Options {
    events: usize,
    by_command: usize,
    batch: usize,
    loads: usize,
    replays: usize,
    commands: usize,
    sqlite: bool,
    postgres: bool,
}

impl Options {
    fn parse() -> Result<Self, Error> {
        let mut o = Options {
            events: 100_000,
            by_command: 1_000,
            batch: 1_000,
            loads: 200,
            replays: 20,
            commands: 50,
            sqlite: true,
            postgres: true,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = || -> Result<usize, Error> {
                Ok(args.next().ok_or(format!("{arg} needs a value"))?.parse()?)
            };
            match arg.as_str() {
                "--events" => o.events = value()?,
                "--by-command" => o.by_command = value()?,
                "--batch" => o.batch = value()?,
                "--loads" => o.loads = value()?,
                "--replays" => o.replays = value()?,
                "--commands" => o.commands = value()?,
                "--sqlite-only" => o.postgres = false,
                "--postgres-only" => o.sqlite = false,
                // cargo bench passes --bench to harness = false targets.
                "--bench" => {}
                other => return Err(format!("unknown argument {other}").into()),
            }
        }
        if o.events < 2 + o.by_command || o.batch == 0 {
            return Err("--events must exceed --by-command + 2, --batch must be > 0".into());
        }
        Ok(o)
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let o = Options::parse()?;
    println!(
        "clip-load: {} events per clip ({} by RecordDownload command, rest in commits of {}), \
         {} snapshot loads, {} replay loads, {} commands per store, snapshot every {} events",
        o.events,
        o.by_command,
        o.batch,
        o.loads,
        o.replays,
        o.commands,
        voicebin_commands::SNAPSHOT_EVERY
    );
    let mut rows = Vec::new();
    if o.sqlite {
        let dir = tempfile::tempdir()?;
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(dir.path().join("voicebin.sqlite3"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        voicebin_migrations::SQLITE.run(&pool).await?;
        rows.push(run_sqlite(&o, pool.clone()).await?);
        pool.close().await;
    }
    if o.postgres {
        let admin = std::env::var("VOICEBIN_BENCH_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".to_owned());
        let name = format!("vbbench_{:016x}", rand::random::<u64>());
        let mut conn = sqlx::PgConnection::connect(&admin).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await?;
        let (base, _) = admin.rsplit_once('/').ok_or("database URL has no path")?;
        let result = async {
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .connect(&format!("{base}/{name}"))
                .await?;
            voicebin_migrations::POSTGRES.run(&pool).await?;
            let row = run_postgres(&o, pool.clone()).await;
            pool.close().await;
            row
        }
        .await;
        sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await?;
        rows.push(result?);
    }
    println!();
    println!(
        "| backend | events in stream | snapshot found | build history | load, snapshots (median / p95) \
         | load, replay (median / p95) | command, snapshots (median / p95) | command, replay (median / p95) |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for r in rows {
        println!("{r}");
    }
    Ok(())
}

async fn run_sqlite(o: &Options, pool: SqlitePool) -> Result<String, Error> {
    let snapshots = voicebin_commands::sqlite_event_store(pool.clone());
    let replay =
        PersistedEventStore::<_, Clip>::new_event_store(SqliteEventRepository::new(pool.clone()));
    let snapshot_cqrs = CqrsFramework::new(
        voicebin_commands::sqlite_event_store(pool.clone()),
        vec![],
        (),
    );
    let replay_cqrs = CqrsFramework::new(
        PersistedEventStore::<_, Clip>::new_event_store(SqliteEventRepository::new(pool.clone())),
        vec![],
        (),
    );
    let db = Db::Sqlite(pool);
    run(
        "SQLite (embedded)",
        o,
        &db,
        &snapshots,
        &replay,
        &snapshot_cqrs,
        &replay_cqrs,
    )
    .await
}

async fn run_postgres(o: &Options, pool: PgPool) -> Result<String, Error> {
    let snapshots = voicebin_commands::postgres_event_store(pool.clone());
    let replay =
        PersistedEventStore::<_, Clip>::new_event_store(PostgresEventRepository::new(pool.clone()));
    let snapshot_cqrs = CqrsFramework::new(
        voicebin_commands::postgres_event_store(pool.clone()),
        vec![],
        (),
    );
    let replay_cqrs = CqrsFramework::new(
        PersistedEventStore::<_, Clip>::new_event_store(PostgresEventRepository::new(pool.clone())),
        vec![],
        (),
    );
    let db = Db::Postgres(pool);
    run(
        "PostgreSQL",
        o,
        &db,
        &snapshots,
        &replay,
        &snapshot_cqrs,
        &replay_cqrs,
    )
    .await
}

enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Db {
    async fn stream_length(&self, id: &str) -> Result<i64, Error> {
        let sql = "SELECT COUNT(*) FROM events WHERE aggregate_type = 'Clip' AND aggregate_id = $1";
        Ok(match self {
            Db::Sqlite(p) => sqlx::query_scalar(sql).bind(id).fetch_one(p).await?,
            Db::Postgres(p) => sqlx::query_scalar(sql).bind(id).fetch_one(p).await?,
        })
    }

    /// `(last_sequence, current_snapshot)` of the clip's snapshot rows.
    async fn snapshots(&self, id: &str) -> Result<Vec<(i64, i64)>, Error> {
        let sql = "SELECT last_sequence, current_snapshot FROM snapshots \
                   WHERE aggregate_type = 'Clip' AND aggregate_id = $1";
        Ok(match self {
            Db::Sqlite(p) => sqlx::query_as(sql).bind(id).fetch_all(p).await?,
            Db::Postgres(p) => sqlx::query_as(sql).bind(id).fetch_all(p).await?,
        })
    }
}

fn metadata() -> HashMap<String, String> {
    HashMap::from([("actor".to_owned(), "system:downloads".to_owned())])
}

fn upload() -> Result<ClipCommand, Error> {
    Ok(ClipCommand::UploadClip {
        owner: AccountId::parse("alice")?,
        title: Title::parse("Hot clip")?,
        description: None,
        filename: Filename::parse("hot.ogg")?,
        content_type: ContentType::from_sniffed("audio/ogg"),
        size_bytes: 4_096,
        sha256: Sha256Digest::from_bytes([7; 32]),
        blob_key: "clips/hot".into(),
        download_limit: Some(DownloadLimit::new(DownloadLimit::MAX)?),
        expires_at: None,
        at: Utc::now(),
    })
}

fn scanned() -> ClipCommand {
    ClipCommand::CompleteScan {
        outcome: ScanOutcome {
            verdict: ScanVerdict::Clean,
            audio: Some(AudioFacts {
                container: "ogg".into(),
                codec: "opus".into(),
                duration_ms: 1_000,
                sample_rate: 48_000,
                channels: 1,
                peaks: Some(vec![128; 64]),
            }),
            detail: None,
            scanner: "audio-probe".into(),
        },
        retry: false,
        at: Utc::now(),
    }
}

async fn run<S, R>(
    backend: &str,
    o: &Options,
    db: &Db,
    snapshots: &S,
    replay: &R,
    snapshot_cqrs: &CqrsFramework<Clip, S>,
    replay_cqrs: &CqrsFramework<Clip, R>,
) -> Result<String, Error>
where
    S: EventStore<Clip>,
    R: EventStore<Clip>,
{
    let id = ClipId::from_random_bytes(rand::random())
        .as_str()
        .to_owned();
    eprintln!("[{backend}] building the history of clip {id}");
    let started = Instant::now();
    snapshot_cqrs
        .execute_with_metadata(&id, upload()?, metadata())
        .await?;
    snapshot_cqrs
        .execute_with_metadata(&id, scanned(), metadata())
        .await?;
    for _ in 0..o.by_command {
        let command = ClipCommand::RecordDownload { at: Utc::now() };
        snapshot_cqrs
            .execute_with_metadata(&id, command, metadata())
            .await?;
    }
    let by_command = started.elapsed();
    let mut written = 2 + o.by_command;
    while written < o.events {
        let n = o.batch.min(o.events - written);
        let context = snapshots.load_aggregate(&id).await?;
        let at = Utc::now();
        let events = vec![ClipEvent::Downloaded { at }; n];
        snapshots.commit(events, context, metadata()).await?;
        written += n;
    }
    let built = started.elapsed();
    let length = db.stream_length(&id).await?;
    let found = db.snapshots(&id).await?;
    eprintln!(
        "[{backend}] {length} events in {:.1} s ({} commands in {:.1} s, {:.2} ms each); \
         snapshot rows (last_sequence, number): {found:?}",
        built.as_secs_f64(),
        2 + o.by_command,
        by_command.as_secs_f64(),
        by_command.as_secs_f64() * 1e3 / (2 + o.by_command) as f64,
    );
    if length != o.events as i64 {
        return Err(format!("expected {} events, found {length}", o.events).into());
    }

    // Same state either way, or the timings mean nothing.
    let mut from_snapshot = snapshots.load_aggregate(&id).await?;
    let mut from_replay = replay.load_aggregate(&id).await?;
    if from_snapshot.aggregate() != from_replay.aggregate() {
        return Err("snapshot load and full replay disagree".into());
    }
    if from_snapshot.aggregate().download_count() != (o.events - 2) as u64 {
        return Err("unexpected download count".into());
    }

    let load_snap = time(o.loads, || async {
        snapshots.load_aggregate(&id).await?;
        Ok(())
    })
    .await?;
    eprintln!("[{backend}] snapshot loads: {}", summary(&load_snap));
    let load_replay = time(o.replays, || async {
        replay.load_aggregate(&id).await?;
        Ok(())
    })
    .await?;
    eprintln!("[{backend}] replay loads: {}", summary(&load_replay));
    let command_snap = time(o.commands, || async {
        let command = ClipCommand::RecordDownload { at: Utc::now() };
        snapshot_cqrs
            .execute_with_metadata(&id, command, metadata())
            .await?;
        Ok(())
    })
    .await?;
    eprintln!(
        "[{backend}] commands over snapshots: {}",
        summary(&command_snap)
    );
    let command_replay = time(o.commands.min(o.replays), || async {
        let command = ClipCommand::RecordDownload { at: Utc::now() };
        replay_cqrs
            .execute_with_metadata(&id, command, metadata())
            .await?;
        Ok(())
    })
    .await?;
    eprintln!(
        "[{backend}] commands over replay: {}",
        summary(&command_replay)
    );

    let snapshot = found
        .iter()
        .map(|(seq, n)| format!("#{n} at event {seq}"))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(format!(
        "| {backend} | {length} | {snapshot} | {:.1} s ({} commands, then commits of {}) | {} | {} | {} | {} |",
        built.as_secs_f64(),
        2 + o.by_command,
        o.batch,
        summary(&load_snap),
        summary(&load_replay),
        summary(&command_snap),
        summary(&command_replay),
    ))
}

async fn time<F, Fut>(n: usize, mut f: F) -> Result<Vec<Duration>, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), Error>>,
{
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        f().await?;
        samples.push(started.elapsed());
    }
    samples.sort();
    Ok(samples)
}

/// Median / p95 (nearest rank) of sorted samples.
fn summary(sorted: &[Duration]) -> String {
    if sorted.is_empty() {
        return "–".into();
    }
    let rank =
        |q: f64| sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
    format!("{} / {}", ms(rank(0.5)), ms(rank(0.95)))
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.0} ms")
    }
}
