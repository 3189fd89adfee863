//! What stops `serve` and `worker` (Ctrl-C, or SIGTERM on Unix), and the separate metrics
//! listener (`VOICEBIN_METRICS_LISTEN`) both run until they stop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use poem::listener::{Acceptor, Listener, TcpListener};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use voicebin::Metrics;

/// Completes on Ctrl-C or, on Unix, SIGTERM.
pub async fn signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// `/metrics` on a listener of its own, until [`MetricsServer::stop`].
pub struct MetricsServer {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl MetricsServer {
    /// Binds `addr` (failing now if it cannot) and serves `metrics` there.
    pub async fn start(addr: SocketAddr, metrics: Arc<Metrics>) -> anyhow::Result<Self> {
        let acceptor = TcpListener::bind(addr)
            .into_acceptor()
            .await
            .with_context(|| format!("binding the metrics listener {addr}"))?;
        let bound = acceptor
            .local_addr()
            .into_iter()
            .next()
            .map(|addr| addr.to_string())
            .unwrap_or_else(|| addr.to_string());
        tracing::info!(listen = %bound, "serving /metrics");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = poem::Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(
                    voicebin_api::metrics::listener_app(metrics),
                    async move {
                        let _ = stopped.await;
                    },
                    Some(Duration::from_secs(1)),
                )
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "the metrics listener failed");
            }
        });
        Ok(MetricsServer { stop, task })
    }

    /// Stops serving (last, so a scrape during the drain still works).
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}
