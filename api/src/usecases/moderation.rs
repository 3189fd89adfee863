//! Abuse reports and moderator decisions, shared by the REST routes and the `/abuse` form:
//! who may report (anyone, rate limited per network address and per account), how an
//! anonymous reporter is named (a keyed hash of the address, never the address), and what a
//! moderator's decision does.

use std::net::IpAddr;

use voicebin_commands::{CommandError, Decision};
use voicebin_domain::{
    AccountId, ClipError, ModerationReason, ReportNote, ReportReason, Reporter, Sha256Digest,
};

use super::allowances::within_limit;
use super::clips;
use crate::access::Want;
use crate::auth::Principal;
use crate::error::{ApiError, Code};
use crate::state::AppState;

/// A report as sent: its reason already parsed by the edge, its note not yet validated.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    /// Why the clip is reported.
    pub reason: ReportReason,
    /// The optional note, as sent.
    pub note: Option<String>,
}

/// Files an abuse report on clip `id` from `caller` (a signed-in reporter; any valid token
/// will do) or, without one, from the network address `ip`. The clip must be one the caller
/// can see. A repeat by the same reporter before a moderator decides is accepted and counted
/// once.
pub async fn report(
    state: &AppState,
    id: &str,
    caller: Option<&Principal>,
    ip: Option<IpAddr>,
    report: ReportRequest,
    request_id: Option<String>,
) -> Result<(), ApiError> {
    let ReportRequest { reason, note } = report;
    let note = match note.as_deref() {
        Some(note) => ReportNote::parse(note).map_err(|e| ApiError::invalid_field(&e))?,
        None => None,
    };
    let found = clips::find(state, id, caller, Want::Report).await?;
    let settings = &state.moderation;
    let reporter = match (caller, ip) {
        (Some(principal), _) => {
            let account = clips::account(principal)?;
            // The aggregate refuses this too; refusing it here keeps it off the reporter's
            // allowance.
            if found.view.owner == account.as_str() {
                return Err(ClipError::OwnClip.into());
            }
            Reporter::account(&account)
        }
        (None, Some(ip)) => state.reporter_tags.anonymous(ip),
        (None, None) => {
            return Err(ApiError::new(
                Code::BadRequest,
                "the client address is unknown; sign in to report",
            ))
        }
    };
    if let Some(ip) = ip {
        // Keyed by the address's tag, so the counters do not store addresses either.
        within_limit(
            state,
            format!("report:ip:{}", state.reporter_tags.anonymous(ip)),
            settings.reports_per_hour_per_ip,
            "reports",
            "reports",
            "network address",
        )
        .await?;
    }
    if let Some(principal) = caller {
        within_limit(
            state,
            format!("report:account:{}", principal.account),
            settings.reports_per_hour_per_account,
            "reports",
            "reports",
            "account",
        )
        .await?;
    }
    state
        .service
        .report(
            &found.id,
            reporter,
            reason,
            note,
            settings.hide_threshold,
            request_id,
        )
        .await?;
    Ok(())
}

/// A moderator's decision on clip `id`, with their reason; returns the clip afterwards (as its
/// owner would see it). A removal purges the bytes and blocks their digest.
pub async fn decide(
    state: &AppState,
    moderator: &Principal,
    id: &str,
    decision: Decision,
    reason: &str,
    request_id: Option<String>,
) -> Result<crate::model::Item, ApiError> {
    let reason = ModerationReason::parse(reason).map_err(|e| ApiError::invalid_field(&e))?;
    let (clip, view) = clips::view(state, id).await?;
    if view.is_deleted() {
        return Err(ApiError::gone());
    }
    let final_removal =
        || ApiError::new(Code::Conflict, "this clip was removed; a removal is final");
    if view.is_removed() {
        return Err(final_removal());
    }
    let actor: AccountId = clips::account(moderator)?;
    let sha256 = Sha256Digest::from_hex(&view.sha256)
        .ok_or_else(|| ApiError::internal(&"stored digest is not hex"))?;
    state
        .service
        .moderate(
            &clip,
            &actor,
            decision,
            reason,
            sha256,
            &view.blob_key,
            request_id,
        )
        .await
        .map_err(|e| match e {
            // A removal that committed after the view above was read.
            CommandError::Rule(ClipError::Removed) => final_removal(),
            e => e.into(),
        })?;
    let view = state
        .views
        .get(clip.as_str())
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(crate::model::Item::owner(&view, &state.urls))
}
