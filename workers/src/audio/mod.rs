//! Audio analysis: validating an upload as real audio, measuring it, and drawing its waveform.

mod envelope;
mod open;
mod opus;
pub mod peaks;
pub mod probe;
