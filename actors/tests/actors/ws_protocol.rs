//! The WebSocket session protocol end to end: a real actix-web server around `start_session`,
//! real sockets, a real PostgreSQL event log.

use std::time::Duration;

use futures_util::SinkExt;
use serde_json::json;
use tessera_actors::{GetRegistryStatus, SessionSettings, Shutdown};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{append_owned, eventually_within, node, WsClient, WAIT};
use tessera_events::UserId;

#[actix_web::test]
async fn authenticated_clients_get_their_own_events() {
    let n = node(SessionSettings::default()).await;
    let mut alice = WsClient::connect(&n.url).await;
    let mut bob = WsClient::connect(&n.url).await;
    let ready = alice.auth("alice").await;
    assert_eq!(ready["v"], 1);
    assert_eq!(ready["user_id"], n.alice.to_string());
    bob.auth("bob").await;

    append_owned(n.store.as_ref(), Some(n.alice), 2, "a").await;
    append_owned(n.store.as_ref(), Some(n.bob), 1, "b").await;
    append_owned(n.store.as_ref(), Some(n.alice), 1, "a-late").await;

    let mut got = Vec::new();
    for _ in 0..3 {
        let frame = alice.next_json().await;
        assert_eq!(frame["type"], "event");
        got.push((frame["payload"]["tag"].clone(), frame["position"].as_u64()));
    }
    assert_eq!(
        got.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>(),
        [json!("a"), json!("a"), json!("a-late")]
    );
    assert!(got.windows(2).all(|w| w[0].1 < w[1].1), "in log order");
    assert!(got.iter().all(|(_, p)| *p > ready["position"].as_u64()));
    let frame = bob.next_json().await;
    assert_eq!(frame["payload"]["tag"], "b");
    alice.expect_silence(Duration::from_millis(300)).await;
    bob.expect_silence(Duration::from_millis(100)).await;
}

#[actix_web::test]
async fn bad_frames_get_error_frames_and_the_session_stays_open() {
    let n = node(SessionSettings::default()).await;
    let mut c = WsClient::connect(&n.url).await;

    // Before authentication: protocol errors are answered, pings too.
    c.send_text("{oops").await;
    let e = c.next_json().await;
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("error"), Some("malformed_frame"))
    );
    c.send_json(json!({"v":1,"type":"ping","id":"p1"})).await;
    assert_eq!(c.next_json().await, json!({"v":1,"type":"pong","id":"p1"}));

    c.auth("alice").await;
    c.send_json(json!({"v":1,"type":"subscribe_everything"}))
        .await;
    assert_eq!(c.next_json().await["code"], "unknown_message_type");
    c.send_text("[]").await;
    assert_eq!(c.next_json().await["code"], "malformed_frame");
    c.send_json(json!({"v":9,"type":"ping"})).await;
    assert_eq!(c.next_json().await["code"], "unsupported_version");
    c.send_json(json!({"v":1,"type":"auth","token":"bob"}))
        .await;
    assert_eq!(c.next_json().await["code"], "already_authenticated");
    c.ws.send(Message::Binary(vec![1, 2, 3]))
        .await
        .expect("send");
    assert_eq!(c.next_json().await["code"], "unsupported_frame");

    // A message split into fragments is reassembled.
    let first = Frame::message(br#"{"v":1,"#.to_vec(), OpCode::Data(Data::Text), false);
    let last = Frame::message(
        br#""type":"ping","id":2}"#.to_vec(),
        OpCode::Data(Data::Continue),
        true,
    );
    c.ws.send(Message::Frame(first)).await.expect("send");
    c.ws.send(Message::Frame(last)).await.expect("send");
    assert_eq!(c.next_json().await, json!({"v":1,"type":"pong","id":2}));

    // Still live: events flow after all that.
    append_owned(n.store.as_ref(), Some(n.alice), 1, "still").await;
    assert_eq!(c.next_json().await["payload"]["tag"], "still");
}

#[actix_web::test]
async fn unauthenticated_sockets_are_refused_and_closed() {
    let n = node(SessionSettings {
        auth_timeout: Duration::from_millis(500),
        ..SessionSettings::default()
    })
    .await;

    let mut wrong = WsClient::connect(&n.url).await;
    wrong
        .send_json(json!({"v":1,"type":"auth","token":"mallory"}))
        .await;
    assert_eq!(wrong.next_json().await["code"], "invalid_token");
    assert_eq!(
        wrong.expect_close(WAIT).await,
        (1008, "invalid_token".into())
    );

    let mut silent = WsClient::connect(&n.url).await;
    // Events of others never reach a socket that is not authenticated.
    append_owned(n.store.as_ref(), Some(n.alice), 1, "secret").await;
    let e = silent.next_json().await;
    assert_eq!(e["code"], "auth_timeout");
    assert_eq!(
        silent.expect_close(WAIT).await,
        (1008, "auth_timeout".into())
    );

    eventually_within(WAIT, "no session to stay registered", || {
        let registry = n.registry.clone();
        async move {
            registry
                .send(GetRegistryStatus)
                .await
                .expect("status")
                .sessions
                == 0
        }
    })
    .await;
}

#[actix_web::test]
async fn oversized_frames_close_the_session() {
    let n = node(SessionSettings::default()).await;
    let mut c = WsClient::connect(&n.url).await;
    c.auth("alice").await;
    let big = format!(
        r#"{{"v":1,"type":"ping","id":"{}"}}"#,
        "x".repeat(70 * 1024)
    );
    c.send_text(big).await;
    assert_eq!(c.expect_close(WAIT).await, (1009, "frame_too_large".into()));

    // Fragments that add up to too much are refused the same way.
    let mut c = WsClient::connect(&n.url).await;
    c.auth("alice").await;
    let chunk = vec![b'x'; 40 * 1024];
    c.ws.send(Message::Frame(Frame::message(
        chunk.clone(),
        OpCode::Data(Data::Text),
        false,
    )))
    .await
    .expect("send");
    c.ws.send(Message::Frame(Frame::message(
        chunk,
        OpCode::Data(Data::Continue),
        true,
    )))
    .await
    .expect("send");
    assert_eq!(c.expect_close(WAIT).await, (1009, "frame_too_large".into()));
}

#[actix_web::test]
async fn idle_clients_are_pinged_then_closed() {
    let n = node(SessionSettings {
        heartbeat_interval: Duration::from_millis(100),
        idle_timeout: Duration::from_millis(400),
        ..SessionSettings::default()
    })
    .await;
    let mut c = WsClient::connect(&n.url).await;
    c.auth("alice").await;
    // Not reading means not answering pings either.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut pings = 0;
    let deadline = tokio::time::Instant::now() + WAIT;
    let close = loop {
        let next = tokio::time::timeout_at(deadline, futures_util::StreamExt::next(&mut c.ws))
            .await
            .expect("closed in time");
        match next {
            Some(Ok(Message::Ping(_))) => pings += 1,
            Some(Ok(Message::Close(frame))) => break frame,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(pings >= 1, "the server pinged before giving up");
    let close = close.expect("close frame");
    assert_eq!(
        (u16::from(close.code), close.reason.as_ref()),
        (1000, "idle_timeout")
    );
}

#[actix_web::test]
async fn a_client_that_answers_pings_stays_connected() {
    let n = node(SessionSettings {
        heartbeat_interval: Duration::from_millis(100),
        idle_timeout: Duration::from_millis(400),
        ..SessionSettings::default()
    })
    .await;
    let mut c = WsClient::connect(&n.url).await;
    c.auth("alice").await;
    // Reading lets the client answer the server's pings.
    c.expect_silence(Duration::from_millis(1200)).await;
    append_owned(n.store.as_ref(), Some(n.alice), 1, "alive").await;
    assert_eq!(c.next_json().await["payload"]["tag"], "alive");
}

#[actix_web::test]
async fn a_slow_consumer_is_disconnected_with_a_reason() {
    let n = node(SessionSettings {
        outbound_queue: 8,
        close_timeout: Duration::from_secs(30),
        ..SessionSettings::default()
    })
    .await;
    let mut slow = WsClient::connect(&n.url).await;
    slow.auth("alice").await;
    let mut fast = WsClient::connect(&n.url).await;
    fast.auth("bob").await;

    // Far more than socket buffers hold, while `slow` reads nothing.
    let padding = "p".repeat(32 * 1024);
    let events = 600usize;
    for batch in 0..(events / 50) {
        let stream = tessera_events::StreamId::for_entity("big", n.alice);
        let data = (0..50)
            .map(|i| {
                tessera_events::EventData::new(
                    "test.big",
                    json!({"i": batch * 50 + i, "padding": padding}),
                )
                .with_metadata(tessera_events::Metadata {
                    owner: Some(UserId(n.alice)),
                    ..Default::default()
                })
            })
            .collect();
        n.store
            .append(&stream, tessera_events::ExpectedVersion::Any, data)
            .await
            .expect("append");
    }
    append_owned(n.store.as_ref(), Some(n.bob), 1, "unaffected").await;
    // Another user's session is not held up by the slow one.
    assert_eq!(fast.next_json().await["payload"]["tag"], "unaffected");

    let mut received = 0usize;
    let close = loop {
        match slow.next_frame(WAIT).await {
            Some(Ok(_)) => received += 1,
            Some(Err(frame)) => break frame,
            None => panic!("neither frames nor a close within {WAIT:?}"),
        }
    };
    let close = close.expect("a close frame with a reason");
    assert_eq!(
        (u16::from(close.code), close.reason.as_ref()),
        (1008, "slow_consumer")
    );
    assert!(
        received < events,
        "the server dropped the backlog ({received} frames)"
    );
}

#[actix_web::test]
async fn shutdown_closes_sessions_with_a_reason() {
    let n = node(SessionSettings::default()).await;
    let mut c = WsClient::connect(&n.url).await;
    c.auth("alice").await;
    n.registry.send(Shutdown).await.expect("shutdown");
    assert_eq!(c.expect_close(WAIT).await, (1001, "server_shutdown".into()));
    // A node that shut down takes no new sessions.
    let mut late = WsClient::connect(&n.url).await;
    late.send_json(json!({"v":1,"type":"auth","token":"alice"}))
        .await;
    assert_eq!(late.next_json().await["code"], "unavailable");
    assert_eq!(late.expect_close(WAIT).await, (1013, "unavailable".into()));
}
