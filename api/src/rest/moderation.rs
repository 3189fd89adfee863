//! Abuse reports (`POST /api/v1/items/{id}/reports`, open to anyone) and the moderators' routes
//! under `/api/v1/moderation` (scope `voice:moderate`): the report queue and the block,
//! restore and remove decisions.

use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use voicebin_commands::Decision;
use voicebin_domain::ReportReason;
use voicebin_projections::{QueueCursor, QueueQuery, ReportRow, ReportState};

use super::extract::{Auth, MaybeAuth};
use super::ApiTags;
use crate::access::MODERATE;
use crate::error::{ApiError, Code, Errors};
use crate::model::{rfc3339, Item, JsonString};
use crate::state::AppState;
use crate::usecases::moderation::{self, ReportRequest};

/// Default queue page size.
const DEFAULT_LIMIT: u32 = 20;
/// Largest queue page size.
const MAX_LIMIT: u32 = 100;
/// Reports listed per queue entry.
const REPORTS_PER_ENTRY: u32 = 50;

/// Why a clip is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ReportReasonDto {
    /// The file is or carries malware.
    Malware,
    /// It infringes someone's copyright.
    Copyright,
    /// It harasses or threatens someone.
    Harassment,
    /// Its content is illegal.
    IllegalContent,
    /// Spam.
    Spam,
    /// Something else (say what in the note).
    Other,
}

impl From<ReportReasonDto> for ReportReason {
    fn from(r: ReportReasonDto) -> Self {
        match r {
            ReportReasonDto::Malware => ReportReason::Malware,
            ReportReasonDto::Copyright => ReportReason::Copyright,
            ReportReasonDto::Harassment => ReportReason::Harassment,
            ReportReasonDto::IllegalContent => ReportReason::IllegalContent,
            ReportReasonDto::Spam => ReportReason::Spam,
            ReportReasonDto::Other => ReportReason::Other,
        }
    }
}

impl From<ReportReason> for ReportReasonDto {
    fn from(r: ReportReason) -> Self {
        match r {
            ReportReason::Malware => ReportReasonDto::Malware,
            ReportReason::Copyright => ReportReasonDto::Copyright,
            ReportReason::Harassment => ReportReasonDto::Harassment,
            ReportReason::IllegalContent => ReportReasonDto::IllegalContent,
            ReportReason::Spam => ReportReasonDto::Spam,
            ReportReason::Other => ReportReasonDto::Other,
        }
    }
}

/// An abuse report.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct NewReport {
    /// Why the clip is reported.
    pub reason: ReportReasonDto,
    /// Anything that helps a moderator (at most 1000 characters).
    pub note: Option<JsonString>,
}

/// The report was received.
#[derive(Debug, Clone, Object)]
pub struct ReportReceipt {
    /// The reported clip.
    pub id: String,
    /// The reason as recorded.
    pub reason: ReportReasonDto,
}

#[derive(ApiResponse)]
enum ReportResponse {
    /// The report was received (a repeat from the same reporter counts once).
    #[oai(status = 202)]
    Accepted(Json<ReportReceipt>),
}

/// A moderator's reason for a decision.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct DecisionBody {
    /// Why (1 to 500 characters); the owner sees it.
    pub reason: JsonString,
}

#[derive(ApiResponse)]
enum DecisionResponse {
    /// The decision was recorded; the clip as it now stands.
    #[oai(status = 200)]
    Ok(Json<Item>),
}

/// Whether a report awaits a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ReportStateDto {
    /// Awaiting a moderator's decision.
    Open,
    /// Closed by a decision (block, restore, remove) or by the clip's deletion.
    Resolved,
    /// Both (queue filter only).
    All,
}

/// One report, as moderators see it (with the reporter).
#[derive(Debug, Clone, Object)]
pub struct QueuedReport {
    /// `account:<id>`, or `anonymous:<tag>` (a keyed hash of the reporter's address).
    pub reporter: String,
    /// Why.
    pub reason: ReportReasonDto,
    /// The reporter's note.
    #[oai(skip_serializing_if_is_none)]
    pub note: Option<String>,
    /// When it was filed (RFC 3339).
    pub reported_at: String,
    /// `open` or `resolved`.
    pub state: ReportStateDto,
    /// What closed it: `blocked`, `restored`, `removed`, `deleted` or `expired`.
    #[oai(skip_serializing_if_is_none)]
    pub resolution: Option<String>,
    /// When it was closed (RFC 3339).
    #[oai(skip_serializing_if_is_none)]
    pub resolved_at: Option<String>,
}

impl From<ReportRow> for QueuedReport {
    fn from(r: ReportRow) -> Self {
        QueuedReport {
            reporter: r.reporter,
            reason: r.reason.into(),
            note: r.note,
            reported_at: rfc3339(r.reported_at),
            state: if r.resolved_at.is_some() {
                ReportStateDto::Resolved
            } else {
                ReportStateDto::Open
            },
            resolution: r.resolution.map(|how| how.as_str().to_owned()),
            resolved_at: r.resolved_at.map(rfc3339),
        }
    }
}

/// A clip in the queue with its matching reports.
#[derive(Debug, Clone, Object)]
pub struct QueueItem {
    /// The clip, with its owner-only fields and moderation state.
    pub clip: Item,
    /// The owning account.
    pub owner: String,
    /// How many reports match the filter.
    pub report_count: i64,
    /// The oldest matching report (RFC 3339); the queue is ordered by it.
    pub first_reported_at: String,
    /// The newest matching report (RFC 3339).
    pub last_reported_at: String,
    /// The matching reports, oldest first (at most 50).
    pub reports: Vec<QueuedReport>,
}

/// A page of the report queue.
#[derive(Debug, Clone, Object)]
pub struct QueuePageDto {
    /// Clips, the one reported longest ago first.
    pub items: Vec<QueueItem>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
enum QueueResponse {
    /// The queue.
    #[oai(status = 200)]
    Ok(Json<QueuePageDto>),
}

crate::error::errors!(
    /// What filing a report can answer besides 202.
    ReportErrors = "reportItem": [
        BadRequest, InvalidField, Unauthorized, NotFound, Gone, UnsupportedMediaType,
        Unprocessable, TooManyRequests, Removed, Internal, Unavailable
    ]
);
crate::error::errors!(
    /// What reading the report queue can answer besides 200.
    QueueErrors = "listReports": [
        BadRequest, InvalidField, Unauthorized, InsufficientScope, RateLimited, Internal,
        Unavailable
    ]
);
crate::error::errors!(
    /// What a moderator's decision can answer besides 200.
    DecisionErrors = "blockItem, restoreItem, removeItem": [
        BadRequest, InvalidField, Unauthorized, InsufficientScope, NotFound, Gone, Conflict,
        UnsupportedMediaType, Internal, Unavailable
    ]
);

/// Abuse reports.
pub struct ReportsApi {
    /// Shared state.
    pub state: AppState,
}

#[OpenApi(prefix_path = "/api/v1/items", tag = "ApiTags::Moderation")]
impl ReportsApi {
    /// Report a clip as abusive (anyone; no token needed).
    ///
    /// Rate limited per network address and per account (429 with `Retry-After`). When reports
    /// from enough different people are open, the clip is hidden from the public until a
    /// moderator decides. Owners never learn who reported their clip.
    #[oai(path = "/:id/reports", method = "post", operation_id = "reportItem")]
    async fn report(
        &self,
        req: &Request,
        auth: MaybeAuth,
        /// The clip id.
        id: Path<String>,
        body: Json<NewReport>,
    ) -> Result<ReportResponse, Errors<ReportErrors>> {
        let ip = crate::http::client_ip(req, self.state.moderation.trust_forwarded_for);
        let reason = body.0.reason;
        let report = ReportRequest {
            reason: reason.into(),
            note: body.0.note.map(|n| n.0),
        };
        moderation::report(
            &self.state,
            &id.0,
            auth.0.as_ref(),
            ip,
            report,
            crate::http::request_id(req),
        )
        .await?;
        Ok(ReportResponse::Accepted(Json(ReportReceipt {
            id: id.0,
            reason,
        })))
    }
}

/// The moderators' routes.
pub struct ModerationApi {
    /// Shared state.
    pub state: AppState,
}

impl ModerationApi {
    async fn decide(
        &self,
        req: &Request,
        auth: Auth,
        id: &str,
        decision: Decision,
        body: DecisionBody,
    ) -> Result<DecisionResponse, Errors<DecisionErrors>> {
        let moderator = auth.require(MODERATE)?;
        let item = moderation::decide(
            &self.state,
            moderator,
            id,
            decision,
            &body.reason.0,
            crate::http::request_id(req),
        )
        .await?;
        Ok(DecisionResponse::Ok(Json(item)))
    }
}

#[OpenApi(prefix_path = "/api/v1/moderation", tag = "ApiTags::Moderation")]
impl ModerationApi {
    /// The report queue (moderators, scope `voice:moderate`).
    ///
    /// Clips with reports, grouped by clip, the one reported longest ago first; filter by
    /// `state` (default `open`) and `reason`. Reporters are shown.
    #[oai(path = "/reports", method = "get", operation_id = "listReports")]
    async fn queue(
        &self,
        auth: Auth,
        /// `open` (default), `resolved` or `all`.
        state: Query<Option<ReportStateDto>>,
        /// Only reports with this reason.
        reason: Query<Option<ReportReasonDto>>,
        /// Page size, 1 to 100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// Opaque cursor from a previous page's `next_cursor`.
        cursor: Query<Option<String>>,
    ) -> Result<QueueResponse, Errors<QueueErrors>> {
        auth.require(MODERATE)?;
        let after = match cursor.0.filter(|c| !c.is_empty()) {
            Some(raw) => Some(QueueCursor::decode(&raw).ok_or_else(|| {
                ApiError::new(Code::InvalidField, "cursor is not valid").with_field("cursor")
            })?),
            None => None,
        };
        let query = QueueQuery {
            state: match state.0.unwrap_or(ReportStateDto::Open) {
                ReportStateDto::Open => ReportState::Open,
                ReportStateDto::Resolved => ReportState::Resolved,
                ReportStateDto::All => ReportState::All,
            },
            reason: reason.0.map(ReportReason::from),
            after,
            limit: limit.0.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT),
            reports_per_entry: REPORTS_PER_ENTRY,
        };
        let page = self.state.views.report_queue(&query).await?;
        Ok(QueueResponse::Ok(Json(QueuePageDto {
            items: page
                .entries
                .into_iter()
                .map(|e| QueueItem {
                    clip: Item::owner(&e.view, &self.state.urls),
                    owner: e.view.owner.clone(),
                    report_count: e.report_count,
                    first_reported_at: rfc3339(e.first_reported_at),
                    last_reported_at: rfc3339(e.last_reported_at),
                    reports: e.reports.into_iter().map(QueuedReport::from).collect(),
                })
                .collect(),
            next_cursor: page.next.map(|c| c.encode()),
        })))
    }

    /// Block a clip (moderators): only its owner and moderators see it until it is restored.
    #[oai(path = "/items/:id/block", method = "post", operation_id = "blockItem")]
    async fn block(
        &self,
        req: &Request,
        auth: Auth,
        /// The clip id.
        id: Path<String>,
        body: Json<DecisionBody>,
    ) -> Result<DecisionResponse, Errors<DecisionErrors>> {
        self.decide(req, auth, &id.0, Decision::Block, body.0).await
    }

    /// Restore a clip (moderators): public again, open reports dismissed.
    #[oai(
        path = "/items/:id/restore",
        method = "post",
        operation_id = "restoreItem"
    )]
    async fn restore(
        &self,
        req: &Request,
        auth: Auth,
        /// The clip id.
        id: Path<String>,
        body: Json<DecisionBody>,
    ) -> Result<DecisionResponse, Errors<DecisionErrors>> {
        self.decide(req, auth, &id.0, Decision::Restore, body.0)
            .await
    }

    /// Remove a clip (moderators): a takedown. The audio is purged and the same bytes can never
    /// be uploaded again (451).
    #[oai(
        path = "/items/:id/remove",
        method = "post",
        operation_id = "removeItem"
    )]
    async fn remove(
        &self,
        req: &Request,
        auth: Auth,
        /// The clip id.
        id: Path<String>,
        body: Json<DecisionBody>,
    ) -> Result<DecisionResponse, Errors<DecisionErrors>> {
        self.decide(req, auth, &id.0, Decision::Remove, body.0)
            .await
    }
}
