//! The use cases several edges share. Each takes an already verified caller, changes state only
//! through `voicebin_commands::ClipService`, reads only the projections, and answers with the
//! JSON shapes of [`crate::model`] or an [`crate::error::ApiError`].

pub mod allowances;
pub mod anonymous;
pub mod clips;
pub mod grants;
pub mod limits;
pub mod moderation;
pub mod quotas;
pub mod rendered;
pub mod reporters;
pub mod resumable;
pub mod signin;
pub mod transcripts;
