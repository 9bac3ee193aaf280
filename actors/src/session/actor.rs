//! `SessionActor`: one per WebSocket. Authenticates the client, registers with the node's
//! [`SessionRegistry`], catches up on the events the client missed (resume), and pushes the
//! user's events to the socket.
//!
//! Resume without gap or duplicate: the registry hands live events to the session in log order
//! and answers registration with its position, below which the log is settled. While catching
//! up, the session sends nothing live but remembers the highest position routed to it; it reads
//! the user's events from the log up to that position, in batches, until no newer live event
//! came during the last read. From then on live events flow; those at or below the position
//! catch-up reached are dropped. Everything happens on the actor, so no live event can slip
//! between the last read and the switch.

mod catch_up;
mod inbound;

use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use actix_ws::{Message as WsMessage, MessageStream, ProtocolError, Session};
use tessera_events::{EventStore, UserId};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot, Semaphore};
use uuid::Uuid;

use super::auth::{SessionUser, TokenVerifier};
use super::protocol::{CloseCause, ErrorCode, ServerMessage, Topics};
use super::registry::{Register, Registered, SessionRegistry, ToSession, Unregister};
use super::settings::SessionSettings;
use super::writer::{write_frames, Outbound};
use catch_up::CATCH_UP_WINDOW;
use inbound::{Bucket, Fragments};

/// What the client asked for before the session was ready (in the upgrade request's query or
/// its `auth` message).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionOptions {
    /// The position of the last event the client saw; the missed ones are sent first.
    pub resume_from: Option<u64>,
    /// Which of the user's events to send.
    pub topics: Topics,
}

/// How the session's events flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// Not registered yet: nothing flows.
    Off,
    /// Reading missed events from the log; live ones are only noted.
    CatchingUp,
    /// Live events flow.
    Live,
}

/// Where a session stands with authentication.
enum AuthState {
    /// Waiting for an `auth` message.
    Waiting,
    /// A token is being verified or the session is being registered.
    Verifying,
    /// Authenticated and registered: events flow.
    Ready(SessionUser),
}

/// The actor behind one WebSocket. Start it with [`start_session`].
pub struct SessionActor {
    id: Uuid,
    registry: Addr<SessionRegistry>,
    verifier: Arc<dyn TokenVerifier>,
    settings: SessionSettings,
    pre_authenticated: Option<SessionUser>,
    options: SessionOptions,
    auth: AuthState,
    /// The queue to the writer task; `None` once closing.
    outbound: Option<mpsc::Sender<Outbound>>,
    /// Closes past the queue (used when the queue is full).
    close_now: Option<oneshot::Sender<actix_ws::CloseReason>>,
    last_heard: Instant,
    /// Live events at or below this position are not sent (sent already, or covered by
    /// catch-up, or before the client's resume position).
    last_position: u64,
    /// The highest position the registry has routed to this session: the log is settled up to
    /// it, and catch-up reads up to it.
    seen_live: u64,
    flow: Flow,
    /// Catch-up has sent everything up to here.
    cursor: u64,
    /// Tells a finished catch-up read from one a newer `resume` replaced.
    generation: u64,
    catch_up: Option<SpawnHandle>,
    history: Option<Arc<dyn EventStore>>,
    window: Arc<Semaphore>,
    bucket: Bucket,
    refused_in_row: u32,
    fragments: Option<Fragments>,
    closing: bool,
}

/// Starts the actor for an upgraded WebSocket on the current arbiter (the HTTP worker that
/// accepted it: the message stream cannot move between threads).
///
/// With `pre_authenticated` the session registers at once (the upgrade request carried a valid
/// token); otherwise it waits up to `settings.auth_timeout` for an `auth` message.
pub fn start_session(
    registry: Addr<SessionRegistry>,
    verifier: Arc<dyn TokenVerifier>,
    pre_authenticated: Option<SessionUser>,
    options: SessionOptions,
    session: Session,
    stream: MessageStream,
    settings: SessionSettings,
) -> Addr<SessionActor> {
    let id = Uuid::now_v7();
    // Catch-up frames have their own window on top of the live allowance.
    let (tx, rx) = mpsc::channel(settings.outbound_queue.max(1) + CATCH_UP_WINDOW);
    let (close_tx, close_rx) = oneshot::channel();
    tokio::spawn(write_frames(
        session,
        rx,
        close_rx,
        settings.close_timeout,
        id,
    ));
    let stream = stream.max_frame_size(settings.max_frame_bytes);
    SessionActor::create(move |ctx| {
        ctx.add_stream(stream);
        SessionActor {
            id,
            registry,
            verifier,
            pre_authenticated,
            options,
            auth: AuthState::Waiting,
            outbound: Some(tx),
            close_now: Some(close_tx),
            last_heard: Instant::now(),
            last_position: 0,
            seen_live: 0,
            flow: Flow::Off,
            cursor: 0,
            generation: 0,
            catch_up: None,
            history: None,
            window: Arc::new(Semaphore::new(CATCH_UP_WINDOW)),
            bucket: Bucket::full(&settings),
            refused_in_row: 0,
            fragments: None,
            closing: false,
            settings,
        }
    })
}

impl SessionActor {
    fn user_id(&self) -> Option<Uuid> {
        match &self.auth {
            AuthState::Ready(user) => Some(user.user_id),
            _ => None,
        }
    }

    /// Queues a frame; a full queue means the client does not keep up.
    fn enqueue(&mut self, frame: Outbound, ctx: &mut Context<Self>) {
        let Some(outbound) = &self.outbound else {
            return;
        };
        match outbound.try_send(frame) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                tracing::warn!(
                    session_id = %self.id,
                    user_id = ?self.user_id(),
                    queue = self.settings.outbound_queue,
                    "client does not keep up with its frames; closing"
                );
                self.close(CloseCause::SlowConsumer, ctx);
            }
            // The writer ended: the socket is gone.
            Err(TrySendError::Closed(_)) => {
                self.closing = true;
                self.outbound = None;
                ctx.stop();
            }
        }
    }

    fn send_message(&mut self, message: &ServerMessage<'_>, ctx: &mut Context<Self>) {
        self.enqueue(Outbound::Text(message.encode()), ctx);
    }

    fn send_error(&mut self, code: ErrorCode, message: &str, ctx: &mut Context<Self>) {
        tracing::debug!(session_id = %self.id, code = code.as_str(), message, "refused a client frame");
        self.send_message(&ServerMessage::Error { code, message }, ctx);
    }

    /// Closes the socket with `cause` and stops. Frames already queued go first, unless the
    /// queue is full (then the close skips them: the client is not reading anyway).
    fn close(&mut self, cause: CloseCause, ctx: &mut Context<Self>) {
        if self.closing {
            return;
        }
        self.closing = true;
        if let Some(handle) = self.catch_up.take() {
            ctx.cancel_future(handle);
        }
        let reason = cause.reason();
        let queued = self
            .outbound
            .take()
            .is_some_and(|q| q.try_send(Outbound::Close(reason.clone())).is_ok());
        if !queued {
            if let Some(close_now) = self.close_now.take() {
                let _ = close_now.send(reason);
            }
        }
        tracing::debug!(
            session_id = %self.id,
            user_id = ?self.user_id(),
            reason = cause.as_str(),
            "closing session"
        );
        ctx.stop();
    }

    fn verify(&mut self, token: String, ctx: &mut Context<Self>) {
        self.auth = AuthState::Verifying;
        let verification = self.verifier.verify(&token);
        let limit = self.settings.auth_timeout;
        // `wait` holds back the client's next frames until the outcome is known, so nothing
        // is handled half-authenticated.
        ctx.wait(
            async move {
                tokio::time::timeout(limit, verification)
                    .await
                    .ok()
                    .flatten()
            }
            .into_actor(self)
            .map(|user, act, ctx| match user {
                Some(user) => act.register(user, ctx),
                None => {
                    tracing::info!(session_id = %act.id, "session authentication failed");
                    act.send_error(
                        ErrorCode::InvalidToken,
                        "the token is invalid or expired",
                        ctx,
                    );
                    act.close(CloseCause::InvalidToken, ctx);
                }
            }),
        );
    }

    fn register(&mut self, user: SessionUser, ctx: &mut Context<Self>) {
        self.auth = AuthState::Verifying;
        let register = Register {
            session_id: self.id,
            user_id: UserId(user.user_id),
            session: ctx.address().recipient(),
        };
        ctx.wait(
            self.registry.send(register).into_actor(self).map(
                move |result, act, ctx| match result {
                    Ok(Ok(Registered { position, history })) => {
                        let resume_from = act.options.resume_from;
                        tracing::info!(
                            session_id = %act.id,
                            user_id = %user.user_id,
                            position,
                            ?resume_from,
                            "session ready"
                        );
                        act.last_position = position;
                        act.seen_live = position;
                        act.history = Some(history);
                        act.send_message(
                            &ServerMessage::Ready {
                                user_id: user.user_id,
                                session_id: act.id,
                                position,
                                resume_from,
                                topics: act.options.topics.names(),
                            },
                            ctx,
                        );
                        act.auth = AuthState::Ready(user);
                        match resume_from {
                            Some(from) => act.start_catch_up(from, ctx),
                            None => act.flow = Flow::Live,
                        }
                    }
                    Ok(Err(_)) | Err(_) => {
                        act.send_error(
                            ErrorCode::Unavailable,
                            "this node takes no sessions right now; reconnect",
                            ctx,
                        );
                        act.close(CloseCause::Unavailable, ctx);
                    }
                },
            ),
        );
    }

    fn heartbeat(&mut self, ctx: &mut Context<Self>) {
        if self.last_heard.elapsed() > self.settings.idle_timeout {
            self.close(CloseCause::IdleTimeout, ctx);
        } else {
            self.enqueue(Outbound::Ping, ctx);
        }
    }
}

impl Actor for SessionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        tracing::debug!(session_id = %self.id, "session started");
        ctx.run_interval(self.settings.heartbeat_interval, |act, ctx| {
            act.heartbeat(ctx)
        });
        if let Some(user) = self.pre_authenticated.take() {
            self.register(user, ctx);
        }
        ctx.run_later(self.settings.auth_timeout, |act, ctx| {
            if !matches!(act.auth, AuthState::Ready(_)) {
                act.send_error(
                    ErrorCode::AuthTimeout,
                    "no valid authentication in time",
                    ctx,
                );
                act.close(CloseCause::AuthTimeout, ctx);
            }
        });
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        if let Some(user_id) = self.user_id() {
            self.registry.do_send(Unregister {
                session_id: self.id,
                user_id: UserId(user_id),
            });
        }
        tracing::debug!(session_id = %self.id, "session stopped");
    }
}

impl StreamHandler<Result<WsMessage, ProtocolError>> for SessionActor {
    fn handle(&mut self, item: Result<WsMessage, ProtocolError>, ctx: &mut Self::Context) {
        if self.closing {
            return;
        }
        self.last_heard = Instant::now();
        // Every message the server must answer counts against the client's rate.
        let counted = matches!(
            item,
            Ok(WsMessage::Text(_)) | Ok(WsMessage::Binary(_)) | Ok(WsMessage::Ping(_))
        );
        if counted && !self.admit(ctx) {
            return;
        }
        match item {
            Ok(WsMessage::Text(text)) => self.on_text(&text, ctx),
            Ok(WsMessage::Binary(_)) => self.on_binary(ctx),
            Ok(WsMessage::Continuation(item)) => self.on_fragment(item, ctx),
            Ok(WsMessage::Ping(payload)) => self.enqueue(Outbound::Pong(payload.to_vec()), ctx),
            Ok(WsMessage::Pong(_)) | Ok(WsMessage::Nop) => {}
            Ok(WsMessage::Close(reason)) => {
                tracing::debug!(session_id = %self.id, ?reason, "client closed the session");
                self.close(CloseCause::ClientClosed, ctx);
            }
            Err(ProtocolError::Overflow) => self.close(CloseCause::FrameTooLarge, ctx),
            Err(error) => {
                tracing::debug!(session_id = %self.id, %error, "WebSocket protocol error");
                self.close(CloseCause::ProtocolError, ctx);
            }
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        // The client's side of the connection ended without a close frame.
        self.closing = true;
        ctx.stop();
    }
}

impl Handler<ToSession> for SessionActor {
    type Result = ();

    fn handle(&mut self, msg: ToSession, ctx: &mut Self::Context) {
        match msg {
            ToSession::Event {
                position,
                topic,
                frame,
            } => {
                self.seen_live = self.seen_live.max(position);
                // While catching up, the next read covers it.
                if self.closing || self.flow != Flow::Live || position <= self.last_position {
                    return;
                }
                self.last_position = position;
                if self.options.topics.admits(topic) {
                    self.enqueue(Outbound::Text(frame.to_string()), ctx);
                }
            }
            ToSession::Shutdown => self.close(CloseCause::ServerShutdown, ctx),
            ToSession::Revoked => self.close(CloseCause::AccountDisabled, ctx),
            ToSession::SignInsEnded { api_keys } => {
                // A key the user kept still stands: its socket stays (the key would open a new
                // one anyway).
                let kept_key = matches!(&self.auth, AuthState::Ready(u) if u.api_key && !api_keys);
                if !kept_key {
                    self.close(CloseCause::SessionEnded, ctx);
                }
            }
            ToSession::SignInEnded(family) => {
                let ours = matches!(&self.auth, AuthState::Ready(u) if u.sign_in == Some(family));
                if ours {
                    self.close(CloseCause::SessionEnded, ctx);
                }
            }
        }
    }
}
