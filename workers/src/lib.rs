//! Background work: validating and scanning uploads, and recording their verdicts.
//!
//! The relay publishes a job for every pending clip; the embedded worker (in-process queue) or
//! the RabbitMQ worker (production) runs them. Workers change clips only through
//! `voicebin_commands::ClipService`.
#![forbid(unsafe_code)]

pub mod clamd;
pub mod embedded;
pub mod jobs;
pub mod peaks;
pub mod probe;
pub mod rabbit;
pub mod relay;
pub mod scanner;
pub mod sweeper;

pub use clamd::{ClamdClient, ClamdScanner};
pub use embedded::EmbeddedWorker;
pub use jobs::{Attempt, ScanJobRunner};
pub use rabbit::{JobOutcome, RabbitQueue, ScanJobHandler};
pub use relay::{RelaySettings, RelayTrigger, ScanRelay};
pub use scanner::AudioProbeScanner;
pub use sweeper::{BlobSweeper, SweeperSettings};
