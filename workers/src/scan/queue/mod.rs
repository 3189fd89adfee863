//! The scan-job queues, both implementing [`voicebin_commands::ScanQueue`]: an in-process
//! channel ([`in_process`], embedded mode) and RabbitMQ ([`rabbit`], production mode).

pub mod in_process;
pub mod rabbit;
