//! Progress bars on stderr, only when stderr is a terminal (never in scripts or logs).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A byte-counting bar for `what`; hidden unless stderr is a terminal.
pub fn bar(what: &str, total: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(total) => ProgressBar::new(total),
        None => ProgressBar::no_length(),
    };
    bar.set_draw_target(ProgressDrawTarget::stderr());
    bar.set_style(match total {
        Some(_) => bytes_style(),
        None => style("{prefix} {spinner} {bytes} {bytes_per_sec}"),
    });
    bar.set_prefix(what.to_owned());
    bar
}

/// The style of a bar whose length is known (for a bar that learns it late).
pub fn bytes_style() -> ProgressStyle {
    style("{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .expect("the template is valid")
        .progress_chars("=> ")
}
