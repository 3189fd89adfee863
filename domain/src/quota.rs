//! Per-account quotas: what an account's live clips take ([`Usage`]), how much they may take
//! ([`Limits`]), and the way operators write a limit (`500MB`, `2GiB`, `1000`, `unlimited`).
//!
//! Usage counts the originals of live clips (not deleted, not removed by a moderator, not
//! expired); playback renditions are the operator's choice and never count (ADR 0022).

use crate::values::ValueError;

/// What an account's live clips take.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Bytes of their originals.
    pub bytes: u64,
    /// How many there are.
    pub clips: u64,
}

/// How much an account's live clips may take; `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of originals.
    pub bytes: Option<u64>,
    /// Number of clips.
    pub clips: Option<u64>,
}

impl Limits {
    /// No limit on anything.
    pub const UNLIMITED: Limits = Limits {
        bytes: None,
        clips: None,
    };

    /// Whether nothing is limited.
    pub fn is_unlimited(&self) -> bool {
        self.bytes.is_none() && self.clips.is_none()
    }
}

/// What a quota limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    /// Bytes of originals.
    Bytes,
    /// Number of clips.
    Clips,
}

impl Resource {
    /// Every resource, in a fixed order.
    pub const ALL: [Resource; 2] = [Resource::Bytes, Resource::Clips];

    /// The stable name (stored, and the field name clients see).
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Bytes => "bytes",
            Resource::Clips => "clips",
        }
    }
}

parse_by_name!(Resource, "quota resource");

/// Words that mean "no limit" when a limit is written out.
const UNLIMITED_WORDS: [&str; 2] = ["unlimited", "none"];

/// Units of a byte size, longest spelling first where one is a suffix of another.
const UNITS: [(&str, u64); 9] = [
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
    ("KB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
    ("TB", 1_000_000_000_000),
    ("B", 1),
];

/// Parses a byte size: a whole number of bytes (`1048576`), or a number with a unit, decimal
/// (`KB`, `MB`, `GB`, `TB`) or binary (`KiB`, `MiB`, `GiB`, `TiB`), case-insensitive, with
/// optional space and fraction (`1.5GiB`, `500 MB`). At most `i64::MAX` (what databases store).
pub fn parse_byte_size(raw: &str) -> Result<u64, ValueError> {
    const INVALID: ValueError = ValueError::Invalid {
        field: "bytes",
        reason: "must be a size in bytes, or a number with a unit (500MB, 2GiB)",
    };
    let text = raw.trim();
    if text.is_empty() || text.len() > 32 {
        return Err(INVALID);
    }
    let (number, factor) = UNITS
        .iter()
        .find_map(|(unit, factor)| {
            let split = text.len().checked_sub(unit.len())?;
            let (number, suffix) = (text.get(..split)?, text.get(split..)?);
            suffix
                .eq_ignore_ascii_case(unit)
                .then_some((number.trim_end(), *factor))
        })
        .unwrap_or((text, 1));
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || number.ends_with('.') {
        return Err(INVALID);
    }
    let whole: u128 = whole.parse().map_err(|_| INVALID)?;
    // The fraction to the byte, rounded down: `1.5KiB` is 1536 bytes.
    let mut scaled = whole.checked_mul(u128::from(factor)).ok_or(INVALID)?;
    if !fraction.is_empty() {
        let fraction = &fraction[..fraction.len().min(18)];
        let numerator: u128 = fraction.parse().map_err(|_| INVALID)?;
        let denominator = 10u128.pow(fraction.len() as u32);
        scaled = scaled
            .checked_add(numerator * u128::from(factor) / denominator)
            .ok_or(INVALID)?;
    }
    if scaled > i64::MAX as u128 {
        return Err(ValueError::OutOfRange {
            field: "bytes",
            min: 0,
            max: i64::MAX as u64,
        });
    }
    Ok(scaled as u64)
}

/// Parses a number of clips: a whole number, at most `i64::MAX`.
pub fn parse_clip_count(raw: &str) -> Result<u64, ValueError> {
    let text = raw.trim();
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValueError::Invalid {
            field: "clips",
            reason: "must be a whole number of clips",
        });
    }
    text.parse::<u64>()
        .ok()
        .filter(|n| *n <= i64::MAX as u64)
        .ok_or(ValueError::OutOfRange {
            field: "clips",
            min: 0,
            max: i64::MAX as u64,
        })
}

/// Parses a limit of `resource`: `unlimited` (or `none`) for no limit, else a byte size
/// ([`parse_byte_size`]) or a number of clips ([`parse_clip_count`]).
pub fn parse_limit(resource: Resource, raw: &str) -> Result<Option<u64>, ValueError> {
    if UNLIMITED_WORDS
        .iter()
        .any(|word| raw.trim().eq_ignore_ascii_case(word))
    {
        return Ok(None);
    }
    match resource {
        Resource::Bytes => parse_byte_size(raw).map(Some),
        Resource::Clips => parse_clip_count(raw).map(Some),
    }
}

/// A byte count for people: `512 B`, `34.2 MB`, `2 GB` (decimal units, as file managers
/// show sizes).
pub fn format_bytes(bytes: u64) -> String {
    const STEPS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut step = 0;
    while value >= 1000.0 && step < STEPS.len() - 1 {
        value /= 1000.0;
        step += 1;
    }
    if step == 0 {
        format!("{bytes} B")
    } else if value >= 100.0 || value.fract() < 0.05 {
        format!("{value:.0} {}", STEPS[step])
    } else {
        format!("{value:.1} {}", STEPS[step])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_take_plain_numbers_and_both_kinds_of_unit() {
        assert_eq!(parse_byte_size("1048576"), Ok(1_048_576));
        assert_eq!(parse_byte_size("500MB"), Ok(500_000_000));
        assert_eq!(parse_byte_size("500 mb"), Ok(500_000_000));
        assert_eq!(parse_byte_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_byte_size("1.5KiB"), Ok(1536));
        assert_eq!(parse_byte_size("0"), Ok(0));
        assert_eq!(parse_byte_size(" 10B "), Ok(10));
        assert!(parse_byte_size("8EiB").is_err());
    }

    #[test]
    fn malformed_byte_sizes_are_refused() {
        for raw in [
            "", "MB", "-1", "1.", ".5MB", "1,5MB", "ten", "5 XB", "1e9", "5MBB", "0x10",
        ] {
            assert!(parse_byte_size(raw).is_err(), "{raw:?} accepted");
        }
        assert!(matches!(
            parse_byte_size("90000000TB"),
            Err(ValueError::OutOfRange { .. })
        ));
    }

    #[test]
    fn limits_may_be_unlimited_and_clip_counts_are_whole() {
        assert_eq!(parse_limit(Resource::Bytes, "unlimited"), Ok(None));
        assert_eq!(parse_limit(Resource::Clips, "None"), Ok(None));
        assert_eq!(parse_limit(Resource::Clips, "500"), Ok(Some(500)));
        assert!(parse_limit(Resource::Clips, "5MB").is_err());
        assert!(parse_limit(Resource::Clips, "-3").is_err());
        assert!(parse_limit(Resource::Clips, "1.5").is_err());
        assert!(parse_clip_count("99999999999999999999").is_err());
    }

    #[test]
    fn byte_counts_read_as_people_write_them() {
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(34_200_000), "34.2 MB");
        assert_eq!(format_bytes(500_000_000), "500 MB");
        assert_eq!(format_bytes(2_000_000_000), "2 GB");
    }
}
