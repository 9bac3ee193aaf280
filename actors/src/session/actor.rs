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

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_ws::{Item, Message as WsMessage, MessageStream, ProtocolError, Session};
use tessera_events::EventStore;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot, Semaphore};
use uuid::Uuid;

use super::auth::{SessionUser, TokenVerifier};
use super::protocol::{
    parse_client_message, ClientMessage, CloseCause, ErrorCode, EventFrame, ServerMessage, Topic,
    Topics,
};
use super::registry::{Register, Registered, SessionRegistry, ToSession, Unregister};
use super::settings::SessionSettings;
use super::writer::{write_frames, Outbound};

/// Events read from the log per catch-up batch.
const CATCH_UP_BATCH: usize = 128;
/// Catch-up frames that may wait in the outbound queue at once.
const CATCH_UP_WINDOW: usize = 32;

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

/// Why catch-up stopped.
enum CatchUpError {
    /// The log could not be read.
    Store,
    /// The client did not read its frames in time.
    Slow,
    /// The socket is gone.
    Gone,
}

/// A token bucket over the client's messages.
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl Bucket {
    fn full(settings: &SessionSettings) -> Self {
        Self {
            tokens: f64::from(settings.message_burst.max(1)),
            refilled: Instant::now(),
        }
    }

    fn take(&mut self, settings: &SessionSettings) -> bool {
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        self.tokens = (self.tokens + elapsed * f64::from(settings.messages_per_second))
            .min(f64::from(settings.message_burst.max(1)));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
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

/// A fragmented message being reassembled.
struct Fragments {
    text: bool,
    bytes: Vec<u8>,
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

    fn on_text(&mut self, text: &str, ctx: &mut Context<Self>) {
        match parse_client_message(text) {
            Err(violation) => self.send_error(violation.code, &violation.message, ctx),
            Ok(ClientMessage::Ping { id }) => {
                self.send_message(&ServerMessage::Pong { id: id.as_ref() }, ctx)
            }
            Ok(ClientMessage::Auth {
                token,
                resume_from,
                topics,
            }) => match self.auth {
                AuthState::Waiting => {
                    if resume_from.is_some() {
                        self.options.resume_from = resume_from;
                    }
                    if let Some(topics) = topics {
                        self.options.topics = topics;
                    }
                    self.verify(token, ctx)
                }
                AuthState::Verifying | AuthState::Ready(_) => self.send_error(
                    ErrorCode::AlreadyAuthenticated,
                    "this session is already authenticated",
                    ctx,
                ),
            },
            Ok(ClientMessage::Subscribe { topics }) => {
                self.options.topics = topics;
                self.send_message(
                    &ServerMessage::Subscribed {
                        topics: topics.names(),
                    },
                    ctx,
                );
            }
            Ok(ClientMessage::Resume { position }) => match self.auth {
                AuthState::Ready(_) => {
                    self.send_message(&ServerMessage::Resumed { position }, ctx);
                    self.start_catch_up(position, ctx);
                }
                // Applies when the session becomes ready.
                AuthState::Waiting | AuthState::Verifying => {
                    self.options.resume_from = Some(position)
                }
            },
        }
    }

    /// Whether the client may send another message now; refuses it otherwise, and closes a
    /// client that keeps flooding.
    fn admit(&mut self, ctx: &mut Context<Self>) -> bool {
        if self.bucket.take(&self.settings) {
            self.refused_in_row = 0;
            return true;
        }
        self.refused_in_row += 1;
        if self.refused_in_row >= self.settings.flood_close_after.max(1) {
            tracing::info!(
                session_id = %self.id,
                user_id = ?self.user_id(),
                "client keeps exceeding the message rate; closing"
            );
            self.send_error(
                ErrorCode::RateLimited,
                "too many messages; closing the session",
                ctx,
            );
            self.close(CloseCause::RateLimited, ctx);
        } else {
            let message = format!(
                "too many messages: at most {} per second (bursts of {}); this one was dropped",
                self.settings.messages_per_second, self.settings.message_burst
            );
            self.send_error(ErrorCode::RateLimited, &message, ctx);
        }
        false
    }

    /// Sends the user's events after `from` from the log, then switches to live events.
    fn start_catch_up(&mut self, from: u64, ctx: &mut Context<Self>) {
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
    fn catch_up_step(&mut self, ctx: &mut Context<Self>) {
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
            user_id: user.user_id,
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

    fn on_fragment(&mut self, item: Item, ctx: &mut Context<Self>) {
        let (first, text, chunk, last) = match item {
            Item::FirstText(b) => (true, true, b, false),
            Item::FirstBinary(b) => (true, false, b, false),
            Item::Continue(b) => (false, false, b, false),
            Item::Last(b) => (false, false, b, true),
        };
        if first == self.fragments.is_some() {
            // A new message inside another, or a continuation of nothing.
            return self.close(CloseCause::ProtocolError, ctx);
        }
        let fragments = self.fragments.get_or_insert_with(|| Fragments {
            text,
            bytes: Vec::new(),
        });
        if fragments.bytes.len() + chunk.len() > self.settings.max_frame_bytes {
            return self.close(CloseCause::FrameTooLarge, ctx);
        }
        fragments.bytes.extend_from_slice(&chunk);
        if !last {
            return;
        }
        let Some(Fragments { text, bytes }) = self.fragments.take() else {
            return;
        };
        if !self.admit(ctx) {
            return;
        }
        if !text {
            return self.on_binary(ctx);
        }
        match String::from_utf8(bytes) {
            Ok(text) => self.on_text(&text, ctx),
            Err(_) => self.close(CloseCause::ProtocolError, ctx),
        }
    }

    fn on_binary(&mut self, ctx: &mut Context<Self>) {
        self.send_error(
            ErrorCode::UnsupportedFrame,
            "binary frames are not supported; send JSON text frames",
            ctx,
        );
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
                user_id,
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
        }
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
        .read_owned(owner, after, up_to, CATCH_UP_BATCH)
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
