//! The scan-job queues, both implementing [`voicebin_commands::ScanQueue`]: RabbitMQ
//! ([`rabbit`], production mode).

pub mod rabbit;
