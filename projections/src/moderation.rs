//! The moderation read models: abuse reports (the moderators' queue) and the blocklist of
//! digests a moderator took down. Both are derived from `Clip` events by [`changes_for`], a pure
//! function shared by the live projector and the rebuild, and every change it yields can be
//! applied twice without effect.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Type};
use voicebin_domain::{ClipEvent, ReportReason, UnknownName};

use crate::stored::ByName;
use crate::view::ClipView;

/// One abuse report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct ReportRow {
    /// The reported clip.
    pub clip_id: String,
    /// The `Reported` event's sequence number.
    pub sequence: i64,
    /// `account:<id>` or `anonymous:<tag>`.
    pub reporter: String,
    /// Why it was filed.
    #[sqlx(try_from = "ByName<ReportReason>")]
    pub reason: ReportReason,
    /// The reporter's note.
    pub note: Option<String>,
    /// When it was filed (µs since epoch).
    pub reported_at: i64,
    /// When a moderator decision (or the clip's deletion) closed it (µs since epoch).
    pub resolved_at: Option<i64>,
    /// What closed it.
    pub resolution: Option<Resolution>,
}

/// What closed a report: a moderator's decision or the clip's deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// A moderator blocked the clip.
    Blocked,
    /// A moderator restored the clip.
    Restored,
    /// A moderator took the clip down.
    Removed,
    /// The clip was deleted.
    Deleted,
    /// The clip expired.
    Expired,
}

impl Resolution {
    /// Every resolution.
    pub const ALL: [Resolution; 5] = [
        Resolution::Blocked,
        Resolution::Restored,
        Resolution::Removed,
        Resolution::Deleted,
        Resolution::Expired,
    ];

    /// The stable name, as stored (`blocked`, `restored`, `removed`, `deleted`, `expired`).
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Blocked => "blocked",
            Resolution::Restored => "restored",
            Resolution::Removed => "removed",
            Resolution::Deleted => "deleted",
            Resolution::Expired => "expired",
        }
    }
}

impl std::str::FromStr for Resolution {
    type Err = UnknownName;

    fn from_str(name: &str) -> Result<Self, UnknownName> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == name)
            .ok_or_else(|| UnknownName::new("report resolution", name))
    }
}

/// A digest that may never be uploaded again, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct BlockedDigest {
    /// Lowercase hex SHA-256.
    pub sha256: String,
    /// The clip whose removal put it here.
    pub clip_id: String,
    /// The moderator's reason.
    pub reason: String,
    /// When (µs since epoch).
    pub removed_at: i64,
}

/// What one event changes in the moderation read models.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModerationChange {
    /// A new report (kept if already there).
    Report(ReportRow),
    /// Closes the clip's open reports filed before `before`.
    Resolve {
        /// The clip.
        clip_id: String,
        /// Sequence of the deciding event.
        before: i64,
        /// When (µs since epoch).
        at: i64,
        /// What closed them.
        resolution: Resolution,
    },
    /// A digest enters the blocklist (of several removals of the same bytes, the earliest is
    /// kept).
    Block(BlockedDigest),
}

fn micros(at: &DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// The changes event number `sequence` of clip `id` makes (none, one, or for a removal two:
/// its reports are closed and its bytes blocked).
pub fn changes_for(id: &str, sequence: i64, event: &ClipEvent) -> Vec<ModerationChange> {
    let resolve = |at: &DateTime<Utc>, resolution| ModerationChange::Resolve {
        clip_id: id.to_owned(),
        before: sequence,
        at: micros(at),
        resolution,
    };
    match event {
        ClipEvent::Reported {
            reporter,
            reason,
            note,
            at,
        } => vec![ModerationChange::Report(ReportRow {
            clip_id: id.to_owned(),
            sequence,
            reporter: reporter.to_string(),
            reason: *reason,
            note: note.as_ref().map(|n| n.to_string()),
            reported_at: micros(at),
            resolved_at: None,
            resolution: None,
        })],
        ClipEvent::Blocked { at, .. } => vec![resolve(at, Resolution::Blocked)],
        ClipEvent::Restored { at, .. } => vec![resolve(at, Resolution::Restored)],
        ClipEvent::Deleted { at, .. } => vec![resolve(at, Resolution::Deleted)],
        // Nothing is left to decide about a clip that expired: it is gone for everyone.
        ClipEvent::Expired { at, .. } => vec![resolve(at, Resolution::Expired)],
        ClipEvent::Removed {
            sha256, reason, at, ..
        } => vec![
            resolve(at, Resolution::Removed),
            ModerationChange::Block(BlockedDigest {
                sha256: sha256.to_string(),
                clip_id: id.to_owned(),
                reason: reason.to_string(),
                removed_at: micros(at),
            }),
        ],
        _ => Vec::new(),
    }
}

/// Whether removal `a` of some bytes came before removal `b` of the same bytes (then by clip
/// id): the blocklist keeps the earliest.
fn earlier(a: &BlockedDigest, b: &BlockedDigest) -> bool {
    (a.removed_at, &a.clip_id) < (b.removed_at, &b.clip_id)
}

/// Applies `change` to one clip's reports and the blocklist held in memory, exactly as the SQL
/// stores apply it.
pub fn apply_in_memory(
    change: ModerationChange,
    reports: &mut Vec<ReportRow>,
    digests: &mut Vec<BlockedDigest>,
) {
    match change {
        ModerationChange::Report(row) => {
            if !reports.iter().any(|r| r.sequence == row.sequence) {
                reports.push(row);
            }
        }
        ModerationChange::Resolve {
            before,
            at,
            resolution,
            ..
        } => {
            for r in reports
                .iter_mut()
                .filter(|r| r.sequence < before && r.resolved_at.is_none())
            {
                r.resolved_at = Some(at);
                r.resolution = Some(resolution);
            }
        }
        ModerationChange::Block(digest) => {
            match digests.iter_mut().find(|d| d.sha256 == digest.sha256) {
                Some(kept) if earlier(&digest, kept) => *kept = digest,
                Some(_) => {}
                None => digests.push(digest),
            }
        }
    }
}

/// Which reports the queue shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportState {
    /// Awaiting a moderator's decision.
    Open,
    /// Closed by a decision or by the clip's deletion.
    Resolved,
    /// Both.
    All,
}

/// A position in the queue: the last entry of the previous page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueCursor {
    /// When the entry's first matching report was filed (µs).
    pub first_reported_at: i64,
    /// The entry's clip id.
    pub clip_id: String,
}

impl QueueCursor {
    /// The opaque form handed to clients.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("q{}:{}", self.first_reported_at, self.clip_id))
    }

    /// Parses the opaque form; `None` when it was not made by [`QueueCursor::encode`].
    pub fn decode(raw: &str) -> Option<Self> {
        if raw.len() > 128 {
            return None;
        }
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).ok()?).ok()?;
        let (at, id) = text.strip_prefix('q')?.split_once(':')?;
        let id = voicebin_domain::ClipId::parse(id).ok()?;
        Some(QueueCursor {
            first_reported_at: at.parse().ok()?,
            clip_id: id.into_inner(),
        })
    }
}

/// One page of the queue request.
#[derive(Debug, Clone)]
pub struct QueueQuery {
    /// Which reports count.
    pub state: ReportState,
    /// Only reports with this reason.
    pub reason: Option<ReportReason>,
    /// Continue after this entry.
    pub after: Option<QueueCursor>,
    /// Entries per page.
    pub limit: u32,
    /// Reports shown per entry (the oldest first); `report_count` tells how many match.
    pub reports_per_entry: u32,
}

/// The queue entry of one clip: its matching reports, oldest first.
#[derive(Debug, Clone)]
pub struct QueueEntry {
    /// The clip as it stands.
    pub view: ClipView,
    /// How many reports match.
    pub report_count: i64,
    /// The first matching report (µs).
    pub first_reported_at: i64,
    /// The last matching report (µs).
    pub last_reported_at: i64,
    /// The matching reports, oldest first, at most `reports_per_entry`.
    pub reports: Vec<ReportRow>,
}

/// A page of the queue: clips ordered by their oldest matching report.
#[derive(Debug, Clone)]
pub struct QueuePage {
    /// Oldest first.
    pub entries: Vec<QueueEntry>,
    /// Present when more entries follow.
    pub next: Option<QueueCursor>,
}

// `Resolution` is this crate's, so it decodes by name directly: its column is nullable, and
// `#[sqlx(try_from)]` cannot reach inside an `Option`.
impl<DB: Database> Type<DB> for Resolution
where
    String: Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <ByName<Self> as Type<DB>>::type_info()
    }

    fn compatible(ty: &DB::TypeInfo) -> bool {
        <ByName<Self> as Type<DB>>::compatible(ty)
    }
}

impl<'r, DB: Database> Decode<'r, DB> for Resolution
where
    String: Decode<'r, DB>,
{
    fn decode(value: DB::ValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(ByName::<Self>::decode(value)?.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(sequence: i64) -> ReportRow {
        ReportRow {
            clip_id: "c".into(),
            sequence,
            reporter: format!("anonymous:{sequence}"),
            reason: ReportReason::Spam,
            note: None,
            reported_at: sequence,
            resolved_at: None,
            resolution: None,
        }
    }

    #[test]
    fn decisions_close_only_earlier_reports_and_replays_change_nothing() {
        let mut reports = Vec::new();
        let mut digests = Vec::new();
        for change in [
            ModerationChange::Report(report(3)),
            ModerationChange::Report(report(3)),
            ModerationChange::Resolve {
                clip_id: "c".into(),
                before: 4,
                at: 40,
                resolution: Resolution::Restored,
            },
            ModerationChange::Report(report(5)),
        ] {
            apply_in_memory(change, &mut reports, &mut digests);
        }
        assert_eq!(reports.len(), 2);
        assert_eq!(reports[0].resolution, Some(Resolution::Restored));
        assert_eq!(reports[1].resolved_at, None);
        let removed = ClipEvent::Removed {
            by: voicebin_domain::AccountId::parse("mod").unwrap(),
            reason: voicebin_domain::ModerationReason::parse("x").unwrap(),
            sha256: voicebin_domain::Sha256Digest::from_bytes([0xab; 32]),
            at: DateTime::from_timestamp_micros(60).unwrap(),
        };
        for _ in 0..2 {
            for change in changes_for("c", 6, &removed) {
                apply_in_memory(change, &mut reports, &mut digests);
            }
        }
        assert_eq!(digests.len(), 1);
        assert_eq!(reports[1].resolution, Some(Resolution::Removed));
        assert_eq!(reports[1].resolved_at, Some(60));
    }

    #[test]
    fn an_expiry_closes_the_open_reports_as_expired() {
        let mut reports = vec![report(2), report(3)];
        let mut digests = Vec::new();
        let expired = ClipEvent::Expired {
            expires_at: DateTime::from_timestamp_micros(70).unwrap(),
            at: DateTime::from_timestamp_micros(80).unwrap(),
        };
        for change in changes_for("c", 4, &expired) {
            apply_in_memory(change, &mut reports, &mut digests);
        }
        for r in &reports {
            assert_eq!(r.resolution, Some(Resolution::Expired));
            assert_eq!(r.resolved_at, Some(80));
        }
        assert!(digests.is_empty());
    }

    #[test]
    fn every_resolution_parses_back_from_its_name_and_unknown_names_are_errors() {
        for resolution in Resolution::ALL {
            assert_eq!(resolution.as_str().parse(), Ok(resolution));
            assert_eq!(
                serde_json::to_value(resolution).unwrap(),
                resolution.as_str()
            );
        }
        assert_eq!(
            "resolved".parse::<Resolution>(),
            Err(UnknownName::new("report resolution", "resolved"))
        );
    }

    #[test]
    fn queue_cursors_round_trip_and_refuse_garbage() {
        let c = QueueCursor {
            first_reported_at: 17,
            clip_id: "AAAAAAAAAAAAAAAA".into(),
        };
        assert_eq!(QueueCursor::decode(&c.encode()), Some(c));
        assert_eq!(QueueCursor::decode("nope"), None);
        assert_eq!(
            QueueCursor::decode(&URL_SAFE_NO_PAD.encode("q1:../x")),
            None
        );
    }
}
