//! Which uploads a mainstream browser plays as they are. voicebin accepts more than Chromium and
//! Firefox can play (`canPlayType` is empty for AIFF, ALAC in MP4, CAF); those clips are played
//! from a rendition made after their scan (`docs/adr/0016-playback-renditions.md`).

/// Whether both Chromium and Firefox play `codec` in `container` (as the scan names them,
/// `domain::AudioFacts`). Deliberately narrow: a clip that would play anyway and gets a
/// rendition costs storage; one that would not and gets none is a dead player.
pub fn browsers_play(container: &str, codec: &str) -> bool {
    matches!(
        (container, codec),
        // WAV: integer PCM of 8, 16 and 24 bits. Float, 32-bit, A-law, µ-law and ADPCM are not
        // played by both.
        ("wav", "pcm_u8" | "pcm_s16le" | "pcm_s24le")
            | ("mp3", "mp3")
            | ("flac", "flac")
            | ("ogg", "vorbis" | "opus" | "flac")
            | ("webm", "vorbis" | "opus")
            | ("mp4", "aac" | "mp3" | "opus" | "flac")
    )
}

/// Whether the source is lossless (so a lossless rendition keeps every sample): PCM of any kind,
/// FLAC and ALAC.
pub fn is_lossless(codec: &str) -> bool {
    (codec.starts_with("pcm_") && !matches!(codec, "pcm_alaw" | "pcm_mulaw"))
        || matches!(
            codec,
            "flac" | "alac" | "wavpack" | "ape" | "tta" | "truehd"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aiff_alac_and_caf_need_a_rendition_and_the_common_formats_do_not() {
        assert!(!browsers_play("aiff", "pcm_s16be"));
        assert!(!browsers_play("mp4", "alac"));
        assert!(!browsers_play("caf", "pcm_s16le"));
        assert!(!browsers_play("caf", "alac"));
        assert!(!browsers_play("wav", "pcm_f32le"));
        assert!(!browsers_play("wav", "adpcm_ms"));
        assert!(!browsers_play("wav", "pcm_mulaw"));
        for (container, codec) in [
            ("wav", "pcm_s16le"),
            ("mp3", "mp3"),
            ("flac", "flac"),
            ("ogg", "vorbis"),
            ("ogg", "opus"),
            ("webm", "opus"),
            ("mp4", "aac"),
        ] {
            assert!(browsers_play(container, codec), "{container}/{codec}");
        }
    }

    #[test]
    fn pcm_flac_and_alac_are_lossless_and_lossy_codecs_are_not() {
        for codec in ["pcm_s16be", "pcm_f32le", "alac", "flac"] {
            assert!(is_lossless(codec), "{codec}");
        }
        for codec in ["mp3", "aac", "pcm_mulaw", "adpcm_ms", "vorbis"] {
            assert!(!is_lossless(codec), "{codec}");
        }
    }
}
