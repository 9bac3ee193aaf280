//! `SessionRegistry`: one per node. Follows the event log once and hands each event to the live
//! sessions of the user who owns it.
//!
//! Every node's registry follows the same shared log (woken by LISTEN/NOTIFY), so an event
//! appended on any node reaches the user's sessions on every node without node-to-node traffic.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use serde::Serialize;
use tessera_events::{EventNotifier, EventStore, RecordedEvent, Subscription, UserId};
use tokio::task::AbortHandle;
use uuid::Uuid;

use super::protocol::{EventFrame, ServerMessage, Topic};
use crate::Shutdown;

/// Events read from the log per batch.
const BATCH: usize = 512;
/// Retry delays of the log follower after a read error.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// What the registry tells a session.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub enum ToSession {
    /// One of the session user's events, already encoded as a frame (shared by all of the
    /// user's sessions).
    Event {
        /// The event's global position.
        position: u64,
        /// The topic of its type, for sessions that chose topics.
        topic: Option<Topic>,
        /// The encoded `event` frame.
        frame: Arc<str>,
    },
    /// The node is shutting down: close the socket.
    Shutdown,
    /// The user was disabled: close the socket.
    Revoked,
    /// Every sign-in of the user ended (signed out everywhere, a new password), and with
    /// `api_keys` every API key too: close the socket if its credential is among them.
    SignInsEnded { api_keys: bool },
    /// One sign-in (refresh-token family) ended: close the socket if it belongs to it.
    SignInEnded(Uuid),
}

/// What an event of a user's means for their open sockets.
fn revocation(event: &tessera_events::RecordedEvent) -> Option<ToSession> {
    match event.event_type.as_str() {
        "user.disabled" => Some(ToSession::Revoked),
        "user.sessions_ended" => Some(ToSession::SignInsEnded {
            api_keys: event.payload["api_keys"].as_bool().unwrap_or(true),
        }),
        "session.revoked" => event
            .stream_id
            .strip_prefix("session-")
            .and_then(|id| Uuid::parse_str(id).ok())
            .map(ToSession::SignInEnded),
        _ => None,
    }
}

/// Why the registry refused a session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The registry was shut down; the node takes no new sessions.
    #[error("the session registry is shutting down")]
    ShuttingDown,
}

/// Adds an authenticated session; answers where its live events start.
#[derive(Message)]
#[rtype(result = "Result<Registered, RegistryError>")]
pub struct Register {
    /// The session's id.
    pub session_id: Uuid,
    /// The user whose events it receives.
    pub user_id: UserId,
    /// Where to send them.
    pub session: Recipient<ToSession>,
}

/// A session's registration.
#[derive(Clone)]
pub struct Registered {
    /// The log position after which the session receives live events. Everything at or below
    /// it is settled in the log (no lower position can still commit), so catch-up may read up
    /// to it.
    pub position: u64,
    /// The event log, for catch-up reads (resume).
    pub history: Arc<dyn EventStore>,
}

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registered")
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

/// Removes a session (it closed).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unregister {
    /// The session's id.
    pub session_id: Uuid,
    /// The user it was registered for.
    pub user_id: UserId,
}

/// Asks for a [`RegistryStatus`].
#[derive(Message)]
#[rtype(result = "RegistryStatus")]
pub struct GetRegistryStatus;

/// The registry's state, for status endpoints and tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegistryStatus {
    /// This node's id.
    pub node_id: String,
    /// The position of the last event routed.
    pub position: u64,
    /// Users with at least one live session.
    pub users: usize,
    /// Live sessions.
    pub sessions: usize,
    /// Events handed to sessions since start.
    pub delivered: u64,
    /// True once shut down.
    pub stopped: bool,
}

/// A batch read by the follower task.
#[derive(Message)]
#[rtype(result = "()")]
struct RouteBatch(Vec<RecordedEvent>);

/// Routes each event of the log to the sessions of `event.metadata.owner`.
pub struct SessionRegistry {
    store: Arc<dyn EventStore>,
    notifier: Option<EventNotifier>,
    node_id: String,
    position: u64,
    users: HashMap<UserId, HashMap<Uuid, Recipient<ToSession>>>,
    follower: Option<AbortHandle>,
    delivered: u64,
    stopped: bool,
}

impl SessionRegistry {
    /// A registry that routes events after position `after` (normally the log's head at start:
    /// a reconnecting client catches up by resuming, not through the registry).
    pub fn new(
        store: Arc<dyn EventStore>,
        notifier: Option<EventNotifier>,
        node_id: impl Into<String>,
        after: u64,
    ) -> Self {
        Self {
            store,
            notifier,
            node_id: node_id.into(),
            position: after,
            users: HashMap::new(),
            follower: None,
            delivered: 0,
            stopped: false,
        }
    }

    fn start_follower(&mut self, ctx: &mut Context<Self>) {
        if self.stopped || self.follower.is_some() {
            return;
        }
        let subscription =
            Subscription::new(self.store.clone(), self.notifier.as_ref(), self.position);
        let task = tokio::spawn(follow(subscription, ctx.address(), self.node_id.clone()));
        self.follower = Some(task.abort_handle());
    }

    fn stop_follower(&mut self) {
        if let Some(follower) = self.follower.take() {
            follower.abort();
        }
    }

    fn session_count(&self) -> usize {
        self.users.values().map(HashMap::len).sum()
    }

    fn route(&mut self, event: &RecordedEvent) {
        let Some(owner) = event.metadata.owner else {
            return;
        };
        let Some(sessions) = self.users.get_mut(&owner) else {
            return;
        };
        // A session that died without unregistering is dropped here rather than leaked.
        sessions.retain(|_, session| session.connected());
        if sessions.is_empty() {
            self.users.remove(&owner);
            return;
        }
        let frame: Arc<str> = ServerMessage::Event(EventFrame::from(event))
            .encode()
            .into();
        let revoked = revocation(event);
        let topic = Topic::of(&event.event_type);
        for session in sessions.values() {
            session.do_send(ToSession::Event {
                position: event.global_position,
                topic,
                frame: frame.clone(),
            });
            if let Some(revoked) = &revoked {
                session.do_send(revoked.clone());
            }
            self.delivered += 1;
        }
    }
}

/// Reads the log and hands batches to the registry; `send` waits for each batch to be routed,
/// so a busy registry slows the reader instead of queueing the log in memory.
async fn follow(mut subscription: Subscription, registry: Addr<SessionRegistry>, node_id: String) {
    let mut retry = RETRY_MIN;
    loop {
        match subscription.next_batch(BATCH).await {
            Ok(batch) => {
                retry = RETRY_MIN;
                if registry.send(RouteBatch(batch)).await.is_err() {
                    return;
                }
            }
            Err(error) => {
                tracing::warn!(
                    node = %node_id,
                    %error,
                    position = subscription.position(),
                    retry_in_ms = u64::try_from(retry.as_millis()).unwrap_or(u64::MAX),
                    "session registry cannot read the event log; retrying"
                );
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(RETRY_MAX);
            }
        }
    }
}

impl Actor for SessionRegistry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Sessions live on the HTTP workers' threads and all talk to this one actor.
        ctx.set_mailbox_capacity(1024);
        tracing::info!(node = %self.node_id, position = self.position, "session registry started");
        self.start_follower(ctx);
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.stop_follower();
    }
}

impl actix::Supervised for SessionRegistry {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        // The follower sent to the old context; `started` begins a new one from the last
        // position routed, so nothing is skipped or routed twice.
        self.stop_follower();
        tracing::warn!(node = %self.node_id, position = self.position, "session registry restarted");
    }
}

impl Handler<RouteBatch> for SessionRegistry {
    type Result = ();

    fn handle(&mut self, RouteBatch(batch): RouteBatch, _: &mut Self::Context) {
        if self.stopped {
            return;
        }
        for event in &batch {
            // The follower continues from where it is, so a batch at or below the position
            // can only come from a follower of a previous incarnation.
            if event.global_position <= self.position {
                continue;
            }
            self.route(event);
            self.position = event.global_position;
        }
    }
}

impl Handler<Register> for SessionRegistry {
    type Result = Result<Registered, RegistryError>;

    fn handle(&mut self, msg: Register, _: &mut Self::Context) -> Self::Result {
        if self.stopped {
            return Err(RegistryError::ShuttingDown);
        }
        self.users
            .entry(msg.user_id)
            .or_default()
            .insert(msg.session_id, msg.session);
        tracing::debug!(
            node = %self.node_id,
            session_id = %msg.session_id,
            user_id = %msg.user_id,
            sessions = self.session_count(),
            "session registered"
        );
        Ok(Registered {
            position: self.position,
            history: self.store.clone(),
        })
    }
}

impl Handler<Unregister> for SessionRegistry {
    type Result = ();

    fn handle(&mut self, msg: Unregister, _: &mut Self::Context) {
        if let Some(sessions) = self.users.get_mut(&msg.user_id) {
            sessions.remove(&msg.session_id);
            if sessions.is_empty() {
                self.users.remove(&msg.user_id);
            }
        }
        tracing::debug!(
            node = %self.node_id,
            session_id = %msg.session_id,
            user_id = %msg.user_id,
            "session unregistered"
        );
    }
}

impl Handler<GetRegistryStatus> for SessionRegistry {
    type Result = MessageResult<GetRegistryStatus>;

    fn handle(&mut self, _: GetRegistryStatus, _: &mut Self::Context) -> Self::Result {
        MessageResult(RegistryStatus {
            node_id: self.node_id.clone(),
            position: self.position,
            users: self.users.len(),
            sessions: self.session_count(),
            delivered: self.delivered,
            stopped: self.stopped,
        })
    }
}

impl Handler<Shutdown> for SessionRegistry {
    type Result = ();

    /// Stops following the log and closes every session. The registry stays alive (refusing new
    /// sessions) so that its supervisor does not take the stop for a crash.
    fn handle(&mut self, _: Shutdown, _: &mut Self::Context) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        self.stop_follower();
        let sessions = self.session_count();
        for (_, session) in self.users.drain().flat_map(|(_, s)| s) {
            session.do_send(ToSession::Shutdown);
        }
        tracing::info!(node = %self.node_id, sessions, "session registry shut down");
    }
}
