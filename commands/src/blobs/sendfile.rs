//! Large downloads sent by the kernel: `sendfile(2)` from the clip's file straight to the
//! client's socket, so the bytes never pass through the process (ADR 0029).
//!
//! hyper writes only bytes it is given, and a download read into buffers copies every byte
//! twice (page cache to buffer, buffer to socket). But the server owns the socket hyper writes
//! to ([`Connection`]), and hyper hands an HTTP/1 body chunk to that socket as it is, in a
//! `writev` beside the response's head, without reading it. So a download on such a connection
//! hands hyper a *stand-in* for each large piece of the file: a chunk of the right length whose
//! bytes lie in one range of memory reserved for this ([`STAND_IN`]), never written or read,
//! and queues the piece (file, position, length) on the connection. When the connection is
//! asked to write a slice of that range, it sends the queued piece with `sendfile` instead.
//!
//! What keeps this correct:
//! - Stand-ins are made only inside [`Connection::scope`], where the task polling the body is
//!   the connection's own (hyper's HTTP/1 dispatcher polls the body in the connection's task;
//!   HTTP/2 streams run in tasks hyper spawns, outside it), and only while the connection has
//!   not been [turned off](Regions::turn_off): by an HTTP/2 request, or by a plain
//!   `poll_write`, which hyper's HTTP/1 uses only when it copies bodies into its own buffer.
//! - A stand-in's slice must begin where the rest of the piece at the queue's front does
//!   (consecutive stand-ins begin at different places); anything else fails the connection
//!   (the client sees a cut-off response, never wrong bytes). A file that ends early fails
//!   it the same way, and so does a stand-in let go with none of its piece sent.
//! - hyper's vectored writes (`WriteStrategy::Queue`, chosen because [`Connection`] writes
//!   vectored) pass body chunks through untouched; `tests/api/downloads.rs` compares large
//!   downloads byte for byte on HTTP/1, so a hyper that copied them would fail there.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// The largest piece of a file one stand-in stands for.
pub const PIECE: usize = 1024 * 1024;

/// How many places a stand-in may begin at in [`STAND_IN`], [`PLACE`] bytes apart: consecutive
/// stand-ins begin at different places, so one written in another's stead is noticed.
const PLACES: usize = 256;
/// The distance between two places.
const PLACE: usize = 4096;

/// The memory stand-ins point into: a piece beyond the last place, allocated zeroed (pages the
/// kernel maps only when touched, and nothing touches them), never written or read.
static STAND_IN: LazyLock<Box<[u8]>> =
    LazyLock::new(|| vec![0; PLACES * PLACE + PIECE].into_boxed_slice());

/// Download bytes sent by `sendfile` since the process started.
static SENT: AtomicU64 = AtomicU64::new(0);

/// Download bytes the kernel has sent straight from clip files since the process started
/// (the metric `voicebin_download_bytes_sent_by_kernel_total`).
pub fn bytes_sent() -> u64 {
    SENT.load(Ordering::Relaxed)
}

tokio::task_local! {
    /// The pieces of the connection whose task is running.
    static CONNECTION: Arc<Regions>;
}

/// One queued piece of a file: `len` bytes from `pos`, `sent` of them already sent; its
/// stand-in begins at `place` in [`STAND_IN`].
struct Region {
    id: u64,
    place: usize,
    file: Arc<std::fs::File>,
    pos: u64,
    len: usize,
    sent: usize,
}

/// A connection's queue of pieces waiting to be sent, in the order hyper will write them.
#[derive(Default)]
pub struct Regions {
    queue: Mutex<VecDeque<Region>>,
    off: AtomicBool,
    /// A stand-in was let go before any of its piece was sent: hyper wrote (or dropped) it
    /// some other way, so the connection must not write another byte.
    spoiled: AtomicBool,
}

/// Stand-ins' numbers, for the whole process: the places of two connections' stand-ins differ
/// as often as those of one connection's.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

impl Regions {
    /// No more stand-ins on this connection: its bodies are not written as they are (HTTP/2).
    pub fn turn_off(&self) {
        self.off.store(true, Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Region>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What `taking` makes of the connection whose task is polling, when it takes stand-ins (only
/// on Linux, which has `sendfile` for sockets).
fn connection<T>(taking: impl FnOnce(&Arc<Regions>) -> T) -> Option<T> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    CONNECTION
        .try_with(|r| (!r.off.load(Ordering::Relaxed)).then(|| taking(r)))
        .ok()
        .flatten()
}

/// Whether a download polled now may hand over stand-ins ([`stand_in`]).
pub(crate) fn available() -> bool {
    connection(|_| ()).is_some()
}

/// A stand-in for `len` bytes of `file` from `pos`, queued on the connection whose task is
/// polling, when there is one that takes stand-ins; `None` otherwise (the caller reads the
/// bytes itself). `left` is told when hyper has let the chunk go, as a read chunk's is.
pub(crate) fn stand_in(
    file: &Arc<std::fs::File>,
    pos: u64,
    len: usize,
    left: oneshot::Sender<()>,
) -> Result<Bytes, oneshot::Sender<()>> {
    let Some(regions) = connection(Arc::clone).filter(|_| len > 0 && len <= PIECE) else {
        return Err(left);
    };
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let place = (id % PLACES as u64) as usize * PLACE;
    regions.lock().push_back(Region {
        id,
        place,
        file: file.clone(),
        pos,
        len,
        sent: 0,
    });
    Ok(Bytes::from_owner(StandIn {
        place,
        len,
        id,
        regions,
        left: Some(left),
    }))
}

/// A chunk standing in for a queued piece. Dropped unsent (the response was abandoned), it
/// takes its piece off the queue.
struct StandIn {
    place: usize,
    len: usize,
    id: u64,
    regions: Arc<Regions>,
    left: Option<oneshot::Sender<()>>,
}

impl AsRef<[u8]> for StandIn {
    fn as_ref(&self) -> &[u8] {
        &STAND_IN[self.place..self.place + self.len]
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let mut queue = self.regions.lock();
        if let Some(at) = queue.iter().position(|r| r.id == self.id) {
            // A stand-in let go with none of its piece sent was not written by this
            // connection (a copy of its zeros may be on the way): the connection ends.
            // Let go part-sent, hyper took only part of it (a shorter body), which is fine.
            if queue.remove(at).is_some_and(|r| r.sent == 0) {
                self.regions.spoiled.store(true, Ordering::Relaxed);
            }
        }
        drop(queue);
        if let Some(left) = self.left.take() {
            let _ = left.send(());
        }
    }
}

/// Where `slice` begins within [`STAND_IN`], when it lies there.
fn stand_in_offset(slice: &[u8]) -> Option<usize> {
    if slice.is_empty() {
        return None;
    }
    let base = STAND_IN.as_ptr() as usize;
    let at = (slice.as_ptr() as usize).checked_sub(base)?;
    (at + slice.len() <= STAND_IN.len()).then_some(at)
}

fn broken(why: &'static str) -> io::Error {
    io::Error::other(why)
}

/// A client's TCP connection as the server hands it to hyper: reads and writes go to the
/// socket, except that a stand-in's bytes are sent from their file by `sendfile`.
pub struct Connection {
    socket: TcpStream,
    regions: Arc<Regions>,
}

impl Connection {
    /// `socket`, able to send files.
    pub fn new(socket: TcpStream) -> Self {
        Connection {
            socket,
            regions: Arc::default(),
        }
    }

    /// The connection's queue of pieces, to [`Regions::turn_off`] it.
    pub fn regions(&self) -> Arc<Regions> {
        self.regions.clone()
    }

    /// Runs `serving` (the connection's hyper future, polling its bodies) where downloads may
    /// make stand-ins for this connection.
    pub async fn scope<F: std::future::Future>(regions: Arc<Regions>, serving: F) -> F::Output {
        CONNECTION.scope(regions, serving).await
    }

    /// Fails once a stand-in was let go unsent ([`Regions::spoiled`]).
    fn check(&self) -> io::Result<()> {
        if self.regions.spoiled.load(Ordering::Relaxed) {
            return Err(broken("a download's stand-in was not sent from its file"));
        }
        Ok(())
    }

    /// Sends the piece `slice` stands in for, or as much of it as the socket takes.
    fn poll_send_piece(&self, cx: &mut Context<'_>, slice: &[u8]) -> Poll<io::Result<usize>> {
        let Some(at) = stand_in_offset(slice) else {
            return Poll::Ready(Err(broken("not a stand-in")));
        };
        let mut queue = self.regions.lock();
        let Some(region) = queue.front_mut() else {
            return Poll::Ready(Err(broken("a download's file piece is missing")));
        };
        if region.place + region.sent != at || slice.len() > region.len - region.sent {
            return Poll::Ready(Err(broken("a download's file piece came out of order")));
        }
        loop {
            ready!(self.socket.poll_write_ready(cx))?;
            let mut pos = region.pos + region.sent as u64;
            let sent = self.socket.try_io(Interest::WRITABLE, || {
                send_file(&self.socket, &region.file, &mut pos, slice.len())
            });
            match sent {
                Ok(0) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "a clip's file ended before its download",
                    )))
                }
                Ok(n) => {
                    SENT.fetch_add(n as u64, Ordering::Relaxed);
                    region.sent += n;
                    if region.sent == region.len {
                        queue.pop_front();
                    }
                    return Poll::Ready(Ok(n));
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

/// `sendfile(2)`: up to `len` bytes of `file` from `pos` to `socket`.
#[cfg(target_os = "linux")]
fn send_file(
    socket: &TcpStream,
    file: &std::fs::File,
    pos: &mut u64,
    len: usize,
) -> io::Result<usize> {
    rustix::fs::sendfile(socket, file, Some(pos), len).map_err(io::Error::from)
}

/// Elsewhere no stand-in is ever made ([`connection`]).
#[cfg(not(target_os = "linux"))]
fn send_file(_: &TcpStream, _: &std::fs::File, _: &mut u64, _: usize) -> io::Result<usize> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().socket).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        match stand_in_offset(buf) {
            Some(_) => this.poll_send_piece(cx, buf),
            None => {
                // hyper writes HTTP/1 bodies with `poll_write` only when it copies them into
                // its own buffer (`writev` off): stand-ins would be copied as zeros.
                this.regions.turn_off();
                Pin::new(&mut this.socket).poll_write(cx, buf)
            }
        }
    }

    /// The slices before the first stand-in in one `writev`, or the stand-in's piece; hyper
    /// calls again for the rest.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        match bufs.iter().position(|b| stand_in_offset(b).is_some()) {
            None => Pin::new(&mut this.socket).poll_write_vectored(cx, bufs),
            Some(0) => this.poll_send_piece(cx, &bufs[0]),
            Some(first) => Pin::new(&mut this.socket).poll_write_vectored(cx, &bufs[..first]),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().socket).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().socket).poll_shutdown(cx)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::io::Write;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A connection and the client's end of it.
    async fn pair() -> (Connection, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (Connection::new(server), client)
    }

    fn file_of(bytes: &[u8]) -> Arc<std::fs::File> {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        Arc::new(file)
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    fn left() -> oneshot::Sender<()> {
        oneshot::channel().0
    }

    #[tokio::test]
    async fn a_stand_in_is_sent_from_its_file_after_what_came_before_it() {
        let bytes = pattern(3 * PIECE);
        let file = file_of(&bytes);
        let (mut conn, mut client) = pair().await;
        let regions = conn.regions();
        let reading = tokio::spawn(async move {
            let mut got = Vec::new();
            client.read_to_end(&mut got).await.unwrap();
            got
        });
        Connection::scope(regions, async {
            let (tell, mut told) = oneshot::channel();
            let chunk = stand_in(&file, 10, PIECE, tell).unwrap();
            assert!(
                chunk.iter().all(|&b| b == 0),
                "the stand-in's own bytes are none of the file's"
            );
            let head = IoSlice::new(b"head:");
            // The slices before the stand-in leave first, alone.
            let n = conn
                .write_vectored(&[head, IoSlice::new(&chunk)])
                .await
                .unwrap();
            assert_eq!(n, 5);
            // Then the piece, in as many sends as the socket takes.
            conn.write_all(&chunk).await.unwrap();
            assert!(told.try_recv().is_err(), "told before the chunk was let go");
            drop(chunk);
            told.try_recv().unwrap();
            // A second piece, and ordinary bytes after it.
            let chunk = stand_in(&file, 10 + PIECE as u64, 1000, left()).unwrap();
            conn.write_all(&chunk).await.unwrap();
            conn.write_all(b":tail").await.unwrap();
            conn.shutdown().await.unwrap();
        })
        .await;
        let mut expected = b"head:".to_vec();
        expected.extend_from_slice(&bytes[10..10 + PIECE + 1000]);
        expected.extend_from_slice(b":tail");
        let got = reading.await.unwrap();
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "the bytes differ");
        assert!(conn.regions.lock().is_empty());
    }

    #[tokio::test]
    async fn no_stand_in_is_made_outside_a_connection_or_once_it_is_turned_off() {
        let file = file_of(b"abc");
        assert!(!available());
        assert!(stand_in(&file, 0, 3, left()).is_err());
        let (conn, _client) = pair().await;
        let regions = conn.regions();
        Connection::scope(regions.clone(), async {
            assert!(available());
            assert!(stand_in(&file, 0, 0, left()).is_err(), "an empty piece");
            assert!(
                stand_in(&file, 0, PIECE + 1, left()).is_err(),
                "a piece larger than the stand-in memory"
            );
            regions.turn_off();
            assert!(!available());
            assert!(stand_in(&file, 0, 3, left()).is_err());
        })
        .await;
    }

    #[tokio::test]
    async fn a_stand_in_out_of_order_or_without_its_piece_fails_the_connection() {
        let file = file_of(&pattern(4096));
        let (mut conn, _client) = pair().await;
        let regions = conn.regions();
        Connection::scope(regions, async {
            let first = stand_in(&file, 0, 100, left()).unwrap();
            let second = stand_in(&file, 100, 100, left()).unwrap();
            // hyper writes the first piece's rest, never another's or a piece's middle.
            let e = conn.write(&second).await.unwrap_err();
            assert!(e.to_string().contains("out of order"), "{e}");
            let e = conn.write(&first[50..]).await.unwrap_err();
            assert!(e.to_string().contains("out of order"), "{e}");
            assert_eq!(conn.write(&first[..60]).await.unwrap(), 60);
            // Let go part-sent (a shorter body): its piece leaves the queue, nothing else.
            drop(first);
            assert_eq!(conn.write(&second).await.unwrap(), 100);
            drop(second);
            let lone = &STAND_IN[..10];
            let e = conn
                .write_vectored(&[IoSlice::new(lone)])
                .await
                .unwrap_err();
            assert!(e.to_string().contains("missing"), "{e}");
        })
        .await;
    }

    #[tokio::test]
    async fn a_stand_in_let_go_unsent_ends_the_connection() {
        let file = file_of(&pattern(4096));
        let (mut conn, _client) = pair().await;
        let regions = conn.regions();
        Connection::scope(regions, async {
            let chunk = stand_in(&file, 0, 100, left()).unwrap();
            // What hyper would do if it copied bodies into its own buffer: the zeros, then
            // the stand-in let go.
            let copy = chunk.to_vec();
            drop(chunk);
            let e = conn.write(&copy).await.unwrap_err();
            assert!(e.to_string().contains("not sent from its file"), "{e}");
            let e = conn
                .write_vectored(&[IoSlice::new(b"x")])
                .await
                .unwrap_err();
            assert!(e.to_string().contains("not sent from its file"), "{e}");
        })
        .await;
    }

    #[tokio::test]
    async fn a_plain_write_turns_stand_ins_off() {
        let file = file_of(b"abc");
        let (mut conn, _client) = pair().await;
        let regions = conn.regions();
        Connection::scope(regions, async {
            assert!(available());
            conn.write_all(b"copied by hyper").await.unwrap();
            assert!(!available());
            assert!(stand_in(&file, 0, 3, left()).is_err());
        })
        .await;
    }

    #[tokio::test]
    async fn a_file_that_ends_before_its_piece_fails_the_connection() {
        let file = file_of(&pattern(1000));
        let (mut conn, mut client) = pair().await;
        let regions = conn.regions();
        let reading = tokio::spawn(async move {
            let mut got = Vec::new();
            let _ = client.read_to_end(&mut got).await;
            got
        });
        Connection::scope(regions, async {
            let chunk = stand_in(&file, 0, 5000, left()).unwrap();
            let e = conn.write_all(&chunk).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
        })
        .await;
        drop(conn);
        assert_eq!(
            reading.await.unwrap().len(),
            1000,
            "the file's bytes and no more"
        );
    }
}
