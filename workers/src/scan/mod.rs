//! Scanning uploads: from a pending clip to a recorded verdict.
//!
//! 1. [`relay`] publishes a job for every pending clip to a [`queue`] (at least once, even
//!    across crashes).
//! 2. A worker takes the job: [`embedded`] in process, or the RabbitMQ consumer
//!    ([`queue::rabbit`]) in `voicebin worker` processes.
//! 3. [`job`] runs it: finds the clip, gets its bytes as a local file, asks a
//!    [`voicebin_commands::Scanner`] for a verdict and records it through
//!    `ClipService::complete_scan`.
//! 4. The scanners: [`scanner`] validates the audio (see [`crate::audio`]); [`clamd`] adds
//!    ClamAV in production.

pub mod clamd;
pub mod embedded;
pub mod job;
pub mod queue;
pub mod relay;
pub mod scanner;
