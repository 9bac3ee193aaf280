//! The WebSocket wire protocol, version 1: JSON text frames, each with `"v": 1` and a `"type"`.
//!
//! Client → server:
//! - `{"v":1,"type":"auth","token":"…"}`: authenticate (only when the upgrade request carried no
//!   valid `Authorization: Bearer` header or `access_token` cookie). Tokens never go in the URL.
//! - `{"v":1,"type":"ping","id":…}`: application-level ping; `id` (any JSON, optional) is echoed.
//!
//! Server → client:
//! - `{"v":1,"type":"ready","user_id":"…","session_id":"…","position":N}`: authenticated; live
//!   events with positions after `N` follow.
//! - `{"v":1,"type":"event","position":N,"event_id":"…","stream":"…","stream_version":N,
//!   "event_type":"…","schema_version":N,"payload":{…},"recorded_at":"…"}`: one of the user's
//!   events, in log order, each exactly once.
//! - `{"v":1,"type":"pong","id":…}`: answer to a ping.
//! - `{"v":1,"type":"error","code":"…","message":"…"}`: the client sent something wrong; `code` is
//!   stable (see [`ErrorCode`]); the session stays open unless a close frame follows.
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

/// A message from the client, parsed and validated. Its `Debug` never shows a token.
#[derive(Clone, PartialEq)]
pub enum ClientMessage {
    /// Authenticate with an access token.
    Auth {
        /// The access token.
        token: String,
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
            ClientMessage::Auth { .. } => f.write_str("Auth { token: <redacted> }"),
            ClientMessage::Ping { id } => f.debug_struct("Ping").field("id", id).finish(),
        }
    }
}

/// Stable codes of `error` frames; clients branch on these, never on the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, not an object, or a field of the wrong shape.
    MalformedFrame,
    /// `v` is not a version this server speaks.
    UnsupportedVersion,
    /// `type` names no message this server knows.
    UnknownMessageType,
    /// Binary frames carry nothing in this protocol.
    UnsupportedFrame,
    /// The token is invalid, expired or revoked.
    InvalidToken,
    /// No valid `auth` message came in time.
    AuthTimeout,
    /// An `auth` message on a session that is already authenticated.
    AlreadyAuthenticated,
    /// The node cannot take sessions right now (shutting down); reconnect, maybe elsewhere.
    Unavailable,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedFrame => "malformed_frame",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::UnknownMessageType => "unknown_message_type",
            ErrorCode::UnsupportedFrame => "unsupported_frame",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::AuthTimeout => "auth_timeout",
            ErrorCode::AlreadyAuthenticated => "already_authenticated",
            ErrorCode::Unavailable => "unavailable",
        }
    }
}

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
    /// A frame or fragmented message exceeded the size limit.
    FrameTooLarge,
    /// The client broke the WebSocket protocol (bad fragments, invalid UTF-8, …).
    ProtocolError,
    /// The node is shutting down.
    ServerShutdown,
    /// The node cannot host the session right now.
    Unavailable,
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
            CloseCause::FrameTooLarge => "frame_too_large",
            CloseCause::ProtocolError => "protocol_error",
            CloseCause::ServerShutdown => "server_shutdown",
            CloseCause::Unavailable => "unavailable",
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
            | CloseCause::AccountDisabled => CloseCode::Policy,
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
        "auth" => match frame.remove("token") {
            Some(Value::String(token)) if !token.is_empty() && token.len() <= MAX_TOKEN_BYTES => {
                Ok(ClientMessage::Auth { token })
            }
            _ => Err(violation(
                ErrorCode::MalformedFrame,
                "`auth` needs a non-empty string `token`",
            )),
        },
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
    /// The session is authenticated; live events after `position` follow.
    Ready {
        /// The authenticated user.
        user_id: Uuid,
        /// This session's id, for support and logs.
        session_id: Uuid,
        /// The log position live delivery starts after.
        position: u64,
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
            format!(r#"{{"v":{PROTOCOL_VERSION},"type":"error","code":"internal","message":"encoding failed"}}"#)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn code_of(text: &str) -> ErrorCode {
        match parse_client_message(text) {
            Err(v) => v.code,
            Ok(m) => panic!("expected an error, got {m:?}"),
        }
    }

    #[test]
    fn parses_the_known_messages() {
        assert_eq!(
            parse_client_message(r#"{"v":1,"type":"auth","token":"t"}"#),
            Ok(ClientMessage::Auth { token: "t".into() })
        );
        assert_eq!(
            parse_client_message(r#"{"v":1,"type":"ping","id":7}"#),
            Ok(ClientMessage::Ping { id: Some(json!(7)) })
        );
        assert_eq!(
            parse_client_message(r#"{"type":"ping","v":1,"extra":true}"#),
            Ok(ClientMessage::Ping { id: None })
        );
    }

    #[test]
    fn refuses_bad_frames_with_stable_codes() {
        assert_eq!(code_of("{not json"), ErrorCode::MalformedFrame);
        assert_eq!(code_of("[1,2]"), ErrorCode::MalformedFrame);
        assert_eq!(code_of(r#"{"type":"ping"}"#), ErrorCode::MalformedFrame);
        assert_eq!(
            code_of(r#"{"v":"1","type":"ping"}"#),
            ErrorCode::MalformedFrame
        );
        assert_eq!(
            code_of(r#"{"v":2,"type":"ping"}"#),
            ErrorCode::UnsupportedVersion
        );
        assert_eq!(code_of(r#"{"v":1}"#), ErrorCode::MalformedFrame);
        assert_eq!(
            code_of(r#"{"v":1,"type":"auth"}"#),
            ErrorCode::MalformedFrame
        );
        assert_eq!(
            code_of(r#"{"v":1,"type":"auth","token":""}"#),
            ErrorCode::MalformedFrame
        );
        let long = format!(r#"{{"v":1,"type":"auth","token":"{}"}}"#, "a".repeat(9000));
        assert_eq!(code_of(&long), ErrorCode::MalformedFrame);
        assert_eq!(
            code_of(r#"{"v":1,"type":"subscribe"}"#),
            ErrorCode::UnknownMessageType
        );
    }

    #[test]
    fn server_frames_carry_the_version_and_type() {
        let user = Uuid::nil();
        let ready = ServerMessage::Ready {
            user_id: user,
            session_id: user,
            position: 5,
        };
        let v: Value = serde_json::from_str(&ready.encode()).expect("json");
        assert_eq!(
            v,
            json!({"v":1,"type":"ready","user_id":user,"session_id":user,"position":5})
        );
        let err = ServerMessage::Error {
            code: ErrorCode::UnknownMessageType,
            message: "nope",
        };
        let v: Value = serde_json::from_str(&err.encode()).expect("json");
        assert_eq!(
            v,
            json!({"v":1,"type":"error","code":"unknown_message_type","message":"nope"})
        );
        let pong = ServerMessage::Pong { id: None };
        assert_eq!(pong.encode(), r#"{"v":1,"type":"pong"}"#);
    }

    #[test]
    fn event_frames_leave_metadata_out() {
        let event = RecordedEvent {
            global_position: 9,
            event_id: Uuid::nil(),
            stream_id: "content-1".into(),
            stream_version: 2,
            event_type: "content.uploaded".into(),
            schema_version: 1,
            payload: json!({"a":1}),
            metadata: tessera_events::Metadata {
                owner: Some(Uuid::nil()),
                node: Some("n1".into()),
                ..Default::default()
            },
            recorded_at: DateTime::<Utc>::from_timestamp(0, 0).expect("epoch"),
        };
        let text = ServerMessage::Event(EventFrame::from(&event)).encode();
        let v: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(
            v,
            json!({"v":1,"type":"event","position":9,"event_id":Uuid::nil(),"stream":"content-1",
                   "stream_version":2,"event_type":"content.uploaded","schema_version":1,
                   "payload":{"a":1},"recorded_at":"1970-01-01T00:00:00Z"})
        );
    }

    #[test]
    fn secret_fields_never_reach_the_client() {
        let event = RecordedEvent {
            global_position: 7,
            event_id: Uuid::nil(),
            stream_id: "apikey-x".into(),
            stream_version: 1,
            event_type: "apikey.created".into(),
            schema_version: 1,
            payload: serde_json::json!({"name": "ci", "key_hash": "abc", "prefix": "tsk_1"}),
            metadata: Default::default(),
            recorded_at: chrono::Utc::now(),
        };
        let text = ServerMessage::Event(EventFrame::from(&event)).encode();
        assert!(
            !text.contains("key_hash") && !text.contains("abc"),
            "{text}"
        );
        assert!(text.contains("\"prefix\":\"tsk_1\""), "{text}");
    }
}
