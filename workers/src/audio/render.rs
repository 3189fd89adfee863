//! Renditions: decoding a clip that browsers cannot play (AIFF, ALAC, CAF, …) and encoding it as
//! FLAC, which Chromium and Firefox both play, streaming to any [`Write`]; or, when the
//! operator chooses it, as Ogg Opus ([`render_opus`]). Blocking; run in the sandboxed child
//! (`crate::stage::rendition`), which writes to its stdout.
//!
//! # How
//!
//! Two passes over the file, each decoding every packet of the default audio track with
//! symphonia (gapless, as a listener hears it):
//!
//! 1. counts the frames and computes the MD5 of the samples, which FLAC's `STREAMINFO` holds
//!    before the first frame: a browser learns the duration (and can seek) from it, and the
//!    output is never rewound, so it is known before anything is written;
//! 2. encodes blocks of 4096 frames with the pure-Rust `flacenc` encoder and writes each frame
//!    as soon as it is encoded.
//!
//! Memory is bounded by one packet and one block, whatever the clip's length.
//!
//! # Samples
//!
//! Every decoded sample is read as a full-scale `i32` and shifted down to the rendition's bit
//! depth, which is the source's for integer PCM and ALAC of 8 to 24 bits (lossless), 24 bits for
//! deeper integer PCM and float PCM, and 16 bits for what a lossy decoder outputs as float.
//!
//! # Refusals
//!
//! A packet that does not decode, a change of format mid-stream, more than 8 channels or a rate
//! FLAC cannot hold is [`RenderError::Refused`]: the same file fails the same way every time, so
//! the clip keeps its original (`RenditionFailed`). An I/O error (the file, or the output gone)
//! is [`RenderError::Io`].

use std::io::Write;
use std::path::Path;

use flacenc::component::{BitRepr, Stream};
use flacenc::error::Verify;
use flacenc::source::{Context, Fill, FrameBuf};
use symphonia::core::audio::GenericAudioBufferRef;
use symphonia::core::codecs::audio::well_known as codec;
use symphonia::core::codecs::audio::{AudioDecoderOptions, CODEC_ID_NULL_AUDIO};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatReader, TrackType};

use super::open::open_audio;
use super::{ProbeError, MAX_PACKETS};

/// Frames per FLAC block (the reference encoder's default at its usual levels).
const BLOCK_FRAMES: usize = 4096;
/// FLAC holds at most 8 channels.
const MAX_CHANNELS: usize = 8;
/// The highest rate a FLAC frame header can name.
const MAX_RATE: u32 = 655_350;

/// Why no rendition was written.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The file cannot be rendered (its contents, not the machine): it fails the same way every
    /// time.
    #[error("{0}")]
    Refused(String),
    /// Reading the file or writing the output failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// What a rendition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rendered {
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Channel count.
    pub channels: usize,
    /// Bits per sample (0 for Opus, which has none).
    pub bits: u32,
    /// Frames (samples per channel).
    pub frames: u64,
}

/// The decoded audio's format, fixed by its first packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Format {
    sample_rate: u32,
    channels: usize,
    bits: u32,
}

/// Decodes `path` and writes it to `out` as FLAC. Blocking.
pub fn render_flac(path: &Path, out: &mut impl Write) -> Result<Rendered, RenderError> {
    // Pass 1: the frame count and the MD5 of the samples, for STREAMINFO.
    let mut context: Option<Context> = None;
    let mut frames: u64 = 0;
    let format = decode_all(path, |format, samples| {
        let context =
            context.get_or_insert_with(|| Context::new(format.bits as usize, format.channels));
        context
            .fill_interleaved(samples)
            .map_err(|e| RenderError::Refused(format!("the samples cannot be hashed: {e}")))?;
        frames += (samples.len() / format.channels) as u64;
        Ok(())
    })?;
    let (Some(format), Some(context)) = (format, context) else {
        return Err(RenderError::Refused(
            "the audio track holds no audio".into(),
        ));
    };
    if format.channels > MAX_CHANNELS {
        return Err(RenderError::Refused(format!(
            "FLAC holds at most {MAX_CHANNELS} channels; the clip has {}",
            format.channels
        )));
    }
    if format.sample_rate == 0 || format.sample_rate > MAX_RATE {
        return Err(RenderError::Refused(format!(
            "FLAC cannot hold a rate of {} Hz",
            format.sample_rate
        )));
    }

    let mut stream = Stream::new(
        format.sample_rate as usize,
        format.channels,
        format.bits as usize,
    )
    .map_err(|e| RenderError::Refused(format!("FLAC cannot hold this audio: {e}")))?;
    let info = stream.stream_info_mut();
    info.set_block_sizes(BLOCK_FRAMES, BLOCK_FRAMES)
        .and_then(|()| info.set_frame_sizes(0, 0))
        .map_err(|e| RenderError::Refused(format!("FLAC stream info: {e}")))?;
    info.set_total_samples(usize::try_from(frames).unwrap_or(usize::MAX));
    info.set_md5_digest(&context.md5_digest());
    // `fLaC` and STREAMINFO; the frames follow.
    write_bits(&stream, out)?;

    // Pass 2: encode block after block.
    let mut config = flacenc::config::Encoder::default();
    config.block_size = BLOCK_FRAMES;
    config.multithread = false;
    let config = config
        .into_verified()
        .map_err(|(_, e)| RenderError::Refused(format!("FLAC encoder settings: {e}")))?;
    let mut block = FrameBuf::with_size(format.channels, BLOCK_FRAMES)
        .map_err(|e| RenderError::Refused(format!("FLAC block: {e}")))?;
    let mut pending: Vec<i32> = Vec::with_capacity(BLOCK_FRAMES * format.channels);
    let mut frame_number = 0usize;
    let mut encoded: u64 = 0;
    let block_len = BLOCK_FRAMES * format.channels;
    let mut encode = |samples: &[i32], frame_number: &mut usize| -> Result<(), RenderError> {
        block
            .fill_interleaved(samples)
            .map_err(|e| RenderError::Refused(format!("FLAC block: {e}")))?;
        let frame =
            flacenc::encode_fixed_size_frame(&config, &block, *frame_number, stream.stream_info())
                .map_err(|e| RenderError::Refused(format!("FLAC encoder: {e}")))?;
        write_bits(&frame, out)?;
        *frame_number += 1;
        Ok(())
    };
    let again = decode_all(path, |second, samples| {
        if *second != format {
            return Err(RenderError::Refused(
                "the clip decoded differently twice".into(),
            ));
        }
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (block_len - pending.len()).min(rest.len());
            pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if pending.len() == block_len {
                encode(&pending, &mut frame_number)?;
                encoded += BLOCK_FRAMES as u64;
                pending.clear();
            }
        }
        Ok(())
    })?;
    if !pending.is_empty() {
        encode(&pending, &mut frame_number)?;
        encoded += (pending.len() / format.channels) as u64;
    }
    if again != Some(format) || encoded != frames {
        return Err(RenderError::Refused(
            "the clip decoded differently twice".into(),
        ));
    }
    out.flush()?;
    Ok(Rendered {
        sample_rate: format.sample_rate,
        channels: format.channels,
        bits: format.bits,
        frames,
    })
}

/// Writes a FLAC component's bytes to `out`.
fn write_bits<T: BitRepr>(component: &T, out: &mut impl Write) -> Result<(), RenderError> {
    let mut sink = flacenc::bitsink::ByteSink::new();
    component
        .write(&mut sink)
        .map_err(|e| RenderError::Refused(format!("FLAC output: {e}")))?;
    out.write_all(sink.as_slice())?;
    Ok(())
}

/// Decodes every packet of `path`'s default audio track and hands each one's samples,
/// interleaved and at the rendition's bit depth, to `each`. The format, or `None` when no
/// packet held audio.
fn decode_all(
    path: &Path,
    mut each: impl FnMut(&Format, &[i32]) -> Result<(), RenderError>,
) -> Result<Option<Format>, RenderError> {
    let opened = open_audio(path, |reader, _container| {
        Ok(decode_reader(reader, &mut each))
    });
    match opened {
        Ok(decoded) => decoded,
        Err(ProbeError::Io(e)) => Err(RenderError::Io(e)),
        Err(e) => Err(RenderError::Refused(e.to_string())),
    }
}

fn decode_reader(
    mut reader: Box<dyn FormatReader>,
    each: &mut impl FnMut(&Format, &[i32]) -> Result<(), RenderError>,
) -> Result<Option<Format>, RenderError> {
    let refused = RenderError::Refused;
    let track = reader
        .default_track(TrackType::Audio)
        .ok_or_else(|| refused("the file has no audio track".into()))?;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or_else(|| refused("the file has no audio track".into()))?
        .clone();
    let track_id = track.id;
    if params.codec == CODEC_ID_NULL_AUDIO {
        return Err(refused("the audio track's codec is not supported".into()));
    }
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default().gapless(true))
        .map_err(|e| refused(format!("no decoder for the audio track: {e}")))?;
    let float_pcm = matches!(
        params.codec,
        codec::CODEC_ID_PCM_F32LE
            | codec::CODEC_ID_PCM_F32LE_PLANAR
            | codec::CODEC_ID_PCM_F32BE
            | codec::CODEC_ID_PCM_F32BE_PLANAR
            | codec::CODEC_ID_PCM_F64LE
            | codec::CODEC_ID_PCM_F64LE_PLANAR
            | codec::CODEC_ID_PCM_F64BE
            | codec::CODEC_ID_PCM_F64BE_PLANAR
    );
    // The decoder knows the depth from the codec's own setup (ALAC's magic cookie) where the
    // container does not say.
    let declared_bits = decoder
        .codec_params()
        .bits_per_sample
        .or(params.bits_per_sample)
        .or_else(|| match params.codec {
            codec::CODEC_ID_ALAC => params.extra_data.as_deref().and_then(alac_bit_depth),
            _ => None,
        })
        .filter(|b| (8..=24).contains(b));
    let mut format: Option<Format> = None;
    let mut samples: Vec<i32> = Vec::new();
    let mut packets: u64 = 0;
    loop {
        let packet = match reader.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => break,
            // A chained stream's next link, or a file cut short inside its last packet: the
            // audio a player would play ends here.
            Err(SymphoniaError::ResetRequired) => break,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break
            }
            Err(SymphoniaError::IoError(e)) => return Err(RenderError::Io(e)),
            Err(e) => return Err(refused(format!("demuxing failed: {e}"))),
        };
        while !reader.metadata().is_latest() {
            reader.metadata().pop();
        }
        packets += 1;
        if packets > MAX_PACKETS {
            return Err(refused(format!("more than {MAX_PACKETS} packets")));
        }
        if packet.track_id != track_id {
            continue;
        }
        let buf = match decoder.decode(&packet) {
            Ok(buf) => buf,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::OutOfMemory => {
                return Err(RenderError::Io(e))
            }
            Err(e) => {
                return Err(refused(format!(
                    "audio packet {packets} does not decode: {e}"
                )))
            }
        };
        if buf.frames() == 0 {
            continue;
        }
        let this = Format {
            sample_rate: buf.spec().rate(),
            channels: buf.spec().channels().count(),
            bits: declared_bits.unwrap_or_else(|| bits_of(&buf, float_pcm)),
        };
        match format {
            None => format = Some(this),
            Some(f) if f != this => {
                return Err(refused("the audio changes format part way".into()))
            }
            Some(_) => {}
        }
        buf.copy_to_vec_interleaved::<i32>(&mut samples);
        let shift = 32 - this.bits;
        for sample in &mut samples {
            *sample >>= shift;
        }
        each(&this, &samples)?;
    }
    Ok(format)
}

/// The bit depth in an ALAC magic cookie (`ALACSpecificConfig`, possibly behind `frma` and
/// `alac` atom headers), which symphonia's decoder reads but does not report.
fn alac_bit_depth(cookie: &[u8]) -> Option<u32> {
    let mut cookie = cookie;
    for atom in [b"frma", b"alac"] {
        if cookie.get(4..8) == Some(atom.as_slice()) {
            cookie = cookie.get(12..)?;
        }
    }
    // frameLength (4 bytes), compatibleVersion (1), bitDepth (1).
    cookie.get(5).map(|&bits| u32::from(bits))
}

/// The rendition's bit depth for a decoder's output without a declared depth.
fn bits_of(buf: &GenericAudioBufferRef<'_>, float_pcm: bool) -> u32 {
    match buf {
        GenericAudioBufferRef::U8(_) | GenericAudioBufferRef::S8(_) => 8,
        GenericAudioBufferRef::U16(_) | GenericAudioBufferRef::S16(_) => 16,
        GenericAudioBufferRef::U24(_)
        | GenericAudioBufferRef::S24(_)
        | GenericAudioBufferRef::U32(_)
        | GenericAudioBufferRef::S32(_) => 24,
        // Float PCM is a master: keep 24 bits. A lossy decoder's float output holds no more
        // than 16 bits' worth.
        GenericAudioBufferRef::F32(_) | GenericAudioBufferRef::F64(_) if float_pcm => 24,
        GenericAudioBufferRef::F32(_) | GenericAudioBufferRef::F64(_) => 16,
    }
}

mod opus;
#[cfg(test)]
mod tests;

pub use opus::render_opus;
