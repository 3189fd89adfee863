//! HTTP edge of voicebin.

pub mod auth;
