//! `GET /api/ws` end to end: the real route and actor tree on port 0, real WebSocket clients, a
//! real PostgreSQL event log, and a second node on its own pool for cross-node delivery.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use actix_web::middleware::Compress;
use actix_web::{web, App, HttpServer};
use serde_json::{json, Value};
use tessera_actors::{
    start_tree, SessionRegistry, SessionSettings, TokenVerifier, Tree, TreeConfig,
};
use tessera_events::{EventNotifier, EventStore, PgEventStore};
use tessera_testkit::{append_tagged, TestDb, TestVerifier, WsClient};
use tokio_tungstenite::tungstenite::Error as WsError;
use uuid::Uuid;

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
        verifier: TestVerifier::shared(&[("alice", alice), ("bob", bob)]),
    }
}

async fn connect(node: &Node, path: &str, headers: &[(&str, &str)]) -> Result<WsClient, WsError> {
    WsClient::connect_with(&format!("ws://{}{path}", node.base), headers).await
}

async fn tags(socket: &mut WsClient, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut last = 0;
    for _ in 0..n {
        let f = socket.next_json().await;
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
    let ready = alice.next_json().await;
    assert_eq!(ready["type"], "ready");
    assert_eq!(ready["user_id"], u.alice.to_string());
    let mut bob = connect(&n, "/api/ws", &[]).await.expect("connect");
    bob.send_json(json!({"v":1,"type":"auth","token":"bob"}))
        .await;
    assert_eq!(bob.next_json().await["user_id"], u.bob.to_string());

    append_tagged(n.store.as_ref(), Some(u.alice), &["a1", "a2"]).await;
    append_tagged(n.store.as_ref(), Some(u.bob), &["b1"]).await;
    append_tagged(n.store.as_ref(), Some(u.alice), &["a3"]).await;
    append_tagged(n.store.as_ref(), Some(u.bob), &["b2", "b3"]).await;

    assert_eq!(tags(&mut alice, 3).await, ["a1", "a2", "a3"]);
    assert_eq!(tags(&mut bob, 3).await, ["b1", "b2", "b3"]);
    assert!(alice.next_value(Duration::from_millis(300)).await.is_none());
    assert!(bob.next_value(Duration::from_millis(100)).await.is_none());

    // Bad frames are answered and the session stays usable.
    alice.send_json(json!({"v":1,"type":"teleport"})).await;
    assert_eq!(alice.next_json().await["code"], "unknown_message_type");
    alice.send_text("{\"v\":1,").await;
    assert_eq!(alice.next_json().await["code"], "malformed_frame");
    alice.send_json(json!({"v":1,"type":"ping","id":1})).await;
    assert_eq!(alice.next_json().await, json!({"v":1,"type":"pong","id":1}));
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
    assert_eq!(on_b.next_json().await["type"], "ready");
    let mut on_a = connect(&a, "/api/ws", &[("authorization", "Bearer alice")])
        .await
        .expect("connect");
    assert_eq!(on_a.next_json().await["type"], "ready");

    append_tagged(a.store.as_ref(), Some(u.alice), &["via-a"]).await;
    append_tagged(b.store.as_ref(), Some(u.alice), &["via-b"]).await;
    append_tagged(a.store.as_ref(), Some(u.bob), &["not-alice"]).await;
    assert_eq!(tags(&mut on_b, 2).await, ["via-a", "via-b"]);
    assert_eq!(tags(&mut on_a, 2).await, ["via-a", "via-b"]);
    assert!(on_b.next_value(Duration::from_millis(300)).await.is_none());

    // Shutting one node down closes its sessions and leaves the other node's alone.
    a.tree
        .root
        .send(tessera_actors::Shutdown)
        .await
        .expect("shutdown");
    assert_eq!(on_a.closed().await, "server_shutdown");
    append_tagged(b.store.as_ref(), Some(u.alice), &["after"]).await;
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
    assert_eq!(on_a.next_json().await["type"], "ready");
    append_tagged(a.store.as_ref(), Some(u.alice), &["seen-1", "seen-2"]).await;
    let mut last = 0;
    for _ in 0..2 {
        last = on_a.next_json().await["position"]
            .as_u64()
            .expect("position");
    }
    drop(on_a);

    // While away: events from both nodes, Bob's among them.
    append_tagged(b.store.as_ref(), Some(u.alice), &["missed-1"]).await;
    append_tagged(a.store.as_ref(), Some(u.bob), &["bobs"]).await;
    append_tagged(a.store.as_ref(), Some(u.alice), &["missed-2", "missed-3"]).await;

    // Back, on node B, resuming by message (once B has routed the log that far, so that all
    // three come from catch-up).
    routed(&b).await;
    let mut on_b = connect(&b, "/api/ws", &[]).await.expect("connect");
    on_b.send_json(json!({"v":1,"type":"auth","token":"alice","resume_from":last}))
        .await;
    let ready = on_b.next_json().await;
    assert_eq!(
        (ready["type"].as_str(), ready["resume_from"].as_u64()),
        (Some("ready"), Some(last)),
        "{ready}"
    );
    assert_eq!(
        tags(&mut on_b, 3).await,
        ["missed-1", "missed-2", "missed-3"]
    );
    assert_eq!(on_b.next_json().await["type"], "caught_up");
    append_tagged(a.store.as_ref(), Some(u.alice), &["live-via-a"]).await;
    assert_eq!(tags(&mut on_b, 1).await, ["live-via-a"]);
    assert!(on_b.next_value(Duration::from_millis(300)).await.is_none());

    // The same with the position in the query and the token in the header, back on A.
    routed(&a).await;
    let mut again = connect(
        &a,
        &format!("/api/ws?resume_from={last}&topics=*"),
        &[("authorization", "Bearer alice")],
    )
    .await
    .expect("connect");
    assert_eq!(again.next_json().await["resume_from"], last);
    assert_eq!(
        tags(&mut again, 4).await,
        ["missed-1", "missed-2", "missed-3", "live-via-a"]
    );
    assert_eq!(again.next_json().await["type"], "caught_up");

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
    wrong
        .send_json(json!({"v":1,"type":"auth","token":"mallory"}))
        .await;
    assert_eq!(wrong.next_json().await["code"], "invalid_token");
    assert_eq!(wrong.closed().await, "invalid_token");

    // A token in the URL is ignored: the socket stays unauthenticated until it times out.
    let mut in_url = connect(&n, "/api/ws?access_token=alice&token=alice", &[])
        .await
        .expect("connect");
    append_tagged(n.store.as_ref(), Some(u.alice), &["private"]).await;
    let f = in_url.next_json().await;
    assert_eq!(f["code"], "auth_timeout", "{f}");
    assert_eq!(in_url.closed().await, "auth_timeout");
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
    let ready = same.next_json().await;
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
    assert!(foreign
        .next_value(Duration::from_millis(300))
        .await
        .is_none());
    foreign
        .send_json(json!({"v":1,"type":"auth","token":"bob"}))
        .await;
    assert_eq!(foreign.next_json().await["user_id"], u.bob.to_string());

    // A stale cookie does not lock the client out either.
    let mut stale = connect(&n, "/api/ws", &[("cookie", "access_token=expired")])
        .await
        .expect("connect");
    stale
        .send_json(json!({"v":1,"type":"auth","token":"alice"}))
        .await;
    assert_eq!(stale.next_json().await["type"], "ready");
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
