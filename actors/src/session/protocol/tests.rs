//! Parsing client messages and encoding server messages, frame by frame.

use super::*;
use serde_json::json;
use tessera_events::UserId;

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
        Ok(ClientMessage::Auth {
            token: "t".into(),
            resume_from: None,
            topics: None
        })
    );
    assert_eq!(
        parse_client_message(
            r#"{"v":1,"type":"auth","token":"t","resume_from":42,"topics":["jobs","content"]}"#
        ),
        Ok(ClientMessage::Auth {
            token: "t".into(),
            resume_from: Some(42),
            topics: Some(Topics::only([Topic::Jobs, Topic::Content]))
        })
    );
    assert_eq!(
        parse_client_message(r#"{"v":1,"type":"resume","position":0}"#),
        Ok(ClientMessage::Resume { position: 0 })
    );
    assert_eq!(
        parse_client_message(r#"{"v":1,"type":"subscribe","topics":"*"}"#),
        Ok(ClientMessage::Subscribe {
            topics: Topics::EVERYTHING
        })
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
        code_of(r#"{"v":1,"type":"subscribe_all"}"#),
        ErrorCode::UnknownMessageType
    );
    assert_eq!(
        code_of(r#"{"v":1,"type":"subscribe"}"#),
        ErrorCode::MalformedFrame
    );
    assert_eq!(
        code_of(r#"{"v":1,"type":"subscribe","topics":[]}"#),
        ErrorCode::MalformedFrame
    );
    assert_eq!(
        code_of(r#"{"v":1,"type":"subscribe","topics":["jobs",3]}"#),
        ErrorCode::MalformedFrame
    );
    assert_eq!(
        code_of(r#"{"v":1,"type":"subscribe","topics":["jobs","chat"]}"#),
        ErrorCode::UnknownTopic
    );
    assert_eq!(
        code_of(r#"{"v":1,"type":"auth","token":"t","topics":["nope"]}"#),
        ErrorCode::UnknownTopic
    );
    assert_eq!(
        code_of(r#"{"v":1,"type":"resume","position":-1}"#),
        ErrorCode::MalformedFrame
    );
    assert_eq!(
        code_of(r#"{"v":1,"type":"resume","position":"12"}"#),
        ErrorCode::MalformedFrame
    );
    assert_eq!(
        code_of(r#"{"v":1,"type":"resume"}"#),
        ErrorCode::MalformedFrame
    );
    assert_eq!(
        code_of(r#"{"v":1,"type":"auth","token":"t","resume_from":1.5}"#),
        ErrorCode::MalformedFrame
    );
}

#[test]
fn topics_follow_event_type_prefixes() {
    assert_eq!(Topic::of("content.uploaded"), Some(Topic::Content));
    assert_eq!(Topic::of("upload.completed"), Some(Topic::Content));
    assert_eq!(Topic::of("job.progress"), Some(Topic::Jobs));
    assert_eq!(
        Topic::of("conversation.answer_streamed"),
        Some(Topic::Conversations)
    );
    assert_eq!(Topic::of("usage.recorded"), Some(Topic::Usage));
    assert_eq!(Topic::of("apikey.created"), Some(Topic::Account));
    assert_eq!(Topic::of("jobless.thing"), None);
    assert_eq!(Topic::of("test.happened"), None);
    let jobs = Topics::only([Topic::Jobs]);
    assert!(jobs.admits(Some(Topic::Jobs)));
    assert!(!jobs.admits(Some(Topic::Content)));
    assert!(!jobs.admits(None));
    assert!(Topics::EVERYTHING.admits(None));
    assert_eq!(
        Topics::only([Topic::Usage, Topic::Jobs]).names(),
        ["jobs", "usage"]
    );
    assert_eq!(Topics::EVERYTHING.names(), ["*"]);
}

/// Every error code, close reason, message type and topic of this file is described in the
/// protocol document.
#[test]
fn the_protocol_document_names_every_code_and_message() {
    let doc = include_str!("../../../../docs/websocket.md");
    let codes = [
        ErrorCode::MalformedFrame,
        ErrorCode::UnsupportedVersion,
        ErrorCode::UnknownMessageType,
        ErrorCode::UnsupportedFrame,
        ErrorCode::InvalidToken,
        ErrorCode::AuthTimeout,
        ErrorCode::AlreadyAuthenticated,
        ErrorCode::Unavailable,
        ErrorCode::UnknownTopic,
        ErrorCode::ResumePositionAhead,
        ErrorCode::RateLimited,
    ];
    // The codes `error` frames carry; a code the session starts sending must be added to the
    // list above (and so to the document).
    for code in codes {
        assert!(doc.contains(&format!("`{}`", code.as_str())), "{code:?}");
        let wire = serde_json::to_value(code).expect("code");
        assert_eq!(wire, json!(code.as_str()));
    }
    let causes = [
        CloseCause::SlowConsumer,
        CloseCause::IdleTimeout,
        CloseCause::AuthTimeout,
        CloseCause::InvalidToken,
        CloseCause::AccountDisabled,
        CloseCause::SessionEnded,
        CloseCause::FrameTooLarge,
        CloseCause::ProtocolError,
        CloseCause::ServerShutdown,
        CloseCause::Unavailable,
        CloseCause::RateLimited,
    ];
    for cause in causes {
        match cause {
            CloseCause::SlowConsumer
            | CloseCause::IdleTimeout
            | CloseCause::AuthTimeout
            | CloseCause::InvalidToken
            | CloseCause::AccountDisabled
            | CloseCause::SessionEnded
            | CloseCause::FrameTooLarge
            | CloseCause::ProtocolError
            | CloseCause::ServerShutdown
            | CloseCause::Unavailable
            | CloseCause::RateLimited
            | CloseCause::ClientClosed => {}
        }
        let row = format!("| `{}` | {} |", cause.as_str(), u16::from(cause.code()));
        assert!(doc.contains(&row), "{row}");
    }
    let server = [
        ServerMessage::Ready {
            user_id: Uuid::nil(),
            session_id: Uuid::nil(),
            position: 0,
            resume_from: None,
            topics: vec![],
        },
        ServerMessage::Resumed { position: 0 },
        ServerMessage::CaughtUp { position: 0 },
        ServerMessage::Subscribed { topics: vec![] },
        ServerMessage::Pong { id: None },
        ServerMessage::Error {
            code: ErrorCode::RateLimited,
            message: "",
        },
    ];
    let mut types: Vec<String> = server
        .iter()
        .map(|m| {
            let v: Value = serde_json::from_str(&m.encode()).expect("json");
            v["type"].as_str().expect("type").to_owned()
        })
        .collect();
    types.extend(["event", "auth", "resume", "subscribe", "ping"].map(String::from));
    for t in types {
        assert!(doc.contains(&format!("### `{t}`")), "{t}");
    }
    for topic in Topic::ALL {
        assert!(
            doc.contains(&format!("| `{}` |", topic.as_str())),
            "{topic:?}"
        );
    }
    assert!(doc.contains("\"v\":1"));
}

#[test]
fn server_frames_carry_the_version_and_type() {
    let user = Uuid::nil();
    let ready = ServerMessage::Ready {
        user_id: user,
        session_id: user,
        position: 5,
        resume_from: None,
        topics: vec!["*"],
    };
    let v: Value = serde_json::from_str(&ready.encode()).expect("json");
    assert_eq!(
        v,
        json!({"v":1,"type":"ready","user_id":user,"session_id":user,"position":5,
               "topics":["*"]})
    );
    let caught_up = ServerMessage::CaughtUp { position: 9 };
    assert_eq!(
        caught_up.encode(),
        r#"{"v":1,"type":"caught_up","position":9}"#
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
            owner: Some(UserId(Uuid::nil())),
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

mod properties {
    use proptest::prelude::*;

    use crate::session::protocol::{parse_client_message, ClientMessage, PROTOCOL_VERSION};

    /// JSON values of every shape, a few levels deep.
    fn json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(|f| serde_json::Value::from(if f.is_finite() { f } else { 0.0 })),
            "\\PC{0,20}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 32, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                proptest::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any text: a message or a violation with a code, never a panic.
        #[test]
        fn any_text_is_a_message_or_a_violation(text in "\\PC{0,200}") {
            let _ = parse_client_message(&text);
        }

        /// Frames of the right version with any fields: the type decides, extra or mistyped
        /// fields are violations, and a ping echoes any id.
        #[test]
        fn frames_with_any_fields_are_decided_by_their_type(
            kind in prop_oneof![
                Just("auth"), Just("resume"), Just("subscribe"), Just("ping"), Just("other")
            ],
            fields in proptest::collection::btree_map("[a-z_]{1,12}", json(), 0..4),
        ) {
            let mut frame: serde_json::Map<String, serde_json::Value> = fields.into_iter().collect();
            frame.insert("v".into(), PROTOCOL_VERSION.into());
            frame.insert("type".into(), kind.into());
            let text = serde_json::Value::Object(frame.clone()).to_string();
            match parse_client_message(&text) {
                Ok(ClientMessage::Ping { id }) => {
                    prop_assert_eq!(kind, "ping");
                    prop_assert_eq!(id.as_ref(), frame.get("id"));
                }
                Ok(ClientMessage::Auth { token, .. }) => {
                    prop_assert_eq!(kind, "auth");
                    prop_assert_eq!(Some(&serde_json::Value::from(token)), frame.get("token"));
                }
                Ok(ClientMessage::Resume { .. }) => prop_assert_eq!(kind, "resume"),
                Ok(ClientMessage::Subscribe { .. }) => prop_assert_eq!(kind, "subscribe"),
                Err(v) => prop_assert!(!v.message.is_empty()),
            }
        }
    }
}
