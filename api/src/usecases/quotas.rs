//! Per-account quotas as the edges show them (ADR 0022): the caller's usage and limits, read
//! from the projections (`QuotaStore`, in [`crate::state::QuotaSettings`]) with the operator's
//! defaults under its overrides. The upload path holds room through `ClipService`'s `Quotas`
//! port, not here.

use crate::auth::Principal;
use crate::error::ApiError;
use crate::model::Account;
use crate::state::AppState;

/// The caller's account: its usage and the limits in force.
pub async fn account(state: &AppState, principal: &Principal) -> Result<Account, ApiError> {
    let owner = crate::usecases::clips::account(principal)?;
    let quotas = &state.quotas;
    let limits = quotas
        .store
        .overrides(owner.as_str())
        .await?
        .over(quotas.defaults);
    let usage = quotas.store.usage(owner.as_str()).await?;
    Ok(Account {
        account: owner.into_inner(),
        usage: usage.into(),
        limits: limits.into(),
    })
}
