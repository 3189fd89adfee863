//! Hourly allowances of abuse reports (per network address and per account) and of sign-in
//! link redemptions (per network address), taken from the same buckets as the request limits
//! (`limits.rs`), in the store every replica shares.

use voicebin_projections::{Rate, Take};

use super::limits::seconds;
use crate::error::ApiError;
use crate::state::AppState;

/// The period the report and sign-in-link limits are set per (an hour), in milliseconds.
const PERIOD_MS: i64 = 3_600_000;

/// Takes one hit from `key`'s allowance of `per_hour` (0: no limit), in the same buckets as the
/// request limits: `per_hour` at once, then one every hour / `per_hour`. Refused: 429
/// `too-many-requests` with `Retry-After`, saying "at most `per_hour` `things` per hour per
/// `per`", and counted in the metrics as `class` (`reports`, `login-links`) and `per`'s scope.
/// A store that cannot answer refuses too (503): these limits guard against hiding clips with
/// reports and guessing sign-in links.
pub(crate) async fn within_limit(
    state: &AppState,
    key: String,
    per_hour: u32,
    class: &'static str,
    things: &str,
    per: &'static str,
) -> Result<(), ApiError> {
    let Some(rate) = Rate::per(per_hour, PERIOD_MS) else {
        return Ok(());
    };
    match state.limits.allowance(&key, rate).await? {
        Take::Taken { .. } => Ok(()),
        Take::Refused { retry_after_ms } => {
            let scope = if per == "account" {
                "account"
            } else {
                "address"
            };
            state.metrics.rate_limit_refused(class, scope);
            Err(ApiError::too_many(
                format!("at most {per_hour} {things} per hour per {per}; try again later"),
                seconds(retry_after_ms),
            ))
        }
    }
}
