//! The WebSocket wire protocol, version 1: JSON text frames, each with `"v": 1` and a `"type"`.
//! The full description, with examples, is `docs/websocket.md`.
//!
//! Client → server:
//! - `auth` (`token`, optional `resume_from`, optional `topics`): authenticate (only when the
//!   upgrade request carried no valid `Authorization: Bearer` header or `access_token` cookie).
//!   Tokens never go in the URL.
//! - `resume` (`position`): send every event of the user after `position`, then live ones.
//! - `subscribe` (`topics`): which of the user's events to receive (default: all).
//! - `ping` (`id`, any JSON, optional, echoed).
//!
//! Server → client: `ready`, `event`, `resumed`, `caught_up`, `subscribed`, `pong`, `error`
//! (`code` is stable, see [`ErrorCode`]; the session stays open unless a close frame follows).
//!
//! The server closes the socket with a close frame whose reason is a stable code (see
//! [`CloseCause`]), e.g. `slow_consumer` when the client does not keep up with its events.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use tessera_events::RecordedEvent;
use uuid::Uuid;

/// The protocol version this server speaks; every frame carries it as `v`.
pub const PROTOCOL_VERSION: u64 = 1;

/// Longer tokens are rejected before they reach the verifier.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// At most this many topics in one `subscribe` (there are fewer distinct ones).
const MAX_TOPICS: usize = 16;

/// A group of event types a client can subscribe to, chosen by the event type's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    /// `content.*` and `upload.*`: the user's library.
    Content,
    /// `job.*`: processing jobs and their progress.
    Jobs,
    /// `conversation.*`: conversations and streamed answers.
    Conversations,
    /// `usage.*`: metered usage.
    Usage,
    /// `user.*`, `apikey.*`, `session.*`: the account, its keys and sign-ins.
    Account,
}

impl Topic {
    /// Every topic, in wire order.
    pub const ALL: [Topic; 5] = [
        Topic::Content,
        Topic::Jobs,
        Topic::Conversations,
        Topic::Usage,
        Topic::Account,
    ];

    /// The topic's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Content => "content",
            Topic::Jobs => "jobs",
            Topic::Conversations => "conversations",
            Topic::Usage => "usage",
            Topic::Account => "account",
        }
    }

    /// The event type prefixes (up to and including the dot) that belong to the topic.
    pub fn prefixes(self) -> &'static [&'static str] {
        match self {
            Topic::Content => &["content.", "upload."],
            Topic::Jobs => &["job."],
            Topic::Conversations => &["conversation."],
            Topic::Usage => &["usage."],
            Topic::Account => &["user.", "apikey.", "session."],
        }
    }

    /// The topic named `name`.
    pub fn parse(name: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// The topic an event type belongs to, if any.
    pub fn of(event_type: &str) -> Option<Topic> {
        Topic::ALL
            .into_iter()
            .find(|t| t.prefixes().iter().any(|p| event_type.starts_with(p)))
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// Which of the user's events a session receives: everything (the default) or the events of
/// some topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Topics(Option<u8>);

impl Topics {
    /// Every event of the user, including types that belong to no topic.
    pub const EVERYTHING: Topics = Topics(None);

    /// Exactly these topics.
    pub fn only(topics: impl IntoIterator<Item = Topic>) -> Topics {
        Topics(Some(topics.into_iter().fold(0, |bits, t| bits | t.bit())))
    }

    /// Parses names (`content`, `jobs`, …); an unknown name is returned as the error.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Topics, String> {
        let mut topics = Vec::new();
        for name in names {
            topics
                .push(Topic::parse(name).ok_or_else(|| name.chars().take(64).collect::<String>())?);
        }
        Ok(Topics::only(topics))
    }

    /// Whether an event of topic `topic` (`None`: belongs to no topic) is delivered.
    pub fn admits(self, topic: Option<Topic>) -> bool {
        match (self.0, topic) {
            (None, _) => true,
            (Some(bits), Some(t)) => bits & t.bit() != 0,
            (Some(_), None) => false,
        }
    }

    /// The topics' names; `["*"]` for everything.
    pub fn names(self) -> Vec<&'static str> {
        match self.0 {
            None => vec!["*"],
            Some(bits) => Topic::ALL
                .into_iter()
                .filter(|t| bits & t.bit() != 0)
                .map(Topic::as_str)
                .collect(),
        }
    }
}

/// A message from the client, parsed and validated. Its `Debug` never shows a token.
#[derive(Clone, PartialEq)]
pub enum ClientMessage {
    /// Authenticate with an access token.
    Auth {
        /// The access token.
        token: String,
        /// The position of the last event the client saw: the missed ones are sent first.
        resume_from: Option<u64>,
        /// What to receive; `None` keeps the current choice.
        topics: Option<Topics>,
    },
    /// Send every event after `position`, then live ones.
    Resume {
        /// The position of the last event the client saw.
        position: u64,
    },
    /// Choose which events to receive from now on.
    Subscribe {
        /// The new choice.
        topics: Topics,
    },
    /// Application-level ping.
    Ping {
        /// Echoed back in the pong.
        id: Option<Value>,
    },
}

impl std::fmt::Debug for ClientMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientMessage::Auth {
                resume_from,
                topics,
                ..
            } => f
                .debug_struct("Auth")
                .field("token", &"<redacted>")
                .field("resume_from", resume_from)
                .field("topics", topics)
                .finish(),
            ClientMessage::Resume { position } => f
                .debug_struct("Resume")
                .field("position", position)
                .finish(),
            ClientMessage::Subscribe { topics } => {
                f.debug_struct("Subscribe").field("topics", topics).finish()
            }
            ClientMessage::Ping { id } => f.debug_struct("Ping").field("id", id).finish(),
        }
    }
}

/// The codes of `error` frames, from the workspace's one list; `docs/websocket.md` names the ones
/// this protocol sends.
pub use tessera_events::ErrorCode;

/// Why the server closes a socket; the close frame's reason is [`CloseCause::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCause {
    /// The client did not read its frames fast enough; the bounded queue overflowed.
    SlowConsumer,
    /// Nothing came from the client (not even a pong) within the idle timeout.
    IdleTimeout,
    /// No valid authentication in time.
    AuthTimeout,
    /// Authentication failed.
    InvalidToken,
    /// The user was disabled while connected.
    AccountDisabled,
    /// The sign-in behind the socket ended (signed out, signed out everywhere, a new password).
    SessionEnded,
    /// A frame or fragmented message exceeded the size limit.
    FrameTooLarge,
    /// The client broke the WebSocket protocol (bad fragments, invalid UTF-8, …).
    ProtocolError,
    /// The node is shutting down.
    ServerShutdown,
    /// The node cannot host the session right now.
    Unavailable,
    /// The client kept sending faster than the rate limit allows.
    RateLimited,
    /// The client closed; this is the answer to its close frame.
    ClientClosed,
}

impl CloseCause {
    /// The reason text in the close frame.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseCause::SlowConsumer => "slow_consumer",
            CloseCause::IdleTimeout => "idle_timeout",
            CloseCause::AuthTimeout => "auth_timeout",
            CloseCause::InvalidToken => "invalid_token",
            CloseCause::AccountDisabled => "account_disabled",
            CloseCause::SessionEnded => "session_ended",
            CloseCause::FrameTooLarge => "frame_too_large",
            CloseCause::ProtocolError => "protocol_error",
            CloseCause::ServerShutdown => "server_shutdown",
            CloseCause::Unavailable => "unavailable",
            CloseCause::RateLimited => "rate_limited",
            CloseCause::ClientClosed => "",
        }
    }

    /// The WebSocket close code (RFC 6455 §7.4.1).
    pub fn code(self) -> actix_ws::CloseCode {
        use actix_ws::CloseCode;
        match self {
            CloseCause::SlowConsumer
            | CloseCause::AuthTimeout
            | CloseCause::InvalidToken
            | CloseCause::AccountDisabled
            | CloseCause::SessionEnded
            | CloseCause::RateLimited => CloseCode::Policy,
            CloseCause::IdleTimeout | CloseCause::ClientClosed => CloseCode::Normal,
            CloseCause::FrameTooLarge => CloseCode::Size,
            CloseCause::ProtocolError => CloseCode::Protocol,
            CloseCause::ServerShutdown => CloseCode::Away,
            CloseCause::Unavailable => CloseCode::Again,
        }
    }

    /// The close frame for this cause.
    pub fn reason(self) -> actix_ws::CloseReason {
        let text = self.as_str();
        actix_ws::CloseReason {
            code: self.code(),
            description: (!text.is_empty()).then(|| text.to_owned()),
        }
    }
}

/// A client frame the server refuses, answered with an `error` frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolViolation {
    /// The stable code.
    pub code: ErrorCode,
    /// A human-readable explanation.
    pub message: String,
}

fn violation(code: ErrorCode, message: impl Into<String>) -> ProtocolViolation {
    ProtocolViolation {
        code,
        message: message.into(),
    }
}

/// Parses one text frame from the client.
pub fn parse_client_message(text: &str) -> Result<ClientMessage, ProtocolViolation> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| violation(ErrorCode::MalformedFrame, format!("frame is not JSON: {e}")))?;
    let Value::Object(mut frame) = value else {
        return Err(violation(
            ErrorCode::MalformedFrame,
            "a frame must be a JSON object",
        ));
    };
    match frame.get("v") {
        Some(Value::Number(n)) if n.as_u64() == Some(PROTOCOL_VERSION) => {}
        Some(Value::Number(_)) => {
            return Err(violation(
                ErrorCode::UnsupportedVersion,
                format!("this server speaks protocol version {PROTOCOL_VERSION}"),
            ))
        }
        _ => {
            return Err(violation(
                ErrorCode::MalformedFrame,
                "a frame needs a numeric protocol version `v`",
            ))
        }
    }
    let Some(Value::String(kind)) = frame.remove("type") else {
        return Err(violation(
            ErrorCode::MalformedFrame,
            "a frame needs a string `type`",
        ));
    };
    match kind.as_str() {
        "auth" => {
            let token = match frame.remove("token") {
                Some(Value::String(token))
                    if !token.is_empty() && token.len() <= MAX_TOKEN_BYTES =>
                {
                    token
                }
                _ => {
                    return Err(violation(
                        ErrorCode::MalformedFrame,
                        "`auth` needs a non-empty string `token`",
                    ))
                }
            };
            let resume_from = match frame.remove("resume_from") {
                None | Some(Value::Null) => None,
                Some(v) => Some(position(&v, "resume_from")?),
            };
            let topics = match frame.remove("topics") {
                None | Some(Value::Null) => None,
                Some(v) => Some(topics(&v)?),
            };
            Ok(ClientMessage::Auth {
                token,
                resume_from,
                topics,
            })
        }
        "resume" => {
            let value = frame.remove("position").unwrap_or(Value::Null);
            Ok(ClientMessage::Resume {
                position: position(&value, "position")?,
            })
        }
        "subscribe" => {
            let value = frame.remove("topics").unwrap_or(Value::Null);
            Ok(ClientMessage::Subscribe {
                topics: topics(&value)?,
            })
        }
        "ping" => Ok(ClientMessage::Ping {
            id: frame.remove("id"),
        }),
        other => {
            // Echo at most a short prefix: the message must not become a reflection channel.
            let shown: String = other.chars().take(64).collect();
            Err(violation(
                ErrorCode::UnknownMessageType,
                format!("unknown message type {shown:?}"),
            ))
        }
    }
}

/// A log position: a non-negative integer (0: from the beginning).
fn position(value: &Value, field: &str) -> Result<u64, ProtocolViolation> {
    value.as_u64().ok_or_else(|| {
        violation(
            ErrorCode::MalformedFrame,
            format!("`{field}` must be a non-negative integer event position"),
        )
    })
}

/// `"*"`, or a non-empty array of topic names.
fn topics(value: &Value) -> Result<Topics, ProtocolViolation> {
    let malformed = || {
        violation(
            ErrorCode::MalformedFrame,
            "`topics` must be \"*\" or a non-empty array of topic names",
        )
    };
    match value {
        Value::String(s) if s == "*" => Ok(Topics::EVERYTHING),
        Value::Array(items) if !items.is_empty() && items.len() <= MAX_TOPICS => {
            let names = items
                .iter()
                .map(|v| v.as_str().ok_or_else(malformed))
                .collect::<Result<Vec<_>, _>>()?;
            Topics::parse(names).map_err(|unknown| {
                violation(
                    ErrorCode::UnknownTopic,
                    format!(
                        "unknown topic {unknown:?}; topics are {}",
                        Topic::ALL.map(Topic::as_str).join(", ")
                    ),
                )
            })
        }
        _ => Err(malformed()),
    }
}

/// An event as a client sees it: no metadata (it names nodes, requests and other users).
#[derive(Debug, Serialize)]
pub struct EventFrame<'a> {
    /// The event's global position; clients resume from the last one they saw.
    pub position: u64,
    /// The event's id.
    pub event_id: Uuid,
    /// The stream it belongs to.
    pub stream: &'a str,
    /// Its version within the stream.
    pub stream_version: u64,
    /// E.g. `content.uploaded`.
    pub event_type: &'a str,
    /// The payload's schema version (after upcasting).
    pub schema_version: i32,
    /// The event's data, without secret-bearing fields (see [`is_secret_field`]).
    pub payload: Cow<'a, Value>,
    /// When it was appended.
    pub recorded_at: DateTime<Utc>,
}

impl<'a> From<&'a RecordedEvent> for EventFrame<'a> {
    fn from(e: &'a RecordedEvent) -> Self {
        Self {
            position: e.global_position,
            event_id: e.event_id,
            stream: &e.stream_id,
            stream_version: e.stream_version,
            event_type: &e.event_type,
            schema_version: e.schema_version,
            payload: redact(&e.payload),
            recorded_at: e.recorded_at,
        }
    }
}

/// Fields that carry credentials' digests or secrets: they stay in the log (commands need them)
/// but never travel to a browser.
pub fn is_secret_field(key: &str) -> bool {
    key.ends_with("_hash") || key.ends_with("_secret") || key == "password" || key == "secret"
}

fn redact(payload: &Value) -> Cow<'_, Value> {
    match payload {
        Value::Object(map) if map.keys().any(|k| is_secret_field(k)) => Cow::Owned(Value::Object(
            map.iter()
                .filter(|(k, _)| !is_secret_field(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )),
        other => Cow::Borrowed(other),
    }
}

/// A message from the server.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage<'a> {
    /// The session is authenticated. Without a resume, live events after `position` follow;
    /// with one, the missed events after the resume position come first, then `caught_up`.
    Ready {
        /// The authenticated user.
        user_id: Uuid,
        /// This session's id, for support and logs.
        session_id: Uuid,
        /// The node's live position when the session registered.
        position: u64,
        /// The position the session resumes after, if the client asked to resume.
        #[serde(skip_serializing_if = "Option::is_none")]
        resume_from: Option<u64>,
        /// What the session receives (`["*"]`: everything).
        topics: Vec<&'static str>,
    },
    /// Answer to `resume`: the events after `position` follow, then `caught_up`. Event frames
    /// between the `resume` message and this frame were sent before the server saw it.
    Resumed {
        /// The position the session resumes after.
        position: u64,
    },
    /// Every missed event up to `position` was sent; live events follow.
    CaughtUp {
        /// The position catch-up reached.
        position: u64,
    },
    /// Answer to `subscribe`: what the session receives from now on.
    Subscribed {
        /// The topics (`["*"]`: everything).
        topics: Vec<&'static str>,
    },
    /// One of the user's events.
    Event(EventFrame<'a>),
    /// Answer to a ping.
    Pong {
        /// The ping's `id`, if it had one.
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a Value>,
    },
    /// Something the client sent was refused.
    Error {
        /// Stable code.
        code: ErrorCode,
        /// Human-readable explanation.
        message: &'a str,
    },
}

#[derive(Serialize)]
struct Envelope<'a> {
    v: u64,
    #[serde(flatten)]
    message: &'a ServerMessage<'a>,
}

impl ServerMessage<'_> {
    /// The frame's JSON text, with the protocol version.
    pub fn encode(&self) -> String {
        serde_json::to_string(&Envelope {
            v: PROTOCOL_VERSION,
            message: self,
        })
        // Only maps with non-string keys can fail to serialise, and these types have none.
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot encode a server frame");
            format!(
                r#"{{"v":{PROTOCOL_VERSION},"type":"error","code":"{}","message":"encoding failed"}}"#,
                ErrorCode::Internal
            )
        })
    }
}

#[cfg(test)]
mod tests;
