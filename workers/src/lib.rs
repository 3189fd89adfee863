//! Background work: validating and scanning uploads, recording their verdicts, and sweeping
//! orphaned blobs.
//!
//! The relay publishes a job for every pending clip; the embedded worker (in-process queue) or
//! the RabbitMQ worker (production) runs them. Workers change clips only through
//! `voicebin_commands::ClipService`, and read clips only from `voicebin_projections`; nothing
//! here knows HTTP.
//!
//! # Layout
//!
//! One folder per job:
//!
//! * [`audio`]: what a file holds. One pass over it validates it as audio, measures it and
//!   draws its waveform: `open.rs` (sniffing and opening), `probe.rs` (the verdict and the
//!   facts), `peaks.rs` and `envelope.rs` (the waveform), `opus.rs` (Opus packet and header
//!   parsing).
//! * [`scan`]: from a pending clip to a recorded verdict. `relay.rs` publishes jobs, `queue/`
//!   carries them (`in_process.rs`, and `rabbit/`: topology, publishing, consuming, dead
//!   letters), `embedded.rs` runs them in process, `job.rs` runs one job (counting its
//!   attempts) and records its verdict, `scanner.rs` and `clamd.rs` decide it, `sandbox/` runs
//!   the audio analysis in a child process with resource limits.
//! * [`sweeper`]: removing blobs that no clip owns. A job of its own, next to the other two
//!   rather than in `scan/`: it answers to the event log, not to scan jobs.
//!
//! The types the binary wires together are re-exported here.
#![forbid(unsafe_code)]

pub mod audio;
pub mod scan;
pub mod sweeper;
pub mod transcribe;

pub use scan::clamd::{ClamdClient, ClamdScanner};
pub use scan::embedded::EmbeddedWorker;
pub use scan::job::{Attempt, Round, ScanJobRunner, MAX_ATTEMPTS};
pub use scan::queue::in_process::{InProcessQueue, ScanJobs};
pub use scan::queue::rabbit::{
    DeadLetter, JobOutcome, RabbitOptions, RabbitQueue, RequeueError, ScanJob, ScanJobHandler,
};
pub use scan::relay::{RelaySettings, RelayTrigger, ScanRelay};
pub use scan::sandbox::SandboxSettings;
pub use scan::scanner::AudioProbeScanner;
pub use sweeper::{BlobSweeper, SweeperSettings};
