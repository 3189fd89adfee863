//! Opus packets and identification headers, parsed (RFC 6716, RFC 7845): the one place that
//! reads a TOC byte, frame lengths or an `OpusHead`. The probe measures and checks packets with
//! it; the waveform splits packets into streams and frames with it before decoding them.

use std::ops::Range;

/// Longest Opus packet, in 48 kHz frames: 120 ms.
pub(super) const MAX_PACKET_SAMPLES: usize = 5760;
/// Longest Opus frame, in bytes (RFC 6716 §3.2.1).
pub(super) const MAX_FRAME_BYTES: usize = 1275;

/// The number of 48 kHz samples in an Opus packet, from its TOC byte (RFC 6716 §3.1) and, for
/// code 3, its frame count, or `None` if the packet is structurally invalid. Lighter than
/// [`OpusPacket::parse`]: frame lengths are not checked.
pub(super) fn packet_samples(packet: &[u8]) -> Option<u32> {
    let toc = *packet.first()?;
    let frames = match toc & 0b11 {
        0 => 1,
        1 | 2 => 2,
        _ => match usize::from(*packet.get(1)? & 0b0011_1111) {
            0 => return None,
            count => count,
        },
    };
    let samples = frames * samples_per_frame(toc);
    // A packet may hold at most 120 ms of audio.
    if samples > MAX_PACKET_SAMPLES {
        return None;
    }
    u32::try_from(samples).ok()
}

/// The frames of one Opus packet (RFC 6716 §3.2), as ranges of its bytes.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct OpusPacket {
    pub(super) toc: u8,
    pub(super) frames: Vec<Range<usize>>,
    /// The packet's length, padding included (for a self-delimited packet, where the next
    /// stream's packet starts).
    pub(super) len: usize,
}

impl OpusPacket {
    /// Parse the packet at the start of `data`: all of `data`, or with the self-delimiting framing
    /// of RFC 6716 Appendix B (the size of the last frame, or of every frame of a CBR packet,
    /// follows the other header fields), only its own bytes.
    pub(super) fn parse(data: &[u8], self_delimited: bool) -> Result<OpusPacket, String> {
        let toc = *data.first().ok_or("an empty packet")?;
        let mut at = 1;
        let mut sizes = Vec::new();
        let mut padding = 0;
        let (count, cbr) = match toc & 3 {
            0 => (1, true),
            1 => (2, true),
            2 => {
                sizes.push(frame_size(data, &mut at)?);
                (2, false)
            }
            _ => {
                let header = *data.get(at).ok_or("no frame count")?;
                at += 1;
                let count = usize::from(header & 0x3F);
                if count == 0 {
                    return Err("a packet of zero frames".into());
                }
                if header & 0x40 != 0 {
                    // Padding length: each 255 adds 254 and continues.
                    loop {
                        let byte = *data.get(at).ok_or("truncated padding length")?;
                        at += 1;
                        padding += if byte == 255 { 254 } else { usize::from(byte) };
                        if byte != 255 {
                            break;
                        }
                    }
                }
                let cbr = header & 0x80 == 0;
                if !cbr {
                    for _ in 1..count {
                        sizes.push(frame_size(data, &mut at)?);
                    }
                }
                (count, cbr)
            }
        };
        if count * samples_per_frame(toc) > MAX_PACKET_SAMPLES {
            return Err("a packet longer than 120 ms".into());
        }
        if self_delimited {
            let size = frame_size(data, &mut at)?;
            sizes.resize(if cbr { count } else { sizes.len() + 1 }, size);
        } else {
            let body = (data.len() - at)
                .checked_sub(padding)
                .ok_or("more padding than packet")?;
            if cbr {
                if body % count != 0 {
                    return Err("CBR frames of unequal length".into());
                }
                sizes.resize(count, body / count);
            } else {
                let explicit: usize = sizes.iter().sum();
                let last = body
                    .checked_sub(explicit)
                    .ok_or("frames overrun the packet")?;
                sizes.push(last);
            }
        }
        if sizes.iter().any(|&size| size > MAX_FRAME_BYTES) {
            return Err("a frame longer than 1275 bytes".into());
        }
        let mut frames = Vec::with_capacity(count);
        for size in sizes {
            frames.push(at..at + size);
            at += size;
        }
        let len = at + padding;
        if len > data.len() {
            return Err("frames overrun the packet".into());
        }
        Ok(OpusPacket { toc, frames, len })
    }
}

/// Read a frame length (one or two bytes, RFC 6716 §3.2.1) at `*at`, and move past it.
fn frame_size(data: &[u8], at: &mut usize) -> Result<usize, String> {
    let first = usize::from(*data.get(*at).ok_or("truncated frame length")?);
    if first < 252 {
        *at += 1;
        return Ok(first);
    }
    let second = usize::from(*data.get(*at + 1).ok_or("truncated frame length")?);
    *at += 2;
    Ok(first + 4 * second)
}

/// The duration of each frame of a packet with this TOC byte, in 48 kHz frames.
pub(super) fn samples_per_frame(toc: u8) -> usize {
    let size = u32::from((toc >> 3) & 3);
    if toc & 0x80 != 0 {
        // CELT-only: 2.5, 5, 10, 20 ms.
        120 << size
    } else if toc & 0x60 == 0x60 {
        // Hybrid: 10, 20 ms.
        if toc & 0x08 != 0 {
            960
        } else {
            480
        }
    } else if size == 3 {
        // SILK-only: 10, 20, 40, 60 ms.
        2880
    } else {
        480 << size
    }
}

/// The fields of an Opus identification header that decoding needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct OpusHead {
    /// 48 kHz frames to drop from the start of the decoded audio.
    pub(super) pre_skip: u16,
    /// Q7.8 dB.
    pub(super) output_gain: i16,
    /// Elementary streams in each packet.
    pub(super) streams: u8,
    /// How many of the streams are stereo (they come first).
    pub(super) coupled: u8,
    /// Output channel → decoded channel (one entry per output channel).
    pub(super) mapping: Vec<u8>,
}

impl OpusHead {
    /// Parse an `OpusHead` (RFC 7845 §5.1, little-endian, version 1), or the same fields from an
    /// MP4 `dOps` box that symphonia prefixes with `OpusHead` (version 0, big-endian).
    pub(super) fn parse(data: &[u8]) -> Option<OpusHead> {
        let (pre_skip, output_gain) = OpusHead::fixed_fields(data)?;
        let channels = usize::from(data[9]);
        let family = data[18];
        let mut head = if family == 0 {
            OpusHead::single_stream(channels)?
        } else {
            let streams = *data.get(19)?;
            let coupled = *data.get(20)?;
            let mapping = data.get(21..21 + channels)?.to_vec();
            if channels == 0 || streams == 0 || coupled > streams {
                return None;
            }
            OpusHead {
                pre_skip: 0,
                output_gain: 0,
                streams,
                coupled,
                mapping,
            }
        };
        head.pre_skip = pre_skip;
        head.output_gain = output_gain;
        Some(head)
    }

    /// The pre-skip of an identification header, whatever its channel mapping.
    pub(super) fn pre_skip(data: &[u8]) -> Option<u16> {
        OpusHead::fixed_fields(data).map(|(pre_skip, _)| pre_skip)
    }

    /// The pre-skip and output gain, little-endian in an `OpusHead` (version 1), big-endian in
    /// an MP4 `dOps` (version 0); `None` unless `data` is a whole fixed-size header.
    fn fixed_fields(data: &[u8]) -> Option<(u16, i16)> {
        if data.len() < 19 || &data[0..8] != b"OpusHead" {
            return None;
        }
        let (pre_skip, gain) = ([data[10], data[11]], [data[16], data[17]]);
        Some(if data[8] == 0 {
            (u16::from_be_bytes(pre_skip), i16::from_be_bytes(gain))
        } else {
            (u16::from_le_bytes(pre_skip), i16::from_le_bytes(gain))
        })
    }

    /// Mapping family 0: one stream, mono or stereo.
    pub(super) fn single_stream(channels: usize) -> Option<OpusHead> {
        let (coupled, mapping) = match channels {
            1 => (0, vec![0]),
            2 => (1, vec![0, 1]),
            _ => return None,
        };
        Some(OpusHead {
            pre_skip: 0,
            output_gain: 0,
            streams: 1,
            coupled,
            mapping,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opus_toc_durations() {
        // config 1 (SILK NB 20 ms), code 0: one 20 ms frame.
        assert_eq!(packet_samples(&[1 << 3]), Some(960));
        // config 31 (CELT FB 20 ms), code 1: two frames.
        assert_eq!(packet_samples(&[(31 << 3) | 1, 0]), Some(1920));
        // config 16 (CELT 2.5 ms), code 3 with 48 frames: 120 ms, the maximum.
        assert_eq!(packet_samples(&[(16 << 3) | 3, 48]), Some(5760));
        // code 3 with 3 frames of 60 ms: 180 ms is too long.
        assert_eq!(packet_samples(&[(3 << 3) | 3, 3]), None);
        // code 3 with zero frames, or missing count byte, or an empty packet.
        assert_eq!(packet_samples(&[(16 << 3) | 3, 0]), None);
        assert_eq!(packet_samples(&[(16 << 3) | 3]), None);
        assert_eq!(packet_samples(&[]), None);
    }

    #[test]
    fn opus_packet_framing() {
        // The frames as (start, end) byte offsets.
        let frames = |data: &[u8], delimited| {
            OpusPacket::parse(data, delimited).map(|p| {
                p.frames
                    .iter()
                    .map(|r| (r.start, r.end))
                    .collect::<Vec<_>>()
            })
        };
        let len = |data: &[u8]| OpusPacket::parse(data, true).unwrap().len;
        // Code 0: one frame; code 1: two of equal length; code 2: the first one's length, then two.
        assert_eq!(frames(&[0x78, 1, 2, 3], false), Ok(vec![(1, 4)]));
        assert_eq!(frames(&[0x79, 1, 2, 3, 4], false), Ok(vec![(1, 3), (3, 5)]));
        assert!(frames(&[0x79, 1, 2, 3], false).is_err());
        assert_eq!(frames(&[0x7A, 1, 9, 8, 7], false), Ok(vec![(2, 3), (3, 5)]));
        assert!(frames(&[0x7A, 4, 9, 8, 7], false).is_err());
        // Code 3: CBR; VBR with padding (two bytes) and lengths 1 and 0 before the last frame.
        assert_eq!(
            frames(&[0x7B, 2, 1, 2, 3, 4], false),
            Ok(vec![(2, 4), (4, 6)])
        );
        let vbr = [0x7B, 0xC3, 2, 1, 0, 5, 6, 6, 0, 0];
        assert_eq!(frames(&vbr, false), Ok(vec![(5, 6), (6, 6), (6, 8)]));
        // Padding runs on while its bytes are 255 (each adding 254).
        let mut padded = vec![0x7B, 0x41, 255, 1, 7];
        padded.resize(5 + 255, 0);
        assert_eq!(frames(&padded, false), Ok(vec![(4, 5)]));
        assert_eq!(frames(&padded[..259], false), Ok(vec![(4, 4)]));
        assert!(frames(&padded[..258], false).is_err());
        // No frames, more than 120 ms (seven 20 ms frames), an empty packet: invalid.
        assert!(frames(&[0x7B, 0], false).is_err());
        assert!(frames(&[0x7B, 7, 0, 0, 0, 0, 0, 0, 0], false).is_err());
        assert!(frames(&[0x7B, 6, 0, 0, 0, 0, 0, 0], false).is_ok());
        assert!(frames(&[], false).is_err());
        // Lengths of 252 and over take two bytes; no frame is longer than 1275 bytes.
        let mut long = vec![0x7A, 252 + 3, 12];
        long.resize(3 + 303 + 5, 1);
        assert_eq!(frames(&long, false), Ok(vec![(3, 306), (306, 311)]));
        assert!(frames(&[vec![0xFC], vec![0; 1275]].concat(), false).is_ok());
        assert!(frames(&[vec![0xFC], vec![0; 1276]].concat(), false).is_err());

        // Self-delimited: the last frame's length (every frame's, if CBR) follows the header,
        // and the packet ends with its frames and padding, whatever follows.
        assert_eq!(frames(&[0x78, 3, 1, 2, 3, 9, 9], true), Ok(vec![(2, 5)]));
        assert_eq!(len(&[0x78, 3, 1, 2, 3, 9, 9]), 5);
        assert_eq!(
            frames(&[0x79, 2, 1, 2, 3, 4, 9], true),
            Ok(vec![(2, 4), (4, 6)])
        );
        assert_eq!(
            frames(&[0x7A, 1, 2, 7, 8, 9, 9], true),
            Ok(vec![(3, 4), (4, 6)])
        );
        assert_eq!(
            frames(&[0x7B, 0x42, 1, 2, 5, 5, 6, 6, 0, 9], true),
            Ok(vec![(4, 6), (6, 8)])
        );
        assert_eq!(len(&[0x7B, 0x42, 1, 2, 5, 5, 6, 6, 0, 9]), 9);
        assert_eq!(
            frames(&[0x7B, 0x82, 1, 2, 5, 6, 6, 9], true),
            Ok(vec![(4, 5), (5, 7)])
        );
        let mut two_byte = vec![0x78, 252 + 3, 12];
        two_byte.resize(3 + 303 + 4, 1);
        assert_eq!(frames(&two_byte, true), Ok(vec![(3, 306)]));
        assert!(frames(&[0x78, 3, 1, 2], true).is_err());
        assert!(frames(&[0x78], true).is_err());

        // Frame durations, in 48 kHz frames, from the TOC's configuration.
        for (toc, frames) in [
            (0x80, 120),  // CELT NB 2.5 ms
            (0xF4, 480),  // CELT FB 10 ms
            (0xFC, 960),  // CELT FB 20 ms
            (0x70, 480),  // Hybrid FB 10 ms
            (0x78, 960),  // Hybrid FB 20 ms
            (0x00, 480),  // SILK NB 10 ms
            (0x10, 1920), // SILK NB 40 ms
            (0x58, 2880), // SILK WB 60 ms
        ] {
            assert_eq!(samples_per_frame(toc), frames, "TOC {toc:#04x}");
        }
    }

    #[test]
    fn opus_head_parsing() {
        let mut head = b"OpusHead".to_vec();
        head.extend_from_slice(&[1, 2, 0x38, 0x01, 0x80, 0xBB, 0, 0, 0x00, 0xFA, 0]);
        assert_eq!(
            OpusHead::parse(&head),
            Some(OpusHead {
                pre_skip: 312,
                output_gain: -1536,
                streams: 1,
                coupled: 1,
                mapping: vec![0, 1],
            })
        );
        // MP4 dOps as symphonia exposes it: version 0, big-endian.
        let mut dops = b"OpusHead".to_vec();
        dops.extend_from_slice(&[0, 1, 0x01, 0x38, 0, 0, 0xBB, 0x80, 0x01, 0x00, 0]);
        let parsed = OpusHead::parse(&dops).unwrap();
        assert_eq!((parsed.pre_skip, parsed.output_gain), (312, 256));
        assert_eq!(
            (parsed.streams, parsed.coupled, parsed.mapping),
            (1, 0, vec![0])
        );
        // Family 1, 6 channels (5.1): 4 streams, 2 coupled.
        let mut surround = b"OpusHead".to_vec();
        surround.extend_from_slice(&[1, 6, 0x38, 0x01, 0x80, 0xBB, 0, 0, 0, 0, 1, 4, 2]);
        surround.extend_from_slice(&[0, 4, 1, 2, 3, 5]);
        let parsed = OpusHead::parse(&surround).unwrap();
        assert_eq!(
            (parsed.streams, parsed.coupled, parsed.mapping),
            (4, 2, vec![0, 4, 1, 2, 3, 5])
        );
        // Family 0 allows only mono and stereo; a family-1 header must carry its mapping.
        let mut bad = head.clone();
        bad[9] = 3;
        assert_eq!(OpusHead::parse(&bad), None);
        assert_eq!(OpusHead::parse(&surround[..surround.len() - 1]), None);
        assert_eq!(OpusHead::parse(b"OpusTags"), None);
        // The pre-skip alone, whatever the mapping: the same field, in either byte order.
        assert_eq!(OpusHead::pre_skip(&head), Some(312));
        assert_eq!(OpusHead::pre_skip(&dops), Some(312));
        assert_eq!(OpusHead::pre_skip(&bad), Some(312));
        assert_eq!(OpusHead::pre_skip(b"OpusTags"), None);
    }
}
