//! Background work: validating and scanning uploads, and recording their verdicts.
//!
//! The embedded worker consumes the in-process queue; the RabbitMQ worker (production mode) is
//! tracked separately. Workers change clips only through `voicebin_commands::ClipService`.
#![forbid(unsafe_code)]

pub mod embedded;
pub mod probe;
pub mod scanner;

pub use embedded::EmbeddedWorker;
pub use scanner::AudioProbeScanner;
