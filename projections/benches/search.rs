//! Speech search over 100,000 clips with transcripts, on embedded SQLite and on PostgreSQL:
//! median and p95 of one page of the owner listing's `q` (`ReadStore::list`, what
//! `GET /api/v1/account/items?q=` runs: the full-text query, the rank, and the snippets and
//! the moment of each hit on the page).
//!
//! Run with `bench/search.sh` (release build). Per backend:
//!
//! 1. A fresh database (SQLite: a temporary file opened like `voicebin serve` opens it;
//!    PostgreSQL: `vbbench_<random>` on `VOICEBIN_BENCH_DATABASE_URL`, dropped at the end) with
//!    the app's migrations.
//! 2. `--clips` clips (default 100,000), all of one account (the worst case for a search
//!    scoped to its owner: nothing is filtered out before ranking), written through the
//!    store's own bulk path, the projection rebuild (`rebuild_begin`, `rebuild_write` in
//!    batches, `rebuild_swap`), which fills the views, the transcript segments and the search
//!    index. Text is drawn from a word list (`--words`, default Debian's wamerican,
//!    `/usr/share/dict/american-english`): 30,000 of its words, shuffled with a fixed seed,
//!    used with Zipf frequencies (the n-th word about 1/n as often as the first), as in
//!    speech. Each clip has a title of 2–5 words, one in two a description of 8–25 words, a
//!    filename (`memo_2023-…wav`, `<word>_<n>.m4a` or `recording-<n>.ogg`) and 4–10
//!    transcript segments of 8–20 words, 3–6 s each. The same seed gives the same data.
//! 3. Each query of the table below, 3 times to warm up and then `--runs` times (default 50),
//!    one page of 20; the p95 over all runs of the typical queries is the figure the target
//!    (< 50 ms) is about. The most frequent word of the list, which nearly every clip holds,
//!    is timed too, apart: a worst case, not a typical query.
//!
//! `--keep` leaves the PostgreSQL database in place (its name is printed) to look at plans.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::Connection;
use voicebin_domain::{Moderation, ScanState};
use voicebin_projections::{
    ClipView, ListQuery, PostgresStore, ReadStore, RebuildBatch, SearchQuery, SqliteStore,
    TranscriptSegment,
};

type Error = Box<dyn std::error::Error + Send + Sync>;

const OWNER: &str = "bench-owner";
const PAGE: u32 = 20;
const BATCH: usize = 2_000;

struct Options {
    clips: usize,
    runs: usize,
    words: PathBuf,
    sqlite: bool,
    postgres: bool,
    keep: bool,
}

impl Options {
    fn parse() -> Result<Self, Error> {
        let mut o = Options {
            clips: 100_000,
            runs: 50,
            words: PathBuf::from("/usr/share/dict/american-english"),
            sqlite: true,
            postgres: true,
            keep: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or(format!("{arg} needs a value"));
            match arg.as_str() {
                "--clips" => o.clips = value()?.parse()?,
                "--runs" => o.runs = value()?.parse()?,
                "--words" => o.words = PathBuf::from(value()?),
                "--sqlite-only" => o.postgres = false,
                "--postgres-only" => o.sqlite = false,
                // Leave the PostgreSQL database in place (to look at plans); its name is printed.
                "--keep" => o.keep = true,
                // cargo bench passes --bench to harness = false targets.
                "--bench" => {}
                other => return Err(format!("unknown argument {other}").into()),
            }
        }
        Ok(o)
    }
}

/// Words with Zipf frequencies.
struct Zipf {
    words: Vec<String>,
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(words: Vec<String>) -> Self {
        let mut total = 0.0;
        let cumulative = (0..words.len())
            .map(|rank| {
                total += 1.0 / (rank as f64 + 1.0);
                total
            })
            .collect();
        Zipf { words, cumulative }
    }

    fn word(&self, rng: &mut StdRng) -> &str {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let at = rng.gen::<f64>() * total;
        let i = self.cumulative.partition_point(|&c| c < at);
        &self.words[i.min(self.words.len() - 1)]
    }

    fn sentence(&self, rng: &mut StdRng, from: usize, to: usize) -> String {
        let n = rng.gen_range(from..=to);
        let mut out = String::new();
        for k in 0..n {
            let word = self.word(rng);
            if k == 0 {
                let mut chars = word.chars();
                if let Some(first) = chars.next() {
                    out.extend(first.to_uppercase());
                    out.push_str(chars.as_str());
                }
            } else {
                out.push_str(if rng.gen_ratio(1, 12) { ", " } else { " " });
                out.push_str(word);
            }
        }
        out.push('.');
        out
    }
}

fn vocabulary(path: &PathBuf) -> Result<Vec<String>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "{}: {e} (install Debian's wamerican, or pass --words)",
            path.display()
        )
    })?;
    let mut words: Vec<String> = text
        .lines()
        .filter(|w| w.len() >= 2 && w.chars().all(|c| c.is_ascii_lowercase()))
        .map(str::to_owned)
        .collect();
    words.sort();
    words.dedup();
    words.shuffle(&mut StdRng::seed_from_u64(14));
    words.truncate(30_000);
    if words.len() < 10_000 {
        return Err(format!("{}: only {} usable words", path.display(), words.len()).into());
    }
    Ok(words)
}

fn clip(i: usize, zipf: &Zipf, rng: &mut StdRng) -> (ClipView, Vec<TranscriptSegment>) {
    let created_at = 1_790_000_000_000_000 + i as i64 * 1_000_000;
    let (filename, content_type) = match i % 3 {
        0 => (
            format!(
                "memo_{}-{:02}-{:02}.wav",
                2020 + i % 6,
                1 + i % 12,
                1 + i % 28
            ),
            "audio/wav",
        ),
        1 => (format!("{}_{i}.m4a", zipf.word(rng)), "audio/mp4"),
        _ => (format!("recording-{i}.ogg"), "audio/ogg"),
    };
    let title = zipf.sentence(rng, 2, 5);
    let description = rng.gen_bool(0.5).then(|| zipf.sentence(rng, 8, 25));
    let mut at = 0u64;
    let transcript = (0..rng.gen_range(4..=10))
        .map(|_| {
            let length = rng.gen_range(3_000..=6_000);
            let segment = TranscriptSegment {
                start_ms: at,
                end_ms: at + length,
                text: zipf.sentence(rng, 8, 20),
            };
            at += length;
            segment
        })
        .collect();
    let view = ClipView {
        id: format!("B{i:015}"),
        owner: OWNER.into(),
        title: Some(title.trim_end_matches('.').to_owned()),
        description,
        filename,
        content_type: content_type.into(),
        size_bytes: 100_000,
        sha256: format!("{i:064x}"),
        blob_key: format!("clips/B{i:015}"),
        scan_state: ScanState::Clean,
        scan_detail: None,
        scanner: Some("audio-probe".into()),
        container: None,
        codec: None,
        duration_ms: Some(at as i64),
        sample_rate: Some(16_000),
        channels: Some(1),
        peaks: None,
        download_limit: None,
        download_count: 0,
        created_at,
        updated_at: created_at,
        scanned_at: Some(created_at),
        deleted_at: None,
        version: 2,
        moderation_state: Moderation::Visible,
        moderation_reason: None,
        moderated_at: None,
        rendition_state: None,
        rendition: None,
        transcript_state: None,
        transcript_source: None,
        transcript_detail: None,
        transcript_language: None,
        transcribed_at: None,
        expires_at: None,
        expired_at: None,
    };
    (view, transcript)
}

/// Writes the clips through the rebuild path; returns how long it took.
async fn load(store: &dyn ReadStore, o: &Options, zipf: &Zipf) -> Result<Duration, Error> {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(2026);
    store.rebuild_begin().await?;
    let mut batch = RebuildBatch::default();
    for i in 0..o.clips {
        let (view, transcript) = clip(i, zipf, &mut rng);
        batch.transcripts.push((view.id.clone(), transcript));
        batch.views.push(view);
        if batch.views.len() == BATCH {
            store.rebuild_write(&std::mem::take(&mut batch)).await?;
        }
    }
    store.rebuild_write(&batch).await?;
    store.rebuild_swap().await?;
    Ok(started.elapsed())
}

/// The queries: (what, q, typical).
fn queries(zipf: &Zipf, o: &Options) -> Vec<(String, String, bool)> {
    let w = &zipf.words;
    let long = |from: usize| {
        w[from..]
            .iter()
            .find(|w| w.len() >= 7)
            .cloned()
            .unwrap_or_default()
    };
    // A phrase that is said: two words in a row from a clip's transcript.
    let mut rng = StdRng::seed_from_u64(2026);
    let said = (0..=o.clips / 2)
        .map(|i| clip(i, zipf, &mut rng).1)
        .last()
        .unwrap_or_default();
    let words: Vec<String> = voicebin_projections::search::words(&said[0].text).collect();
    let phrase = format!("\"{} {}\"", words[2], words[3]);
    vec![
        (
            "a rare word (Zipf rank 20,000)".into(),
            w[20_000].clone(),
            true,
        ),
        (
            "an uncommon word (rank 2,000)".into(),
            w[2_000].clone(),
            true,
        ),
        ("a common word (rank 100)".into(), w[100].clone(), true),
        (
            "two words (ranks 50 and 500)".into(),
            format!("{} {}", w[50], w[500]),
            true,
        ),
        (
            "a word's first 4 letters (rank 1,000)".into(),
            long(1_000)[..4].to_owned(),
            true,
        ),
        ("a spoken phrase".into(), phrase, true),
        ("a filename part".into(), "memo_2023".into(), true),
        (
            "a word and an exclusion".into(),
            format!("{} -{}", w[300], w[10]),
            true,
        ),
        (
            "the most frequent word (worst case)".into(),
            w[0].clone(),
            false,
        ),
    ]
}

/// How many clips hold every word of `q` (each as a word prefix): what the search finds,
/// counted by brute force over the data.
fn holding(q: &str, zipf: &Zipf, o: &Options) -> usize {
    let wanted: Vec<String> = q
        .split_whitespace()
        .filter(|w| !w.starts_with('-'))
        .flat_map(|w| voicebin_projections::search::words(w).collect::<Vec<_>>())
        .collect();
    let mut rng = StdRng::seed_from_u64(2026);
    (0..o.clips)
        .filter(|&i| {
            let (view, transcript) = clip(i, zipf, &mut rng);
            let mut text = format!(
                "{} {} {}",
                view.title.unwrap_or_default(),
                view.filename,
                view.description.unwrap_or_default()
            );
            for s in &transcript {
                text.push(' ');
                text.push_str(&s.text);
            }
            let tokens: Vec<String> = voicebin_projections::search::words(&text).collect();
            wanted
                .iter()
                .all(|w| tokens.iter().any(|t| t.starts_with(w.as_str())))
        })
        .count()
}

struct Row {
    what: String,
    q: String,
    typical: bool,
    holding: usize,
    first_page: usize,
    samples: Vec<Duration>,
}

async fn time_queries(
    store: &dyn ReadStore,
    queries: &[(String, String, bool, usize)],
    runs: usize,
) -> Result<Vec<Row>, Error> {
    let mut rows = Vec::new();
    for (what, q, typical, holding) in queries {
        let query = ListQuery {
            owner: OWNER.into(),
            q: Some(SearchQuery::parse(q)?),
            after: None,
            limit: PAGE,
        };
        let mut first_page = 0;
        for _ in 0..3 {
            first_page = store.list(&query).await?.items.len();
        }
        let mut samples = Vec::with_capacity(runs);
        for _ in 0..runs {
            let started = Instant::now();
            let page = store.list(&query).await?;
            samples.push(started.elapsed());
            std::hint::black_box(page);
        }
        samples.sort();
        rows.push(Row {
            what: what.clone(),
            q: q.clone(),
            typical: *typical,
            holding: *holding,
            first_page,
            samples,
        });
    }
    Ok(rows)
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let o = Options::parse()?;
    let zipf = Zipf::new(vocabulary(&o.words)?);
    let listed = queries(&zipf, &o);
    eprintln!(
        "counting the clips each query should find ({} clips)",
        o.clips
    );
    let listed: Vec<(String, String, bool, usize)> = listed
        .into_iter()
        .map(|(what, q, typical)| {
            let n = holding(&q, &zipf, &o);
            (what, q, typical, n)
        })
        .collect();

    let mut results: Vec<(&str, Duration, String, Vec<Row>)> = Vec::new();
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
        let store: Arc<dyn ReadStore> = Arc::new(SqliteStore::new(pool.clone()));
        eprintln!("SQLite: writing {} clips", o.clips);
        let took = load(store.as_ref(), &o, &zipf).await?;
        let before = load_average();
        let rows = time_queries(store.as_ref(), &listed, o.runs).await?;
        results.push(("SQLite (embedded)", took, before, rows));
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
            let store: Arc<dyn ReadStore> = Arc::new(PostgresStore::new(pool.clone()));
            eprintln!("PostgreSQL: writing {} clips", o.clips);
            let took = load(store.as_ref(), &o, &zipf).await?;
            sqlx::query("VACUUM ANALYZE").execute(&pool).await?;
            let before = load_average();
            let rows = time_queries(store.as_ref(), &listed, o.runs).await?;
            pool.close().await;
            Ok::<_, Error>((took, before, rows))
        }
        .await;
        if o.keep {
            eprintln!("kept the PostgreSQL database {base}/{name}");
        } else {
            sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await?;
        }
        let (took, before, rows) = result?;
        results.push(("PostgreSQL", took, before, rows));
    }

    println!();
    println!("| backend | query | q | clips holding its words | first page | median | p95 |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for (backend, _, _, rows) in &results {
        for r in rows {
            println!(
                "| {backend} | {} | `{}` | {} | {} | {} | {} |",
                r.what,
                r.q.replace('|', "\\|"),
                r.holding,
                r.first_page,
                ms(quantile(&r.samples, 0.5)),
                ms(quantile(&r.samples, 0.95)),
            );
        }
    }
    println!();
    for (backend, took, load, rows) in &results {
        let mut typical: Vec<Duration> = rows
            .iter()
            .filter(|r| r.typical)
            .flat_map(|r| r.samples.iter().copied())
            .collect();
        typical.sort();
        let p95 = quantile(&typical, 0.95);
        println!(
            "{backend}: {} clips written in {:.1} s; load average before the queries {load}; \
             typical queries ({} runs): median {}, p95 {} — {}",
            o.clips,
            took.as_secs_f64(),
            typical.len(),
            ms(quantile(&typical, 0.5)),
            ms(p95),
            if p95 < Duration::from_millis(50) {
                "target (< 50 ms) met"
            } else {
                "ABOVE TARGET (50 ms)"
            }
        );
    }
    Ok(())
}
