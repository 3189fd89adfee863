//! Handing a download's bytes to its connection at the pace the client reads them, within a
//! budget for the whole process (ADR 0026).
//!
//! hyper pulls a response body's chunks as long as less than about 400 KiB waits in the
//! connection's queue, whether or not the client reads. With 256 KiB reads, every slow download
//! held two chunks: 2,000 slow listeners drove a server to 1.2 GiB. Here a stream hands over
//! its next chunk only once the previous one has left (hyper drops a chunk when the socket has
//! taken all of it), and sizes each chunk to about [`HOLD`] of what the client has been reading:
//! a slow listener gets [`MIN_CHUNK`] at a time, a fast one up to [`MAX_CHUNK`]. Every chunk
//! also holds its size from a [`ReadBudget`] shared by all downloads until it has left, so
//! however many connections there are, the bytes waiting for them stay within the budget.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use crate::ports::ByteStream;

/// The smallest chunk: what a slow listener's connection holds.
pub const MIN_CHUNK: usize = 8 * 1024;
/// The first read of a download: a small clip in one read.
pub const FIRST_CHUNK: usize = 64 * 1024;
/// The largest chunk (larger reads were slower: bench/README.md).
pub const MAX_CHUNK: usize = 256 * 1024;
/// How much of a client's reading a chunk is sized to: this long at its recent rate.
pub const HOLD: Duration = Duration::from_millis(20);

/// Chunk sizes come in powers of two from [`MIN_CHUNK`] to [`MAX_CHUNK`], each with its pool
/// of buffers.
const CLASSES: usize = 6;
/// Idle buffers kept per size class, in bytes.
const POOLED_PER_CLASS: usize = 4 * 1024 * 1024;

/// The size class holding `bytes` (the smallest one at least as large, or the largest).
fn class_of(bytes: usize) -> usize {
    (0..CLASSES)
        .find(|&c| MIN_CHUNK << c >= bytes)
        .unwrap_or(CLASSES - 1)
}

/// The bytes all downloads of a process may hold at once, waiting for their clients
/// (`VOICEBIN_DOWNLOAD_BUFFER`), and the buffers chunks are read into.
///
/// Buffers are kept for the next chunk rather than freed: a freshly allocated 256 KiB buffer is
/// fresh pages, which the kernel faults in and zeroes at the first read into them (a tenth of a
/// large download's cost). Idle buffers are bounded too ([`POOLED_PER_CLASS`] per size).
#[derive(Debug)]
pub struct ReadBudget {
    permits: Arc<Semaphore>,
    bytes: usize,
    pool: [Mutex<Vec<Vec<u8>>>; CLASSES],
}

impl ReadBudget {
    /// The default: 64 MiB.
    pub const DEFAULT_BYTES: usize = 64 * 1024 * 1024;

    /// A budget of `bytes` (at least one largest chunk).
    pub fn new(bytes: usize) -> Arc<Self> {
        Arc::new(Self::sized(bytes))
    }

    fn sized(bytes: usize) -> Self {
        let bytes = bytes.clamp(MAX_CHUNK, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        ReadBudget {
            permits: Arc::new(Semaphore::new(bytes)),
            bytes,
            pool: Default::default(),
        }
    }

    /// The budget's size.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Bytes not held by any chunk right now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }

    /// Room for a chunk of `want` bytes when its size class is free now, otherwise for one of
    /// [`MIN_CHUNK`] (or less), waiting for it if need be.
    pub(crate) async fn take(&self, want: usize) -> Hold {
        let want = want.clamp(1, MAX_CHUNK);
        let class = class_of(want);
        if let Ok(permit) = self
            .permits
            .clone()
            .try_acquire_many_owned((MIN_CHUNK << class) as u32)
        {
            return Hold {
                permit,
                class,
                bytes: want.min(MIN_CHUNK << class),
            };
        }
        let permit = self
            .permits
            .clone()
            .acquire_many_owned(MIN_CHUNK as u32)
            .await
            .expect("the budget's semaphore is never closed");
        Hold {
            permit,
            class: 0,
            bytes: want.min(MIN_CHUNK),
        }
    }

    /// A buffer of `hold`'s size class, filled with zeros or with an earlier chunk's bytes.
    pub(crate) fn buffer(&self, hold: &Hold) -> Vec<u8> {
        lock(&self.pool[hold.class])
            .pop()
            .unwrap_or_else(|| vec![0; MIN_CHUNK << hold.class])
    }

    /// Keeps `buffer` for a later chunk, unless its size class has enough idle ones.
    fn give_back(&self, buffer: Vec<u8>) {
        let class = class_of(buffer.len());
        if buffer.len() != MIN_CHUNK << class {
            return;
        }
        let mut pool = lock(&self.pool[class]);
        if (pool.len() + 1) * buffer.len() <= POOLED_PER_CLASS {
            pool.push(buffer);
        }
    }
}

impl Default for ReadBudget {
    fn default() -> Self {
        Self::sized(Self::DEFAULT_BYTES)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Room in the budget, held for one chunk.
pub(crate) struct Hold {
    permit: OwnedSemaphorePermit,
    class: usize,
    /// How many bytes the chunk may have.
    pub(crate) bytes: usize,
}

/// A chunk on its way to the client: the first `len` bytes of a pooled buffer. When hyper drops
/// it, it gives the buffer back, releases its part of the budget and tells its stream it has left.
struct InFlight {
    buffer: Vec<u8>,
    len: usize,
    budget: Arc<ReadBudget>,
    _hold: OwnedSemaphorePermit,
    left: Option<oneshot::Sender<()>>,
}

impl AsRef<[u8]> for InFlight {
    fn as_ref(&self) -> &[u8] {
        &self.buffer[..self.len]
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.budget.give_back(std::mem::take(&mut self.buffer));
        if let Some(left) = self.left.take() {
            let _ = left.send(());
        }
    }
}

/// One download's pace: how large its next chunk is, and when it may be read.
pub(crate) struct Pace {
    budget: Arc<ReadBudget>,
    next: usize,
    /// The next stand-in's size (`sendfile.rs`): sized like `next`, but up to a whole piece.
    piece: usize,
    previous: Option<(Instant, usize, oneshot::Receiver<()>)>,
}

impl Pace {
    /// A download starting with a [`FIRST_CHUNK`].
    pub(crate) fn new(budget: Arc<ReadBudget>) -> Self {
        Pace {
            budget,
            next: FIRST_CHUNK,
            piece: FIRST_CHUNK,
            previous: None,
        }
    }

    /// The budget the download's chunks are held in.
    pub(crate) fn budget(&self) -> &Arc<ReadBudget> {
        &self.budget
    }

    /// Waits until the previous chunk has left, then takes room for the next chunk: at most
    /// `left` bytes, about [`HOLD`] of the client's recent reading.
    pub(crate) async fn ready(&mut self, left: u64) -> Hold {
        self.settle().await;
        let want = usize::try_from(left).map_or(self.next, |left| left.min(self.next));
        self.budget.take(want).await
    }

    /// Waits until the previous chunk has left, and sizes the next one by how long it took.
    async fn settle(&mut self) {
        if let Some((sent, len, gone)) = self.previous.take() {
            // A dropped sender means the chunk was dropped too.
            let _ = gone.await;
            // At most twice the chunk that left: a slow client's socket buffers swallow its
            // first chunk at once, which says nothing of how fast it reads.
            let (took, most) = (sent.elapsed(), (2 * len).max(MIN_CHUNK));
            self.next = sized(len, took, MAX_CHUNK).min(most);
            self.piece = sized(len, took, super::sendfile::PIECE).min(most);
        }
    }

    /// Waits until the previous chunk has left, then sizes a stand-in for the next of `left`
    /// bytes: about [`HOLD`] of the client's recent reading, up to a whole piece (a playback
    /// grant pays for the bytes handed over, so a slow listener's are small here too).
    pub(crate) async fn next_piece(&mut self, left: u64) -> usize {
        self.settle().await;
        usize::try_from(left).map_or(self.piece, |left| left.min(self.piece))
    }

    /// A stand-in for the `len` bytes of `file` from `pos` (sized by [`Self::next_piece`]),
    /// which the connection sends from the file itself (`sendfile.rs`); `None` when the
    /// connection polling does not take stand-ins. A stand-in holds nothing from the budget.
    pub(crate) fn stand_in(
        &mut self,
        file: &Arc<std::fs::File>,
        pos: u64,
        len: usize,
    ) -> Option<Bytes> {
        let (left, gone) = oneshot::channel();
        let chunk = super::sendfile::stand_in(file, pos, len, left).ok()?;
        self.previous = Some((Instant::now(), len, gone));
        Some(chunk)
    }

    /// The first `len` bytes of `buffer` (from [`ReadBudget::buffer`]), read under `hold`, as
    /// the chunk to hand over.
    pub(crate) fn send(&mut self, buffer: Vec<u8>, len: usize, hold: Hold) -> Bytes {
        let (left, gone) = oneshot::channel();
        self.previous = Some((Instant::now(), len, gone));
        Bytes::from_owner(InFlight {
            buffer,
            len,
            budget: self.budget.clone(),
            _hold: hold.permit,
            left: Some(left),
        })
    }
}

/// What the client reads in [`HOLD`] at the rate of `len` bytes in `took`, as a power of two
/// times [`MIN_CHUNK`], at most `most`.
fn sized(len: usize, took: Duration, most: usize) -> usize {
    let rate = len as f64 / took.as_secs_f64().max(1e-6);
    let size = rate * HOLD.as_secs_f64();
    let mut class = MIN_CHUNK;
    while class * 2 <= most && (class * 2) as f64 <= size {
        class *= 2;
    }
    class
}

/// `stream` (a blob store's response) handed over at the client's pace: each chunk once the
/// one before has left, sized by the pace and holding its size from `budget` until it has.
/// The stream's own pieces are copied into pooled buffers, so none of them is kept: what the
/// source buffers is the source's to bound (`s3.rs` reads its responses in small pieces).
pub fn paced(stream: ByteStream, budget: Arc<ReadBudget>) -> ByteStream {
    Box::pin(futures::stream::unfold(
        (stream, Pace::new(budget), Bytes::new(), false),
        |(mut stream, mut pace, mut rest, mut ended)| async move {
            // Nothing more is pulled from the source while the client still has a chunk to take.
            pace.settle().await;
            // Room is taken once the source has something: a source slow to answer holds none.
            if let Err(e) = refill(&mut stream, &mut rest, &mut ended).await {
                return Some((Err(e), (stream, pace, Bytes::new(), true)));
            }
            if rest.is_empty() {
                return None;
            }
            let hold = pace.ready(u64::MAX).await;
            let mut buffer = pace.budget.buffer(&hold);
            let mut len = 0;
            while len < hold.bytes {
                if let Err(e) = refill(&mut stream, &mut rest, &mut ended).await {
                    return Some((Err(e), (stream, pace, Bytes::new(), true)));
                }
                if rest.is_empty() {
                    break;
                }
                let n = rest.len().min(hold.bytes - len);
                buffer[len..len + n].copy_from_slice(&rest.split_to(n));
                len += n;
            }
            let chunk = pace.send(buffer, len, hold);
            Some((Ok(chunk), (stream, pace, rest, ended)))
        },
    ))
}

/// Pulls pieces from `stream` into an empty `rest` until one has bytes or the stream has
/// `ended`.
async fn refill(
    stream: &mut ByteStream,
    rest: &mut Bytes,
    ended: &mut bool,
) -> std::io::Result<()> {
    while rest.is_empty() && !*ended {
        match stream.next().await {
            Some(piece) => *rest = piece?,
            None => *ended = true,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_client_gets_the_smallest_chunks_and_a_fast_one_the_largest() {
        // 4 KiB every 250 ms.
        assert_eq!(
            sized(16 * 1024, Duration::from_secs(1), MAX_CHUNK),
            MIN_CHUNK
        );
        // 1 GB/s.
        assert_eq!(
            sized(256 * 1024, Duration::from_micros(250), MAX_CHUNK),
            MAX_CHUNK
        );
        // 10 MB/s: 200 KB in 20 ms, in a size class.
        assert_eq!(
            sized(1_000_000, Duration::from_millis(100), MAX_CHUNK),
            128 * 1024
        );
        assert_eq!(sized(MAX_CHUNK, Duration::ZERO, MAX_CHUNK), MAX_CHUNK);
    }

    #[test]
    fn stand_ins_grow_to_a_whole_piece_for_a_fast_client_only() {
        let piece = crate::sendfile::PIECE;
        // 2 GB/s, and 4 KiB every 250 ms.
        assert_eq!(sized(piece, Duration::from_micros(500), piece), piece);
        assert_eq!(sized(16 * 1024, Duration::from_secs(1), piece), MIN_CHUNK);
        assert_eq!(
            sized(piece, Duration::from_micros(500), MAX_CHUNK),
            MAX_CHUNK
        );
    }

    fn chunks(n: usize, len: usize) -> ByteStream {
        Box::pin(futures::stream::iter(
            (0..n).map(move |i| Ok(Bytes::from(vec![i as u8; len]))),
        ))
    }

    #[tokio::test]
    async fn a_chunk_that_left_at_once_at_most_doubles_the_next() {
        let budget = ReadBudget::new(8 * MAX_CHUNK);
        let mut pace = Pace::new(budget.clone());
        let mut sizes = Vec::new();
        for _ in 0..4 {
            let hold = pace.ready(u64::MAX).await;
            sizes.push(hold.bytes);
            let buffer = budget.buffer(&hold);
            let len = hold.bytes;
            // The client (its socket buffers) takes every chunk at once.
            drop(pace.send(buffer, len, hold));
        }
        assert_eq!(sizes, [FIRST_CHUNK, 2 * FIRST_CHUNK, MAX_CHUNK, MAX_CHUNK]);
    }

    async fn drain(mut stream: ByteStream) -> Vec<u8> {
        let mut all = Vec::new();
        while let Some(chunk) = stream.next().await {
            all.extend_from_slice(&chunk.unwrap());
        }
        all
    }

    fn concatenated(n: usize, len: usize) -> Vec<u8> {
        (0..n).flat_map(|i| vec![i as u8; len]).collect()
    }

    #[tokio::test]
    async fn the_next_chunk_waits_until_the_previous_one_has_left() {
        let budget = ReadBudget::new(1024 * 1024);
        let mut stream = paced(chunks(3, FIRST_CHUNK), budget.clone());
        let first = stream.next().await.unwrap().unwrap();
        assert!(first.iter().all(|&b| b == 0));
        assert_eq!(first.len(), FIRST_CHUNK);
        assert_eq!(budget.available(), budget.bytes() - FIRST_CHUNK);
        // Held by the connection: the stream does not hand over another.
        let waiting = tokio::time::timeout(Duration::from_millis(100), stream.next()).await;
        assert!(
            waiting.is_err(),
            "a second chunk came while the first was held"
        );
        drop(first);
        let second = stream.next().await.unwrap().unwrap();
        assert_eq!(second[0], 1);
        let mut all = vec![0; FIRST_CHUNK];
        all.extend_from_slice(&second);
        drop(second);
        all.extend(drain(stream).await);
        assert!(all == concatenated(3, FIRST_CHUNK));
        assert_eq!(budget.available(), budget.bytes());
    }

    #[tokio::test]
    async fn small_pieces_of_the_source_are_gathered_into_the_paces_chunks() {
        let budget = ReadBudget::new(1024 * 1024);
        let mut stream = paced(chunks(200, 1000), budget.clone());
        let first = stream.next().await.unwrap().unwrap();
        assert_eq!(first.len(), FIRST_CHUNK, "one chunk from 66 pieces");
        let mut all = first.to_vec();
        drop(first);
        all.extend(drain(stream).await);
        assert!(all == concatenated(200, 1000));
    }

    #[tokio::test]
    async fn chunks_held_never_exceed_the_budget_and_a_short_budget_cuts_chunks() {
        let budget = ReadBudget::new(MAX_CHUNK);
        // Three downloads hold a first chunk each, and something else a smallest one: less
        // than a first chunk is left.
        let mut held = Vec::new();
        for _ in 0..3 {
            let mut stream = paced(chunks(1, FIRST_CHUNK), budget.clone());
            held.push(stream.next().await.unwrap().unwrap());
        }
        let small = budget.take(MIN_CHUNK).await;
        assert_eq!(budget.available(), MAX_CHUNK - 3 * FIRST_CHUNK - MIN_CHUNK);
        // A fourth gets the smallest chunks, the rest after them.
        let mut fourth = paced(chunks(1, FIRST_CHUNK), budget.clone());
        let part = fourth.next().await.unwrap().unwrap();
        assert_eq!(part.len(), MIN_CHUNK);
        // With the budget used up, a fifth waits until something has left.
        let _rest = budget
            .permits
            .clone()
            .try_acquire_many_owned(budget.available() as u32)
            .unwrap();
        assert_eq!(budget.available(), 0);
        let mut fifth = paced(chunks(1, FIRST_CHUNK), budget.clone());
        let waiting = tokio::time::timeout(Duration::from_millis(100), fifth.next()).await;
        assert!(waiting.is_err(), "a chunk came with the budget used up");
        drop(held);
        drop(small);
        let mut total = part.len();
        drop(part);
        total += drain(fourth).await.len();
        assert_eq!(total, FIRST_CHUNK);
        assert_eq!(drain(fifth).await.len(), FIRST_CHUNK);
    }
}
