//! Resume, topics, flood control and backpressure of WebSocket sessions, end to end: a real
//! actix-web server around `start_session`, real sockets, a real PostgreSQL event log.

use std::time::Duration;

use serde_json::{json, Value};
use tessera_actors::jobs::ProgressSink;
use tessera_actors::{GetRegistryStatus, SessionSettings};
use tessera_events::{EventData, EventStore, ExpectedVersion, Metadata, StreamId, UserId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use crate::helpers::{append_owned, eventually_within, node, Node, WsClient, WAIT};

/// Waits until the registry has routed the log up to `position`.
async fn routed(n: &Node, position: u64) {
    eventually_within(WAIT, "the registry to route the log", || {
        let registry = n.registry.clone();
        async move {
            registry
                .send(GetRegistryStatus)
                .await
                .expect("status")
                .position
                >= position
        }
    })
    .await;
}

async fn append_typed(store: &dyn EventStore, owner: Uuid, event_type: &str, tag: &str) -> u64 {
    store
        .append(
            &StreamId::for_entity("typed", owner),
            ExpectedVersion::Any,
            vec![
                EventData::new(event_type, json!({ "tag": tag })).with_metadata(Metadata {
                    owner: Some(UserId(owner)),
                    ..Default::default()
                }),
            ],
        )
        .await
        .expect("append")
        .last_position
}

/// Reads frames until `caught_up`, returning the event frames before it.
async fn until_caught_up(c: &mut WsClient) -> (Vec<Value>, u64) {
    let mut events = Vec::new();
    loop {
        let f = c.next_json().await;
        match f["type"].as_str() {
            Some("event") => events.push(f),
            Some("caught_up") => return (events, f["position"].as_u64().expect("position")),
            _ => panic!("unexpected frame during catch-up: {f}"),
        }
    }
}

fn positions(frames: &[Value]) -> Vec<u64> {
    frames
        .iter()
        .map(|f| f["position"].as_u64().expect("position"))
        .collect()
}

#[actix_web::test]
async fn a_resumed_session_gets_every_missed_event_once_in_order_then_live_ones() {
    let n = node(SessionSettings::default()).await;
    let before = append_owned(n.store.as_ref(), Some(n.alice), 3, "seen").await;
    // More than one catch-up batch, interleaved with another user's events.
    let mut missed = Vec::new();
    for i in 0..6 {
        let last = append_owned(n.store.as_ref(), Some(n.alice), 50, "missed").await;
        missed.extend((last - 49)..=last);
        append_owned(n.store.as_ref(), Some(n.bob), 5, &format!("bob-{i}")).await;
    }

    // Live events keep being appended while the client catches up.
    let store = n.store.clone();
    let alice = n.alice;
    let writer = tokio::spawn(async move {
        let mut positions = Vec::new();
        for _ in 0..40 {
            positions.push(append_owned(store.as_ref(), Some(alice), 1, "during").await);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        positions
    });

    let mut c = WsClient::connect(&n.url).await;
    c.send_json(json!({"v":1,"type":"auth","token":"alice","resume_from":before}))
        .await;
    let ready = c.next_json().await;
    assert_eq!(ready["type"], "ready", "{ready}");
    assert_eq!(ready["resume_from"], before, "{ready}");
    let (caught_up, position) = until_caught_up(&mut c).await;
    let during = writer.await.expect("writer");

    let mut got = positions(&caught_up);
    assert!(
        caught_up.iter().all(|f| f["payload"]["tag"] != "seen"
            && !f["payload"]["tag"]
                .as_str()
                .unwrap_or("")
                .starts_with("bob")),
        "only alice's missed events"
    );
    let mut expected = missed.clone();
    expected.extend(&during);
    // `caught_up` names how far the log was read, which may end on another user's events: every
    // one of alice's events up to it came before it, and none after it.
    let up_to: Vec<u64> = expected
        .iter()
        .copied()
        .filter(|p| *p <= position)
        .collect();
    assert_eq!(
        got, up_to,
        "the catch-up sends every missed event up to its position"
    );
    // The rest arrive live.
    while got.len() < expected.len() {
        let f = c.next_json().await;
        assert_eq!(f["type"], "event", "{f}");
        got.push(f["position"].as_u64().expect("position"));
    }
    assert_eq!(got, expected, "every missed and live event once, in order");
    c.expect_silence(Duration::from_millis(300)).await;

    // And live delivery goes on.
    let next = append_owned(n.store.as_ref(), Some(n.alice), 1, "later").await;
    assert_eq!(c.next_json().await["position"], next);
}

#[actix_web::test]
async fn a_resume_message_replays_from_its_position() {
    let n = node(SessionSettings::default()).await;
    let mut c = WsClient::connect(&n.url).await;
    c.auth("alice").await;
    let p1 = append_owned(n.store.as_ref(), Some(n.alice), 1, "one").await;
    let p2 = append_owned(n.store.as_ref(), Some(n.alice), 1, "two").await;
    assert_eq!(c.next_json().await["position"], p1);
    assert_eq!(c.next_json().await["position"], p2);

    c.send_json(json!({"v":1,"type":"resume","position":p1}))
        .await;
    assert_eq!(
        c.next_json().await,
        json!({"v":1,"type":"resumed","position":p1})
    );
    let (events, position) = until_caught_up(&mut c).await;
    assert_eq!(positions(&events), [p2]);
    assert_eq!(position, p2);
    let p3 = append_owned(n.store.as_ref(), Some(n.alice), 1, "three").await;
    assert_eq!(c.next_json().await["position"], p3);
    c.expect_silence(Duration::from_millis(200)).await;
}

#[actix_web::test]
async fn a_resume_position_from_the_future_is_refused_and_the_session_goes_on_live() {
    let n = node(SessionSettings::default()).await;
    let head = append_owned(n.store.as_ref(), Some(n.alice), 2, "old").await;
    routed(&n, head).await;
    let mut c = WsClient::connect(&n.url).await;
    c.send_json(json!({"v":1,"type":"auth","token":"alice","resume_from":head + 1000}))
        .await;
    assert_eq!(c.next_json().await["type"], "ready");
    let e = c.next_json().await;
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("error"), Some("resume_position_ahead")),
        "{e}"
    );
    let (events, _) = until_caught_up(&mut c).await;
    assert!(events.is_empty(), "{events:?}");
    let live = append_owned(n.store.as_ref(), Some(n.alice), 1, "live").await;
    assert_eq!(c.next_json().await["position"], live);

    // Resuming from the position of another user's event selects a point in the log: nothing
    // of theirs comes.
    let bobs = append_owned(n.store.as_ref(), Some(n.bob), 3, "bob").await;
    let mine = append_owned(n.store.as_ref(), Some(n.alice), 1, "mine").await;
    assert_eq!(c.next_json().await["position"], mine);
    c.send_json(json!({"v":1,"type":"resume","position":bobs - 2}))
        .await;
    assert_eq!(c.next_json().await["type"], "resumed");
    let (events, _) = until_caught_up(&mut c).await;
    assert_eq!(positions(&events), [mine]);
}

#[actix_web::test]
async fn topics_choose_the_events_and_job_progress_arrives_as_frames() {
    let n = node(SessionSettings::default()).await;
    let mut c = WsClient::connect(&n.url).await;
    c.send_json(json!({"v":1,"type":"auth","token":"alice","topics":["jobs"]}))
        .await;
    let ready = c.next_json().await;
    assert_eq!(ready["topics"], json!(["jobs"]), "{ready}");

    append_typed(n.store.as_ref(), n.alice, "content.uploaded", "upload").await;
    // Progress as a running job reports it.
    let job = Uuid::now_v7();
    ProgressSink::new(n.store.clone(), job.into(), 1, n.alice.into())
        .report("transcribe", 40)
        .await;
    ProgressSink::new(n.store.clone(), Uuid::now_v7().into(), 1, n.bob.into())
        .report("not-alice", 10)
        .await;
    let f = c.next_json().await;
    assert_eq!(
        (f["type"].as_str(), f["event_type"].as_str()),
        (Some("event"), Some("job.progress")),
        "{f}"
    );
    assert_eq!(f["stream"], format!("job-{job}"));
    assert_eq!(
        (
            f["payload"]["stage"].as_str(),
            f["payload"]["percent"].as_u64()
        ),
        (Some("transcribe"), Some(40)),
        "{f}"
    );
    c.expect_silence(Duration::from_millis(300)).await;

    // An unknown topic is refused and changes nothing.
    c.send_json(json!({"v":1,"type":"subscribe","topics":["jobs","gossip"]}))
        .await;
    assert_eq!(c.next_json().await["code"], "unknown_topic");
    append_typed(n.store.as_ref(), n.alice, "usage.recorded", "u1").await;
    c.expect_silence(Duration::from_millis(300)).await;

    c.send_json(json!({"v":1,"type":"subscribe","topics":["usage","conversations"]}))
        .await;
    assert_eq!(
        c.next_json().await,
        json!({"v":1,"type":"subscribed","topics":["conversations","usage"]})
    );
    append_typed(n.store.as_ref(), n.alice, "job.progress", "j").await;
    append_typed(n.store.as_ref(), n.alice, "conversation.started", "c1").await;
    append_typed(n.store.as_ref(), n.alice, "usage.recorded", "u2").await;
    assert_eq!(c.next_json().await["payload"]["tag"], "c1");
    assert_eq!(c.next_json().await["payload"]["tag"], "u2");

    // Catch-up honours the topics too.
    let from = append_typed(n.store.as_ref(), n.alice, "content.deleted", "x").await;
    append_typed(n.store.as_ref(), n.alice, "conversation.renamed", "c2").await;
    let y = append_typed(n.store.as_ref(), n.alice, "content.deleted", "y").await;
    assert_eq!(c.next_json().await["payload"]["tag"], "c2");
    routed(&n, y).await;
    c.send_json(json!({"v":1,"type":"resume","position":from - 1}))
        .await;
    assert_eq!(c.next_json().await["type"], "resumed");
    let (events, _) = until_caught_up(&mut c).await;
    let tags: Vec<_> = events.iter().map(|f| f["payload"]["tag"].clone()).collect();
    assert_eq!(tags, [json!("c2")]);

    // Everything again.
    c.send_json(json!({"v":1,"type":"subscribe","topics":"*"}))
        .await;
    assert_eq!(c.next_json().await["topics"], json!(["*"]));
    append_owned(n.store.as_ref(), Some(n.alice), 1, "any").await;
    assert_eq!(c.next_json().await["payload"]["tag"], "any");
}

#[actix_web::test]
async fn the_query_string_can_ask_for_resume_and_topics() {
    let n = node(SessionSettings::default()).await;
    let p = append_typed(n.store.as_ref(), n.alice, "job.started", "j1").await;
    append_typed(n.store.as_ref(), n.alice, "content.uploaded", "c").await;
    let last = append_typed(n.store.as_ref(), n.alice, "job.progress", "j2").await;
    routed(&n, last).await;
    let mut c = WsClient::connect(&format!("{}?resume_from={}&topics=jobs", n.url, p - 1)).await;
    let ready = c.auth("alice").await;
    assert_eq!(ready["resume_from"], p - 1);
    let (events, _) = until_caught_up(&mut c).await;
    let tags: Vec<_> = events.iter().map(|f| f["payload"]["tag"].clone()).collect();
    assert_eq!(tags, [json!("j1"), json!("j2")]);
}

#[actix_web::test]
async fn a_flooding_client_is_rate_limited_then_closed() {
    let n = node(SessionSettings {
        messages_per_second: 2,
        message_burst: 5,
        flood_close_after: 10,
        ..SessionSettings::default()
    })
    .await;
    let mut c = WsClient::connect(&n.url).await;
    c.auth("alice").await; // one message of the burst
    for i in 0..30 {
        c.send_json(json!({"v":1,"type":"ping","id":i})).await;
    }
    let mut pongs = 0;
    let mut limited = 0;
    let close = loop {
        match c.next_frame(WAIT).await {
            Some(Ok(text)) => {
                let f: Value = serde_json::from_str(&text).expect("json");
                match f["type"].as_str() {
                    Some("pong") => pongs += 1,
                    Some("error") => {
                        assert_eq!(f["code"], "rate_limited", "{f}");
                        limited += 1
                    }
                    _ => panic!("unexpected {f}"),
                }
            }
            Some(Err(close)) => break close,
            None => panic!("not closed"),
        }
    };
    let close = close.expect("a close frame");
    assert_eq!(
        (u16::from(close.code), close.reason.as_ref()),
        (1008, "rate_limited")
    );
    assert!((4..=6).contains(&pongs), "{pongs} pongs within the burst");
    assert_eq!(limited, 10, "refusals until the close");
}

#[actix_web::test]
async fn a_client_within_the_rate_is_never_refused() {
    let n = node(SessionSettings {
        messages_per_second: 50,
        message_burst: 5,
        ..SessionSettings::default()
    })
    .await;
    let mut c = WsClient::connect(&n.url).await;
    c.auth("alice").await;
    for i in 0..20 {
        c.send_json(json!({"v":1,"type":"ping","id":i})).await;
        assert_eq!(c.next_json().await, json!({"v":1,"type":"pong","id":i}));
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A client that completes the upgrade, authenticates, and then never reads a byte: the session
/// is closed while the server holds only its bounded queue, and the connection is dropped.
#[actix_web::test]
async fn a_socket_that_never_reads_is_disconnected() {
    let n = node(SessionSettings {
        outbound_queue: 16,
        close_timeout: Duration::from_millis(500),
        ..SessionSettings::default()
    })
    .await;
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", n.port))
        .await
        .expect("connect");
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        n.port
    );
    tcp.write_all(request.as_bytes()).await.expect("upgrade");
    // The response head only (the upgrade is complete once it is in).
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        tcp.read_exact(&mut byte).await.expect("response");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    tcp.write_all(&masked_text(r#"{"v":1,"type":"auth","token":"alice"}"#))
        .await
        .expect("auth");
    eventually_within(WAIT, "the session to register", || {
        let registry = n.registry.clone();
        async move {
            registry
                .send(GetRegistryStatus)
                .await
                .expect("status")
                .sessions
                == 1
        }
    })
    .await;

    // Far more than the socket buffers and the queue hold.
    let padding = "p".repeat(16 * 1024);
    let events = 4_000usize;
    for batch in 0..(events / 100) {
        let data = (0..100)
            .map(|i| {
                EventData::new(
                    "test.big",
                    json!({"i": batch * 100 + i, "padding": padding}),
                )
                .with_metadata(Metadata {
                    owner: Some(UserId(n.alice)),
                    ..Default::default()
                })
            })
            .collect();
        n.store
            .append(
                &StreamId::for_entity("big", n.alice),
                ExpectedVersion::Any,
                data,
            )
            .await
            .expect("append");
    }
    eventually_within(WAIT, "the session to be closed", || {
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

    // The server dropped the connection: what is left in the buffers ends, and it is far less
    // than what was appended.
    let mut received = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    let ended = tokio::time::timeout(WAIT, async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(k) => received += k,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the server did not drop the connection");
    assert!(
        received < events * padding.len() / 2,
        "the server buffered the backlog ({received} bytes)"
    );

    // Another session of the same node still works.
    let mut c = WsClient::connect(&n.url).await;
    c.auth("bob").await;
    append_owned(n.store.as_ref(), Some(n.bob), 1, "fine").await;
    assert_eq!(c.next_json().await["payload"]["tag"], "fine");
}

/// A client text frame: FIN, opcode 1, masked (clients must mask).
fn masked_text(text: &str) -> Vec<u8> {
    let payload = text.as_bytes();
    assert!(payload.len() < 126);
    let mask = [0x12u8, 0x34, 0x56, 0x78];
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}
