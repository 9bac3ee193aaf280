//! The task that writes a session's frames to its socket.
//!
//! The actor never awaits the socket: it puts frames into a bounded queue that this task drains.
//! A client that stops reading fills the queue, and the actor then closes the session
//! (`slow_consumer`) instead of buffering without bound. The close takes a separate path so that
//! it is not stuck behind the frames the client is not reading.
//!
//! Catch-up frames (a resume) share the queue, so that every frame keeps its order, but each
//! holds a permit of a small window while it waits: catch-up waits for the client to read rather
//! than filling the queue, and live frames keep their whole allowance.

use std::time::Duration;

use actix_ws::{CloseReason, Session};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit};
use uuid::Uuid;

/// A frame for the client.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// A JSON text frame.
    Text(String),
    /// A catch-up frame; its permit returns to the window once written.
    Paced(String, OwnedSemaphorePermit),
    /// A WebSocket ping (heartbeat).
    Ping,
    /// The answer to the client's WebSocket ping.
    Pong(Vec<u8>),
    /// A close frame after everything queued before it.
    Close(CloseReason),
}

/// A close that skips the queue; pending until sent, and forever once its sender is gone
/// without sending (the queue then tells the writer when to end).
struct CloseNow(Option<oneshot::Receiver<CloseReason>>);

impl CloseNow {
    async fn wait(&mut self) -> CloseReason {
        if let Some(rx) = &mut self.0 {
            let result = rx.await;
            self.0 = None;
            if let Ok(reason) = result {
                return reason;
            }
        }
        std::future::pending().await
    }
}

enum Step {
    Frame(Outbound),
    Close(Option<CloseReason>),
}

/// Writes queued frames until a close, the end of the queue, or a dead socket.
pub(crate) async fn write_frames(
    mut session: Session,
    mut frames: mpsc::Receiver<Outbound>,
    close_now: oneshot::Receiver<CloseReason>,
    close_timeout: Duration,
    session_id: Uuid,
) {
    let mut close_now = CloseNow(Some(close_now));
    loop {
        let step = tokio::select! {
            biased;
            reason = close_now.wait() => Step::Close(Some(reason)),
            frame = frames.recv() => match frame {
                Some(Outbound::Close(reason)) => Step::Close(Some(reason)),
                Some(frame) => Step::Frame(frame),
                // The actor is gone without a close frame: the client's side already ended.
                None => Step::Close(None),
            },
        };
        let frame = match step {
            Step::Frame(frame) => frame,
            Step::Close(reason) => {
                close(session, reason, close_timeout, session_id).await;
                return;
            }
        };
        let sent = tokio::select! {
            biased;
            reason = close_now.wait() => Err(Some(reason)),
            sent = send(&mut session, frame) => sent.map_err(|()| None),
        };
        match sent {
            Ok(()) => {}
            Err(Some(reason)) => {
                close(session, Some(reason), close_timeout, session_id).await;
                return;
            }
            // The socket is gone; nothing more can be written.
            Err(None) => return,
        }
    }
}

async fn send(session: &mut Session, frame: Outbound) -> Result<(), ()> {
    let result = match frame {
        Outbound::Text(text) => session.text(text).await,
        Outbound::Paced(text, permit) => {
            let sent = session.text(text).await;
            drop(permit);
            sent
        }
        Outbound::Ping => session.ping(b"").await,
        Outbound::Pong(payload) => session.pong(&payload).await,
        // Handled by the caller; never queued to `send`.
        Outbound::Close(_) => Ok(()),
    };
    result.map_err(|_| ())
}

/// Sends the close frame if the client makes room for it in time; dropping the session then
/// ends the response, which closes the connection.
async fn close(
    session: Session,
    reason: Option<CloseReason>,
    close_timeout: Duration,
    session_id: Uuid,
) {
    if tokio::time::timeout(close_timeout, session.close(reason))
        .await
        .is_err()
    {
        tracing::debug!(%session_id, "close frame not taken in time; dropping the connection");
    }
}
