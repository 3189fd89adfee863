//! What resumable uploads (ADR 0025) need below HTTP: a SHA-256 that survives between
//! requests. The partial bytes themselves go through the [`crate::PartialBlobs`] port, and the
//! finished clip is recorded by [`crate::ClipService::record_stored`].

mod hash;

pub use hash::{MalformedState, ResumableSha256};
