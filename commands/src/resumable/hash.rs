//! A SHA-256 whose state can be stored between requests: a resumable upload's bytes arrive over
//! many requests, on any replica, and the digest must cover all of them without reading them
//! back. `sha2`'s hasher cannot be serialised, so this keeps the eight state words, the length
//! and the unfinished block itself, and runs `sha2`'s compression function on whole blocks.

use sha2::digest::generic_array::GenericArray;

/// SHA-256's initial state (FIPS 180-4 §5.3.3).
const INITIAL: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// Bytes per block.
const BLOCK: usize = 64;

/// A running SHA-256 that can be stored ([`ResumableSha256::to_bytes`]) and taken up again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumableSha256 {
    state: [u32; 8],
    /// Bytes hashed so far, the unfinished block included.
    len: u64,
    /// The unfinished block (fewer than 64 bytes).
    pending: Vec<u8>,
}

/// Stored state that is not one this type wrote.
#[derive(Debug, thiserror::Error)]
#[error("malformed stored SHA-256 state")]
pub struct MalformedState;

impl Default for ResumableSha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl ResumableSha256 {
    /// A hash of nothing yet.
    pub fn new() -> Self {
        Self {
            state: INITIAL,
            len: 0,
            pending: Vec::with_capacity(BLOCK),
        }
    }

    /// Bytes hashed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was hashed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Hashes `data` after what came before.
    pub fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if !self.pending.is_empty() {
            let take = (BLOCK - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() < BLOCK {
                return;
            }
            let block = GenericArray::clone_from_slice(&self.pending);
            sha2::compress256(&mut self.state, &[block]);
            self.pending.clear();
        }
        let whole = data.len() - data.len() % BLOCK;
        let blocks: Vec<_> = data[..whole]
            .chunks_exact(BLOCK)
            .map(GenericArray::clone_from_slice)
            .collect();
        sha2::compress256(&mut self.state, &blocks);
        self.pending.extend_from_slice(&data[whole..]);
    }

    /// The digest of everything hashed (the state itself is left as it was).
    pub fn finish(&self) -> [u8; 32] {
        let mut state = self.state;
        let mut tail = self.pending.clone();
        tail.push(0x80);
        while tail.len() % BLOCK != BLOCK - 8 {
            tail.push(0);
        }
        tail.extend_from_slice(&(self.len.wrapping_mul(8)).to_be_bytes());
        let blocks: Vec<_> = tail
            .chunks_exact(BLOCK)
            .map(GenericArray::clone_from_slice)
            .collect();
        sha2::compress256(&mut state, &blocks);
        let mut out = [0u8; 32];
        for (word, bytes) in state.iter().zip(out.chunks_exact_mut(4)) {
            bytes.copy_from_slice(&word.to_be_bytes());
        }
        out
    }

    /// The state as bytes to store: the eight words, the length, then the unfinished block.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(40 + self.pending.len());
        for word in self.state {
            out.extend_from_slice(&word.to_be_bytes());
        }
        out.extend_from_slice(&self.len.to_be_bytes());
        out.extend_from_slice(&self.pending);
        out
    }

    /// Takes up a state [`ResumableSha256::to_bytes`] wrote.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MalformedState> {
        if bytes.len() < 40 || bytes.len() >= 40 + BLOCK {
            return Err(MalformedState);
        }
        let mut state = [0u32; 8];
        for (word, chunk) in state.iter_mut().zip(bytes[..32].chunks_exact(4)) {
            *word = u32::from_be_bytes(chunk.try_into().map_err(|_| MalformedState)?);
        }
        let len = u64::from_be_bytes(bytes[32..40].try_into().map_err(|_| MalformedState)?);
        let pending = bytes[40..].to_vec();
        if len % BLOCK as u64 != pending.len() as u64 {
            return Err(MalformedState);
        }
        Ok(Self {
            state,
            len,
            pending,
        })
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn matches_sha256_however_the_bytes_are_cut_and_stored() {
        for total in [0, 1, 55, 56, 63, 64, 65, 127, 128, 1000, 70_000] {
            let bytes = data(total);
            let expected: [u8; 32] = Sha256::digest(&bytes).into();
            for cut in [1, 3, 63, 64, 65, 4096] {
                let mut hash = ResumableSha256::new();
                for piece in bytes.chunks(cut) {
                    // Stored and taken up again between every piece, as between requests.
                    hash = ResumableSha256::from_bytes(&hash.to_bytes()).unwrap();
                    hash.update(piece);
                }
                assert_eq!(hash.len(), total as u64);
                assert_eq!(hash.finish(), expected, "{total} bytes in pieces of {cut}");
            }
        }
    }

    #[test]
    fn refuses_state_it_did_not_write() {
        assert!(ResumableSha256::from_bytes(&[]).is_err());
        assert!(ResumableSha256::from_bytes(&[0; 39]).is_err());
        let mut hash = ResumableSha256::new();
        hash.update(&data(10));
        let mut stored = hash.to_bytes();
        stored.pop();
        assert!(ResumableSha256::from_bytes(&stored).is_err());
        assert!(ResumableSha256::from_bytes(&[0; 40 + 64]).is_err());
    }
}
