//! Cross-node delivery between two server processes: two `tessera serve` children on one
//! database. A user signed in on node A watches node B's socket; what node A records reaches
//! it (Postgres LISTEN/NOTIFY feeding B's session registry), and a socket resumed on node A
//! replays it.

use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tessera_events::testing::TestDb;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(30);

struct Node {
    base: String,
    port: u16,
    _child: Child,
    _data: tempfile::TempDir,
}

async fn node(db: &TestDb, name: &str) -> Node {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("serve")
        .env("DATABASE_URL", db.url())
        .env("TESSERA_MODE", "dev")
        .env("TESSERA_NODE_ID", name)
        .env("TESSERA_SERVER__PORT", port.to_string())
        .env("TESSERA_DATA_DIR", data.path())
        .env("TESSERA_LOG__LEVEL", "warn")
        .env("TESSERA_PROCESSING__ENABLED", "false")
        .env_remove("REDIS_URL")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("tessera serve starts");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if let Ok(r) = client.get(format!("{base}/ready")).send().await {
            if r.status().is_success() {
                break;
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("node {name} exited: {status}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "node {name} did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Node {
        base,
        port,
        _child: child,
        _data: data,
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn socket(node: &Node, access: &str) -> Socket {
    let mut request = format!("ws://127.0.0.1:{}/api/ws", node.port)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {access}")).unwrap(),
    );
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// The first `event` frame of `stream`.
async fn event_of(socket: &mut Socket, stream: &str) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let msg = tokio::time::timeout_at(deadline, socket.next())
            .await
            .unwrap_or_else(|_| panic!("no event of {stream} within {WAIT:?}"))
            .expect("socket open")
            .expect("a frame");
        let Message::Text(text) = msg else { continue };
        let f: Value = serde_json::from_str(&text).unwrap();
        if f["type"] == "event" && f["stream"] == stream {
            return f;
        }
    }
}

#[actix_web::test]
async fn two_server_processes_on_one_database_deliver_each_others_events() {
    let db = TestDb::new().await;
    let a = node(&db, "node-a").await;
    let b = node(&db, "node-b").await;
    let client = reqwest::Client::new();
    let registered: Value = client
        .post(format!("{}/api/auth/register", a.base))
        .json(&json!({
            "email": "alice@example.com",
            "password": "correct horse battery staple",
            "display_name": "Alice"
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = registered["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{registered}"))
        .to_owned();

    // Alice watches node B; node A records her note.
    let mut on_b = socket(&b, &access).await;
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
    let seen = event_of(&mut on_b, &stream).await;
    assert_eq!(seen["event_type"], "content.uploaded", "{seen}");

    // A page that reloads onto node A resumes from before the note and gets it again.
    let (mut on_a, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/api/ws", a.port))
            .await
            .unwrap();
    let before = seen["position"].as_u64().unwrap() - 1;
    on_a.send(Message::Text(
        json!({ "v": 1, "type": "auth", "token": access, "resume_from": before }).to_string(),
    ))
    .await
    .unwrap();
    let replayed = event_of(&mut on_a, &stream).await;
    assert_eq!(replayed["position"], seen["position"]);
    assert_eq!(replayed["event_id"], seen["event_id"]);
}
