//! Keeping the read models current, and rebuilding them from the event store.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use cqrs_es::{EventEnvelope, Query};
use voicebin_domain::Clip;

use crate::store::{EventLog, ReadStore, StoreError};
use crate::view::ClipView;

/// The cqrs-es query that folds newly committed events into `clip_views`.
///
/// cqrs-es dispatches queries after commit and outside the transaction, so a crash (or a
/// database error) between the two can leave a view behind its stream. The projector detects
/// that on the next event of the same clip (a sequence gap) and repairs the view from the
/// event log; `voicebin projections rebuild` repairs everything at once.
pub struct ClipProjector {
    views: Arc<dyn ReadStore>,
    log: Arc<dyn EventLog>,
}

impl ClipProjector {
    /// A projector writing to `views`, repairing from `log`.
    pub fn new(views: Arc<dyn ReadStore>, log: Arc<dyn EventLog>) -> Self {
        Self { views, log }
    }

    /// Re-folds one clip's view from its full event stream (used to repair stale views).
    pub async fn repair(&self, id: &str) -> Result<(), StoreError> {
        if let Some(view) = fold(None, id, &self.log.events_for(id).await?) {
            self.views.upsert(&view).await?;
        }
        Ok(())
    }

    async fn project(&self, id: &str, events: &[EventEnvelope<Clip>]) -> Result<(), StoreError> {
        let Some(first) = events.first() else {
            return Ok(());
        };
        let current = self.views.get(id).await?;
        let expected = current.as_ref().map_or(1, |v| v.version + 1);
        let first_seq = first.sequence as i64;
        let view = if first_seq == expected {
            fold(current, id, events)
        } else if first_seq < expected {
            // Already applied (a replay or a racing dispatch); upsert's version guard keeps the
            // newest, so re-folding from the log is both safe and simplest.
            fold(None, id, &self.log.events_for(id).await?)
        } else {
            tracing::warn!(clip.id = %id, expected, got = first_seq, "view behind its stream; repairing");
            fold(None, id, &self.log.events_for(id).await?)
        };
        if let Some(view) = view {
            self.views.upsert(&view).await?;
        }
        Ok(())
    }
}

fn fold(start: Option<ClipView>, id: &str, events: &[EventEnvelope<Clip>]) -> Option<ClipView> {
    events.iter().fold(start, |view, e| {
        ClipView::apply(view, id, e.sequence as i64, &e.payload)
    })
}

#[async_trait]
impl Query<Clip> for ClipProjector {
    async fn dispatch(&self, aggregate_id: &str, events: &[EventEnvelope<Clip>]) {
        if let Err(error) = self.project(aggregate_id, events).await {
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

/// Replays every `Clip` event into fresh views and swaps them in atomically.
pub async fn rebuild(
    log: &dyn EventLog,
    views: &dyn ReadStore,
) -> Result<RebuildStats, StoreError> {
    let started = Instant::now();
    let mut built: Vec<ClipView> = Vec::new();
    let mut current: Option<(String, Option<ClipView>)> = None;
    let events = log
        .all_events(&mut |e| match &mut current {
            Some((id, view)) if *id == e.aggregate_id => {
                *view = ClipView::apply(view.take(), id, e.sequence as i64, &e.payload);
            }
            _ => {
                if let Some((_, Some(done))) = current.take() {
                    built.push(done);
                }
                let view = ClipView::apply(None, &e.aggregate_id, e.sequence as i64, &e.payload);
                current = Some((e.aggregate_id.clone(), view));
            }
        })
        .await?;
    if let Some((_, Some(done))) = current.take() {
        built.push(done);
    }
    let count = built.len() as u64;
    views.replace_all(built).await?;
    Ok(RebuildStats {
        events,
        views: count,
        seconds: started.elapsed().as_secs_f64(),
    })
}
