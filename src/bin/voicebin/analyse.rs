//! `voicebin analyse-sandboxed` and `voicebin render-sandboxed` (hidden): the child processes
//! of the scan sandbox and of the rendition stage. Each lowers its own resource limits, then
//! analyses one file and writes the report as JSON on stdout (`workers/src/scan/sandbox/`), or
//! writes the file as FLAC or Ogg Opus on stdout (`workers/src/stage/rendition/`); `serve` and `worker` run
//! them. Not for people: their output and flags may change with any release.

use std::path::PathBuf;
use std::process::ExitCode;

use voicebin_workers::scan::sandbox::child::{self, ChildArgs};
use voicebin_workers::stage::rendition::{self, RenditionFormat};

#[derive(clap::Args)]
pub struct Opts {
    /// Address space the analysis may use (RLIMIT_AS), in bytes.
    #[arg(long)]
    max_memory_bytes: u64,
    /// CPU time the analysis may use (RLIMIT_CPU), in seconds.
    #[arg(long)]
    max_cpu_secs: u64,
    /// Decode at most this many milliseconds to 16 kHz mono PCM on stdout instead of
    /// analysing (the transcription stage's decode; `analyse-sandboxed` only).
    #[arg(long)]
    pcm16k_max_ms: Option<u64>,
    /// Render as Ogg Opus at this many bits per second instead of FLAC (`render-sandboxed`
    /// only).
    #[arg(long)]
    opus_bitrate: Option<u32>,
    /// The file to analyse (or render).
    path: PathBuf,
}

impl Opts {
    fn child_args(self) -> ChildArgs {
        ChildArgs {
            max_memory_bytes: self.max_memory_bytes,
            max_cpu_secs: self.max_cpu_secs,
            path: self.path,
            pcm16k_max_ms: self.pcm16k_max_ms,
        }
    }
}

/// Runs before any runtime or thread is started, so the limits bound the whole process.
pub fn run(opts: Opts) -> ExitCode {
    child::run(&opts.child_args())
}

/// Renders the file as FLAC (or Ogg Opus) on stdout; like [`run`], before any runtime or
/// thread.
pub fn render(opts: Opts) -> ExitCode {
    let format = match opts.opus_bitrate {
        Some(bitrate_bps) => RenditionFormat::Opus { bitrate_bps },
        None => RenditionFormat::Flac,
    };
    rendition::child::run(&opts.child_args(), format)
}
