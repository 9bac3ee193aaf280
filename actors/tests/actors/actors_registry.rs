//! The session registry routes each event to the sessions of its owner only, in log order, on
//! every node. Sessions here are plain actors collecting what they get; the WebSocket side is
//! tested in `ws_protocol.rs`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use serde_json::Value;
use tessera_actors::session::{Register, ToSession, Unregister};
use tessera_actors::{GetRegistryStatus, SessionRegistry, Shutdown};
use tessera_events::{EventNotifier, EventStore, PgEventStore, UserId};
use tessera_testkit::TestDb;
use uuid::Uuid;

use crate::helpers::{append_owned, eventually_within, WAIT};

#[derive(Default, Clone)]
struct Received {
    frames: Arc<Mutex<Vec<Value>>>,
    shutdown: Arc<Mutex<bool>>,
}

impl Received {
    fn tags(&self) -> Vec<String> {
        self.frames
            .lock()
            .expect("lock")
            .iter()
            .map(|f| {
                format!(
                    "{}{}",
                    f["payload"]["tag"].as_str().unwrap_or("?"),
                    f["payload"]["i"]
                )
            })
            .collect()
    }

    fn positions(&self) -> Vec<u64> {
        self.frames
            .lock()
            .expect("lock")
            .iter()
            .map(|f| f["position"].as_u64().unwrap_or(0))
            .collect()
    }
}

struct FakeSession(Received);

impl Actor for FakeSession {
    type Context = Context<Self>;
}

impl Handler<ToSession> for FakeSession {
    type Result = ();

    fn handle(&mut self, msg: ToSession, _: &mut Self::Context) {
        match msg {
            ToSession::Event { frame, .. } => {
                let value = serde_json::from_str(&frame).expect("frame is JSON");
                self.0.frames.lock().expect("lock").push(value);
            }
            ToSession::Shutdown
            | ToSession::Revoked
            | ToSession::SignInsEnded { .. }
            | ToSession::SignInEnded(_) => *self.0.shutdown.lock().expect("lock") = true,
        }
    }
}

async fn start_registry(db: &TestDb, node: &str) -> (Arc<dyn EventStore>, Addr<SessionRegistry>) {
    let pool = db.new_pool(4).await;
    let store: Arc<dyn EventStore> = Arc::new(PgEventStore::new(pool.clone()));
    let notifier = EventNotifier::start(&pool).await.expect("notifier");
    let head = store.head_position().await.expect("head");
    let registry = SessionRegistry::new(store.clone(), Some(notifier), node, head);
    (store, actix::Supervisor::start(move |_| registry))
}

async fn register(registry: &Addr<SessionRegistry>, user: Uuid) -> (Uuid, Received) {
    let received = Received::default();
    let session = FakeSession(received.clone()).start();
    let session_id = Uuid::now_v7();
    registry
        .send(Register {
            session_id,
            user_id: UserId(user),
            session: session.recipient(),
        })
        .await
        .expect("registry answers")
        .expect("registered");
    (session_id, received)
}

#[actix_web::test]
async fn events_reach_only_their_owners_sessions_in_order() {
    let db = TestDb::new().await;
    let (store, registry) = start_registry(&db, "node-a").await;
    // Events from before the registry started are not pushed live.
    append_owned(store.as_ref(), Some(Uuid::nil()), 2, "old").await;
    let alice = Uuid::now_v7();
    let bob = Uuid::now_v7();
    let (_, alice_1) = register(&registry, alice).await;
    let (_, alice_2) = register(&registry, alice).await;
    let (bob_session, bob_1) = register(&registry, bob).await;

    append_owned(store.as_ref(), Some(alice), 3, "a").await;
    append_owned(store.as_ref(), Some(bob), 2, "b").await;
    append_owned(store.as_ref(), None, 2, "nobody").await;
    let head = append_owned(store.as_ref(), Some(alice), 2, "a2-").await;

    eventually_within(WAIT, "the registry to route the head", || {
        let registry = registry.clone();
        async move {
            registry
                .send(GetRegistryStatus)
                .await
                .expect("status")
                .position
                >= head
        }
    })
    .await;
    eventually_within(WAIT, "alice's sessions to get their events", || {
        let (a1, a2) = (alice_1.clone(), alice_2.clone());
        async move { a1.tags().len() == 5 && a2.tags().len() == 5 }
    })
    .await;
    let expected = ["a0", "a1", "a2", "a2-0", "a2-1"];
    assert_eq!(alice_1.tags(), expected);
    assert_eq!(alice_2.tags(), expected);
    assert_eq!(bob_1.tags(), ["b0", "b1"]);
    let positions = alice_1.positions();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    let frame = alice_1.frames.lock().expect("lock")[0].clone();
    assert_eq!(frame["v"], 1);
    assert_eq!(frame["type"], "event");
    assert_eq!(frame["event_type"], "test.happened");
    assert!(frame.get("metadata").is_none());

    // After unregistering, bob gets nothing more.
    registry
        .send(Unregister {
            session_id: bob_session,
            user_id: UserId(bob),
        })
        .await
        .expect("unregister");
    let head = append_owned(store.as_ref(), Some(bob), 1, "late").await;
    eventually_within(WAIT, "the registry to route the late event", || {
        let registry = registry.clone();
        async move {
            registry
                .send(GetRegistryStatus)
                .await
                .expect("status")
                .position
                >= head
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(bob_1.tags(), ["b0", "b1"]);

    let status = registry.send(GetRegistryStatus).await.expect("status");
    assert_eq!((status.users, status.sessions), (1, 2));

    registry.send(Shutdown).await.expect("shutdown");
    eventually_within(WAIT, "sessions to be told to close", || {
        let a = alice_1.clone();
        async move { *a.shutdown.lock().expect("lock") }
    })
    .await;
    let status = registry.send(GetRegistryStatus).await.expect("status");
    assert!(status.stopped);
    assert_eq!(status.sessions, 0);
    let refused = registry
        .send(Register {
            session_id: Uuid::now_v7(),
            user_id: UserId(alice),
            session: FakeSession(Received::default()).start().recipient(),
        })
        .await
        .expect("registry answers");
    assert!(refused.is_err(), "a stopped registry takes no sessions");
}

#[actix_web::test]
async fn every_node_delivers_events_appended_on_any_node() {
    let db = TestDb::new().await;
    let (store_a, registry_a) = start_registry(&db, "node-a").await;
    let (store_b, registry_b) = start_registry(&db, "node-b").await;
    let carol = Uuid::now_v7();
    let (_, on_a) = register(&registry_a, carol).await;
    let (_, on_b) = register(&registry_b, carol).await;

    append_owned(store_a.as_ref(), Some(carol), 2, "from-a").await;
    append_owned(store_b.as_ref(), Some(carol), 2, "from-b").await;

    for received in [&on_a, &on_b] {
        eventually_within(WAIT, "both nodes to deliver all four events", || {
            let r = received.clone();
            async move { r.tags().len() == 4 }
        })
        .await;
        assert_eq!(
            received.tags(),
            ["from-a0", "from-a1", "from-b0", "from-b1"]
        );
    }
}
