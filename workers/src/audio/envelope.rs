//! The waveform's bounded envelope: the loudest sample of each run of frames, with runs that
//! double in length whenever the envelope is full, so memory is independent of the file's length.

/// Fewest fine buckets the envelope keeps before merging.
const MIN_FINE_BUCKETS: usize = 1 << 16;
/// Most fine buckets the envelope keeps before merging (4 MiB).
const MAX_FINE_BUCKETS: usize = 1 << 22;
/// Fine buckets kept per requested peak (bounded by the two limits above).
const FINE_PER_PEAK: usize = 64;

/// A bounded peak envelope: the max level of each run of `frames_per_bucket` frames.
///
/// When `buckets` reaches `cap`, neighbouring pairs are merged and `frames_per_bucket` doubles,
/// so storage never exceeds `cap` bytes however long the stream.
#[derive(Debug)]
pub(super) struct Envelope {
    /// The level (0..=255) of each run of frames.
    pub(super) buckets: Vec<u8>,
    cap: usize,
    /// Frames per bucket: 1, doubled by each merge.
    pub(super) frames_per_bucket: u64,
    frames: u64,
}

impl Envelope {
    /// An envelope sized for `count` output peaks.
    pub(super) fn new(count: usize) -> Envelope {
        let cap = count
            .saturating_mul(FINE_PER_PEAK)
            .clamp(MIN_FINE_BUCKETS, MAX_FINE_BUCKETS);
        Envelope::with_capacity(cap)
    }

    /// An envelope of at most `cap` fine buckets (rounded down to even, at least 2).
    pub(super) fn with_capacity(cap: usize) -> Envelope {
        let cap = cap.max(2) & !1;
        Envelope {
            buckets: Vec::new(),
            cap,
            frames_per_bucket: 1,
            frames: 0,
        }
    }

    /// Frames pushed so far.
    pub(super) fn frames(&self) -> u64 {
        self.frames
    }

    /// Add the frames of `samples` (interleaved, `channels` per frame) to the timeline.
    pub(super) fn push_interleaved(&mut self, samples: &[f32], channels: usize) {
        let channels = channels.max(1);
        let whole = samples.len() / channels * channels;
        let mut rest = &samples[..whole];
        while !rest.is_empty() {
            let index = self.current_bucket();
            let room = self.frames_per_bucket - self.frames % self.frames_per_bucket;
            let take = usize::try_from(room)
                .unwrap_or(usize::MAX)
                .min(rest.len() / channels);
            let (run, tail) = rest.split_at(take * channels);
            // NaN is ignored by `f32::max`.
            let peak = run.iter().fold(0.0f32, |m, s| m.max(s.abs()));
            self.buckets[index] = self.buckets[index].max(level(peak));
            self.frames += take as u64;
            rest = tail;
        }
    }

    /// The index of the bucket the next frame goes to, making room for it if needed.
    fn current_bucket(&mut self) -> usize {
        let mut index = self.frames / self.frames_per_bucket;
        if index >= self.cap as u64 {
            self.merge_pairs();
            index = self.frames / self.frames_per_bucket;
        }
        let index = usize::try_from(index).expect("bucket index is below cap");
        if index == self.buckets.len() {
            self.buckets.push(0);
        }
        index
    }

    fn merge_pairs(&mut self) {
        let merged = self.buckets.len().div_ceil(2);
        for i in 0..merged {
            let right = self.buckets.get(2 * i + 1).copied().unwrap_or(0);
            self.buckets[i] = self.buckets[2 * i].max(right);
        }
        self.buckets.truncate(merged);
        self.frames_per_bucket *= 2;
    }

    /// Resample to `count` equal-duration peaks (all zero if no frame was pushed).
    pub(super) fn peaks(&self, count: usize) -> Vec<u8> {
        let total = u128::from(self.frames);
        if total == 0 {
            return vec![0; count];
        }
        let n = count as u128;
        let per = u128::from(self.frames_per_bucket);
        (0..n)
            .map(|i| {
                // Output bucket i covers frames [a, b); at least one frame when count > frames.
                let a = i * total / n;
                let b = ((i + 1) * total / n).max(a + 1);
                let first = usize::try_from(a / per).unwrap_or(usize::MAX);
                let last = usize::try_from((b - 1) / per).unwrap_or(usize::MAX);
                self.buckets
                    .get(first..=last.min(self.buckets.len() - 1))
                    .and_then(|run| run.iter().copied().max())
                    .unwrap_or(0)
            })
            .collect()
    }
}

/// Scale an absolute sample value to 0..=255 (255 = full scale).
pub(super) fn level(peak: f32) -> u8 {
    if peak > 0.0 {
        // In range after `min`, so the cast cannot truncate.
        (peak.min(1.0) * 255.0).round() as u8
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact peaks of per-frame levels, for comparison with the bounded envelope.
    fn exact(levels: &[u8], count: usize) -> Vec<u8> {
        let t = levels.len();
        (0..count)
            .map(|i| {
                let a = i * t / count;
                let b = ((i + 1) * t / count).max(a + 1);
                *levels[a..b].iter().max().unwrap()
            })
            .collect()
    }

    #[test]
    fn envelope_matches_exact_peaks() {
        let mut x: u32 = 7;
        let mut rand = move || {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            x >> 8
        };
        for (frames, cap, count) in [
            (1000, 4096, 10),   // no merge: exact
            (1000, 4096, 1000), // no merge, one frame per peak
            (10_007, 64, 7),    // many merges
            (10_007, 16, 3),
            (5, 16, 9), // more peaks than frames
        ] {
            let samples: Vec<f32> = (0..2 * frames)
                .map(|_| (rand() % 2001) as f32 / 1000.0 - 1.0)
                .collect();
            let levels: Vec<u8> = samples
                .chunks(2)
                .map(|f| level(f[0].abs().max(f[1].abs())))
                .collect();
            let mut env = Envelope::with_capacity(cap);
            let mut rest = samples.as_slice();
            while !rest.is_empty() {
                let n = (2 * (1 + rand() as usize % 300)).min(rest.len());
                env.push_interleaved(&rest[..n], 2);
                rest = &rest[n..];
                assert!(env.buckets.len() <= cap);
            }
            assert_eq!(env.frames(), frames as u64);
            let got = env.peaks(count);
            let want = exact(&levels, count);
            if env.frames_per_bucket == 1 {
                assert_eq!(got, want, "{frames} frames, cap {cap}, count {count}");
            } else {
                // At most one fine bucket of leakage across each output boundary.
                let fpb = env.frames_per_bucket as usize;
                for i in 0..count {
                    let a = (i * frames / count).saturating_sub(fpb);
                    let b = ((i + 1) * frames / count + fpb).min(frames);
                    let widest = *levels[a..b].iter().max().unwrap();
                    assert!(
                        got[i] >= want[i] && got[i] <= widest,
                        "{i}: {got:?} {want:?}"
                    );
                }
            }
        }
    }
}
