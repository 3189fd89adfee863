//! `GET /api/v1/items/{id}/history`: a clip's events in order, for its owner and for moderators.
//! The one read that comes from the event store rather than a projection: it *is* the history.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::Value;
use voicebin_projections::StoredEvent;

use super::extract::Auth;
use super::ApiTags;
use crate::access::{Reader, Want};
use crate::error::{ApiError, Code, Errors};
use crate::state::AppState;
use crate::usecases::clips;

/// Default page size.
const DEFAULT_LIMIT: u32 = 100;
/// Largest page size.
const MAX_LIMIT: u32 = 500;
// Payload members that identify (or may identify) a reporter: who, and their free-text note.
// Shown to moderators only. `by` (who edited, deleted or moderated) is shown to owners only when
// it is the owner.
const PRIVATE_MEMBERS: &[&str] = &["reporter", "note"];

/// Clip histories.
pub struct HistoryApi {
    /// Shared state.
    pub state: AppState,
}

/// Who caused an event.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct Actor {
    /// `account` (a person or program with a token), `anonymous` (someone without one, e.g. a
    /// reporter) or `system` (a voicebin component).
    pub kind: String,
    /// The account id, the component (`scanner`, `moderation`, …) or an anonymous reporter's
    /// tag. Owners do not see who else acted on their clip (reporters, moderators): for them
    /// it is absent.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// One event of a clip's history.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct HistoryEntry {
    /// Position in the clip's history, from 1.
    pub sequence: i64,
    /// Event type (`Uploaded`, `ScanCompleted`, `Downloaded`, …; see docs/events.md).
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub event_type: String,
    /// Event schema version.
    pub version: String,
    /// When it happened (RFC 3339).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// Who caused it.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    /// The HTTP request that caused it (`X-Request-Id`), if any.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The event's data as recorded (third parties' identities are shown to moderators only).
    pub payload: Value,
}

/// A page of a clip's history, oldest first.
#[derive(Debug, Clone, Object)]
pub struct HistoryPage {
    /// The clip.
    pub id: String,
    /// Events in order.
    pub items: Vec<HistoryEntry>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
enum HistoryResponse {
    /// The clip's events, oldest first.
    #[oai(status = 200)]
    Ok(Json<HistoryPage>),
}

crate::error::errors!(
    /// What reading a clip's history can answer besides 200.
    HistoryErrors = "getItemHistory": [
        BadRequest, InvalidField, Unauthorized, InsufficientScope, NotFound, Gone, RateLimited,
        Internal, Unavailable
    ]
);

#[OpenApi(prefix_path = "/api/v1/items", tag = "ApiTags::Items")]
impl HistoryApi {
    /// A clip's history (owner with `voice:read`, or a moderator with `voice:moderate`).
    ///
    /// Every event recorded for the clip, oldest first, with who caused it and the request id.
    /// A deleted clip's history stays readable by moderators; its owner gets 410. Others get
    /// 404, as if the clip did not exist.
    #[oai(path = "/:id/history", method = "get", operation_id = "getItemHistory")]
    async fn history(
        &self,
        auth: Auth,
        /// The clip id.
        id: Path<String>,
        /// Page size, 1 to 500 (default 100).
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))]
        limit: Query<Option<u32>>,
        /// Opaque cursor from a previous page's `next_cursor`.
        cursor: Query<Option<String>>,
    ) -> Result<HistoryResponse, Errors<HistoryErrors>> {
        let found = clips::find(&self.state, &id.0, Some(&auth.0), Want::History).await?;
        let (clip, view) = (found.id, found.view);
        let moderator = found.reader == Reader::Moderator;
        let after = match cursor.0.filter(|c| !c.is_empty()) {
            Some(raw) => decode_cursor(&raw).ok_or_else(|| {
                ApiError::new(Code::InvalidField, "cursor is not valid").with_field("cursor")
            })?,
            None => 0,
        };
        let limit = limit.0.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
        // One extra row tells whether another page follows.
        let mut events = self
            .state
            .events
            .history(clip.as_str(), after, limit + 1)
            .await?;
        let more = events.len() > limit as usize;
        events.truncate(limit as usize);
        let next_cursor = more
            .then(|| events.last().map(|e| encode_cursor(e.sequence)))
            .flatten();
        Ok(HistoryResponse::Ok(Json(HistoryPage {
            id: clip.into_inner(),
            items: events
                .into_iter()
                .map(|e| entry(e, &view.owner, moderator))
                .collect(),
            next_cursor,
        })))
    }
}

/// The viewer's form of a stored event: moderators see everything; the owner (`owner`) does not
/// see who else acted on the clip.
pub fn entry(event: StoredEvent, owner: &str, moderator: bool) -> HistoryEntry {
    // Stored payloads are externally tagged: `{"Uploaded": {...}}`.
    let mut payload = match event.payload {
        Value::Object(mut outer) if outer.len() == 1 && outer.contains_key(&event.event_type) => {
            outer.remove(&event.event_type).unwrap_or(Value::Null)
        }
        other => other,
    };
    if !moderator {
        if let Value::Object(fields) = &mut payload {
            fields.retain(|k, v| {
                !PRIVATE_MEMBERS.contains(&k.as_str()) && (k != "by" || v.as_str() == Some(owner))
            });
        }
    }
    let time = payload.get("at").and_then(Value::as_str).map(str::to_owned);
    let mut actor = event
        .metadata
        .get("actor")
        .and_then(Value::as_str)
        .map(parse_actor);
    let mut request_id = event
        .metadata
        .get("request_id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let third_party = actor
        .as_ref()
        .is_some_and(|a| a.kind != "system" && a.id.as_deref() != Some(owner));
    if third_party && !moderator {
        if let Some(a) = &mut actor {
            a.id = None;
        }
        request_id = None;
    }
    HistoryEntry {
        sequence: event.sequence,
        event_type: event.event_type,
        version: event.event_version,
        time,
        actor,
        request_id,
        payload,
    }
}

fn parse_actor(raw: &str) -> Actor {
    match raw.split_once(':') {
        Some((kind @ ("account" | "system" | "anonymous"), id)) => Actor {
            kind: kind.to_owned(),
            id: Some(id.to_owned()),
        },
        _ => Actor {
            kind: "unknown".to_owned(),
            id: Some(raw.to_owned()),
        },
    }
}

fn encode_cursor(sequence: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("h{sequence}"))
}

fn decode_cursor(raw: &str) -> Option<i64> {
    if raw.len() > 64 {
        return None;
    }
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).ok()?).ok()?;
    text.strip_prefix('h')?.parse().ok().filter(|s| *s >= 0)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
        assert_eq!(decode_cursor("garbage"), None);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode("h-1")), None);
    }

    #[test]
    fn owners_do_not_see_reporters_and_moderators_do() {
        let event = StoredEvent {
            sequence: 3,
            event_type: "AbuseReported".into(),
            event_version: "1.0".into(),
            payload: json!({"AbuseReported": {"reporter": "mallory", "reason": "spam", "at": "2026-11-26T00:00:00Z"}}),
            metadata: json!({"actor": "account:mallory", "request_id": "r1"}),
        };
        let owner = entry(event.clone(), "alice", false);
        assert_eq!(
            owner.payload,
            json!({"reason": "spam", "at": "2026-11-26T00:00:00Z"})
        );
        assert_eq!(owner.time.as_deref(), Some("2026-11-26T00:00:00Z"));
        assert_eq!(owner.actor.as_ref().unwrap().id, None);
        assert_eq!(owner.request_id, None);
        let moderator = entry(event, "alice", true);
        assert_eq!(moderator.payload["reporter"], "mallory");
        assert_eq!(moderator.actor.unwrap().id.as_deref(), Some("mallory"));
        assert_eq!(moderator.request_id.as_deref(), Some("r1"));
    }
}
