//! The child's side of the sandbox: `voicebin analyse-sandboxed` lowers its own resource limits,
//! then analyses one file and writes its [`Report`] on stdout.
//!
//! It runs before any async runtime or thread is started, so the limits bound everything the
//! process does. Lowering a limit is always allowed and cannot be undone by an unprivileged
//! process; the child never raises one.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use rlimit::Resource;

use super::{memory_reason, memory_rejection, PcmReport, Report, EXIT_SETUP};
use crate::scan::scanner::analyse_file;

/// What the parent passes to the child.
#[derive(Debug, Clone)]
pub struct ChildArgs {
    /// `RLIMIT_AS`, in bytes.
    pub max_memory_bytes: u64,
    /// `RLIMIT_CPU`, in seconds (at least 1).
    pub max_cpu_secs: u64,
    /// The file to analyse.
    pub path: PathBuf,
    /// Instead of analysing, decode at most this many milliseconds to 16 kHz mono s16le PCM
    /// on stdout, and end stderr with a [`PcmReport`] line (the transcription stage's decode).
    pub pcm16k_max_ms: Option<u64>,
}

/// Files the child may have open at once: stdio, the clip, and a few to spare.
const MAX_OPEN_FILES: u64 = 16;

/// Lowers this process's limits, analyses `args.path` and writes the report on stdout.
pub fn run(args: &ChildArgs) -> ExitCode {
    if let Err(e) = die_with_parent() {
        eprintln!("could not tie the analyser to its parent: {e}");
        return ExitCode::from(EXIT_SETUP);
    }
    if let Err(e) = lower_limits(args) {
        eprintln!("could not lower the resource limits: {e}");
        return ExitCode::from(EXIT_SETUP);
    }
    if let Some(max_ms) = args.pcm16k_max_ms {
        return decode_pcm(args, max_ms);
    }
    let report = match analyse_file(&args.path) {
        Ok(outcome) => Report::Outcome(outcome),
        // symphonia reserves what a file declares fallibly: past RLIMIT_AS that is an error,
        // not an abort, but the same verdict.
        Err(e) if e.kind() == std::io::ErrorKind::OutOfMemory => {
            Report::Outcome(memory_rejection(args.max_memory_bytes))
        }
        Err(e) => Report::Unreadable(e.to_string()),
    };
    let mut stdout = std::io::stdout().lock();
    let written = serde_json::to_writer(&mut stdout, &report)
        .map_err(std::io::Error::from)
        .and_then(|()| stdout.flush());
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("could not write the report: {e}");
            ExitCode::from(EXIT_SETUP)
        }
    }
}

/// The transcription stage's decode: PCM on stdout, then a [`PcmReport`] as the last line of
/// stderr. Exits 0 with a summary, 1 when the file does not decode.
fn decode_pcm(args: &ChildArgs, max_ms: u64) -> ExitCode {
    let mut stdout = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let (report, code) = match crate::audio::decode_pcm16k(&args.path, max_ms, &mut stdout) {
        Ok(summary) => (PcmReport::Decoded(summary), ExitCode::SUCCESS),
        Err(e) if matches!(&e, crate::audio::ProbeError::Io(io) if io.kind() == std::io::ErrorKind::OutOfMemory) => {
            (
                PcmReport::Undecodable(memory_reason(args.max_memory_bytes)),
                ExitCode::from(1),
            )
        }
        Err(crate::audio::ProbeError::Io(e)) => {
            (PcmReport::Unreadable(e.to_string()), ExitCode::from(1))
        }
        Err(e) => (PcmReport::Undecodable(e.to_string()), ExitCode::from(1)),
    };
    drop(stdout);
    match serde_json::to_string(&report) {
        Ok(line) => eprintln!("\n{line}"),
        Err(e) => {
            eprintln!("could not write the report: {e}");
            return ExitCode::from(EXIT_SETUP);
        }
    }
    code
}

/// A worker killed with SIGKILL cannot kill its analyser: the kernel does, on the parent's death
/// (`PR_SET_PDEATHSIG`), so no orphan keeps decoding until its CPU limit.
#[cfg(target_os = "linux")]
pub(crate) fn die_with_parent() -> std::io::Result<()> {
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
        .map_err(std::io::Error::from)?;
    // The parent may have died before the line above: then this process was re-parented.
    if std::os::unix::process::parent_id() == 1 {
        return Err(std::io::Error::other("the parent is gone"));
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn die_with_parent() -> std::io::Result<()> {
    Ok(())
}

pub(crate) fn lower_limits(args: &ChildArgs) -> std::io::Result<()> {
    // No core files of a crash, and no files written at all (stdout is a pipe, not a file).
    Resource::CORE.set(0, 0)?;
    Resource::FSIZE.set(0, 0)?;
    Resource::NOFILE.set(MAX_OPEN_FILES, MAX_OPEN_FILES)?;
    // SIGXCPU at the soft limit (it ends the process, and says why); SIGKILL a second later
    // should it be caught.
    let cpu = args.max_cpu_secs.max(1);
    Resource::CPU.set(cpu, cpu + 1)?;
    // Last: an allocation past it fails, and Rust aborts with "memory allocation of N bytes
    // failed".
    Resource::AS.set(args.max_memory_bytes, args.max_memory_bytes)?;
    Ok(())
}
