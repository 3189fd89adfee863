//! `voicebin analyse-sandboxed` (hidden): the child process of the scan sandbox. It lowers its
//! own resource limits, analyses one file and writes the report as JSON on stdout; `serve` and
//! `worker` run it for every clip (`workers/src/scan/sandbox/`). Not for people: its output and
//! flags may change with any release.

use std::path::PathBuf;
use std::process::ExitCode;

use voicebin_workers::scan::sandbox::child::{self, ChildArgs};

#[derive(clap::Args)]
pub struct Opts {
    /// Address space the analysis may use (RLIMIT_AS), in bytes.
    #[arg(long)]
    max_memory_bytes: u64,
    /// CPU time the analysis may use (RLIMIT_CPU), in seconds.
    #[arg(long)]
    max_cpu_secs: u64,
    /// Decode at most this many milliseconds to 16 kHz mono PCM on stdout instead (the
    /// transcription stage's decode).
    #[arg(long)]
    pcm16k_max_ms: Option<u64>,
    /// The file to analyse.
    path: PathBuf,
}

/// Runs before any runtime or thread is started, so the limits bound the whole process.
pub fn run(opts: Opts) -> ExitCode {
    child::run(&ChildArgs {
        max_memory_bytes: opts.max_memory_bytes,
        max_cpu_secs: opts.max_cpu_secs,
        path: opts.path,
        pcm16k_max_ms: opts.pcm16k_max_ms,
    })
}
