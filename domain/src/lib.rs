//! The voicebin domain: the `Clip` aggregate, its commands, its events and the value objects
//! that every other crate speaks in.
//!
//! Nothing here performs I/O. No database, HTTP, message broker or file system types may be
//! imported into this crate: business rules are pure functions of the clip's history and the
//! command, so they are tested without any infrastructure (see the given/when/then tests next to
//! the aggregate). Adapters live in `commands`, `projections`, `api` and `workers`.
//!
//! # Layout
//!
//! - `clip/`: the `Clip` aggregate: `aggregate.rs` (state, `handle` and `apply`, with the
//!   given/when/then tests), `commands.rs` (what may be asked), `events.rs` (what happened: a
//!   contract with stored history), `errors.rs` (one variant per business rule), `mod.rs`
//!   (scan and moderation states), `expiry.rs` (lifetimes and the operator's limits on them).
//! - `values.rs`: value objects parsed once at the edge (`ClipId`, `Title`, `DownloadLimit`, …).
//! - `transcript.rs`: what was said in a clip, as timed segments, and its WebVTT form.
//! - `sniff.rs`: deciding from the first bytes whether an upload is audio, and which kind.
//! - `playback.rs`: which uploads mainstream browsers play as they are.
//! - `quota.rs`: per-account quotas: usage, limits, and how operators write a limit.
//! - `stage.rs`: the work done on a clip after its clean verdict (`Stage`), and where a clip is
//!   in it (`StageState`).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

/// `FromStr` by stable name for an enum with `ALL` and `as_str` (how adapters read a stored
/// name back), failing with [`UnknownName`] rather than guessing. Defined before the modules
/// that use it.
macro_rules! parse_by_name {
    ($ty:ty, $kind:literal) => {
        impl ::std::str::FromStr for $ty {
            type Err = $crate::UnknownName;

            fn from_str(name: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .into_iter()
                    .find(|v| v.as_str() == name)
                    .ok_or_else(|| $crate::UnknownName::new($kind, name))
            }
        }
    };
}

pub mod clip;
pub mod playback;
pub mod quota;
pub mod sniff;
pub mod stage;
pub mod transcript;
pub mod values;

pub use clip::{
    AudioFacts, Clip, ClipCommand, ClipError, ClipEvent, ExpiryError, Lifetime, Lifetimes,
    Moderation, ScanOutcome, ScanState, ScanVerdict, TranscriptStatus,
};
pub use quota::{Limits, Resource, Usage};
pub use stage::{Stage, StageState};
pub use transcript::{Language, Segment, Transcript};
pub use values::{
    AccountId, ClipId, ContentType, Description, DownloadLimit, Filename, ModerationReason,
    ReportNote, ReportReason, Reporter, Sha256Digest, Title, UnknownName, ValueError,
};
