//! The decoders on their own: libopus's multistream packets, channel mapping, long packets,
//! trims, and the failure verdict.

use std::path::{Path, PathBuf};

use symphonia::core::units::{Duration, Timestamp};

use super::*;
use crate::audio::open::open_audio;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/audio")
        .join(name)
}

#[test]
fn failure_verdict() {
    assert!(verdict(0, 0, "x").is_err());
    assert!(verdict(0, 1, "x").is_err());
    assert!(verdict(10, 11, "x").is_err());
    assert!(verdict(10, 10, "x").is_ok());
    assert!(verdict(1, 0, "x").is_ok());
}

/// Eight packets of libopus 1.3.1's multistream encoder (48 kHz, three channels in two
/// streams, the first coupled, mapping [0, 1, 2], `OPUS_APPLICATION_AUDIO`, 96 kb/s), in hex:
/// silence on the first two channels and, on the third, a 440 Hz tone at half scale during the
/// first half of every 20 ms. Packets of 20, 20, 60, 40, 10, 20, 60 and 20 ms: the coupled
/// stream's self-delimited packets use TOC codes 0, 1 and 3.
const LIBOPUS_MULTISTREAM: [&str; 8] = [
    "fc02fffe7882e280824417e724da227325a8ec7675984e8c4d3b127b0bb07c5e223dd5b9bdf39cd8\
     5a46e2b687277725ec95b142488a4d837b8fc4401985c39c4fed62d2728e83e0df7555575ee24ce6\
     b1fe26c0e1b6a35674d16711584d895a53fc707cbf7bcf39",
    "fc02fffe78b727afef3cfcaefa8dcfd0604bfb95ddc8802af3145912b640f8d973636c82cddd1870\
     22b47672ba6357dca3fae84d69df4372366e9eacdd3d6f3c1e9dabcf07a768f8d74f8d754b",
    "ff0302fffefffefffe7b834e4fb4def94f1801a702c2e3ee7fe2d5c7d8d43d36a31a1b8f2e98ded1\
     977c9833be2abd92320944be83cdfda50ea8c6400be6329019ec8e55dafe82a1b51a2ce2acea8ac2\
     6a00e33e4a343096aeae7db46bac3763e559d01f680d88ed78cd3ec28c2b510b5c65eb948f0fdbe5\
     16c0efa4b8a32128846c174036a4c0dc62f2ab883f2944ce547a3a4ceaa122f4ad00292937b53c69\
     c0274ca262b42bdcaabab6b3bfea32bdeccbead451d1505e1c5c7688b1a95c42a5cddc9bca278f58\
     318e30233cb9c03ab990db3d908525580bfcea0cabe866eb4e7cac14df66c94d",
    "fd02fffefffe7a50bef45c3101610353c130377b7de04ad3b290eb67e0a03758c42d5306138ea597\
     27ea583e2d0074d71c4279f927452d6e42a0de65b309772a62c84d184b4da8cd9d88fd90784d895a\
     53fc707cb19bcd4fb7276c40b3249c1106d18516adc39c87037f08899879322486f0db6c20b7b914\
     22a4db8b7879ae33f04cc6ddcf38184014a436b0fa66e9eb0cdd3d6f3c1e9dabcf07a768f8d74f8d\
     754b",
    "f402fffe70bf7dfd029c9a8fb4b6c112d5bc1fa57b708fd00816634d090f2ba7061c15bdd779e0f4\
     ed1dcafb3f",
    "fc02fffe78bf0ffab2ea5d522f7d2ace60a3d5b3af977a178d01e43ac3cc75fbafdcac4c245c5ffd\
     97dc6de842962ee6f0b60c4c24feb48338b07ee2b507f85a8a93b3385f4db750f4a793a6185ce40a\
     f5d47e73",
    "ff0302fffefffefffe7b834851b727afef3cfcaea6bb776ddc94e3b3d3a8bc1572dac60628f0628a\
     ed20cb0aa1c7e665548cf6f69a383526dff8b65a596abbc62b45e4768bc8d1f1af5d547c6bd7551e\
     0a91e0a94bb4df1136a99296d006d35c001f19c4a32092a46ca59992251c6b514a94a25ee0e16d01\
     b4e02ef38d3089bbcafd73c8bff637f64f1424112f33bde2f221ec8413f6a510b9a087b2087a29a9\
     6613f347ce7db46bac3763e559df4a3b5e99c4a3cf564ae15ac2c686ca40e94a2b1f61314940ebc3\
     bbad1e49127678b9f84f674569489222c97cbe5b4971421ce442955b1b2a004a8437b794e5977397\
     9b98ce35d384872eba",
    "fc02fffe78b72540360d379fdc6653b23ed8c0202e9601b64172c4cbf9d743d4ce2b9478d46e9f15\
     a3040241e07277198d3e4e1419306c9521b800c5408c84b784b576828140dd68024d7175e423d7dd\
     4d",
];
/// The frames of each packet of [`LIBOPUS_MULTISTREAM`].
const LIBOPUS_MULTISTREAM_FRAMES: [i64; 8] = [960, 960, 2880, 1920, 480, 960, 2880, 960];
/// libopus's own decoding of [`LIBOPUS_MULTISTREAM`], pre-skip dropped: the level of each
/// 20 ms of tone (frames 120..360) and of silence (frames 600..840).
const LIBOPUS_TONE: [u8; 12] = [120, 129, 128, 128, 141, 127, 133, 132, 132, 128, 132, 130];
const LIBOPUS_SILENCE: [u8; 12] = [10, 8, 5, 6, 7, 8, 10, 6, 11, 7, 12, 11];

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn multistream_opus_decodes() {
    // What libopus's multistream encoder wrote, decoded as libopus decodes it.
    let head = OpusHead {
        pre_skip: 312,
        output_gain: 0,
        streams: 2,
        coupled: 1,
        mapping: vec![0, 1, 2],
    };
    let mut track = OpusTrack::new(&head, head.pre_skip).unwrap();
    let mut envelope = Envelope::with_capacity(1 << 20);
    let mut ts = 0;
    for (hex, frames) in LIBOPUS_MULTISTREAM.iter().zip(LIBOPUS_MULTISTREAM_FRAMES) {
        let data = unhex(hex);
        let packet = Packet::new(0, Timestamp::new(ts), Duration::new(frames as u64), data);
        track.decode(&packet, &mut envelope).unwrap();
        ts += frames;
    }
    // The pre-skip realigns the output with the input (the encoder's look-ahead).
    assert_eq!(envelope.frames(), 12_000 - 312);
    assert_eq!(envelope.frames_per_bucket, 1);
    for p in 0..12 {
        let at = |from: usize, to: usize| {
            let frames = &envelope.buckets[p * 960 + from..p * 960 + to];
            *frames.iter().max().unwrap()
        };
        let (tone, silence) = (at(120, 360), at(600, 840));
        assert!(tone.abs_diff(128) <= 20, "20 ms #{p}: tone {tone}");
        assert!(silence <= 20, "20 ms #{p}: silence {silence}");
        assert!(
            tone.abs_diff(LIBOPUS_TONE[p]) <= 2 && silence.abs_diff(LIBOPUS_SILENCE[p]) <= 2,
            "20 ms #{p}: tone {tone}, silence {silence}; libopus {} and {}",
            LIBOPUS_TONE[p],
            LIBOPUS_SILENCE[p]
        );
    }
}

/// The packets of a fixture's audio track, as demuxed.
fn opus_packets(name: &str) -> Vec<Vec<u8>> {
    open_audio(&fixture(name), |mut reader, _| {
        let mut packets = Vec::new();
        while let Some(packet) = reader.next_packet().unwrap() {
            packets.push(packet.data.to_vec());
        }
        Ok(packets)
    })
    .unwrap()
}

/// A frame length as RFC 6716 §3.2.1 writes it.
fn size_bytes(size: usize) -> Vec<u8> {
    if size < 252 {
        vec![size as u8]
    } else {
        vec![(252 + (size - 252) % 4) as u8, ((size - 252) / 4) as u8]
    }
}

/// A one-frame (code 0) packet in the self-delimiting framing of RFC 6716 Appendix B.
fn self_delimited(packet: &[u8]) -> Vec<u8> {
    assert_eq!(packet[0] & 3, 0);
    [&packet[..1], &size_bytes(packet.len() - 1), &packet[1..]].concat()
}

fn packet(data: &[u8]) -> Packet {
    Packet::new(0, Timestamp::new(0), Duration::new(960), data)
}

#[test]
fn multistream_channels_follow_the_mapping() {
    // Three output channels from a coupled stream and a mono stream, built from hello.opus's
    // (mono, one-frame) packets: output 0 is the mono stream, output 1 the coupled stream's
    // left channel (its stereo decoder upmixes the mono packets), output 2 is silent. Each is
    // exactly what a lone decoder makes of its stream.
    let packets = opus_packets("hello.opus");
    let n = packets.len();
    assert_eq!(n, 179);
    let head = OpusHead {
        pre_skip: 0,
        output_gain: 0,
        streams: 2,
        coupled: 1,
        mapping: vec![2, 0, 255],
    };
    let mut track = OpusTrack::new(&head, 0).unwrap();
    let mut envelope = Envelope::with_capacity(1 << 20);
    let mut stereo = OpusDecoder::new(48_000, 2).unwrap();
    let mut mono = OpusDecoder::new(48_000, 1).unwrap();
    let (mut left, mut single) = (vec![0.0f32; 2 * 960], vec![0.0f32; 960]);
    let (mut loudest, mut differ) = ([0.0f32; 3], false);
    for (i, coupled) in packets.iter().enumerate() {
        // The mono stream runs 1.2 s ahead (cyclically), so the two channels differ.
        let ahead = &packets[(i + 60) % n];
        track
            .decode(
                &packet(&[self_delimited(coupled), ahead.clone()].concat()),
                &mut envelope,
            )
            .unwrap();
        assert_eq!(stereo.decode_float(coupled, &mut left, false).unwrap(), 960);
        assert_eq!(mono.decode_float(ahead, &mut single, false).unwrap(), 960);
        for f in 0..960 {
            let frame = &track.out[3 * f..3 * f + 3];
            assert_eq!(
                frame,
                [single[f], left[2 * f], 0.0],
                "packet {i}, frame {f}"
            );
            differ |= frame[0] != frame[1];
            for (l, s) in loudest.iter_mut().zip(frame) {
                *l = l.max(s.abs());
            }
        }
    }
    assert_eq!(envelope.frames(), n as u64 * 960);
    assert!(
        differ && loudest[0] > 0.5 && loudest[1] > 0.5,
        "{loudest:?}"
    );

    // Streams of different durations, or a truncated self-delimited packet, do not decode.
    let first = &packets[100];
    let mut two_frames = vec![first[0] | 3, 0x82];
    two_frames.extend(size_bytes(first.len() - 1));
    two_frames.extend_from_slice(&first[1..]);
    two_frames.extend_from_slice(&packets[101][1..]);
    let data = [self_delimited(first), two_frames].concat();
    let err = track.decode(&packet(&data), &mut envelope).unwrap_err();
    assert!(err.contains("duration"), "{err}");
    let cut = &self_delimited(first)[..first.len() - 10];
    assert!(track.decode(&packet(cut), &mut envelope).is_err());

    // The mapping may only name decoded channels (three here) or 255.
    let bad = OpusHead {
        mapping: vec![0, 3],
        ..head.clone()
    };
    assert!(OpusTrack::new(&bad, 0).is_err());
    let bad = OpusHead { coupled: 3, ..head };
    assert!(OpusTrack::new(&bad, 0).is_err());
}

#[test]
fn long_packets_decode_frame_by_frame() {
    // Three 20 ms packets of hello.opus as one 60 ms packet (code 3, VBR), padded past the
    // 1500 bytes opus-decoder decodes in one piece: the same samples as the three packets.
    let packets = opus_packets("hello.opus");
    let at = (60..packets.len() - 3)
        .find(|&i| packets[i..i + 3].iter().all(|p| p[0] == packets[i][0]))
        .unwrap();
    let run = &packets[at..at + 3];
    let mut long = vec![run[0][0] | 3, 0xC3, 255, 255, 255, 255, 255, 255, 0];
    for p in &run[..2] {
        long.extend(size_bytes(p.len() - 1));
    }
    for p in run {
        long.extend_from_slice(&p[1..]);
    }
    long.resize(long.len() + 6 * 254, 0);
    assert!(long.len() > 1500, "{}", long.len());

    let head = OpusHead::single_stream(1).unwrap();
    let mut envelopes = Vec::new();
    for joined in [false, true] {
        let mut track = OpusTrack::new(&head, 0).unwrap();
        let mut envelope = Envelope::with_capacity(1 << 20);
        for p in &packets[..at] {
            track.decode(&packet(p), &mut envelope).unwrap();
        }
        if joined {
            track.decode(&packet(&long), &mut envelope).unwrap();
        } else {
            for p in run {
                track.decode(&packet(p), &mut envelope).unwrap();
            }
        }
        envelopes.push(envelope);
    }
    assert_eq!(envelopes[0].frames(), (at as u64 + 3) * 960);
    assert_eq!(envelopes[0].frames(), envelopes[1].frames());
    assert!(envelopes[0].buckets == envelopes[1].buckets);
    assert!(envelopes[0].buckets[at * 960..].iter().any(|&l| l > 16));
}

#[test]
fn demuxer_trims_count_towards_the_pre_skip() {
    // Should a demuxer trim the pre-skip itself (start trim on the first packet), it is not
    // dropped twice; an end trim drops the padding from the last packet.
    let head = OpusHead::single_stream(1).unwrap();
    let mut track = OpusTrack::new(&head, 312).unwrap();
    let mut envelope = Envelope::with_capacity(1 << 20);
    for (p, data) in (0..10i64).zip(opus_packets("hello.opus")) {
        let mut packet = Packet::new(0, Timestamp::new(p * 960), Duration::new(960), data);
        if p == 0 {
            packet.trim_start = Duration::new(200);
        }
        if p == 9 {
            packet.trim_end = Duration::new(100);
        }
        track.decode(&packet, &mut envelope).unwrap();
    }
    assert_eq!(envelope.frames(), 10 * 960 - 312 - 100);
}
