//! Cross-node delivery between two server processes: two `tessera serve` children on one
//! database. A user signed in on node A watches node B's socket; what node A records reaches
//! it (Postgres LISTEN/NOTIFY feeding B's session registry), and a socket resumed on node A
//! replays it.

use std::time::Duration;

use serde_json::{json, Value};
use tessera_testkit::server::ServerProcess;
use tessera_testkit::signin::register;
use tessera_testkit::{TestDb, WsClient};

const WAIT: Duration = Duration::from_secs(30);

async fn node(db: &TestDb, name: &str) -> ServerProcess {
    ServerProcess::start(
        env!("CARGO_BIN_EXE_tessera"),
        &db.url(),
        &[("TESSERA_NODE_ID", name)],
    )
    .await
    .unwrap_or_else(|e| panic!("node {name}: {e}"))
}

#[actix_web::test]
async fn two_server_processes_on_one_database_deliver_each_others_events() {
    let db = TestDb::new().await;
    let a = node(&db, "node-a").await;
    let b = node(&db, "node-b").await;
    let client = reqwest::Client::new();
    let access = register(
        &client,
        &a.base,
        "alice@example.com",
        "correct horse battery staple",
    )
    .await
    .expect("register")
    .access;

    // Alice watches node B; node A records her note.
    let mut on_b = b.socket(&access).await;
    let note: Value = client
        .post(format!("{}/api/content/notes", a.base))
        .bearer_auth(&access)
        .json(&json!({ "title": "Hello", "text": "Written on node A." }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stream = format!("content-{}", note["id"].as_str().unwrap());
    let seen = on_b.event_of(&stream, WAIT).await;
    assert_eq!(seen["event_type"], "content.uploaded", "{seen}");

    // A page that reloads onto node A resumes from before the note and gets it again.
    let mut on_a = WsClient::connect(&a.ws_url("/api/ws")).await;
    let before = seen["position"].as_u64().unwrap() - 1;
    on_a.send_json(json!({ "v": 1, "type": "auth", "token": access, "resume_from": before }))
        .await;
    let replayed = on_a.event_of(&stream, WAIT).await;
    assert_eq!(replayed["position"], seen["position"]);
    assert_eq!(replayed["event_id"], seen["event_id"]);
}
