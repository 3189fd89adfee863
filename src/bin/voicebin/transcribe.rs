//! `voicebin transcribe FILE`: transcribe one audio file with the configured engine, exactly as
//! the transcription stage does (decoded in the scan sandbox, then the engine), and print the
//! transcript. For operators trying the engine and its settings, and for `bench/transcribe.sh`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use voicebin_workers::stage::transcript::whisper::WhisperEngine;
use voicebin_workers::stage::transcript::{Transcribed, Transcriber, Transcribing};

use crate::args::{self, BackendArgs, GlobalArgs, DEFAULT_LISTEN};

#[derive(clap::Args)]
pub struct Opts {
    #[command(flatten)]
    backends: BackendArgs,
    /// What to print: the segments as JSON, WebVTT captions, or the plain text.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// The audio file.
    file: PathBuf,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Json,
    Vtt,
    Text,
}

pub async fn run(global: &GlobalArgs, opts: Opts) -> anyhow::Result<()> {
    let settings = args::settings(global, &opts.backends, DEFAULT_LISTEN, None)?;
    let Some(transcription) = settings.transcription else {
        bail!("transcription is off (VOICEBIN_TRANSCRIPTION=off, or no engine installed: run scripts/install-transcription)");
    };
    let engine = WhisperEngine::start(transcription.whisper)
        .await
        .context("the speech-to-text engine does not start")?;
    let engine: Arc<dyn Transcriber> = Arc::new(engine);
    let transcribing = Transcribing::new(engine.clone(), settings.sandbox, transcription.job);
    let started = Instant::now();
    let transcript = match transcribing.file(&opts.file).await {
        Transcribed::Transcript(transcript) => transcript,
        Transcribed::Failed(why) => bail!("cannot transcribe {}: {why}", opts.file.display()),
        Transcribed::Retry(why) => bail!("transcription failed: {why}"),
    };
    tracing::info!(
        engine = engine.engine(),
        seconds = started.elapsed().as_secs_f64(),
        "transcribed"
    );
    match opts.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&transcript)?),
        Format::Vtt => print!("{}", transcript.to_webvtt()),
        Format::Text => println!("{}", transcript.text()),
    }
    Ok(())
}
