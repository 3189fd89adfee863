//! The child's side of a rendition: `voicebin render-sandboxed` lowers its own resource limits
//! (the same as the scan's analyser, `crate::scan::sandbox::child`), then decodes one file and
//! writes it as FLAC (or Ogg Opus) on stdout. Exit codes: 0 done, [`EXIT_REFUSED`] the file cannot be rendered
//! (the reason is the last line on stderr), [`EXIT_IO`] reading or writing failed,
//! `EXIT_SETUP` (3) it could not set itself up.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use super::{RenditionFormat, EXIT_IO, EXIT_REFUSED};
use crate::audio::render::{render_flac, render_opus, RenderError};
use crate::scan::sandbox::child::{die_with_parent, lower_limits, ChildArgs};
use crate::scan::sandbox::{memory_reason, EXIT_SETUP};

/// Lowers this process's limits and writes `args.path` as `format` on stdout.
pub fn run(args: &ChildArgs, format: RenditionFormat) -> ExitCode {
    if let Err(e) = die_with_parent() {
        eprintln!("could not tie the renderer to its parent: {e}");
        return ExitCode::from(EXIT_SETUP);
    }
    if let Err(e) = lower_limits(args) {
        eprintln!("could not lower the resource limits: {e}");
        return ExitCode::from(EXIT_SETUP);
    }
    let stdout = std::io::stdout().lock();
    let mut out = BufWriter::with_capacity(64 * 1024, stdout);
    let rendered = match format {
        RenditionFormat::Flac => render_flac(&args.path, &mut out),
        RenditionFormat::Opus { bitrate_bps } => render_opus(&args.path, &mut out, bitrate_bps),
    };
    let rendered = rendered.and_then(|rendered| {
        out.flush()?;
        Ok(rendered)
    });
    match rendered {
        Ok(_) => ExitCode::SUCCESS,
        Err(RenderError::Refused(why)) => {
            eprintln!("{why}");
            ExitCode::from(EXIT_REFUSED)
        }
        // symphonia reserves what a file declares fallibly: past RLIMIT_AS that is an error.
        Err(RenderError::Io(e)) if e.kind() == std::io::ErrorKind::OutOfMemory => {
            eprintln!("{}", memory_reason(args.max_memory_bytes));
            ExitCode::from(EXIT_REFUSED)
        }
        Err(RenderError::Io(e)) => {
            eprintln!("i/o error: {e}");
            ExitCode::from(EXIT_IO)
        }
    }
}
