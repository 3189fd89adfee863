//! Who may do what with a clip: the scopes a token can carry, and the one rule that decides,
//! for a clip and a caller, whether the caller reads it as the public, its owner or a
//! moderator, or is refused (not found, gone, removed).

/// Read and list one's own clips, including owner-only fields.
pub const READ: &str = "voice:read";
/// Upload and edit one's own clips.
pub const CREATE: &str = "voice:create";
/// Delete one's own clips.
pub const DELETE: &str = "voice:delete";
/// Moderate: read any clip, its history and the report queue, and decide.
pub const MODERATE: &str = "voice:moderate";

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
