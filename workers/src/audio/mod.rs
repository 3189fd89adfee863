//! Audio analysis: validating an upload as real audio, measuring it, and drawing its waveform.

pub mod peaks;
pub mod probe;
