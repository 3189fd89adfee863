//! When a clip stops existing: a [`Lifetime`] parsed once from what a client sends (whole
//! seconds, or an ISO 8601 duration such as `PT1H`, `P7D`, `P1DT12H`), and the operator's
//! [`Lifetimes`] (a maximum and a default) that turn a requested lifetime or instant into the
//! clip's `expires_at`.
//!
//! Years and months are refused: their length depends on the calendar date they start from,
//! so "P1M" would mean 28 to 31 days. Weeks, days, hours, minutes and seconds have one length
//! each (a day is 86 400 seconds; expiry is an instant, not a wall-clock date). See ADR 0019.

use std::fmt;

use chrono::{DateTime, Duration, Utc};

/// The longest lifetime that can be written down: 100 years of 365 days. Anything longer is an
/// overflow in waiting (`DateTime` arithmetic), not a real wish; "never" is no expiry at all.
pub const MAX_LIFETIME_SECS: u64 = 100 * 365 * 86_400;

/// Longest lifetime text accepted, in characters.
const MAX_TEXT: usize = 64;

/// How long a clip lives after it is uploaded (or after the moment a lifetime is applied):
/// 1 second to [`MAX_LIFETIME_SECS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lifetime(u64);

/// Why a lifetime or an expiry time was refused. The message names the rule and, for the
/// maximum, the limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpiryError {
    /// The text is neither whole seconds nor an ISO 8601 duration of weeks, days, hours,
    /// minutes and seconds.
    #[error(
        "{0}; send whole seconds (e.g. 3600) or an ISO 8601 duration of weeks, days, hours, \
         minutes and seconds (e.g. PT1H, P7D, P1DT12H)"
    )]
    Malformed(&'static str),
    /// Zero (or a duration adding up to nothing).
    #[error("the lifetime must be at least one second")]
    Zero,
    /// Years or months, whose length depends on the date.
    #[error(
        "years (Y) and months (M before T) have no fixed length; use weeks (W) or days (D) \
         instead"
    )]
    Calendar,
    /// More than [`MAX_LIFETIME_SECS`].
    #[error(
        "the lifetime is longer than 100 years; leave the expiry out for a clip that never expires"
    )]
    TooLong,
    /// Beyond what the operator allows.
    #[error("the expiry is beyond the maximum lifetime of {max} this server allows")]
    BeyondMaximum {
        /// The operator's maximum.
        max: Lifetime,
    },
    /// An instant that is not in the future.
    #[error("the expiry must be in the future")]
    NotInFuture,
}

impl Lifetime {
    /// A lifetime of `secs` seconds (1 to [`MAX_LIFETIME_SECS`]).
    pub fn from_secs(secs: u64) -> Result<Self, ExpiryError> {
        match secs {
            0 => Err(ExpiryError::Zero),
            s if s > MAX_LIFETIME_SECS => Err(ExpiryError::TooLong),
            s => Ok(Lifetime(s)),
        }
    }

    /// Parses whole seconds (`3600`) or an ISO 8601 duration (`PT1H`, `P7D`, `P1W`,
    /// `P1DT12H30M`). Surrounding whitespace is ignored; signs, fractions, years and months are
    /// refused.
    pub fn parse(raw: &str) -> Result<Self, ExpiryError> {
        if raw.chars().count() > MAX_TEXT {
            return Err(ExpiryError::Malformed("the lifetime is too long to be one"));
        }
        let text = raw.trim();
        if text.is_empty() {
            return Err(ExpiryError::Malformed("the lifetime is empty"));
        }
        if text.bytes().all(|b| b.is_ascii_digit()) {
            return match text.parse::<u64>() {
                Ok(secs) => Self::from_secs(secs),
                // All digits and no u64: far beyond the longest lifetime.
                Err(_) => Err(ExpiryError::TooLong),
            };
        }
        Self::from_secs(iso8601_secs(text)?)
    }

    /// The lifetime in seconds.
    pub fn secs(self) -> u64 {
        self.0
    }

    /// The instant this lifetime ends when it starts at `from`.
    pub fn after(self, from: DateTime<Utc>) -> DateTime<Utc> {
        // At most 100 years: within chrono's range for any realistic `from`.
        from.checked_add_signed(Duration::seconds(self.0 as i64))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

/// Sums an ISO 8601 duration (`P[nW][nD][T[nH][nM][nS]]`, upper case, whole numbers) in
/// seconds.
fn iso8601_secs(text: &str) -> Result<u64, ExpiryError> {
    let body = text.strip_prefix('P').ok_or(ExpiryError::Malformed(
        "the lifetime is not a number of seconds",
    ))?;
    let (date, time) = match body.split_once('T') {
        Some((_, "")) => return Err(ExpiryError::Malformed("nothing follows T")),
        Some((date, time)) => (date, Some(time)),
        None => (body, None),
    };
    if date.is_empty() && time.is_none() {
        return Err(ExpiryError::Malformed("nothing follows P"));
    }
    let date_units: &[(char, u64)] = &[('Y', 0), ('M', 0), ('W', 7 * 86_400), ('D', 86_400)];
    let time_units: &[(char, u64)] = &[('H', 3600), ('M', 60), ('S', 1)];
    let mut total: u64 = 0;
    let mut parts = vec![(date, date_units, true)];
    if let Some(time) = time {
        parts.push((time, time_units, false));
    }
    for (part, units, is_date) in parts {
        let mut next_unit = 0;
        let mut digits = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            if digits.is_empty() {
                return Err(ExpiryError::Malformed(
                    "a number must come before each unit",
                ));
            }
            let Some(pos) = units.iter().position(|(u, _)| *u == c) else {
                return Err(if matches!(c, '.' | ',') {
                    ExpiryError::Malformed("fractions are not accepted")
                } else {
                    ExpiryError::Malformed("the duration holds an unknown unit")
                });
            };
            if pos < next_unit {
                return Err(ExpiryError::Malformed(
                    "each unit may appear once, largest first",
                ));
            }
            if is_date && matches!(c, 'Y' | 'M') {
                return Err(ExpiryError::Calendar);
            }
            let n: u64 = digits.parse().map_err(|_| ExpiryError::TooLong)?;
            total = n
                .checked_mul(units[pos].1)
                .and_then(|s| total.checked_add(s))
                .ok_or(ExpiryError::TooLong)?;
            digits.clear();
            next_unit = pos + 1;
        }
        if !digits.is_empty() {
            return Err(ExpiryError::Malformed(
                "a number must be followed by its unit",
            ));
        }
    }
    Ok(total)
}

impl fmt::Display for Lifetime {
    /// The lifetime as an ISO 8601 duration in its largest whole units, e.g. `P30D`,
    /// `P1DT12H`, `PT90S`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        let days = rest / 86_400;
        rest %= 86_400;
        let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
        write!(f, "P")?;
        if days > 0 {
            write!(f, "{days}D")?;
        }
        if h + m + s > 0 {
            write!(f, "T")?;
            if h > 0 {
                write!(f, "{h}H")?;
            }
            if m > 0 {
                write!(f, "{m}M")?;
            }
            if s > 0 {
                write!(f, "{s}S")?;
            }
        }
        Ok(())
    }
}

/// The operator's expiry settings: the longest lifetime a clip may be given (`None`: no
/// limit) and the lifetime of an upload that asks for none (`None`: it never expires).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lifetimes {
    /// `VOICEBIN_MAX_LIFETIME`.
    pub max: Option<Lifetime>,
    /// `VOICEBIN_DEFAULT_LIFETIME`.
    pub default: Option<Lifetime>,
}

impl Lifetimes {
    /// Settings whose default fits under the maximum; a default over it would refuse every
    /// upload that asks for nothing, so it is a configuration error.
    pub fn new(max: Option<Lifetime>, default: Option<Lifetime>) -> Result<Self, String> {
        if let (Some(max), Some(default)) = (max, default) {
            if default > max {
                return Err(format!(
                    "the default lifetime {default} is longer than the maximum lifetime {max}"
                ));
            }
        }
        Ok(Lifetimes { max, default })
    }

    /// The lifetime of an upload that asked for `requested` (the default when it asked for
    /// none): refused past the maximum, never shortened silently.
    pub fn for_upload(&self, requested: Option<Lifetime>) -> Result<Option<Lifetime>, ExpiryError> {
        let Some(lifetime) = requested.or(self.default) else {
            return Ok(None);
        };
        match self.max {
            Some(max) if lifetime > max => Err(ExpiryError::BeyondMaximum { max }),
            _ => Ok(Some(lifetime)),
        }
    }

    /// Checks an expiry instant an owner asks for at `now`: in the future, and within the
    /// maximum from now.
    pub fn check_instant(
        &self,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), ExpiryError> {
        if expires_at <= now {
            return Err(ExpiryError::NotInFuture);
        }
        if let Some(max) = self.max {
            if expires_at > max.after(now) {
                return Err(ExpiryError::BeyondMaximum { max });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn secs(raw: &str) -> Result<u64, ExpiryError> {
        Lifetime::parse(raw).map(Lifetime::secs)
    }

    #[test]
    fn whole_seconds_and_iso_durations_parse_to_seconds() {
        assert_eq!(secs("3600"), Ok(3600));
        assert_eq!(secs(" 90 "), Ok(90));
        assert_eq!(secs("PT1H"), Ok(3600));
        assert_eq!(secs("P7D"), Ok(7 * 86_400));
        assert_eq!(secs("P1DT12H"), Ok(36 * 3600));
        assert_eq!(secs("P2W"), Ok(14 * 86_400));
        assert_eq!(secs("PT1H30M15S"), Ok(5415));
        assert_eq!(secs("PT90S"), Ok(90));
    }

    #[test]
    fn garbage_zero_signs_fractions_calendar_units_and_overflow_are_refused() {
        for bad in [
            "", " ", "abc", "-5", "+5", "1.5", "P", "PT", "P1", "PT1", "PH", "P1H", "pt1h",
            "PT1.5S", "PT1H1H", "PT1M1H", "P1DT", "1h", "P1D2", "P1D T1H",
        ] {
            assert!(
                matches!(Lifetime::parse(bad), Err(ExpiryError::Malformed(_))),
                "{bad:?} was accepted: {:?}",
                Lifetime::parse(bad)
            );
        }
        assert_eq!(Lifetime::parse("0"), Err(ExpiryError::Zero));
        assert_eq!(Lifetime::parse("PT0S"), Err(ExpiryError::Zero));
        assert_eq!(Lifetime::parse("P1Y"), Err(ExpiryError::Calendar));
        assert_eq!(Lifetime::parse("P1M"), Err(ExpiryError::Calendar));
        assert_eq!(
            Lifetime::parse("99999999999999999999999"),
            Err(ExpiryError::TooLong)
        );
        assert_eq!(
            Lifetime::parse("P99999999999999999D"),
            Err(ExpiryError::TooLong)
        );
        assert_eq!(Lifetime::parse("P36501D"), Err(ExpiryError::TooLong));
        assert!(matches!(
            Lifetime::parse(&"1".repeat(65)),
            Err(ExpiryError::Malformed(_))
        ));
    }

    #[test]
    fn lifetimes_print_as_iso_durations() {
        assert_eq!(Lifetime::parse("P30D").unwrap().to_string(), "P30D");
        assert_eq!(Lifetime::parse("P1DT12H").unwrap().to_string(), "P1DT12H");
        assert_eq!(Lifetime::parse("90").unwrap().to_string(), "PT1M30S");
        assert_eq!(Lifetime::parse("P1W").unwrap().to_string(), "P7D");
    }

    #[test]
    fn the_default_applies_and_the_maximum_refuses_rather_than_clamps() {
        let day = Lifetime::parse("P1D").unwrap();
        let week = Lifetime::parse("P7D").unwrap();
        let policy = Lifetimes::new(Some(week), Some(day)).unwrap();
        assert_eq!(policy.for_upload(None), Ok(Some(day)));
        assert_eq!(policy.for_upload(Some(week)), Ok(Some(week)));
        assert_eq!(
            policy.for_upload(Some(Lifetime::parse("P8D").unwrap())),
            Err(ExpiryError::BeyondMaximum { max: week })
        );
        assert_eq!(Lifetimes::default().for_upload(None), Ok(None));
        assert!(Lifetimes::new(Some(day), Some(week)).is_err());
    }

    #[test]
    fn an_expiry_instant_must_be_ahead_and_within_the_maximum() {
        let now = Utc.with_ymd_and_hms(2026, 12, 5, 0, 0, 0).unwrap();
        let week = Lifetime::parse("P7D").unwrap();
        let policy = Lifetimes::new(Some(week), None).unwrap();
        assert_eq!(
            policy.check_instant(now, now),
            Err(ExpiryError::NotInFuture)
        );
        assert_eq!(policy.check_instant(week.after(now), now), Ok(()));
        assert_eq!(
            policy.check_instant(week.after(now) + Duration::seconds(1), now),
            Err(ExpiryError::BeyondMaximum { max: week })
        );
        assert!(ExpiryError::BeyondMaximum { max: week }
            .to_string()
            .contains("maximum lifetime of P7D"));
    }
}
