//! The SQLite and PostgreSQL adapters. Both speak the same SQL (numbered `$n` parameters,
//! `ON CONFLICT`, integer microsecond times), so one macro body serves both and they cannot
//! drift apart.

use async_trait::async_trait;
use cqrs_es::persist::SerializedEvent;
use cqrs_es::EventEnvelope;
use futures::TryStreamExt;
use sqlx::{PgPool, QueryBuilder, Row, SqlitePool};
use voicebin_domain::{Clip, Moderation, ScanState, Stage, StageState};

use crate::moderation::{
    BlockedDigest, ModerationChange, QueueCursor, QueueEntry, QueuePage, QueueQuery, ReportRow,
    ReportState, Resolution,
};
use crate::rate::{gcra, Rate, RateLimits, Take};
use crate::search::{self, SearchDoc, SearchQuery, TranscriptSegment};
use crate::store::{
    Cursor, DueClip, EventLog, ExpiryIndex, ListQuery, Listed, Page, PlaybackGrants, ReadStore,
    RebuildBatch, RedeemedLinks, ReplayCache, Reservation, ScanBacklog, ScanDispatch,
    StageDispatch, StoreError, StoredEvent,
};
use crate::view::{stage_column, ClipView};

/// Read models and event log in the embedded SQLite database.
#[derive(Clone)]
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
}

/// Read models and event log in PostgreSQL.
#[derive(Clone)]
pub struct PostgresStore {
    pub(crate) pool: PgPool,
}

impl SqliteStore {
    /// Wraps a migrated pool.
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

impl PostgresStore {
    /// Wraps a migrated pool.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

const COLUMNS: &str = "id, owner, title, description, filename, content_type, size_bytes, \
    sha256, blob_key, scan_state, scan_detail, scanner, container, codec, duration_ms, \
    sample_rate, channels, peaks, download_limit, download_count, created_at, updated_at, \
    scanned_at, deleted_at, version, moderation_state, moderation_reason, moderated_at, \
    rendition_state, rendition, transcript_state, transcript_source, transcript_detail, \
    transcript_language, transcribed_at, expires_at, expired_at";

const REPORT_COLUMNS: &str =
    "clip_id, sequence, reporter, reason, note, reported_at, resolved_at, resolution";

const BLOCKED_COLUMNS: &str = "sha256, clip_id, reason, removed_at";

const SEGMENT_COLUMNS: &str = "clip_id, seq, start_ms, end_ms, text";

/// Rows per multi-row INSERT of a rebuild (under 65 columns × 500 stays under SQLite's 32766
/// parameters).
const REBUILD_CHUNK: usize = 500;

/// The read-model tables a rebuild builds aside and swaps in, with their columns. The search
/// index is rebuilt aside too, in each backend's own way (`SEARCH_ASIDE`, `swap_search`).
fn rebuilt_tables() -> [(&'static str, &'static str); 4] {
    [
        ("clip_views", COLUMNS),
        ("clip_reports", REPORT_COLUMNS),
        ("blocked_digests", BLOCKED_COLUMNS),
        ("clip_transcript_segments", SEGMENT_COLUMNS),
    ]
}

/// The columns of `clip_views`, qualified with `v.` (for joins with tables sharing names).
fn view_columns() -> String {
    COLUMNS
        .split(", ")
        .map(|c| format!("v.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A segment's time as stored (times past `i64::MAX` ms do not occur; they are clamped).
fn ms_to_db(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// A stored segment read back (a negative time, which is never written, reads as 0).
fn segment_from_db((start_ms, end_ms, text): (i64, i64, String)) -> TranscriptSegment {
    TranscriptSegment {
        start_ms: u64::try_from(start_ms).unwrap_or(0),
        end_ms: u64::try_from(end_ms).unwrap_or(0),
        text,
    }
}

/// What the swap copies from `{table}_rebuild` into `table`. The aside tables have no keys, and
/// several removed clips may hold the same bytes: of their blocklist rows, the earliest
/// removal's is kept, as live projection keeps it ([`BLOCK_UPSERT`]).
fn swap_source(table: &str, columns: &str) -> String {
    if table == "blocked_digests" {
        format!(
            "SELECT {columns} FROM (SELECT {columns}, ROW_NUMBER() OVER \
             (PARTITION BY sha256 ORDER BY removed_at, clip_id) AS earliest \
             FROM blocked_digests_rebuild) AS removals WHERE earliest = 1"
        )
    } else {
        format!("SELECT {columns} FROM {table}_rebuild")
    }
}

/// Adds a digest to the blocklist; of several removals of the same bytes the earliest stays
/// (then the smallest clip id), whatever order they are projected in.
const BLOCK_UPSERT: &str = "INSERT INTO blocked_digests (sha256, clip_id, reason, removed_at) \
    VALUES ($1, $2, $3, $4) ON CONFLICT (sha256) DO UPDATE SET clip_id = excluded.clip_id, \
    reason = excluded.reason, removed_at = excluded.removed_at \
    WHERE excluded.removed_at < blocked_digests.removed_at \
    OR (excluded.removed_at = blocked_digests.removed_at \
    AND excluded.clip_id < blocked_digests.clip_id)";

fn queue_sql(query: &QueueQuery, entries: bool) -> String {
    let mut sql = if entries {
        "SELECT clip_id, MIN(reported_at), MAX(reported_at), COUNT(*) FROM clip_reports \
         WHERE 1 = 1"
            .to_owned()
    } else {
        format!("SELECT {REPORT_COLUMNS} FROM clip_reports WHERE clip_id = $1")
    };
    sql.push_str(match query.state {
        ReportState::Open => " AND resolved_at IS NULL",
        ReportState::Resolved => " AND resolved_at IS NOT NULL",
        ReportState::All => "",
    });
    let mut n = if entries { 1 } else { 2 };
    if query.reason.is_some() {
        sql.push_str(&format!(" AND reason = ${n}"));
        n += 1;
    }
    if entries {
        sql.push_str(" GROUP BY clip_id");
        if query.after.is_some() {
            sql.push_str(&format!(
                " HAVING MIN(reported_at) > ${a} OR (MIN(reported_at) = ${a} AND clip_id > ${b})",
                a = n,
                b = n + 1
            ));
            n += 2;
        }
        sql.push_str(&format!(" ORDER BY MIN(reported_at), clip_id LIMIT ${n}"));
    } else {
        sql.push_str(&format!(" ORDER BY sequence LIMIT ${n}"));
    }
    sql
}

const INSERT: &str = "INSERT INTO clip_views (id, owner, title, description, filename, \
    content_type, size_bytes, sha256, blob_key, scan_state, scan_detail, scanner, container, \
    codec, duration_ms, sample_rate, channels, peaks, download_limit, download_count, \
    created_at, updated_at, scanned_at, deleted_at, version, moderation_state, moderation_reason, \
    moderated_at, rendition_state, rendition, transcript_state, transcript_source, \
    transcript_detail, transcript_language, transcribed_at, expires_at, expired_at) VALUES ($1, \
    $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, \
    $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37)";

const UPSERT_TAIL: &str = " ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, \
    title = excluded.title, description = excluded.description, filename = excluded.filename, \
    content_type = excluded.content_type, size_bytes = excluded.size_bytes, \
    sha256 = excluded.sha256, blob_key = excluded.blob_key, scan_state = excluded.scan_state, \
    scan_detail = excluded.scan_detail, scanner = excluded.scanner, \
    container = excluded.container, codec = excluded.codec, \
    duration_ms = excluded.duration_ms, sample_rate = excluded.sample_rate, \
    channels = excluded.channels, peaks = excluded.peaks, download_limit = excluded.download_limit, \
    download_count = excluded.download_count, created_at = excluded.created_at, \
    updated_at = excluded.updated_at, scanned_at = excluded.scanned_at, \
    deleted_at = excluded.deleted_at, version = excluded.version, \
    moderation_state = excluded.moderation_state, \
    moderation_reason = excluded.moderation_reason, moderated_at = excluded.moderated_at, \
    rendition_state = excluded.rendition_state, rendition = excluded.rendition, \
    transcript_state = excluded.transcript_state, transcript_source = excluded.transcript_source, \
    transcript_detail = excluded.transcript_detail, \
    transcript_language = excluded.transcript_language, transcribed_at = excluded.transcribed_at, \
    expires_at = excluded.expires_at, expired_at = excluded.expired_at \
    WHERE clip_views.version < excluded.version";

/// The plain listing (no search): newest first.
fn list_sql(has_cursor: bool) -> String {
    let mut sql =
        format!("SELECT {COLUMNS} FROM clip_views WHERE owner = $1 AND deleted_at IS NULL AND expired_at IS NULL");
    let mut n = 2;
    if has_cursor {
        sql.push_str(&format!(
            " AND (created_at < ${a} OR (created_at = ${a} AND id < ${b}))",
            a = n,
            b = n + 1
        ));
        n += 2;
    }
    sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT ${n}"));
    sql
}

/// The ranks of a search, best first: the best field holding a searched-for phrase (title 3,
/// filename 2, description 1, only the transcript 0). A page is read rank by rank, each newest
/// first, so a common word stops after a page's worth of clips instead of ranking them all.
const RANKS: [i64; 4] = [3, 2, 1, 0];

/// One rank of a search in SQLite: FTS5 finds the documents of the rank (the query carries
/// the rank's column filters, [`SearchQuery::fts5_rank`]) newest first (a document's id
/// follows its clip's upload time, so FTS5 walks the doclists downwards and stops at the
/// limit). Parameters: `$1` owner, `$2` the FTS5 query, then (`after`) the document id to
/// continue below, then the limit.
fn sqlite_rank_sql(after: bool) -> String {
    let (cursor, limit) = if after {
        (" AND clip_search_fts.rowid < $3", "$4")
    } else {
        ("", "$3")
    };
    format!(
        "SELECT {v} FROM clip_search_fts CROSS JOIN clip_search s \
         ON s.docid = clip_search_fts.rowid CROSS JOIN clip_views v ON v.id = s.clip_id \
         WHERE clip_search_fts MATCH $2 AND v.owner = $1 AND v.deleted_at IS NULL AND v.expired_at IS NULL{cursor} \
         ORDER BY clip_search_fts.rowid DESC LIMIT {limit}",
        v = view_columns(),
    )
}

/// One rank of a search in PostgreSQL: `doc` holds every phrase, and the field columns (each
/// GIN-indexed, with statistics of its own) tell the best field holding one (`$3`: any
/// phrase). The queries are
/// inline (not in a subquery) so the planner sees them and estimates how many clips hold the
/// words: it walks the owner's clips newest first for a common word, or takes the index's few
/// hits for a rare one. Parameters: `$1` owner, `$2`–`$4` the queries, then (`after`) `created_at` and `id`
/// to continue below, then the limit.
fn postgres_rank_sql(rank: i64, after: bool, fenced: bool) -> String {
    let holds = |field: &str| format!("s.{field} @@ to_tsquery('simple', $3)");
    let lacks = |field: &str| format!("NOT s.{field} @@ to_tsquery('simple', $3)");
    let condition = match rank {
        3 => holds("title"),
        2 => format!("{} AND {}", holds("filename"), lacks("title")),
        1 => format!(
            "{} AND {} AND {}",
            holds("description"),
            lacks("title"),
            lacks("filename")
        ),
        _ => format!(
            "{} AND {} AND {}",
            lacks("title"),
            lacks("filename"),
            lacks("description")
        ),
    };
    let (cursor, limit) = if after {
        (
            " AND (v.created_at < $4 OR (v.created_at = $4 AND v.id < $5))",
            "$6",
        )
    } else {
        ("", "$4")
    };
    // Each form is fenced (`OFFSET 0`) so the planner keeps it. Sorted: the matches come from
    // the GIN indexes (as many as there are), then the newest are taken. Walked: the owner's
    // clips are read newest first, each looked up, until the page is full.
    let matched = format!(
        "SELECT s.clip_id FROM clip_search s WHERE s.doc @@ to_tsquery('simple', $2) \
         AND {condition}"
    );
    let from = if fenced {
        format!("clip_views v WHERE v.id IN ({matched} OFFSET 0) AND")
    } else {
        format!(
            "clip_views v CROSS JOIN LATERAL ({matched} AND s.clip_id = v.id OFFSET 0) AS m \
             WHERE"
        )
    };
    format!(
        "SELECT {v} FROM {from} v.owner = $1 AND v.deleted_at IS NULL AND v.expired_at IS NULL{cursor} \
         ORDER BY v.created_at DESC, v.id DESC LIMIT {limit}",
        v = view_columns(),
    )
}

/// How many of a rank's matches (of any owner) PostgreSQL counts, at most, to choose between
/// sorting them all (fewer) and walking the owner's newest clips (more): its planner cannot
/// estimate a prefix or a phrase of a rare word, and a wrong guess either way costs a scan of
/// every clip. Counting from the GIN indexes stops at this many.
const POSTGRES_SORT_AT_MOST: i64 = 2_000;

/// Counts (up to `POSTGRES_SORT_AT_MOST`) about a rank's matches from the GIN indexes,
/// without checking phrases against transcripts: clips holding every word (`$1`, phrases
/// ignored: the index answers it alone) and, for a field's rank, a phrase in that field (`$2`).
fn postgres_rank_count_sql(rank: i64) -> String {
    let field = match rank {
        3 => " AND s.title @@ to_tsquery('simple', $2)",
        2 => " AND s.filename @@ to_tsquery('simple', $2)",
        1 => " AND s.description @@ to_tsquery('simple', $2)",
        _ => "",
    };
    format!(
        "SELECT count(*) FROM (SELECT 1 FROM clip_search s \
         WHERE s.doc @@ to_tsquery('simple', $1){field} LIMIT $3) AS matches"
    )
}

/// Documents of one microsecond of uploads get ids `created_at × 8 + k`, `k` from 0: ids
/// follow upload order, so FTS5 can walk the newest first.
const DOCID_SLOTS: i64 = 8;

/// The columns of `clip_search` in PostgreSQL.
const POSTGRES_SEARCH_COLUMNS: &str = "clip_id, title, filename, description, doc";

/// The start and the end of `SELECT`ing search documents in PostgreSQL from rows of five
/// text columns put between them (clip id, title, filename, description, transcript words).
const POSTGRES_DOC_SELECT: &str = "SELECT d.clip_id, m.title, m.filename, m.description, \
    setweight(m.title, 'A') || setweight(m.filename, 'B') || setweight(m.description, 'C') \
    || setweight(to_tsvector('simple', d.transcript), 'D') FROM (";
const POSTGRES_DOC_FROM: &str = ") AS d(clip_id, title, filename, description, transcript) \
    CROSS JOIN LATERAL (SELECT to_tsvector('simple', d.title) AS title, \
    to_tsvector('simple', d.filename) AS filename, \
    to_tsvector('simple', d.description) AS description) AS m";

/// Search documents of the clips of a rebuild batch, with their transcripts.
fn batch_docs(batch: &RebuildBatch) -> Vec<(&str, SearchDoc)> {
    let transcripts: std::collections::HashMap<&str, &Vec<TranscriptSegment>> = batch
        .transcripts
        .iter()
        .map(|(id, segments)| (id.as_str(), segments))
        .collect();
    batch
        .views
        .iter()
        .filter_map(|v| {
            let segments = transcripts.get(v.id.as_str());
            let texts = segments
                .into_iter()
                .flat_map(|s| s.iter().map(|s| s.text.as_str()));
            SearchDoc::of(v, texts).map(|doc| (v.id.as_str(), doc))
        })
        .collect()
}

impl SqliteStore {
    const SEARCH_ASIDE: &'static str = "CREATE TABLE clip_search_rebuild (clip_id text, \
        created_at integer, title text, filename text, description text, transcript text)";

    /// Indexes clip `id` as `doc`, or drops it from the index (`None`), in `tx`.
    async fn write_search(
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        id: &str,
        doc: Option<&SearchDoc>,
    ) -> Result<(), StoreError> {
        let old: Option<i64> =
            sqlx::query_scalar("SELECT docid FROM clip_search WHERE clip_id = $1")
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?;
        if let Some(docid) = old {
            sqlx::query("DELETE FROM clip_search_fts WHERE rowid = $1")
                .bind(docid)
                .execute(&mut **tx)
                .await?;
            sqlx::query("DELETE FROM clip_search WHERE docid = $1")
                .bind(docid)
                .execute(&mut **tx)
                .await?;
        }
        if let Some(doc) = doc {
            // The first free id of the upload's microsecond (see DOCID_SLOTS).
            let docid: i64 = sqlx::query_scalar(
                "INSERT INTO clip_search (docid, clip_id) \
                 SELECT COALESCE(MAX(docid) + 1, $2 * $3), $1 FROM clip_search \
                 WHERE docid >= $2 * $3 AND docid < ($2 + 1) * $3 RETURNING docid",
            )
            .bind(id)
            .bind(doc.created_at)
            .bind(DOCID_SLOTS)
            .fetch_one(&mut **tx)
            .await?;
            sqlx::query(
                "INSERT INTO clip_search_fts (rowid, title, filename, description, transcript) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(docid)
            .bind(&doc.title)
            .bind(&doc.filename)
            .bind(&doc.description)
            .bind(&doc.transcript)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    async fn insert_search_aside(
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        docs: &[(&str, SearchDoc)],
    ) -> Result<(), StoreError> {
        for chunk in docs.chunks(REBUILD_CHUNK) {
            let mut q = QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO clip_search_rebuild (clip_id, created_at, title, filename, \
                 description, transcript) ",
            );
            q.push_values(chunk, |mut b, (id, doc)| {
                b.push_bind(*id)
                    .push_bind(doc.created_at)
                    .push_bind(&doc.title)
                    .push_bind(&doc.filename)
                    .push_bind(&doc.description)
                    .push_bind(&doc.transcript);
            });
            q.build().execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Replaces the index with the documents built aside.
    async fn swap_search(tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>) -> Result<(), StoreError> {
        for sql in [
            "INSERT INTO clip_search_fts (clip_search_fts) VALUES ('delete-all')",
            "DELETE FROM clip_search",
            "INSERT INTO clip_search (docid, clip_id) SELECT created_at * 8 - 1 + \
             ROW_NUMBER() OVER (PARTITION BY created_at ORDER BY clip_id), clip_id \
             FROM clip_search_rebuild",
            "INSERT INTO clip_search_fts (rowid, title, filename, description, transcript) \
             SELECT s.docid, r.title, r.filename, r.description, r.transcript \
             FROM clip_search_rebuild r JOIN clip_search s ON s.clip_id = r.clip_id",
            "DROP TABLE clip_search_rebuild",
        ] {
            sqlx::query(sql).execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Up to `limit` clips of `query.owner` of rank `rank` matching `search`, newest first,
    /// after `after` (the cursor, when it is in this rank).
    async fn rank_rows(
        &self,
        query: &ListQuery,
        search: &SearchQuery,
        rank: i64,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Vec<ClipView>, StoreError> {
        let sql = sqlite_rank_sql(after.is_some());
        let mut select = sqlx::query_as::<_, ClipView>(&sql)
            .bind(&query.owner)
            .bind(search.fts5_rank(rank));
        if let Some(after) = after {
            // Continue below the cursor's document; if that clip is no longer indexed, below
            // its microsecond.
            let docid: Option<i64> =
                sqlx::query_scalar("SELECT docid FROM clip_search WHERE clip_id = $1")
                    .bind(&after.id)
                    .fetch_optional(&self.pool)
                    .await?;
            select = select.bind(docid.unwrap_or(after.created_at.saturating_mul(DOCID_SLOTS)));
        }
        Ok(select
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?)
    }

    async fn search_entries(&self) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT s.clip_id, t.col, t.term, t.\"offset\" FROM clip_search_terms t \
             JOIN clip_search s ON s.docid = t.doc ORDER BY s.clip_id, t.col, t.\"offset\"",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut entries: Vec<String> = Vec::new();
        let mut last: Option<String> = None;
        for (clip, col, term, offset) in rows {
            if last.as_ref() != Some(&clip) {
                entries.push(clip.clone());
                last = Some(clip);
            }
            if let Some(entry) = entries.last_mut() {
                entry.push_str(&format!(" {col}:{term}@{offset}"));
            }
        }
        Ok(entries)
    }
}

impl PostgresStore {
    const SEARCH_ASIDE: &'static str =
        "CREATE UNLOGGED TABLE clip_search_rebuild AS SELECT * FROM clip_search WHERE 1 = 0";

    /// Indexes clip `id` as `doc`, or drops it from the index (`None`), in `tx`.
    async fn write_search(
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        id: &str,
        doc: Option<&SearchDoc>,
    ) -> Result<(), StoreError> {
        match doc {
            None => {
                sqlx::query("DELETE FROM clip_search WHERE clip_id = $1")
                    .bind(id)
                    .execute(&mut **tx)
                    .await?;
            }
            Some(doc) => {
                sqlx::query(&format!(
                    "INSERT INTO clip_search ({POSTGRES_SEARCH_COLUMNS}) {POSTGRES_DOC_SELECT}\
                     VALUES ($1, $2, $3, $4, $5){POSTGRES_DOC_FROM} \
                     ON CONFLICT (clip_id) DO UPDATE SET title = excluded.title, \
                     filename = excluded.filename, description = excluded.description, \
                     doc = excluded.doc"
                ))
                .bind(id)
                .bind(&doc.title)
                .bind(&doc.filename)
                .bind(&doc.description)
                .bind(&doc.transcript)
                .execute(&mut **tx)
                .await?;
            }
        }
        Ok(())
    }

    async fn insert_search_aside(
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        docs: &[(&str, SearchDoc)],
    ) -> Result<(), StoreError> {
        for chunk in docs.chunks(REBUILD_CHUNK) {
            let mut q = QueryBuilder::<sqlx::Postgres>::new(format!(
                "INSERT INTO clip_search_rebuild ({POSTGRES_SEARCH_COLUMNS}) {POSTGRES_DOC_SELECT}"
            ));
            q.push_values(chunk, |mut b, (id, doc)| {
                b.push_bind(*id)
                    .push_bind(&doc.title)
                    .push_bind(&doc.filename)
                    .push_bind(&doc.description)
                    .push_bind(&doc.transcript);
            });
            q.push(POSTGRES_DOC_FROM);
            q.build().execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Replaces the index with the documents built aside.
    async fn swap_search(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>) -> Result<(), StoreError> {
        for sql in [
            "DELETE FROM clip_search".to_owned(),
            format!(
                "INSERT INTO clip_search ({POSTGRES_SEARCH_COLUMNS}) \
                 SELECT {POSTGRES_SEARCH_COLUMNS} FROM clip_search_rebuild"
            ),
            "DROP TABLE clip_search_rebuild".to_owned(),
        ] {
            sqlx::query(&sql).execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Up to `limit` clips of `query.owner` of rank `rank` matching `search`, newest first,
    /// after `after` (the cursor, when it is in this rank).
    async fn rank_rows(
        &self,
        query: &ListQuery,
        search: &SearchQuery,
        rank: i64,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Vec<ClipView>, StoreError> {
        // Few matches: sort them all; many: walk the newest clips until the page is full.
        let matches: i64 = sqlx::query_scalar(&postgres_rank_count_sql(rank))
            .persistent(false)
            .bind(search.tsquery_words())
            .bind(search.tsquery_any(""))
            .bind(POSTGRES_SORT_AT_MOST)
            .fetch_one(&self.pool)
            .await?;
        let sql = postgres_rank_sql(rank, after.is_some(), matches < POSTGRES_SORT_AT_MOST);
        // Planned for these very queries, never as a generic plan: how many clips hold a
        // word decides between walking the newest clips and the index's hits.
        let mut select = sqlx::query_as::<_, ClipView>(&sql)
            .persistent(false)
            .bind(&query.owner)
            .bind(search.tsquery())
            .bind(search.tsquery_any(""));
        if let Some(after) = after {
            select = select.bind(after.created_at).bind(&after.id);
        }
        Ok(select
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?)
    }

    async fn search_entries(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT concat_ws(' | ', clip_id, title, filename, description, doc) FROM clip_search \
             ORDER BY clip_id",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}

fn to_envelope(
    id: String,
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: &str,
    metadata: &str,
) -> Result<EventEnvelope<Clip>, StoreError> {
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(format!("{id}#{sequence}: {e}"));
    let serialized = SerializedEvent {
        aggregate_id: id.clone(),
        sequence: usize::try_from(sequence).map_err(|e| corrupt(&e))?,
        aggregate_type: "Clip".to_owned(),
        event_type,
        event_version,
        payload: serde_json::from_str(payload).map_err(|e| corrupt(&e))?,
        metadata: serde_json::from_str(metadata).map_err(|e| corrupt(&e))?,
    };
    EventEnvelope::try_from(serialized).map_err(|e| corrupt(&e))
}

macro_rules! sql_store {
    (
        $store:ident,
        $db:ty,
        $text_payload:literal,
        $text_metadata:literal,
        $create_aside:literal,
        $lock_live:literal,
        $begin_projection:literal,
        $lock_projection:literal,
        $for_update:literal
    ) => {
        impl $store {
            fn bind_view<'q>(
                query: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>,
                v: &'q ClipView,
            ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>> {
                query
                    .bind(&v.id)
                    .bind(&v.owner)
                    .bind(&v.title)
                    .bind(&v.description)
                    .bind(&v.filename)
                    .bind(&v.content_type)
                    .bind(v.size_bytes)
                    .bind(&v.sha256)
                    .bind(&v.blob_key)
                    .bind(v.scan_state.as_str())
                    .bind(&v.scan_detail)
                    .bind(&v.scanner)
                    .bind(&v.container)
                    .bind(&v.codec)
                    .bind(v.duration_ms)
                    .bind(v.sample_rate)
                    .bind(v.channels)
                    .bind(&v.peaks)
                    .bind(v.download_limit)
                    .bind(v.download_count)
                    .bind(v.created_at)
                    .bind(v.updated_at)
                    .bind(v.scanned_at)
                    .bind(v.deleted_at)
                    .bind(v.version)
                    .bind(v.moderation_state.as_str())
                    .bind(&v.moderation_reason)
                    .bind(v.moderated_at)
                    .bind(v.rendition_state.map(StageState::as_str))
                    .bind(&v.rendition)
                    .bind(v.transcript_state.map(StageState::as_str))
                    .bind(&v.transcript_source)
                    .bind(&v.transcript_detail)
                    .bind(&v.transcript_language)
                    .bind(v.transcribed_at)
                    .bind(v.expires_at)
                    .bind(v.expired_at)
            }

            async fn insert_aside(
                tx: &mut sqlx::Transaction<'_, $db>,
                batch: &RebuildBatch,
            ) -> Result<(), StoreError> {
                for chunk in batch.views.chunks(REBUILD_CHUNK) {
                    let mut q = QueryBuilder::<$db>::new(format!(
                        "INSERT INTO clip_views_rebuild ({COLUMNS}) "
                    ));
                    q.push_values(chunk, |mut b, v| {
                        b.push_bind(&v.id)
                            .push_bind(&v.owner)
                            .push_bind(&v.title)
                            .push_bind(&v.description)
                            .push_bind(&v.filename)
                            .push_bind(&v.content_type)
                            .push_bind(v.size_bytes)
                            .push_bind(&v.sha256)
                            .push_bind(&v.blob_key)
                            .push_bind(v.scan_state.as_str())
                            .push_bind(&v.scan_detail)
                            .push_bind(&v.scanner)
                            .push_bind(&v.container)
                            .push_bind(&v.codec)
                            .push_bind(v.duration_ms)
                            .push_bind(v.sample_rate)
                            .push_bind(v.channels)
                            .push_bind(&v.peaks)
                            .push_bind(v.download_limit)
                            .push_bind(v.download_count)
                            .push_bind(v.created_at)
                            .push_bind(v.updated_at)
                            .push_bind(v.scanned_at)
                            .push_bind(v.deleted_at)
                            .push_bind(v.version)
                            .push_bind(v.moderation_state.as_str())
                            .push_bind(&v.moderation_reason)
                            .push_bind(v.moderated_at)
                            .push_bind(v.rendition_state.map(StageState::as_str))
                            .push_bind(&v.rendition)
                            .push_bind(v.transcript_state.map(StageState::as_str))
                            .push_bind(&v.transcript_source)
                            .push_bind(&v.transcript_detail)
                            .push_bind(&v.transcript_language)
                            .push_bind(v.transcribed_at)
                            .push_bind(v.expires_at)
                            .push_bind(v.expired_at);
                    });
                    q.build().execute(&mut **tx).await?;
                }
                for chunk in batch.reports.chunks(REBUILD_CHUNK) {
                    let mut q = QueryBuilder::<$db>::new(format!(
                        "INSERT INTO clip_reports_rebuild ({REPORT_COLUMNS}) "
                    ));
                    q.push_values(chunk, |mut b, r| {
                        b.push_bind(&r.clip_id)
                            .push_bind(r.sequence)
                            .push_bind(&r.reporter)
                            .push_bind(r.reason.as_str())
                            .push_bind(&r.note)
                            .push_bind(r.reported_at)
                            .push_bind(r.resolved_at)
                            .push_bind(r.resolution.map(Resolution::as_str));
                    });
                    q.build().execute(&mut **tx).await?;
                }
                let segments: Vec<(&str, usize, &TranscriptSegment)> = batch
                    .transcripts
                    .iter()
                    .flat_map(|(id, segments)| {
                        segments.iter().enumerate().map(move |(n, s)| (id.as_str(), n, s))
                    })
                    .collect();
                for chunk in segments.chunks(REBUILD_CHUNK) {
                    let mut q = QueryBuilder::<$db>::new(format!(
                        "INSERT INTO clip_transcript_segments_rebuild ({SEGMENT_COLUMNS}) "
                    ));
                    q.push_values(chunk, |mut b, (id, n, s)| {
                        b.push_bind(*id)
                            .push_bind(i64::try_from(*n).unwrap_or(i64::MAX))
                            .push_bind(ms_to_db(s.start_ms))
                            .push_bind(ms_to_db(s.end_ms))
                            .push_bind(&s.text);
                    });
                    q.build().execute(&mut **tx).await?;
                }
                Self::insert_search_aside(tx, &batch_docs(batch)).await?;
                for chunk in batch.blocked.chunks(REBUILD_CHUNK) {
                    let mut q = QueryBuilder::<$db>::new(format!(
                        "INSERT INTO blocked_digests_rebuild ({BLOCKED_COLUMNS}) "
                    ));
                    q.push_values(chunk, |mut b, d| {
                        b.push_bind(&d.sha256)
                            .push_bind(&d.clip_id)
                            .push_bind(&d.reason)
                            .push_bind(d.removed_at);
                    });
                    q.build().execute(&mut **tx).await?;
                }
                Ok(())
            }

            /// Applies moderation changes in `tx`, in order (each one idempotent).
            async fn apply_changes(
                tx: &mut sqlx::Transaction<'_, $db>,
                changes: &[ModerationChange],
            ) -> Result<(), StoreError> {
                for change in changes {
                    match change {
                        ModerationChange::Report(r) => {
                            sqlx::query(&format!(
                                "INSERT INTO clip_reports ({REPORT_COLUMNS}) VALUES \
                                 ($1, $2, $3, $4, $5, $6, $7, $8) \
                                 ON CONFLICT (clip_id, sequence) DO NOTHING"
                            ))
                            .bind(&r.clip_id)
                            .bind(r.sequence)
                            .bind(&r.reporter)
                            .bind(r.reason.as_str())
                            .bind(&r.note)
                            .bind(r.reported_at)
                            .bind(r.resolved_at)
                            .bind(r.resolution.map(Resolution::as_str))
                            .execute(&mut **tx)
                            .await?;
                        }
                        ModerationChange::Block(d) => {
                            sqlx::query(BLOCK_UPSERT)
                            .bind(&d.sha256)
                            .bind(&d.clip_id)
                            .bind(&d.reason)
                            .bind(d.removed_at)
                            .execute(&mut **tx)
                            .await?;
                        }
                        ModerationChange::Resolve {
                            clip_id,
                            before,
                            at,
                            resolution,
                        } => {
                            sqlx::query(
                                "UPDATE clip_reports SET resolved_at = $1, resolution = $2 \
                                 WHERE clip_id = $3 AND sequence < $4 AND resolved_at IS NULL",
                            )
                            .bind(at)
                            .bind(resolution.as_str())
                            .bind(clip_id)
                            .bind(before)
                            .execute(&mut **tx)
                            .await?;
                        }
                    }
                }
                Ok(())
            }

            /// Indexes clip `id` again from its stored view and transcript, in `tx`.
            async fn refresh_search(
                tx: &mut sqlx::Transaction<'_, $db>,
                id: &str,
            ) -> Result<(), StoreError> {
                let sql = format!("SELECT {COLUMNS} FROM clip_views WHERE id = $1");
                let view = sqlx::query_as::<_, ClipView>(&sql)
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await?;
                let doc = match view.filter(|v| !v.is_gone()) {
                    Some(view) => {
                        let texts: Vec<String> = sqlx::query_scalar(
                            "SELECT text FROM clip_transcript_segments WHERE clip_id = $1 \
                             ORDER BY seq",
                        )
                        .bind(id)
                        .fetch_all(&mut **tx)
                        .await?;
                        SearchDoc::of(&view, texts.iter().map(String::as_str))
                    }
                    None => None,
                };
                Self::write_search(tx, id, doc.as_ref()).await
            }

            /// Replaces clip `id`'s segments in `tx`.
            async fn write_segments(
                tx: &mut sqlx::Transaction<'_, $db>,
                id: &str,
                segments: &[TranscriptSegment],
            ) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM clip_transcript_segments WHERE clip_id = $1")
                    .bind(id)
                    .execute(&mut **tx)
                    .await?;
                let numbered: Vec<(i64, &TranscriptSegment)> = segments
                    .iter()
                    .enumerate()
                    .map(|(n, s)| (i64::try_from(n).unwrap_or(i64::MAX), s))
                    .collect();
                for chunk in numbered.chunks(REBUILD_CHUNK) {
                    let mut q = QueryBuilder::<$db>::new(format!(
                        "INSERT INTO clip_transcript_segments ({SEGMENT_COLUMNS}) "
                    ));
                    q.push_values(chunk, |mut b, (n, s)| {
                        b.push_bind(id)
                            .push_bind(*n)
                            .push_bind(ms_to_db(s.start_ms))
                            .push_bind(ms_to_db(s.end_ms))
                            .push_bind(&s.text);
                    });
                    q.build().execute(&mut **tx).await?;
                }
                Ok(())
            }
        }

        #[async_trait]
        impl ReadStore for $store {
            async fn get(&self, id: &str) -> Result<Option<ClipView>, StoreError> {
                let sql = format!("SELECT {COLUMNS} FROM clip_views WHERE id = $1");
                Ok(sqlx::query_as::<_, ClipView>(&sql)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn list(&self, query: &ListQuery) -> Result<Page, StoreError> {
                let limit = query.limit as usize;
                let Some(search) = &query.q else {
                    let sql = list_sql(query.after.is_some());
                    let mut select = sqlx::query_as::<_, ClipView>(&sql).bind(&query.owner);
                    if let Some(after) = &query.after {
                        select = select.bind(after.created_at).bind(&after.id);
                    }
                    let mut views = select
                        .bind(i64::from(query.limit) + 1)
                        .fetch_all(&self.pool)
                        .await?;
                    let more = views.len() > limit;
                    views.truncate(limit);
                    let next = more
                        .then(|| views.last())
                        .flatten()
                        .map(|v| Cursor {
                            rank: None,
                            created_at: v.created_at,
                            id: v.id.clone(),
                        });
                    let items = views
                        .into_iter()
                        .map(|view| Listed { view, hit: None })
                        .collect();
                    return Ok(Page { items, next });
                };
                // Rank by rank, best first, until the page and one more clip are found.
                let mut rows: Vec<(ClipView, i64)> = Vec::new();
                for rank in RANKS {
                    let after = match &query.after {
                        Some(after) if after.rank.unwrap_or(i64::MAX) < rank => continue,
                        Some(after) if after.rank == Some(rank) => Some(after),
                        _ => None,
                    };
                    let want = limit + 1 - rows.len();
                    let found = self.rank_rows(query, search, rank, after, want).await?;
                    rows.extend(found.into_iter().map(|v| (v, rank)));
                    if rows.len() > limit {
                        break;
                    }
                }
                let more = rows.len() > limit;
                rows.truncate(limit);
                let next = more
                    .then(|| rows.last())
                    .flatten()
                    .map(|(v, rank)| Cursor {
                        rank: Some(*rank),
                        created_at: v.created_at,
                        id: v.id.clone(),
                    });
                // Where each clip matched: its metadata, or else the transcript, read only for
                // the clips of this page that need it.
                let spoken: Vec<&str> = rows
                    .iter()
                    .filter(|(v, _)| !search.hits_metadata(v))
                    .map(|(v, _)| v.id.as_str())
                    .collect();
                let mut transcripts = std::collections::HashMap::new();
                if !spoken.is_empty() {
                    let mut q = QueryBuilder::<$db>::new(
                        "SELECT clip_id, start_ms, end_ms, text FROM clip_transcript_segments \
                         WHERE clip_id IN (",
                    );
                    let mut ids = q.separated(", ");
                    for id in &spoken {
                        ids.push_bind(*id);
                    }
                    q.push(") ORDER BY clip_id, seq");
                    let rows: Vec<(String, i64, i64, String)> =
                        q.build_query_as().fetch_all(&self.pool).await?;
                    transcripts = search::by_clip(
                        rows.into_iter()
                            .map(|(id, s, e, t)| (id, segment_from_db((s, e, t))))
                            .collect(),
                    );
                }
                let items = rows
                    .into_iter()
                    .map(|(view, _)| {
                        let segments = transcripts.get(&view.id).map_or(&[][..], Vec::as_slice);
                        Listed {
                            hit: search.hit(&view, segments),
                            view,
                        }
                    })
                    .collect();
                Ok(Page { items, next })
            }

            async fn pending_ids(&self) -> Result<Vec<String>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id FROM clip_views WHERE scan_state = $1 \
                     AND deleted_at IS NULL AND expired_at IS NULL AND moderation_state <> $2 \
                     ORDER BY created_at",
                )
                .bind(ScanState::Pending.as_str())
                .bind(Moderation::Removed.as_str())
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(|r| r.get::<String, _>(0)).collect())
            }

            async fn write_projection(
                &self,
                id: &str,
                after: Option<i64>,
                view: Option<&ClipView>,
                changes: &[ModerationChange],
                transcript: Option<&[TranscriptSegment]>,
            ) -> Result<bool, StoreError> {
                // Whole before or whole after a rebuild's swap (which takes the tables in
                // share row exclusive mode), never astride it.
                let mut tx = self.pool.begin_with($begin_projection).await?;
                sqlx::query($lock_projection).execute(&mut *tx).await?;
                if let Some(expected) = after {
                    let current: Option<i64> = sqlx::query_scalar(concat!(
                        "SELECT version FROM clip_views WHERE id = $1",
                        $for_update
                    ))
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if current.unwrap_or(0) != expected {
                        return Ok(false);
                    }
                }
                Self::apply_changes(&mut tx, changes).await?;
                if let Some(view) = view {
                    // The search index follows what it holds: title, description, filename
                    // and whether the clip is deleted.
                    let indexed: Option<(Option<String>, Option<String>, String, bool)> =
                        sqlx::query_as(
                            "SELECT title, description, filename, \
                             (deleted_at IS NOT NULL OR expired_at IS NOT NULL) \
                             FROM clip_views WHERE id = $1",
                        )
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let sql = format!("{INSERT}{UPSERT_TAIL}");
                    Self::bind_view(sqlx::query(&sql), view)
                        .execute(&mut *tx)
                        .await?;
                    let now = (
                        view.title.clone(),
                        view.description.clone(),
                        view.filename.clone(),
                        view.is_gone(),
                    );
                    if indexed.as_ref() != Some(&now) && transcript.is_none() {
                        Self::refresh_search(&mut tx, id).await?;
                    }
                }
                if let Some(segments) = transcript {
                    Self::write_segments(&mut tx, id, segments).await?;
                    Self::refresh_search(&mut tx, id).await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn report_queue(&self, query: &QueueQuery) -> Result<QueuePage, StoreError> {
                let sql = queue_sql(query, true);
                let mut select = sqlx::query(&sql);
                if let Some(reason) = query.reason {
                    select = select.bind(reason.as_str());
                }
                if let Some(after) = &query.after {
                    select = select.bind(after.first_reported_at).bind(&after.clip_id);
                }
                let limit = i64::from(query.limit);
                let mut rows = select.bind(limit + 1).fetch_all(&self.pool).await?;
                let more = rows.len() as i64 > limit;
                rows.truncate(query.limit as usize);
                let reports_sql = queue_sql(query, false);
                let mut entries = Vec::with_capacity(rows.len());
                for row in rows {
                    let clip_id: String = row.get(0);
                    let Some(view) = self.get(&clip_id).await? else {
                        continue;
                    };
                    let mut select = sqlx::query_as::<_, ReportRow>(&reports_sql).bind(&clip_id);
                    if let Some(reason) = query.reason {
                        select = select.bind(reason.as_str());
                    }
                    let reports = select
                        .bind(i64::from(query.reports_per_entry))
                        .fetch_all(&self.pool)
                        .await?;
                    entries.push(QueueEntry {
                        view,
                        first_reported_at: row.get(1),
                        last_reported_at: row.get(2),
                        report_count: row.get(3),
                        reports,
                    });
                }
                let next = more
                    .then(|| {
                        entries.last().map(|e| QueueCursor {
                            first_reported_at: e.first_reported_at,
                            clip_id: e.view.id.clone(),
                        })
                    })
                    .flatten();
                Ok(QueuePage { entries, next })
            }

            async fn blocked(&self, sha256: &str) -> Result<Option<BlockedDigest>, StoreError> {
                let sql = format!("SELECT {BLOCKED_COLUMNS} FROM blocked_digests WHERE sha256 = $1");
                Ok(sqlx::query_as::<_, BlockedDigest>(&sql)
                    .bind(sha256)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn rebuild_begin(&self) -> Result<(), StoreError> {
                for (table, _) in rebuilt_tables() {
                    sqlx::raw_sql(&format!(
                        "DROP TABLE IF EXISTS {table}_rebuild; \
                         {} {table}_rebuild AS SELECT * FROM {table} WHERE 1 = 0",
                        $create_aside
                    ))
                    .execute(&self.pool)
                    .await?;
                }
                sqlx::raw_sql(&format!(
                    "DROP TABLE IF EXISTS clip_search_rebuild; {}",
                    Self::SEARCH_ASIDE
                ))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn rebuild_write(&self, batch: &RebuildBatch) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                Self::insert_aside(&mut tx, batch).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn rebuild_swap(&self) -> Result<(), StoreError> {
                // Readers keep seeing the old rows until the commit (MVCC in PostgreSQL, WAL
                // snapshots in SQLite); the tables themselves, their indexes and grants stay.
                let mut tx = self.pool.begin().await?;
                // Live projection waits until the swap commits, so no row it writes meanwhile
                // can collide with the rows swapped in; readers are not blocked.
                sqlx::query($lock_live).execute(&mut *tx).await?;
                for (table, columns) in rebuilt_tables() {
                    sqlx::query(&format!("DELETE FROM {table}"))
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(&format!(
                        "INSERT INTO {table} ({columns}) {}",
                        swap_source(table, columns)
                    ))
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(&format!("DROP TABLE {table}_rebuild"))
                        .execute(&mut *tx)
                        .await?;
                }
                Self::swap_search(&mut tx).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn all_reports(&self) -> Result<Vec<ReportRow>, StoreError> {
                let sql =
                    format!("SELECT {REPORT_COLUMNS} FROM clip_reports ORDER BY clip_id, sequence");
                Ok(sqlx::query_as::<_, ReportRow>(&sql)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn all_blocked(&self) -> Result<Vec<BlockedDigest>, StoreError> {
                let sql = format!("SELECT {BLOCKED_COLUMNS} FROM blocked_digests ORDER BY sha256");
                Ok(sqlx::query_as::<_, BlockedDigest>(&sql)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn all(&self) -> Result<Vec<ClipView>, StoreError> {
                let sql = format!("SELECT {COLUMNS} FROM clip_views ORDER BY id");
                Ok(sqlx::query_as::<_, ClipView>(&sql)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn replace_transcript(
                &self,
                id: &str,
                segments: &[TranscriptSegment],
            ) -> Result<(), StoreError> {
                // Never astride a rebuild's swap, like the other projection writes.
                let mut tx = self.pool.begin_with($begin_projection).await?;
                sqlx::query($lock_projection).execute(&mut *tx).await?;
                Self::write_segments(&mut tx, id, segments).await?;
                Self::refresh_search(&mut tx, id).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn transcript(&self, id: &str) -> Result<Vec<TranscriptSegment>, StoreError> {
                let rows: Vec<(i64, i64, String)> = sqlx::query_as(
                    "SELECT start_ms, end_ms, text FROM clip_transcript_segments \
                     WHERE clip_id = $1 ORDER BY seq",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(segment_from_db).collect())
            }

            async fn all_transcripts(
                &self,
            ) -> Result<Vec<(String, TranscriptSegment)>, StoreError> {
                let rows: Vec<(String, i64, i64, String)> = sqlx::query_as(
                    "SELECT clip_id, start_ms, end_ms, text FROM clip_transcript_segments \
                     ORDER BY clip_id, seq",
                )
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(id, s, e, t)| (id, segment_from_db((s, e, t))))
                    .collect())
            }

            async fn all_search_entries(&self) -> Result<Vec<String>, StoreError> {
                self.search_entries().await
            }

            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn shared_secret(
                &self,
                name: &str,
                candidate: &str,
            ) -> Result<String, StoreError> {
                sqlx::query(
                    "INSERT INTO server_secrets (name, value) VALUES ($1, $2) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(name)
                .bind(candidate)
                .execute(&self.pool)
                .await?;
                let value = sqlx::query("SELECT value FROM server_secrets WHERE name = $1")
                    .bind(name)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(value.get::<String, _>(0))
            }
        }

        #[async_trait]
        impl ReplayCache for $store {
            async fn first_use(&self, key: &str, expires_at: i64, now: i64) -> Result<bool, StoreError> {
                // A row whose time is up may be taken over; a live one makes this a replay.
                let inserted = sqlx::query(
                    "INSERT INTO dpop_proofs (key, expires_at) VALUES ($1, $2) \
                     ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at \
                     WHERE dpop_proofs.expires_at <= $3",
                )
                .bind(key)
                .bind(expires_at)
                .bind(now)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(inserted == 1)
            }

            async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
                let deleted = sqlx::query("DELETE FROM dpop_proofs WHERE expires_at <= $1")
                    .bind(now)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                Ok(deleted)
            }
        }

        #[async_trait]
        impl RedeemedLinks for $store {
            async fn redeem(&self, jti: &str, expires_at: i64) -> Result<bool, StoreError> {
                let inserted = sqlx::query(
                    "INSERT INTO redeemed_login_links (jti, expires_at) VALUES ($1, $2) \
                     ON CONFLICT (jti) DO NOTHING",
                )
                .bind(jti)
                .bind(expires_at)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(inserted == 1)
            }

            async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
                let deleted =
                    sqlx::query("DELETE FROM redeemed_login_links WHERE expires_at <= $1")
                        .bind(now)
                        .execute(&self.pool)
                        .await?
                        .rows_affected();
                Ok(deleted)
            }
        }

        #[async_trait]
        impl PlaybackGrants for $store {
            async fn reserve(
                &self,
                nonce: &str,
                clip: &str,
                want: i64,
                min: i64,
                now: i64,
            ) -> Result<Option<Reservation>, StoreError> {
                // SET expressions read the row as it was, so `granted` and `used` agree.
                let row = sqlx::query(
                    "UPDATE playback_grants SET \
                     granted = CASE WHEN budget - used < $3 THEN budget - used ELSE $3 END, \
                     used = used + CASE WHEN budget - used < $3 THEN budget - used ELSE $3 END \
                     WHERE nonce = $1 AND clip_id = $2 AND generation > 0 AND expires_at > $5 \
                     AND budget - used >= $4 \
                     RETURNING granted, generation",
                )
                .bind(nonce)
                .bind(clip)
                .bind(want)
                .bind(min)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|row| Reservation {
                    bytes: row.get(0),
                    generation: row.get(1),
                }))
            }

            async fn claim(
                &self,
                nonce: &str,
                clip: &str,
                lease_until: i64,
                now: i64,
            ) -> Result<bool, StoreError> {
                let claimed = sqlx::query(
                    "INSERT INTO playback_grants \
                     (nonce, clip_id, generation, expires_at, budget, used, granted, lease_until) \
                     VALUES ($1, $2, 0, 0, 0, 0, 0, $3) \
                     ON CONFLICT (nonce) DO UPDATE SET lease_until = excluded.lease_until \
                     WHERE playback_grants.clip_id = excluded.clip_id \
                     AND playback_grants.lease_until <= $4",
                )
                .bind(nonce)
                .bind(clip)
                .bind(lease_until)
                .bind(now)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(claimed == 1)
            }

            async fn pay(
                &self,
                nonce: &str,
                budget: i64,
                used: i64,
                expires_at: i64,
            ) -> Result<i64, StoreError> {
                let row = sqlx::query(
                    "UPDATE playback_grants SET generation = generation + 1, budget = $2, \
                     used = $3, expires_at = $4, lease_until = 0 WHERE nonce = $1 \
                     RETURNING generation",
                )
                .bind(nonce)
                .bind(budget)
                .bind(used)
                .bind(expires_at)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map_or(0, |row| row.get(0)))
            }

            async fn release(&self, nonce: &str) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM playback_grants WHERE nonce = $1 AND generation = 0")
                    .bind(nonce)
                    .execute(&self.pool)
                    .await?;
                sqlx::query("UPDATE playback_grants SET lease_until = 0 WHERE nonce = $1")
                    .bind(nonce)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn refund(
                &self,
                nonce: &str,
                generation: i64,
                bytes: i64,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE playback_grants \
                     SET used = CASE WHEN used > $3 THEN used - $3 ELSE 0 END \
                     WHERE nonce = $1 AND generation = $2",
                )
                .bind(nonce)
                .bind(generation)
                .bind(bytes)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
                let deleted = sqlx::query(
                    "DELETE FROM playback_grants WHERE expires_at <= $1 AND lease_until <= $1",
                )
                .bind(now)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(deleted)
            }
        }

        #[async_trait]
        impl ExpiryIndex for $store {
            async fn due(&self, now: i64, limit: u32) -> Result<Vec<DueClip>, StoreError> {
                // `clip_views_expiry_due` (migration 0015) holds exactly the candidates.
                let rows: Vec<(String, String)> = sqlx::query_as(
                    "SELECT id, blob_key FROM clip_views WHERE expires_at IS NOT NULL \
                     AND expired_at IS NULL AND deleted_at IS NULL AND expires_at <= $1 \
                     AND moderation_state <> $2 ORDER BY expires_at, id LIMIT $3",
                )
                .bind(now)
                .bind(Moderation::Removed.as_str())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(id, blob_key)| DueClip { id, blob_key })
                    .collect())
            }
        }

        #[async_trait]
        impl ScanDispatch for $store {
            async fn claim_pending(
                &self,
                now: i64,
                first_retry: i64,
                limit: u32,
            ) -> Result<Vec<String>, StoreError> {
                // The first claim of a clip is due again after `first_retry`, each later one
                // after twice as long as the one before (up to 32 times), so a job lost in a
                // crash is republished soon and a long backlog is not flooded with duplicates.
                let rows = sqlx::query(
                    "INSERT INTO scan_dispatch (clip_id, due_at, attempts) \
                     SELECT v.id, $1 + $2, 1 FROM clip_views v \
                     WHERE v.scan_state = $4 AND v.deleted_at IS NULL AND v.expired_at IS NULL \
                     AND v.moderation_state <> $5 \
                     AND NOT EXISTS (SELECT 1 FROM scan_dispatch d \
                                     WHERE d.clip_id = v.id AND d.due_at > $1) \
                     ORDER BY v.created_at LIMIT $3 \
                     ON CONFLICT (clip_id) DO UPDATE SET \
                     due_at = $1 + ($2 << CAST(CASE WHEN scan_dispatch.attempts > 5 THEN 5 \
                                               ELSE scan_dispatch.attempts END AS integer)), \
                     attempts = scan_dispatch.attempts + 1 \
                     WHERE scan_dispatch.due_at <= $1 \
                     RETURNING clip_id",
                )
                .bind(now)
                .bind(first_retry)
                .bind(i64::from(limit))
                .bind(ScanState::Pending.as_str())
                .bind(Moderation::Removed.as_str())
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(|r| r.get::<String, _>(0)).collect())
            }

            async fn release(&self, clip_id: &str) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM scan_dispatch WHERE clip_id = $1")
                    .bind(clip_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn prune(&self) -> Result<u64, StoreError> {
                // A clip that is no longer pending needs neither a claim nor a count of attempts:
                // a duplicate job does not scan it, and an operator's retry starts afresh.
                let mut pruned = 0;
                for table in ["scan_dispatch", "scan_attempts"] {
                    let sql = format!(
                        "DELETE FROM {table} WHERE NOT EXISTS (SELECT 1 FROM clip_views v \
                         WHERE v.id = {table}.clip_id AND v.scan_state = $1 \
                         AND v.deleted_at IS NULL AND v.expired_at IS NULL AND v.moderation_state <> $2)"
                    );
                    let done = sqlx::query(&sql)
                        .bind(ScanState::Pending.as_str())
                        .bind(Moderation::Removed.as_str())
                        .execute(&self.pool)
                        .await?;
                    pruned += done.rows_affected();
                }
                Ok(pruned)
            }

            async fn start_attempt(&self, clip_id: &str) -> Result<u32, StoreError> {
                let started: i64 = sqlx::query_scalar(
                    "INSERT INTO scan_attempts (clip_id, started) VALUES ($1, 1) \
                     ON CONFLICT (clip_id) DO UPDATE SET started = scan_attempts.started + 1 \
                     RETURNING started",
                )
                .bind(clip_id)
                .fetch_one(&self.pool)
                .await?;
                Ok(u32::try_from(started).unwrap_or(u32::MAX))
            }

            async fn reset_attempts(&self, clip_id: &str) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM scan_attempts WHERE clip_id = $1")
                    .bind(clip_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn backlog(&self) -> Result<ScanBacklog, StoreError> {
                // The pending clips are few (a verdict takes seconds), so counting them at
                // each scrape is cheap; a claim in scan_dispatch means a job was published.
                let row = sqlx::query(
                    "SELECT COUNT(*), MIN(CASE WHEN NOT EXISTS (SELECT 1 FROM scan_dispatch d \
                                                WHERE d.clip_id = v.id) \
                                           THEN v.created_at END) \
                     FROM clip_views v WHERE v.scan_state = $1 AND v.deleted_at IS NULL \
                     AND v.expired_at IS NULL AND v.moderation_state <> $2",
                )
                .bind(ScanState::Pending.as_str())
                .bind(Moderation::Removed.as_str())
                .fetch_one(&self.pool)
                .await?;
                let pending: i64 = row.try_get(0)?;
                Ok(ScanBacklog {
                    pending: u64::try_from(pending).unwrap_or(0),
                    oldest_unrelayed_at: row.try_get::<Option<i64>, _>(1)?,
                })
            }
        }

        #[async_trait]
        impl StageDispatch for $store {
            async fn claim_pending(
                &self,
                stage: Stage,
                now: i64,
                first_retry: i64,
                limit: u32,
            ) -> Result<Vec<String>, StoreError> {
                // As scan_dispatch: due again after `first_retry`, then twice as long each
                // time (up to 32 times).
                let column = stage_column(stage);
                let sql = format!(
                    "INSERT INTO stage_dispatch (clip_id, stage, due_at, attempts) \
                     SELECT v.id, $6, $1 + $2, 1 FROM clip_views v \
                     WHERE v.{column} = $4 AND v.deleted_at IS NULL AND v.expired_at IS NULL \
                     AND v.moderation_state <> $5 \
                     AND NOT EXISTS (SELECT 1 FROM stage_dispatch d \
                                     WHERE d.clip_id = v.id AND d.stage = $6 AND d.due_at > $1) \
                     ORDER BY v.created_at LIMIT $3 \
                     ON CONFLICT (clip_id, stage) DO UPDATE SET \
                     due_at = $1 + ($2 << CAST(CASE WHEN stage_dispatch.attempts > 5 THEN 5 \
                                               ELSE stage_dispatch.attempts END AS integer)), \
                     attempts = stage_dispatch.attempts + 1 \
                     WHERE stage_dispatch.due_at <= $1 \
                     RETURNING clip_id"
                );
                let rows = sqlx::query(&sql)
                    .bind(now)
                    .bind(first_retry)
                    .bind(i64::from(limit))
                    .bind(StageState::Pending.as_str())
                    .bind(Moderation::Removed.as_str())
                    .bind(stage.as_str())
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(|r| r.get::<String, _>(0)).collect())
            }

            async fn release(&self, stage: Stage, clip_id: &str) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM stage_dispatch WHERE clip_id = $1 AND stage = $2")
                    .bind(clip_id)
                    .bind(stage.as_str())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn prune(&self, stage: Stage) -> Result<u64, StoreError> {
                let column = stage_column(stage);
                let mut pruned = 0;
                for table in ["stage_dispatch", "stage_attempts"] {
                    let sql = format!(
                        "DELETE FROM {table} WHERE stage = $3 AND NOT EXISTS \
                         (SELECT 1 FROM clip_views v WHERE v.id = {table}.clip_id \
                         AND v.{column} = $1 AND v.deleted_at IS NULL AND v.expired_at IS NULL \
                         AND v.moderation_state <> $2)"
                    );
                    let done = sqlx::query(&sql)
                        .bind(StageState::Pending.as_str())
                        .bind(Moderation::Removed.as_str())
                        .bind(stage.as_str())
                        .execute(&self.pool)
                        .await?;
                    pruned += done.rows_affected();
                }
                Ok(pruned)
            }

            async fn start_attempt(&self, stage: Stage, clip_id: &str) -> Result<u32, StoreError> {
                let started: i64 = sqlx::query_scalar(
                    "INSERT INTO stage_attempts (clip_id, stage, started) VALUES ($1, $2, 1) \
                     ON CONFLICT (clip_id, stage) DO UPDATE \
                     SET started = stage_attempts.started + 1 RETURNING started",
                )
                .bind(clip_id)
                .bind(stage.as_str())
                .fetch_one(&self.pool)
                .await?;
                Ok(u32::try_from(started).unwrap_or(u32::MAX))
            }

            async fn reset_attempts(&self, stage: Stage, clip_id: &str) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM stage_attempts WHERE clip_id = $1 AND stage = $2")
                    .bind(clip_id)
                    .bind(stage.as_str())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn pending(&self, stage: Stage) -> Result<u64, StoreError> {
                // A partial index on each stage's pending clips keeps this cheap.
                let column = stage_column(stage);
                let sql = format!(
                    "SELECT COUNT(*) FROM clip_views v WHERE v.{column} = $1 \
                     AND v.deleted_at IS NULL AND v.expired_at IS NULL \
                     AND v.moderation_state <> $2"
                );
                let pending: i64 = sqlx::query_scalar(&sql)
                    .bind(StageState::Pending.as_str())
                    .bind(Moderation::Removed.as_str())
                    .fetch_one(&self.pool)
                    .await?;
                Ok(u64::try_from(pending).unwrap_or(0))
            }
        }

        #[async_trait]
        impl EventLog for $store {
            async fn history(
                &self,
                id: &str,
                after: i64,
                limit: u32,
            ) -> Result<Vec<StoredEvent>, StoreError> {
                let sql = concat!(
                    "SELECT sequence, event_type, event_version, ",
                    $text_payload,
                    ", ",
                    $text_metadata,
                    " FROM events WHERE aggregate_type = 'Clip' AND aggregate_id = $1 ",
                    "AND sequence > $2 ORDER BY sequence LIMIT $3"
                );
                let rows = sqlx::query(sql)
                    .bind(id)
                    .bind(after)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter()
                    .map(|row| {
                        let sequence: i64 = row.get(0);
                        let json = |i: usize| {
                            serde_json::from_str(row.get::<&str, _>(i)).map_err(|e| {
                                StoreError::Corrupt(format!("{id}#{sequence}: {e}"))
                            })
                        };
                        Ok(StoredEvent {
                            sequence,
                            event_type: row.get(1),
                            event_version: row.get(2),
                            payload: json(3)?,
                            metadata: json(4)?,
                        })
                    })
                    .collect()
            }

            async fn stale_views(&self) -> Result<Vec<String>, StoreError> {
                let rows = sqlx::query(
                    "SELECT e.aggregate_id FROM events e \
                     LEFT JOIN clip_views v ON v.id = e.aggregate_id \
                     WHERE e.aggregate_type = 'Clip' \
                     GROUP BY e.aggregate_id, v.version \
                     HAVING MAX(e.sequence) > COALESCE(v.version, 0)",
                )
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(|r| r.get::<String, _>(0)).collect())
            }

            async fn events_for(&self, id: &str) -> Result<Vec<EventEnvelope<Clip>>, StoreError> {
                let sql = concat!(
                    "SELECT aggregate_id, sequence, event_type, event_version, ",
                    $text_payload,
                    ", ",
                    $text_metadata,
                    " FROM events WHERE aggregate_type = 'Clip' AND aggregate_id = $1 ",
                    "ORDER BY sequence"
                );
                let rows = sqlx::query(sql).bind(id).fetch_all(&self.pool).await?;
                rows.into_iter()
                    .map(|row| {
                        to_envelope(
                            row.get(0),
                            row.get(1),
                            row.get(2),
                            row.get(3),
                            row.get::<&str, _>(4),
                            row.get::<&str, _>(5),
                        )
                    })
                    .collect()
            }

            async fn events_page(
                &self,
                after: Option<(&str, i64)>,
                limit: u32,
            ) -> Result<Vec<EventEnvelope<Clip>>, StoreError> {
                let sql = concat!(
                    "SELECT aggregate_id, sequence, event_type, event_version, ",
                    $text_payload,
                    ", ",
                    $text_metadata,
                    " FROM events WHERE aggregate_type = 'Clip' ",
                    "AND (aggregate_id, sequence) > ($1, $2) ",
                    "ORDER BY aggregate_id, sequence LIMIT $3"
                );
                let (id, sequence) = after.unwrap_or(("", -1));
                let mut rows = sqlx::query(sql)
                    .bind(id)
                    .bind(sequence)
                    .bind(i64::from(limit))
                    .fetch(&self.pool);
                let mut page = Vec::with_capacity(limit as usize);
                while let Some(row) = rows.try_next().await? {
                    page.push(to_envelope(
                        row.get(0),
                        row.get(1),
                        row.get(2),
                        row.get(3),
                        row.get::<&str, _>(4),
                        row.get::<&str, _>(5),
                    )?);
                }
                Ok(page)
            }
        }
    };
}

sql_store!(
    SqliteStore,
    sqlx::Sqlite,
    "payload",
    "metadata",
    "CREATE TABLE",
    // A write transaction already excludes every other writer.
    "SELECT 1",
    // Take the write lock at once, so what is read in the transaction is still true when it
    // writes.
    "BEGIN IMMEDIATE",
    "SELECT 1",
    ""
);
// Tables built aside are scratch space: unlogged, so writing them costs no WAL.
sql_store!(
    PostgresStore,
    sqlx::Postgres,
    "payload::text",
    "metadata::text",
    "CREATE UNLOGGED TABLE",
    "LOCK TABLE clip_views, clip_reports, blocked_digests, clip_transcript_segments, clip_search \
     IN SHARE ROW EXCLUSIVE MODE",
    "BEGIN",
    // Conflicts with the swap's lock and not with itself: projections of different clips run
    // side by side; `FOR UPDATE` orders those of the same clip.
    "LOCK TABLE clip_views, clip_reports, blocked_digests, clip_transcript_segments, clip_search \
     IN ROW EXCLUSIVE MODE",
    " FOR UPDATE"
);

/// The abuse-report and sign-in-link allowances of embedded mode, in SQLite, so that they hold
/// across restarts and across processes sharing the database file (the request limits of
/// embedded mode are kept in process).
#[async_trait]
impl RateLimits for SqliteStore {
    async fn take(&self, key: &str, rate: Rate, now_ms: i64) -> Result<Take, StoreError> {
        // The same step as PostgreSQL's, as an upsert whose WHERE refuses; SQLite takes the
        // database's write lock for it, so concurrent takes apply one after the other. A
        // refusal reads the clock afterwards, only to say how long to wait.
        const AHEAD: &str = "CASE WHEN rate_limit_buckets.tat > $2 \
                             THEN rate_limit_buckets.tat ELSE $2 END + $3";
        let taken: Option<i64> = sqlx::query(&format!(
            "INSERT INTO rate_limit_buckets (key, tat) VALUES ($1, $2 + $3) \
             ON CONFLICT (key) DO UPDATE SET tat = {AHEAD} \
             WHERE {AHEAD} <= $2 + $4 \
             RETURNING tat"
        ))
        .bind(key)
        .bind(now_ms)
        .bind(rate.interval_ms)
        .bind(rate.horizon_ms())
        .fetch_optional(&self.pool)
        .await?
        .map(|row| row.get(0));
        if let Some(tat) = taken {
            return Ok(gcra::outcome(true, Some(tat), rate, now_ms));
        }
        let found: Option<i64> = sqlx::query("SELECT tat FROM rate_limit_buckets WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| row.get(0));
        Ok(gcra::outcome(false, found, rate, now_ms))
    }

    async fn purge_full(&self, now_ms: i64) -> Result<u64, StoreError> {
        let deleted = sqlx::query("DELETE FROM rate_limit_buckets WHERE tat <= $1")
            .bind(now_ms)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(deleted)
    }

    fn describe(&self) -> &'static str {
        "SQLite"
    }
}

/// The rate-limit buckets of every API replica, in PostgreSQL (embedded mode keeps the request
/// limits in process). The table is unlogged (migration 0016): a crash forgets the buckets, which is the
/// same as full buckets, and spares a WAL write per request.
#[async_trait]
impl RateLimits for PostgresStore {
    async fn take(&self, key: &str, rate: Rate, now_ms: i64) -> Result<Take, StoreError> {
        // GCRA in one statement: the bucket's clock moves one interval ahead of max(clock,
        // now), unless that would put it more than `capacity` intervals ahead of now (the
        // WHERE fails, `taken` is empty: refused). The upsert locks the row, so concurrent
        // takes on any replica apply one after the other to the latest clock. `found` is the
        // clock as the statement's snapshot saw it, only to tell a refused client how long to
        // wait (under contention, an estimate).
        const AHEAD: &str = "CASE WHEN rate_limit_buckets.tat > $2 \
                             THEN rate_limit_buckets.tat ELSE $2 END + $3";
        let row = sqlx::query(&format!(
            "WITH found AS (SELECT tat FROM rate_limit_buckets WHERE key = $1), \
             taken AS (INSERT INTO rate_limit_buckets (key, tat) VALUES ($1, $2 + $3) \
                       ON CONFLICT (key) DO UPDATE SET tat = {AHEAD} \
                       WHERE {AHEAD} <= $2 + $4 \
                       RETURNING tat) \
             SELECT (SELECT tat FROM taken) AS taken, (SELECT tat FROM found) AS found"
        ))
        .bind(key)
        .bind(now_ms)
        .bind(rate.interval_ms)
        .bind(rate.horizon_ms())
        .fetch_one(&self.pool)
        .await?;
        let taken: Option<i64> = row.try_get("taken")?;
        let found: Option<i64> = row.try_get("found")?;
        Ok(match taken {
            Some(tat) => gcra::outcome(true, Some(tat), rate, now_ms),
            None => gcra::outcome(false, found, rate, now_ms),
        })
    }

    async fn purge_full(&self, now_ms: i64) -> Result<u64, StoreError> {
        let deleted = sqlx::query("DELETE FROM rate_limit_buckets WHERE tat <= $1")
            .bind(now_ms)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(deleted)
    }

    fn describe(&self) -> &'static str {
        "PostgreSQL"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_sql_numbers_parameters_in_order() {
        let sql = list_sql(true);
        assert!(sql.contains("created_at < $2"));
        assert!(sql.contains("id < $3"));
        assert!(sql.ends_with("LIMIT $4"));
        assert!(list_sql(false).ends_with("LIMIT $2"));
        let sqlite = sqlite_rank_sql(true);
        assert!(sqlite.contains("MATCH $2") && sqlite.contains("rowid < $3"));
        assert!(sqlite.ends_with("LIMIT $4"));
        assert!(sqlite_rank_sql(false).ends_with("LIMIT $3"));
        for rank in RANKS {
            for fenced in [false, true] {
                let postgres = postgres_rank_sql(rank, true, fenced);
                assert!(postgres.contains("to_tsquery('simple', $3)"));
                assert!(postgres.contains("created_at < $4") && postgres.contains("id < $5"));
                assert!(postgres.ends_with("LIMIT $6"));
                assert!(postgres_rank_sql(rank, false, fenced).ends_with("LIMIT $4"));
            }
            assert!(postgres_rank_count_sql(rank).ends_with("LIMIT $3) AS matches"));
        }
    }

    #[test]
    fn queue_sql_numbers_parameters_in_order() {
        let query = QueueQuery {
            state: ReportState::Open,
            reason: Some(voicebin_domain::ReportReason::Spam),
            after: Some(QueueCursor {
                first_reported_at: 1,
                clip_id: "AAAAAAAAAAAAAAAA".into(),
            }),
            limit: 10,
            reports_per_entry: 5,
        };
        let entries = queue_sql(&query, true);
        assert!(entries.contains("resolved_at IS NULL AND reason = $1"));
        assert!(entries.contains("MIN(reported_at) > $2"));
        assert!(entries.contains("clip_id > $3"));
        assert!(entries.ends_with("LIMIT $4"));
        let reports = queue_sql(&query, false);
        assert!(reports.contains("clip_id = $1"));
        assert!(reports.contains("reason = $2"));
        assert!(reports.ends_with("LIMIT $3"));
    }
}
