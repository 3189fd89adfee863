//! Scanning uploads: from a pending clip to a recorded verdict.
//!
//! 1. [`relay`] publishes a job for every pending clip to a [`queue`] (at least once, even
//!    across crashes).
//! 2. A worker takes the job: [`embedded`] in process, or the RabbitMQ consumer
//!    ([`queue::rabbit`]) in `voicebin worker` processes.
//! 3. [`job`] runs it: finds the clip, gets its bytes as a local file, asks a
//!    [`voicebin_commands::Scanner`] for a verdict and records it through
//!    `ClipService::complete_scan`.
//! 4. The scanners: [`scanner`] validates the audio (see [`crate::audio`]) in a child process
//!    with resource limits ([`sandbox`]); [`clamd`] adds ClamAV in production.
//!
//! A clip's scan is started a bounded number of times in all ([`job::MAX_ATTEMPTS`], counted
//! in the database across redeliveries and republished jobs), then it is recorded `failed`.

pub mod clamd;
pub mod embedded;
pub mod job;
pub mod queue;
pub mod relay;
pub mod sandbox;
pub mod scanner;
