//! Who may do what with a clip: the scopes a token can carry, and the one rule that decides,
//! for a clip and a caller, whether the caller reads it as the public, its owner or a
//! moderator, or is refused (not found, gone, expired, removed).

/// Read and list one's own clips, including owner-only fields.
pub const READ: &str = "voice:read";
/// Upload and edit one's own clips.
pub const CREATE: &str = "voice:create";
/// Delete one's own clips.
pub const DELETE: &str = "voice:delete";
/// Moderate: read any clip, its history and the report queue, and decide.
pub const MODERATE: &str = "voice:moderate";

/// The scopes an owner's key carries unless told otherwise (`voicebin keys mint`), comma
/// separated: [`READ`], [`CREATE`] and [`DELETE`].
pub const OWNER_SCOPES: &str = "voice:read,voice:create,voice:delete";

/// The scopes this resource server understands, with what each grants.
pub const SCOPES: &[(&str, &str)] = &[
    (
        READ,
        "Read and list your clips, including owner-only fields.",
    ),
    (CREATE, "Upload clips."),
    (DELETE, "Delete your clips."),
    (
        MODERATE,
        "Moderate: review reports, block, restore or remove any clip.",
    ),
];

use chrono::Utc;
use voicebin_projections::{ClipView, StoreError};

use crate::auth::Principal;

/// What the caller wants of the clip; the rule differs only where the thing wanted does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Its metadata (REST item and peaks, MCP `get_audio` and resources, abuse reports).
    /// Owners and moderators see every state, a removed clip included; the public nothing
    /// once the download limit is used up.
    Metadata,
    /// To report it as abuse: its metadata, even once the download limit is used up (a
    /// listener who got the last download can still report what they heard).
    Report,
    /// Its audio (downloads, the player, the view and embed pages): nobody gets audio a
    /// moderator removed (the bytes are purged), and the public none once the download limit
    /// is used up.
    Audio,
    /// Its history (the audit record): moderators always, even after deletion; the owner with
    /// `voice:read` while it lives.
    History,
    /// To change it (edit, delete): its owner only, while it lives and until a moderator
    /// removes it. The operation's own scope is checked by the edge.
    Change,
}

/// How the caller reads a clip it may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// Anyone else: sees public fields of public clips; downloads count.
    Public,
    /// The clip's owner (with `voice:read` for reads): sees every field and state; downloads
    /// do not count.
    Owner,
    /// A moderator (`voice:moderate`): reads any clip as its owner would; downloads do not
    /// count.
    Moderator,
}

impl Reader {
    /// Whether the caller reads beyond what the public sees (owner-only fields, every state)
    /// and fetches without counting a download.
    pub fn is_privileged(self) -> bool {
        self != Reader::Public
    }
}

/// Why the caller may not have what it wants of a clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No such clip, or not one the caller may see (pending, rejected, hidden, blocked, or
    /// another account's).
    NotFound,
    /// The clip was deleted.
    Gone,
    /// The clip's expiry has come (whether or not the sweeper has recorded it yet): gone for
    /// everyone, its owner and moderators included.
    Expired,
    /// The download limit is used up.
    Exhausted,
    /// A moderator took the clip down.
    Removed,
    /// A moderator took the clip down, and a removal is final: its owner may no longer edit
    /// or delete it (so the public keeps being told why it is gone).
    Final,
    /// The caller's token lacks `scope` (for a clip: the caller owns it but may not read it).
    MissingScope {
        /// The scope that was needed.
        scope: &'static str,
        /// Whether the token is DPoP-bound (the challenge then uses that scheme).
        dpop: bool,
    },
}

/// Why a caller has no clip to work on: the rule refused, or the read model could not say.
#[derive(Debug, thiserror::Error)]
pub enum FindError {
    /// The access rule refused (or there is no such clip).
    #[error("refused: {0:?}")]
    Refused(Refusal),
    /// The read model could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Refusal> for FindError {
    fn from(r: Refusal) -> Self {
        FindError::Refused(r)
    }
}

/// `caller`, if its token grants `scope` (exact match).
pub fn require<'a>(caller: &'a Principal, scope: &'static str) -> Result<&'a Principal, Refusal> {
    if caller.has_scope(scope) {
        Ok(caller)
    } else {
        Err(Refusal::MissingScope {
            scope,
            dpop: caller.confirmation.is_some(),
        })
    }
}

/// Who the caller is to the clip, before the clip's state is considered.
fn reader(view: &ClipView, caller: Option<&Principal>) -> Reader {
    match caller {
        Some(p) if p.has_scope(MODERATE) => Reader::Moderator,
        Some(p) if p.account == view.owner && p.has_scope(READ) => Reader::Owner,
        _ => Reader::Public,
    }
}

/// Whether `caller` may have what it wants of `view`, and as whom. The one rule every surface
/// (REST, MCP, pages, media, history) applies; each maps a [`Refusal`] to its own answer.
pub fn check(view: &ClipView, caller: Option<&Principal>, want: Want) -> Result<Reader, Refusal> {
    let owns = caller.is_some_and(|p| p.account == view.owner);
    let reader = reader(view, caller);
    match want {
        Want::Change => {
            if !owns {
                return Err(Refusal::NotFound);
            }
            if view.is_deleted() {
                return Err(Refusal::Gone);
            }
            if view.is_removed() {
                return Err(Refusal::Final);
            }
            if view.is_expired_at(Utc::now()) {
                return Err(Refusal::Expired);
            }
            Ok(Reader::Owner)
        }
        Want::History => match (reader, caller) {
            (Reader::Moderator, _) => Ok(Reader::Moderator),
            (Reader::Public, Some(p)) if owns => Err(Refusal::MissingScope {
                scope: READ,
                dpop: p.confirmation.is_some(),
            }),
            (Reader::Public, _) => Err(Refusal::NotFound),
            // For its owner a deleted or expired clip is gone, history included.
            (Reader::Owner, _) if view.is_deleted() => Err(Refusal::Gone),
            (Reader::Owner, _) if view.is_expired_at(Utc::now()) => Err(Refusal::Expired),
            (Reader::Owner, _) => Ok(Reader::Owner),
        },
        Want::Metadata | Want::Report | Want::Audio => read_as(view, reader, want),
    }
}

/// Whether `reader` may have `want` (a read: metadata, a report or audio) of `view`. For a
/// caller known by a capability rather than a token: a playback URL issued to the clip's
/// owner or a moderator ([`crate::usecases::grants::Grants::playback_url`]) plays as them,
/// under the same rule [`check`] applies.
pub fn read_as(view: &ClipView, reader: Reader, want: Want) -> Result<Reader, Refusal> {
    debug_assert!(matches!(want, Want::Metadata | Want::Report | Want::Audio));
    if view.is_deleted() {
        return Err(Refusal::Gone);
    }
    // A removal says why the clip is gone (451) and outlives an expiry, as in the aggregate.
    if view.is_expired_at(Utc::now()) && !view.is_removed() {
        return Err(Refusal::Expired);
    }
    let bytes_purged = want == Want::Audio && view.is_removed();
    if bytes_purged || (reader == Reader::Public && view.is_removed()) {
        return Err(Refusal::Removed);
    }
    if reader == Reader::Public && !view.is_public() {
        return Err(Refusal::NotFound);
    }
    // Used up means used up on every surface: no download URL is handed out either.
    if reader == Reader::Public && want != Want::Report && view.downloads_remaining() == Some(0) {
        return Err(Refusal::Exhausted);
    }
    Ok(reader)
}

#[cfg(test)]
mod tests;
