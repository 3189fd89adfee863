//! Background work: validating and scanning uploads, and recording their verdicts.
//!
//! The relay publishes a job for every pending clip; the embedded worker (in-process queue) or
//! the RabbitMQ worker (production) runs them. Workers change clips only through
//! `voicebin_commands::ClipService`.
#![forbid(unsafe_code)]

pub mod audio;
pub mod scan;
pub mod sweeper;

pub use scan::clamd::{ClamdClient, ClamdScanner};
pub use scan::embedded::EmbeddedWorker;
pub use scan::job::{Attempt, ScanJobRunner};
pub use scan::queue::in_process::{InProcessQueue, ScanJobs};
pub use scan::queue::rabbit::{DeadLetter, JobOutcome, RabbitOptions, RabbitQueue, ScanJobHandler};
pub use scan::relay::{RelaySettings, RelayTrigger, ScanRelay};
pub use scan::scanner::AudioProbeScanner;
pub use sweeper::{BlobSweeper, SweeperSettings};
