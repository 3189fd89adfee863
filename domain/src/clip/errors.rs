//! The business rules a clip command can break.

/// One variant per business rule; the edge maps each to a status and problem type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClipError {
    /// An upload was sent for an id that already has a history.
    #[error("a clip with this id already exists")]
    AlreadyExists,
    /// The command is for a clip that was never uploaded.
    #[error("clip not found")]
    NotFound,
    /// The clip was deleted; it accepts no further commands.
    #[error("clip has been deleted")]
    Deleted,
    /// The clip expired; it accepts no further commands.
    #[error("clip has expired")]
    Expired,
    /// An expiry that is not after the moment it is set.
    #[error("the expiry must be in the future")]
    ExpiryNotInFuture,
    /// Only the owner may edit or delete a clip.
    #[error("only the clip's owner may do this")]
    NotOwner,
    /// The download limit is used up.
    #[error("download limit reached")]
    LimitReached,
    /// The clip is not available for download (not yet scanned clean).
    #[error("clip is not available")]
    NotAvailable,
    /// A new download limit is below the downloads already counted.
    #[error("download limit {limit} is below the {count} downloads already counted")]
    LimitBelowCount {
        /// The requested limit.
        limit: u64,
        /// Downloads already counted.
        count: u64,
    },
    /// A moderator took the clip down; it accepts no further moderation, reports, edits or
    /// deletion.
    #[error("clip has been removed by a moderator")]
    Removed,
    /// The clip is already blocked.
    #[error("clip is already blocked")]
    AlreadyBlocked,
    /// Restore asked of a clip that is public and has no open reports.
    #[error("clip is public and has no open reports; nothing to restore")]
    NothingToRestore,
    /// Owners cannot report their own clips.
    #[error("you cannot report your own clip")]
    OwnClip,
}
