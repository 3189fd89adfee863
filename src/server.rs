//! The HTTP server: hyper connections (HTTP/1.1, and HTTP/2 with prior knowledge) serving the
//! poem application, with a graceful shutdown.
//!
//! poem's own `Server` boxes every connection into a reader and a writer half behind a lock, and
//! the box cannot write vectored: hyper then copies every body byte into its own buffer before
//! writing it, and takes the lock for every read and write. Here hyper gets the `TcpStream`
//! itself: a body chunk goes to the socket as it is (`writev`), and hyper drops it only once the
//! socket has taken it, which is what paces downloads (`voicebin_commands::paced`, ADR 0026).
//! The socket is a [`Connection`], which sends a download's large pieces from the clip's file
//! with `sendfile` (`voicebin_commands::sendfile`, ADR 0029).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use poem::http::uri::Scheme;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint, Response};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use voicebin_commands::sendfile::Connection;

/// Raises the process's soft limit of open files to its hard limit (every connection is one;
/// the usual soft limit of 1,024 would refuse connections long before memory runs short).
/// Returns the limit now in force, when there is one.
pub fn raise_open_files_limit() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let (Some(current), Some(maximum)) = (limit.current, limit.maximum) else {
        return limit.current;
    };
    if current >= maximum {
        return Some(current);
    }
    let raised = Rlimit {
        current: Some(maximum),
        maximum: Some(maximum),
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => Some(maximum),
        Err(_) => Some(current),
    }
}

/// How long accepting waits after the process ran out of file descriptors (or another error
/// that passes), instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves `app` on `listener` until `shutdown` completes; then stops accepting, lets each
/// connection finish the requests it has begun (an idle keep-alive connection closes at once),
/// and after `timeout` stops those still running.
pub async fn serve<E>(
    listener: TcpListener,
    app: E,
    shutdown: impl Future<Output = ()>,
    timeout: Duration,
) -> std::io::Result<()>
where
    E: Endpoint<Output = Response> + 'static,
{
    let app = Arc::new(app);
    let local = LocalAddr(Addr::SocketAddr(listener.local_addr()?));
    let closing = CancellationToken::new();
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        // Finished connections are reaped as they go, so the set holds only live ones.
        while connections.try_join_next().is_some() {}
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, remote) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                };
                // Small answers leave at once rather than waiting for the peer's ACK.
                let _ = stream.set_nodelay(true);
                let remote = RemoteAddr(Addr::SocketAddr(remote));
                connections.spawn(connection(stream, app.clone(), local.clone(), remote, closing.clone()));
            }
        }
    }
    drop(listener);
    closing.cancel();
    if tokio::time::timeout(timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        tracing::warn!(
            connections = connections.len(),
            "connections still busy at the shutdown deadline; closing them"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// Serves one connection until it ends, or until `closing`: then it finishes what it has begun.
async fn connection<E>(
    stream: tokio::net::TcpStream,
    app: Arc<E>,
    local: LocalAddr,
    remote: RemoteAddr,
    closing: CancellationToken,
) where
    E: Endpoint<Output = Response> + 'static,
{
    let stream = Connection::new(stream);
    let regions = stream.regions();
    let requests = regions.clone();
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        // HTTP/2 copies bodies into its frames: no file is sent by the kernel there.
        if req.version() == hyper::Version::HTTP_2 {
            requests.turn_off();
        }
        let app = app.clone();
        let req = poem::Request::from((req, local.clone(), remote.clone(), Scheme::HTTP));
        async move {
            let response = app.get_response(req).await;
            Ok::<_, Infallible>(hyper::Response::<BoxBody<Bytes, std::io::Error>>::from(
                response,
            ))
        }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // The timer lets hyper give up on a request whose head does not arrive in time (30 s).
    // A client that shuts its sending side after its request still gets the answer, as nginx
    // gives it (hyper would close at the end of the input).
    builder.http1().timer(TokioTimer::new()).half_close(true);
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    // Bodies are polled in this task, where downloads may hand over file pieces.
    Connection::scope(regions, async move {
        tokio::pin!(conn);
        tokio::select! {
            _ = conn.as_mut() => return,
            () = closing.cancelled() => {}
        }
        conn.as_mut().graceful_shutdown();
        let _ = conn.await;
    })
    .await;
}
