//! A TCP proxy between `vb` and the test server that reads each HTTP/1.1 request's head and
//! `Content-Length` body as it passes, logs them, and can misbehave the way a network does:
//! cut the connection after some body bytes, or stall it (forward nothing more, until the
//! client goes away). It can also hide the resumable-upload routes, as a server without them.
//!
//! Answers pass through untouched; only requests are read. After a cut, later requests wait
//! until the test releases them, so that the test decides what the server has done with the
//! cut bytes by the time the client asks (the server keeps them once it notices the cut,
//! which takes a moment that no client's backoff can be sure to outlast).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// A request as the proxy saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// `PATCH`, `HEAD`, ...
    pub method: String,
    /// The path as the client sent it.
    pub path: String,
    /// Its `Upload-Offset`, when it had one.
    pub upload_offset: Option<u64>,
    /// The body bytes passed on to the server.
    pub body: u64,
}

/// What happens when the budget of body bytes runs out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    /// The connection is closed both ways; later requests wait for [`Proxy::release`].
    Cut,
    /// Nothing more is passed on this or any connection until [`Proxy::pass`].
    Stall,
}

#[derive(Debug, Default)]
struct State {
    seen: Vec<Seen>,
    /// Body bytes still passed before `then` happens; none: no limit.
    budget: Option<(u64, Then)>,
    cuts: u32,
    stalls: u32,
    /// Whether requests wait before they are passed on.
    held: bool,
    hide_resumable: bool,
}

/// What the next read of a body may do.
enum Allowance {
    Bytes(usize),
    Cut,
    Stall,
}

/// The proxy; it stops when dropped.
pub struct Proxy {
    /// Its base URL (`http://127.0.0.1:port`).
    pub url: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// A proxy in front of the server at `base` (`http://host:port`).
    pub async fn start(base: &str) -> Proxy {
        let upstream: SocketAddr = base
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("the test server's address");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(connection(client, upstream, shared.clone()));
            }
        });
        Proxy { url, state, task }
    }

    /// Answers to `/api/v1/uploads...` come from another path the server does not have, as
    /// from a server without resumable uploads.
    pub fn hide_resumable_uploads(&self) {
        self.state.lock().unwrap().hide_resumable = true;
    }

    /// After `bytes` more body bytes, the connection is cut (once); requests after the cut
    /// wait for [`Proxy::release`].
    pub fn cut_after(&self, bytes: u64) {
        self.state.lock().unwrap().budget = Some((bytes, Then::Cut));
    }

    /// After `bytes` more body bytes, nothing more goes to the server.
    pub fn stall_after(&self, bytes: u64) {
        self.state.lock().unwrap().budget = Some((bytes, Then::Stall));
    }

    /// Everything passes from now on.
    pub fn pass(&self) {
        let mut state = self.state.lock().unwrap();
        state.budget = None;
        state.held = false;
    }

    /// Requests held since a cut go on.
    pub fn release(&self) {
        self.state.lock().unwrap().held = false;
    }

    /// The requests seen so far (and forgets them).
    pub fn take_seen(&self) -> Vec<Seen> {
        std::mem::take(&mut self.state.lock().unwrap().seen)
    }

    /// How many connections were cut.
    pub fn cuts(&self) -> u32 {
        self.state.lock().unwrap().cuts
    }

    /// How many connections are (or were) stalled.
    pub fn stalls(&self) -> u32 {
        self.state.lock().unwrap().stalls
    }
}

impl State {
    fn allowance(&mut self) -> Allowance {
        match self.budget {
            None => Allowance::Bytes(usize::MAX),
            Some((0, Then::Cut)) => {
                self.budget = None;
                self.cuts += 1;
                self.held = true;
                Allowance::Cut
            }
            Some((0, Then::Stall)) => {
                self.stalls += 1;
                Allowance::Stall
            }
            Some((left, _)) => Allowance::Bytes(usize::try_from(left).unwrap_or(usize::MAX)),
        }
    }

    fn passed(&mut self, request: usize, bytes: u64) {
        self.seen[request].body += bytes;
        if let Some((left, _)) = &mut self.budget {
            *left = left.saturating_sub(bytes);
        }
    }
}

async fn connection(client: TcpStream, upstream: SocketAddr, state: Arc<Mutex<State>>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (client_read, mut client_write) = client.into_split();
    let (mut server_read, server_write) = server.into_split();
    let answers = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    });
    requests(BufReader::new(client_read), server_write, &state).await;
    // Both ways close together: a cut is a cut for the client as well.
    answers.abort();
}

/// Passes requests on until the client closes, the budget cuts, or the request is not one
/// the proxy can follow.
async fn requests(
    mut client: BufReader<OwnedReadHalf>,
    mut server: OwnedWriteHalf,
    state: &Mutex<State>,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let Some(mut head) = read_head(&mut client).await else {
            return;
        };
        while state.lock().unwrap().held {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let text = String::from_utf8_lossy(&head).into_owned();
        let mut words = text.split_whitespace();
        let method = words.next().unwrap_or_default().to_owned();
        let path = words.next().unwrap_or_default().to_owned();
        let header = |name: &str| {
            text.lines().find_map(|line| {
                let (n, v) = line.split_once(':')?;
                n.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
        };
        assert!(
            header("transfer-encoding").is_none(),
            "the proxy follows Content-Length bodies only: {text}"
        );
        let mut left: u64 = header("content-length")
            .map(|v| v.parse().unwrap())
            .unwrap_or(0);
        let request = {
            let mut state = state.lock().unwrap();
            if state.hide_resumable && path.starts_with("/api/v1/uploads") {
                // The same length, so nothing else in the head changes.
                let at = text.find("/api/v1/uploads").unwrap() + "/api/v1/upload".len();
                head[at] = b'z';
            }
            state.seen.push(Seen {
                method,
                path,
                upload_offset: header("upload-offset").map(|v| v.parse().unwrap()),
                body: 0,
            });
            state.seen.len() - 1
        };
        if server.write_all(&head).await.is_err() {
            return;
        }
        while left > 0 {
            let allowance = state.lock().unwrap().allowance();
            let most = match allowance {
                Allowance::Bytes(most) => most,
                Allowance::Cut => return,
                Allowance::Stall => {
                    // Swallow what the client still sends; close when it goes away.
                    let _ = tokio::io::copy(&mut client, &mut tokio::io::sink()).await;
                    return;
                }
            };
            let want = buffer
                .len()
                .min(most)
                .min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = match client.read(&mut buffer[..want]).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if server.write_all(&buffer[..n]).await.is_err() {
                return;
            }
            left -= n as u64;
            state.lock().unwrap().passed(request, n as u64);
        }
    }
}

/// A request's head, up to and including the blank line; none when the client closed.
async fn read_head(client: &mut BufReader<OwnedReadHalf>) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    loop {
        let before = head.len();
        match client.read_until(b'\n', &mut head).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
        if &head[before..] == b"\r\n" {
            return Some(head);
        }
    }
}
