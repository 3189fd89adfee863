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
//!   parsing); `render.rs` decodes a clip again for its FLAC rendition.
//! * [`scan`]: from a pending clip to a recorded verdict. `relay.rs` publishes jobs, `queue/`
//!   carries them (`in_process.rs`, and `rabbit/`: topology, publishing, consuming, dead
//!   letters), `embedded.rs` runs them in process, `job.rs` runs one job (counting its
//!   attempts) and records its verdict, `scanner.rs` and `clamd.rs` decide it, `sandbox/` runs
//!   the audio analysis in a child process with resource limits.
//! * [`stage`]: post-clean stages, each recorded as events of the clip: `job.rs` runs one job
//!   (counting its attempts), `rendition/` makes a FLAC rendition of a clip browsers cannot play
//!   in a sandboxed child (`child.rs`) and streams it to the blob store. Stage jobs travel like
//!   scan jobs: the relay and the queues of [`scan`] carry them, one queue per stage.
//! * [`sweeper`]: removing blobs that no clip owns. A job of its own, next to the other two
//!   rather than in `scan/`: it answers to the event log, not to scan jobs.
//!
//! The types the binary wires together are re-exported here.
#![forbid(unsafe_code)]

pub mod audio;
pub mod scan;
pub mod stage;
pub mod sweeper;

pub use scan::clamd::{ClamdClient, ClamdScanner};
pub use scan::embedded::EmbeddedWorker;
pub use scan::job::{Attempt, JobRunner, Round, ScanJobRunner, MAX_ATTEMPTS};
pub use scan::queue::in_process::{InProcessQueue, ScanJobs};
pub use scan::queue::rabbit::{
    DeadLetter, JobOutcome, QueueDepths, RabbitOptions, RabbitQueue, RequeueError, ScanJob,
    ScanJobHandler,
};
pub use scan::relay::{RelaySettings, RelayTrigger, ScanRelay};
pub use scan::sandbox::SandboxSettings;
pub use scan::scanner::AudioProbeScanner;
pub use stage::job::StageJobRunner;
pub use stage::rendition::{RenditionFormat, RenditionSettings, RenditionWork};
pub use stage::transcript::TranscriptWork;
pub use stage::StageWork;
pub use sweeper::{BlobSweeper, SweeperSettings};
