//! Connections: a [`Link`] is a connection and a channel on it. Opening one declares the
//! topology; a link no longer used is closed explicitly, since lapin keeps a connection open
//! while a request on it awaits a reply.

use std::time::Duration;

use lapin::options::ConfirmSelectOptions;
use lapin::{Channel, Connection, ConnectionProperties};
use voicebin_commands::QueueError;

use super::RabbitQueue;

/// A connection and a channel on it (in confirm mode for the publisher).
pub(super) struct Link {
    pub(super) conn: Connection,
    pub(super) channel: Channel,
}

impl Link {
    pub(super) fn healthy(&self) -> bool {
        self.conn.status().connected() && self.channel.status().connected()
    }
}

impl RabbitQueue {
    /// Opens a connection and a channel, and declares the topology on it.
    pub(super) async fn open_link(&self, role: &str, confirms: bool) -> Result<Link, QueueError> {
        let properties = ConnectionProperties::default()
            .with_connection_name(format!("voicebin {role} ({})", self.queue).into());
        let connecting = Connection::connect(&self.url, properties);
        // The URL is never part of a message: it may hold a password.
        let conn = match tokio::time::timeout(self.options.connect_timeout, connecting).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(QueueError::Unreachable(Box::new(e))),
            Err(_) => return Err(QueueError::TimedOut("connecting")),
        };
        let setup = async {
            let channel = conn.create_channel().await?;
            self.declare_topology(&channel).await?;
            if confirms {
                channel
                    .confirm_select(ConfirmSelectOptions::default())
                    .await?;
            }
            Ok::<_, lapin::Error>(channel)
        };
        let failure = match tokio::time::timeout(self.options.operation_timeout, setup).await {
            Ok(Ok(channel)) => return Ok(Link { conn, channel }),
            Ok(Err(e)) => QueueError::Failed {
                what: "declaring the scan queues",
                source: Box::new(e),
            },
            Err(_) => QueueError::TimedOut("declaring the scan queues"),
        };
        close_quietly(&conn, self.options.operation_timeout).await;
        Err(failure)
    }
}

/// Closes a connection no longer used. Dropping it is not enough: lapin keeps a connection
/// open while a request on it awaits a reply (a timed-out confirm or consume would leak it).
pub(super) async fn close_quietly(conn: &Connection, timeout: Duration) {
    if conn.status().connected() {
        let _ = tokio::time::timeout(timeout, conn.close(200, "OK".into())).await;
    }
}

/// Closes a discarded link in the background (see [`close_quietly`]).
pub(super) fn retire(link: Link, timeout: Duration) {
    if link.conn.status().connected() {
        tokio::spawn(async move { close_quietly(&link.conn, timeout).await });
    }
}
