//! Keeping the read models current, and rebuilding them from the event store.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use cqrs_es::{EventEnvelope, Query};
use voicebin_domain::{Clip, ClipEvent};

use crate::moderation::{apply_in_memory, changes_for, BlockedDigest, ModerationChange, ReportRow};
use crate::recent::RecentViews;
use crate::search::TranscriptSegment;
use crate::store::{EventLog, ReadStore, RebuildBatch, StoreError};
use crate::view::ClipView;

/// Rows a rebuild holds before writing them aside.
const REBUILD_BATCH_ROWS: usize = 5000;
/// Events a rebuild reads per query.
const EVENTS_PER_PAGE: u32 = 20_000;

/// The cqrs-es query that folds newly committed events into `clip_views` and the moderation
/// read models (`clip_reports`, `blocked_digests`); the search index follows the views.
///
/// cqrs-es dispatches queries after commit and outside the transaction, so a crash (or a
/// database error) between the two can leave a view behind its stream. The projector detects
/// that on the next event of the same clip (a sequence gap) and repairs the view from the
/// event log; `voicebin projections rebuild` repairs everything at once.
pub struct ClipProjector {
    views: Arc<dyn ReadStore>,
    log: Arc<dyn EventLog>,
    recent: Option<Arc<RecentViews>>,
}

impl ClipProjector {
    /// A projector writing to `views`, repairing from `log`.
    pub fn new(views: Arc<dyn ReadStore>, log: Arc<dyn EventLog>) -> Self {
        Self {
            views,
            log,
            recent: None,
        }
    }

    /// The same projector, making `recent` forget each clip it writes (ADR 0026).
    pub fn forgetting(mut self, recent: Arc<RecentViews>) -> Self {
        self.recent = Some(recent);
        self
    }

    /// Ids of clips whose view is behind (or missing from) their event stream.
    pub async fn stale_views(&self) -> Result<Vec<String>, StoreError> {
        self.log.stale_views().await
    }

    /// Re-folds one clip's read models from its full event stream (used to repair stale views).
    pub async fn repair(&self, id: &str) -> Result<(), StoreError> {
        repair(self.log.as_ref(), self.views.as_ref(), id).await
    }

    async fn project(&self, id: &str, events: &[EventEnvelope<Clip>]) -> Result<(), StoreError> {
        let Some(first) = events.first() else {
            return Ok(());
        };
        let current = self.views.get(id).await?;
        let expected = current.as_ref().map_or(1, |v| v.version + 1);
        let first_seq = first.sequence as i64;
        if first_seq != expected {
            // Below: already applied (a replay or a racing dispatch); upsert's version guard
            // keeps the newest and moderation changes are idempotent, so re-folding is safe.
            // Above: a commit whose projection was lost.
            if first_seq > expected {
                tracing::warn!(clip.id = %id, expected, got = first_seq, "view behind its stream; repairing");
            }
            return self.repair(id).await;
        }
        let view = fold(current, id, events);
        let changes = moderation_changes(id, events);
        let transcript = transcript_change(events);
        let written = self
            .views
            .write_projection(
                id,
                Some(expected - 1),
                view.as_ref(),
                &changes,
                transcript.as_deref(),
            )
            .await?;
        if !written {
            // The stored view moved since it was read: another replica projected this clip,
            // or a rebuild swapped in views that predate rows the live tables held. Folding
            // the whole stream makes both right.
            return self.repair(id).await;
        }
        Ok(())
    }
}

/// Re-folds clip `id`'s read models from its full event stream. Safe at any time: the view's
/// version guard and the idempotent moderation changes keep the newest state.
pub async fn repair(log: &dyn EventLog, views: &dyn ReadStore, id: &str) -> Result<(), StoreError> {
    let events = log.events_for(id).await?;
    let view = fold(None, id, &events);
    let transcript = transcript_change(&events);
    views
        .write_projection(
            id,
            None,
            view.as_ref(),
            &moderation_changes(id, &events),
            transcript.as_deref(),
        )
        .await?;
    Ok(())
}

/// What `events` leave of the clip's transcript: its segments after a transcript or a
/// correction, none after a deletion, removal or expiry (the clip's words go with it), `None` when
/// they do not touch it.
fn transcript_change(events: &[EventEnvelope<Clip>]) -> Option<Vec<TranscriptSegment>> {
    events
        .iter()
        .rev()
        .find_map(|e| transcript_effect(&e.payload))
}

fn transcript_effect(event: &ClipEvent) -> Option<Vec<TranscriptSegment>> {
    match event {
        ClipEvent::TranscriptCompleted { transcript, .. }
        | ClipEvent::TranscriptCorrected { transcript, .. } => Some(
            transcript
                .segments()
                .iter()
                .map(|s| TranscriptSegment {
                    start_ms: s.start_ms,
                    end_ms: s.end_ms,
                    text: s.text.clone(),
                })
                .collect(),
        ),
        ClipEvent::Deleted { .. } | ClipEvent::Removed { .. } | ClipEvent::Expired { .. } => {
            Some(Vec::new())
        }
        _ => None,
    }
}

fn moderation_changes(id: &str, events: &[EventEnvelope<Clip>]) -> Vec<ModerationChange> {
    events
        .iter()
        .flat_map(|e| changes_for(id, e.sequence as i64, &e.payload))
        .collect()
}

fn fold(start: Option<ClipView>, id: &str, events: &[EventEnvelope<Clip>]) -> Option<ClipView> {
    events.iter().fold(start, |view, e| {
        ClipView::apply(view, id, e.sequence as i64, &e.payload)
    })
}

#[async_trait]
impl Query<Clip> for ClipProjector {
    async fn dispatch(&self, aggregate_id: &str, events: &[EventEnvelope<Clip>]) {
        let projected = self.project(aggregate_id, events).await;
        // Written or not, what this process remembers of the clip is older than its events.
        if let Some(recent) = &self.recent {
            recent.forget(aggregate_id);
        }
        if let Err(error) = projected {
            // The events are committed; the view catches up on the clip's next event or the
            // next rebuild. Logged, not propagated: cqrs-es has no channel for query errors.
            tracing::error!(clip.id = %aggregate_id, %error, "projection update failed");
        }
    }
}

/// What a rebuild did.
#[derive(Debug, Clone, Copy)]
pub struct RebuildStats {
    /// Events replayed.
    pub events: u64,
    /// Views written.
    pub views: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

impl RebuildStats {
    /// Replay speed.
    pub fn events_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.events as f64 / self.seconds
        } else {
            self.events as f64
        }
    }
}

/// One clip's read models while a rebuild folds its stream.
#[derive(Default)]
struct Folding {
    id: String,
    view: Option<ClipView>,
    reports: Vec<ReportRow>,
    blocked: Vec<BlockedDigest>,
    /// The clip's transcript as its events leave it; the rebuild writes it with the view.
    transcript: Vec<TranscriptSegment>,
}

impl Folding {
    fn apply(&mut self, sequence: i64, event: &voicebin_domain::ClipEvent) {
        self.view = ClipView::apply(self.view.take(), &self.id, sequence, event);
        for change in changes_for(&self.id, sequence, event) {
            apply_in_memory(change, &mut self.reports, &mut self.blocked);
        }
        if let Some(segments) = transcript_effect(event) {
            self.transcript = segments;
        }
    }

    fn finish(self, batch: &mut RebuildBatch) {
        // Events of a clip without `Uploaded` build nothing, exactly as live projection does.
        if let Some(view) = self.view {
            batch.views.push(view);
            batch.reports.extend(self.reports);
            batch.blocked.extend(self.blocked);
            if !self.transcript.is_empty() {
                batch.transcripts.push((self.id, self.transcript));
            }
        }
    }
}

/// Rebuilds every read model (clip views, reports, blocklist, transcripts and the search index)
/// from the event store while the
/// API keeps serving: replays all `Clip` events into tables built aside, swaps them in in one
/// transaction, then repairs the clips whose streams grew while it ran.
pub async fn rebuild(
    log: &dyn EventLog,
    views: &dyn ReadStore,
) -> Result<RebuildStats, StoreError> {
    let started = Instant::now();
    views.rebuild_begin().await?;
    let mut events = 0u64;
    let mut written = 0u64;
    let mut batch = RebuildBatch::default();
    let mut current = Folding::default();
    let mut after: Option<(String, i64)> = None;
    let mut page = log.events_page(None, EVENTS_PER_PAGE).await?;
    loop {
        let last_page = page.len() < EVENTS_PER_PAGE as usize;
        events += page.len() as u64;
        if let Some(last) = page.last() {
            after = Some((last.aggregate_id.clone(), last.sequence as i64));
        }
        for e in &page {
            if e.aggregate_id != current.id {
                let next = Folding {
                    id: e.aggregate_id.clone(),
                    ..Folding::default()
                };
                std::mem::replace(&mut current, next).finish(&mut batch);
            }
            current.apply(e.sequence as i64, &e.payload);
        }
        if last_page {
            break;
        }
        // Write a full batch while the next page is read.
        let full = (batch.len() >= REBUILD_BATCH_ROWS).then(|| std::mem::take(&mut batch));
        let next = log.events_page(
            after.as_ref().map(|(id, seq)| (id.as_str(), *seq)),
            EVENTS_PER_PAGE,
        );
        page = match full {
            Some(full) => {
                written += full.views.len() as u64;
                let (wrote, next) = tokio::join!(views.rebuild_write(&full), next);
                wrote?;
                next?
            }
            None => next.await?,
        };
    }
    current.finish(&mut batch);
    written += batch.views.len() as u64;
    views.rebuild_write(&batch).await?;
    views.rebuild_swap().await?;
    // Events committed while the rebuild read the store reached the live tables, which the swap
    // just replaced: fold those clips again from their streams.
    for id in log.stale_views().await? {
        repair(log, views, &id).await?;
    }
    Ok(RebuildStats {
        events,
        views: written,
        seconds: started.elapsed().as_secs_f64(),
    })
}
