//! Catch-up: the user's events the client missed, read from the log in batches and paced by a
//! window of frames, until the session can switch to live events (see the parent module).

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tessera_events::{EventStore, UserId};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, Semaphore};
use uuid::Uuid;

use super::{Flow, SessionActor};
use crate::session::protocol::{CloseCause, ErrorCode, EventFrame, ServerMessage, Topic, Topics};
use crate::session::writer::Outbound;

/// Events read from the log per catch-up batch.
const CATCH_UP_BATCH: usize = 128;
/// Catch-up frames that may wait in the outbound queue at once.
pub(super) const CATCH_UP_WINDOW: usize = 32;

/// Why catch-up stopped.
enum CatchUpError {
    /// The log could not be read.
    Store,
    /// The client did not read its frames in time.
    Slow,
    /// The socket is gone.
    Gone,
}

impl SessionActor {
    /// Sends the user's events after `from` from the log, then switches to live events.
    pub(super) fn start_catch_up(&mut self, from: u64, ctx: &mut Context<Self>) {
        let Some(history) = self.history.clone() else {
            return;
        };
        if let Some(handle) = self.catch_up.take() {
            ctx.cancel_future(handle);
        }
        self.generation += 1;
        let generation = self.generation;
        // What the client would have got without the resume, should the position be refused.
        let fallback = match self.flow {
            Flow::CatchingUp => self.cursor,
            Flow::Off | Flow::Live => self.last_position,
        };
        self.flow = Flow::CatchingUp;
        if from <= self.seen_live {
            self.cursor = from;
            return self.catch_up_step(ctx);
        }
        // Beyond what this node has routed: fine if another node is ahead, refused if it is
        // beyond the log itself.
        let check = async move { history.head_position().await };
        let handle = ctx.spawn(check.into_actor(self).map(move |head, act, ctx| {
            if act.generation != generation || act.closing {
                return;
            }
            act.catch_up = None;
            match head {
                Ok(head) if from <= head => act.cursor = from,
                Ok(head) => {
                    tracing::info!(session_id = %act.id, from, head, "resume position beyond the log");
                    let message = format!(
                        "resume position {from} is beyond the end of the event log ({head}); \
                         continuing with live events"
                    );
                    act.send_error(ErrorCode::ResumePositionAhead, &message, ctx);
                    act.cursor = fallback;
                }
                Err(error) => {
                    tracing::warn!(session_id = %act.id, %error, "cannot read the log head");
                    return act.close(CloseCause::Unavailable, ctx);
                }
            }
            act.catch_up_step(ctx);
        }));
        self.catch_up = Some(handle);
    }

    /// Reads and sends the next batch of missed events, or switches to live when there is none.
    pub(super) fn catch_up_step(&mut self, ctx: &mut Context<Self>) {
        if self.closing {
            return;
        }
        let (Some(history), Some(user_id), Some(outbound)) =
            (self.history.clone(), self.user_id(), self.outbound.clone())
        else {
            return;
        };
        let target = self.seen_live;
        if self.cursor >= target {
            self.flow = Flow::Live;
            self.last_position = self.cursor;
            self.catch_up = None;
            tracing::debug!(session_id = %self.id, position = self.cursor, "caught up");
            return self.send_message(
                &ServerMessage::CaughtUp {
                    position: self.cursor,
                },
                ctx,
            );
        }
        let generation = self.generation;
        let read = send_missed(
            history,
            user_id,
            self.cursor,
            target,
            self.options.topics,
            outbound,
            self.window.clone(),
            self.settings.write_timeout,
        );
        let handle = ctx.spawn(read.into_actor(self).map(move |result, act, ctx| {
            if act.generation != generation || act.closing {
                return;
            }
            match result {
                Ok(cursor) => {
                    act.cursor = cursor;
                    act.catch_up_step(ctx);
                }
                Err(CatchUpError::Store) => {
                    act.send_error(
                        ErrorCode::Unavailable,
                        "the event log cannot be read right now; reconnect and resume",
                        ctx,
                    );
                    act.close(CloseCause::Unavailable, ctx);
                }
                Err(CatchUpError::Slow) => {
                    tracing::warn!(session_id = %act.id, "client does not read its catch-up; closing");
                    act.close(CloseCause::SlowConsumer, ctx);
                }
                Err(CatchUpError::Gone) => {
                    act.closing = true;
                    act.outbound = None;
                    ctx.stop();
                }
            }
        }));
        self.catch_up = Some(handle);
    }
}

/// Reads the user's events in `(after, up_to]` (one batch) and queues those of the chosen
/// topics, each waiting for room in the catch-up window. Returns the position it covered.
#[allow(clippy::too_many_arguments)]
async fn send_missed(
    history: Arc<dyn EventStore>,
    owner: Uuid,
    after: u64,
    up_to: u64,
    topics: Topics,
    outbound: mpsc::Sender<Outbound>,
    window: Arc<Semaphore>,
    write_timeout: Duration,
) -> Result<u64, CatchUpError> {
    let batch = history
        .read_owned(UserId(owner), after, up_to, CATCH_UP_BATCH)
        .await
        .map_err(|error| {
            tracing::warn!(%error, %owner, after, up_to, "catch-up read failed");
            CatchUpError::Store
        })?;
    let covered = match batch.last() {
        Some(last) if batch.len() >= CATCH_UP_BATCH => last.global_position,
        _ => up_to,
    };
    for event in &batch {
        if !topics.admits(Topic::of(&event.event_type)) {
            continue;
        }
        let permit = tokio::time::timeout(write_timeout, window.clone().acquire_owned())
            .await
            .map_err(|_| CatchUpError::Slow)?
            .map_err(|_| CatchUpError::Gone)?;
        let frame = ServerMessage::Event(EventFrame::from(event)).encode();
        match outbound.try_send(Outbound::Paced(frame, permit)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(CatchUpError::Slow),
            Err(TrySendError::Closed(_)) => return Err(CatchUpError::Gone),
        }
    }
    Ok(covered)
}
