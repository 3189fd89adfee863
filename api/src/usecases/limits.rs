//! Rate limits shared by the replicas: token buckets (GCRA) kept in the database
//! (`voicebin_projections::RateLimits`, migration 0010). Used for abuse reports (per network
//! address and per account) and for redeeming sign-in links (per network address).

use chrono::Utc;
use voicebin_projections::{Rate, Take};

use crate::error::ApiError;
use crate::state::AppState;

/// The period the limits are set per (an hour), in milliseconds.
const PERIOD_MS: i64 = 3_600_000;

/// Takes one hit from `key`'s allowance of `per_hour` (0: no limit). The allowance is a token
/// bucket shared by the replicas through the database: `per_hour` at once, then one every hour
/// / `per_hour`, so no moment lets more than `per_hour` through in a burst. Refused: 429 with
/// `Retry-After`, saying "at most `per_hour` `things` per hour per `per`".
pub(crate) async fn within_limit(
    state: &AppState,
    key: String,
    per_hour: u32,
    things: &str,
    per: &str,
) -> Result<(), ApiError> {
    let Some(rate) = Rate::per(per_hour, PERIOD_MS) else {
        return Ok(());
    };
    let now = Utc::now().timestamp_millis();
    match state.rate_limits.take(&key, rate, now).await? {
        Take::Taken => {
            // Now and then, forget the buckets that are full again (the same as no row).
            if rand::random::<u8>() == 0 {
                if let Err(e) = state.rate_limits.purge_full(now).await {
                    tracing::warn!(error = %e, "purging full rate-limit buckets failed");
                }
            }
            Ok(())
        }
        Take::Refused { retry_after_ms } => {
            let retry_after = u32::try_from((retry_after_ms + 999) / 1000).unwrap_or(u32::MAX);
            Err(ApiError::too_many(
                format!("at most {per_hour} {things} per hour per {per}; try again later"),
                retry_after,
            ))
        }
    }
}
