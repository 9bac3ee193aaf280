//! `GET /api/ws` end to end: the real route and actor tree on port 0, real WebSocket clients, a
//! real PostgreSQL event log, and a second node on its own pool for cross-node delivery.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use actix_web::middleware::Compress;
use actix_web::{web, App, HttpServer};
use futures_util::future::BoxFuture;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tessera_actors::{
    start_tree, SessionRegistry, SessionSettings, SessionUser, TokenVerifier, Tree, TreeConfig,
};
use tessera_events::testing::TestDb;
use tessera_events::{
    EventData, EventNotifier, EventStore, ExpectedVersion, Metadata, PgEventStore, StreamId,
};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(10);

/// Tokens are user names.
struct TestVerifier(HashMap<&'static str, Uuid>);

impl TokenVerifier for TestVerifier {
    fn verify(&self, token: &str) -> BoxFuture<'static, Option<SessionUser>> {
        let user = self.0.get(token).map(|id| SessionUser {
            user_id: *id,
            role: "user".into(),
        });
        Box::pin(async move { user })
    }
}

struct Node {
    store: Arc<dyn EventStore>,
    tree: Tree,
    base: String,
}

async fn node(
    pool: sqlx::PgPool,
    name: &str,
    verifier: Arc<dyn TokenVerifier>,
    settings: SessionSettings,
) -> Node {
    let store: Arc<dyn EventStore> = Arc::new(PgEventStore::new(pool.clone()));
    let notifier = EventNotifier::start(&pool).await.expect("notifier");
    let tree = start_tree(TreeConfig::new(pool, store.clone(), notifier, name))
        .await
        .expect("actor tree");
    let registry: Addr<SessionRegistry> = tree.sessions.clone();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = HttpServer::new(move || {
        App::new()
            .wrap(Compress::default())
            .app_data(web::Data::new(registry.clone()))
            .app_data(web::Data::new(verifier.clone()))
            .app_data(web::Data::new(settings.clone()))
            .configure(tessera::routes::ws::configure)
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .expect("listen")
    .run();
    actix_web::rt::spawn(server);
    Node {
        store,
        tree,
        base: format!("127.0.0.1:{port}"),
    }
}

struct Users {
    alice: Uuid,
    bob: Uuid,
    verifier: Arc<dyn TokenVerifier>,
}

fn users() -> Users {
    let alice = Uuid::now_v7();
    let bob = Uuid::now_v7();
    Users {
        alice,
        bob,
        verifier: Arc::new(TestVerifier(HashMap::from([
            ("alice", alice),
            ("bob", bob),
        ]))),
    }
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn connect(
    node: &Node,
    path: &str,
    headers: &[(&'static str, &str)],
) -> Result<Socket, WsError> {
    let mut request = format!("ws://{}{path}", node.base)
        .into_client_request()
        .expect("request");
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(*name, HeaderValue::from_str(value).expect("header"));
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
}

async fn send(socket: &mut Socket, value: Value) {
    socket
        .send(Message::Text(value.to_string()))
        .await
        .expect("send");
}

/// The next JSON frame within `wait`; `Err` with the close reason when the socket closes.
async fn next(socket: &mut Socket, wait: Duration) -> Option<Result<Value, String>> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, socket.next())
            .await
            .ok()?
        {
            Some(Ok(Message::Text(text))) => {
                return Some(Ok(serde_json::from_str(&text).expect("JSON frame")))
            }
            Some(Ok(Message::Close(frame))) => {
                return Some(Err(frame
                    .map(|f| f.reason.into_owned())
                    .unwrap_or_default()))
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Some(Err(e.to_string())),
            None => return Some(Err("eof".into())),
        }
    }
}

async fn frame(socket: &mut Socket) -> Value {
    match next(socket, WAIT).await {
        Some(Ok(v)) => v,
        other => panic!("expected a frame, got {other:?}"),
    }
}

async fn closed(socket: &mut Socket) -> String {
    loop {
        match next(socket, WAIT).await {
            Some(Ok(_)) => continue,
            Some(Err(reason)) => return reason,
            None => panic!("not closed within {WAIT:?}"),
        }
    }
}

async fn append(store: &dyn EventStore, owner: Uuid, tags: &[&str]) {
    let events = tags
        .iter()
        .map(|tag| {
            EventData::new("test.happened", json!({ "tag": tag })).with_metadata(Metadata {
                owner: Some(owner),
                ..Default::default()
            })
        })
        .collect();
    store
        .append(
            &StreamId::for_entity("test", owner),
            ExpectedVersion::Any,
            events,
        )
        .await
        .expect("append");
}

async fn tags(socket: &mut Socket, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut last = 0;
    for _ in 0..n {
        let f = frame(socket).await;
        assert_eq!(
            (f["v"].as_u64(), f["type"].as_str()),
            (Some(1), Some("event")),
            "{f}"
        );
        let position = f["position"].as_u64().expect("position");
        assert!(position > last, "events arrive in log order");
        last = position;
        out.push(f["payload"]["tag"].as_str().unwrap_or_default().to_owned());
    }
    out
}

#[actix_web::test]
async fn each_user_gets_only_their_own_events_in_order() {
    let db = TestDb::new().await;
    let u = users();
    let n = node(
        db.pool.clone(),
        "node-a",
        u.verifier.clone(),
        SessionSettings::default(),
    )
    .await;

    // Alice authenticates with a header at the upgrade, Bob with his first message.
    let mut alice = connect(&n, "/api/ws", &[("authorization", "Bearer alice")])
        .await
        .expect("connect");
    let ready = frame(&mut alice).await;
    assert_eq!(ready["type"], "ready");
    assert_eq!(ready["user_id"], u.alice.to_string());
    let mut bob = connect(&n, "/api/ws", &[]).await.expect("connect");
    send(&mut bob, json!({"v":1,"type":"auth","token":"bob"})).await;
    assert_eq!(frame(&mut bob).await["user_id"], u.bob.to_string());

    append(n.store.as_ref(), u.alice, &["a1", "a2"]).await;
    append(n.store.as_ref(), u.bob, &["b1"]).await;
    append(n.store.as_ref(), u.alice, &["a3"]).await;
    append(n.store.as_ref(), u.bob, &["b2", "b3"]).await;

    assert_eq!(tags(&mut alice, 3).await, ["a1", "a2", "a3"]);
    assert_eq!(tags(&mut bob, 3).await, ["b1", "b2", "b3"]);
    assert!(next(&mut alice, Duration::from_millis(300)).await.is_none());
    assert!(next(&mut bob, Duration::from_millis(100)).await.is_none());

    // Bad frames are answered and the session stays usable.
    send(&mut alice, json!({"v":1,"type":"teleport"})).await;
    assert_eq!(frame(&mut alice).await["code"], "unknown_message_type");
    alice
        .send(Message::Text("{\"v\":1,".into()))
        .await
        .expect("send");
    assert_eq!(frame(&mut alice).await["code"], "malformed_frame");
    send(&mut alice, json!({"v":1,"type":"ping","id":1})).await;
    assert_eq!(frame(&mut alice).await, json!({"v":1,"type":"pong","id":1}));
}

#[actix_web::test]
async fn sessions_on_another_node_get_events_appended_here() {
    let db = TestDb::new().await;
    let u = users();
    let a = node(
        db.pool.clone(),
        "node-a",
        u.verifier.clone(),
        SessionSettings::default(),
    )
    .await;
    let b = node(
        db.new_pool(4).await,
        "node-b",
        u.verifier.clone(),
        SessionSettings::default(),
    )
    .await;

    let mut on_b = connect(&b, "/api/ws", &[("authorization", "Bearer alice")])
        .await
        .expect("connect");
    assert_eq!(frame(&mut on_b).await["type"], "ready");
    let mut on_a = connect(&a, "/api/ws", &[("authorization", "Bearer alice")])
        .await
        .expect("connect");
    assert_eq!(frame(&mut on_a).await["type"], "ready");

    append(a.store.as_ref(), u.alice, &["via-a"]).await;
    append(b.store.as_ref(), u.alice, &["via-b"]).await;
    append(a.store.as_ref(), u.bob, &["not-alice"]).await;
    assert_eq!(tags(&mut on_b, 2).await, ["via-a", "via-b"]);
    assert_eq!(tags(&mut on_a, 2).await, ["via-a", "via-b"]);
    assert!(next(&mut on_b, Duration::from_millis(300)).await.is_none());

    // Shutting one node down closes its sessions and leaves the other node's alone.
    a.tree
        .root
        .send(tessera_actors::Shutdown)
        .await
        .expect("shutdown");
    assert_eq!(closed(&mut on_a).await, "server_shutdown");
    append(b.store.as_ref(), u.alice, &["after"]).await;
    assert_eq!(tags(&mut on_b, 1).await, ["after"]);
}

/// Waits until the node's registry has routed the whole log.
async fn routed(node: &Node) {
    let head = node.store.head_position().await.expect("head");
    for _ in 0..500 {
        let status = node
            .tree
            .sessions
            .send(tessera_actors::GetRegistryStatus)
            .await
            .expect("status");
        if status.position >= head {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the registry did not reach position {head}");
}

/// A client that switches node resumes there: the events it missed while away, once, in
/// order, then live ones, whichever node appended them.
#[actix_web::test]
async fn a_client_switching_node_resumes_where_it_left_off() {
    let db = TestDb::new().await;
    let u = users();
    let a = node(
        db.pool.clone(),
        "node-a",
        u.verifier.clone(),
        SessionSettings::default(),
    )
    .await;
    let b = node(
        db.new_pool(4).await,
        "node-b",
        u.verifier.clone(),
        SessionSettings::default(),
    )
    .await;

    let mut on_a = connect(&a, "/api/ws", &[("authorization", "Bearer alice")])
        .await
        .expect("connect");
    assert_eq!(frame(&mut on_a).await["type"], "ready");
    append(a.store.as_ref(), u.alice, &["seen-1", "seen-2"]).await;
    let mut last = 0;
    for _ in 0..2 {
        last = frame(&mut on_a).await["position"]
            .as_u64()
            .expect("position");
    }
    drop(on_a);

    // While away: events from both nodes, Bob's among them.
    append(b.store.as_ref(), u.alice, &["missed-1"]).await;
    append(a.store.as_ref(), u.bob, &["bobs"]).await;
    append(a.store.as_ref(), u.alice, &["missed-2", "missed-3"]).await;

    // Back, on node B, resuming by message (once B has routed the log that far, so that all
    // three come from catch-up).
    routed(&b).await;
    let mut on_b = connect(&b, "/api/ws", &[]).await.expect("connect");
    send(
        &mut on_b,
        json!({"v":1,"type":"auth","token":"alice","resume_from":last}),
    )
    .await;
    let ready = frame(&mut on_b).await;
    assert_eq!(
        (ready["type"].as_str(), ready["resume_from"].as_u64()),
        (Some("ready"), Some(last)),
        "{ready}"
    );
    assert_eq!(
        tags(&mut on_b, 3).await,
        ["missed-1", "missed-2", "missed-3"]
    );
    assert_eq!(frame(&mut on_b).await["type"], "caught_up");
    append(a.store.as_ref(), u.alice, &["live-via-a"]).await;
    assert_eq!(tags(&mut on_b, 1).await, ["live-via-a"]);
    assert!(next(&mut on_b, Duration::from_millis(300)).await.is_none());

    // The same with the position in the query and the token in the header, back on A.
    routed(&a).await;
    let mut again = connect(
        &a,
        &format!("/api/ws?resume_from={last}&topics=*"),
        &[("authorization", "Bearer alice")],
    )
    .await
    .expect("connect");
    assert_eq!(frame(&mut again).await["resume_from"], last);
    assert_eq!(
        tags(&mut again, 4).await,
        ["missed-1", "missed-2", "missed-3", "live-via-a"]
    );
    assert_eq!(frame(&mut again).await["type"], "caught_up");

    // A malformed position or topic in the query is refused before the upgrade.
    for (path, code) in [
        ("/api/ws?resume_from=-1", "invalid_query"),
        ("/api/ws?topics=jobs,gossip", "unknown_topic"),
    ] {
        match connect(&a, path, &[("authorization", "Bearer alice")]).await {
            Err(WsError::Http(response)) => {
                assert_eq!(response.status().as_u16(), 400);
                let body: Value =
                    serde_json::from_slice(response.body().as_deref().unwrap_or_default())
                        .expect("JSON error body");
                assert_eq!(body["error"]["code"], code);
            }
            other => panic!("expected a 400 for {path}, got {:?}", other.map(|_| ())),
        }
    }
}

#[actix_web::test]
async fn unauthenticated_sockets_get_errors_and_are_closed() {
    let db = TestDb::new().await;
    let u = users();
    let settings = SessionSettings {
        auth_timeout: Duration::from_millis(600),
        ..SessionSettings::default()
    };
    let n = node(db.pool.clone(), "node-a", u.verifier.clone(), settings).await;

    // An invalid header is refused before the upgrade, with the API's JSON error.
    match connect(&n, "/api/ws", &[("authorization", "Bearer mallory")]).await {
        Err(WsError::Http(response)) => {
            assert_eq!(response.status().as_u16(), 401);
            let body: Value =
                serde_json::from_slice(response.body().as_deref().unwrap_or_default())
                    .expect("JSON error body");
            assert_eq!(body["error"]["code"], "invalid_token");
        }
        Ok(_) => panic!("upgraded with an invalid token"),
        Err(e) => panic!("unexpected error {e}"),
    }

    // A bad token in the auth message: an error frame, then the close.
    let mut wrong = connect(&n, "/api/ws", &[]).await.expect("connect");
    send(&mut wrong, json!({"v":1,"type":"auth","token":"mallory"})).await;
    assert_eq!(frame(&mut wrong).await["code"], "invalid_token");
    assert_eq!(closed(&mut wrong).await, "invalid_token");

    // A token in the URL is ignored: the socket stays unauthenticated until it times out.
    let mut in_url = connect(&n, "/api/ws?access_token=alice&token=alice", &[])
        .await
        .expect("connect");
    append(n.store.as_ref(), u.alice, &["private"]).await;
    let f = frame(&mut in_url).await;
    assert_eq!(f["code"], "auth_timeout", "{f}");
    assert_eq!(closed(&mut in_url).await, "auth_timeout");
}

#[actix_web::test]
async fn the_cookie_authenticates_only_same_origin_pages() {
    let db = TestDb::new().await;
    let u = users();
    let n = node(
        db.pool.clone(),
        "node-a",
        u.verifier.clone(),
        SessionSettings::default(),
    )
    .await;
    let origin = format!("http://{}", n.base);

    let mut same = connect(
        &n,
        "/api/ws",
        &[("cookie", "access_token=alice"), ("origin", &origin)],
    )
    .await
    .expect("connect");
    let ready = frame(&mut same).await;
    assert_eq!(
        (ready["type"].as_str(), ready["user_id"].as_str()),
        (Some("ready"), Some(u.alice.to_string().as_str()))
    );

    // Another site's page: the cookie is ignored, the socket must authenticate itself.
    let mut foreign = connect(
        &n,
        "/api/ws",
        &[
            ("cookie", "access_token=alice"),
            ("origin", "https://evil.example"),
        ],
    )
    .await
    .expect("connect");
    assert!(next(&mut foreign, Duration::from_millis(300))
        .await
        .is_none());
    send(&mut foreign, json!({"v":1,"type":"auth","token":"bob"})).await;
    assert_eq!(frame(&mut foreign).await["user_id"], u.bob.to_string());

    // A stale cookie does not lock the client out either.
    let mut stale = connect(&n, "/api/ws", &[("cookie", "access_token=expired")])
        .await
        .expect("connect");
    send(&mut stale, json!({"v":1,"type":"auth","token":"alice"})).await;
    assert_eq!(frame(&mut stale).await["type"], "ready");
}

#[actix_web::test]
async fn a_plain_get_is_not_upgraded() {
    let db = TestDb::new().await;
    let u = users();
    let n = node(
        db.pool.clone(),
        "node-a",
        u.verifier,
        SessionSettings::default(),
    )
    .await;
    let response = reqwest::get(format!("http://{}/api/ws", n.base))
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "not_a_websocket");
}

#[test]
fn the_route_is_in_the_openapi_document() {
    let doc = tessera::routes::ws::openapi();
    let json = serde_json::to_value(&doc).expect("serialise");
    let get = &json["paths"]["/api/ws"]["get"];
    assert!(get["responses"]["101"].is_object(), "{get}");
    assert!(get["responses"]["401"].is_object());
}
