//! What the actor tests share: a WebSocket server around `start_session` (the verifier, the
//! client, appends and waiting come from the test kit).

pub use tessera_testkit::ws::WAIT;
pub use tessera_testkit::{append_owned, eventually_within, TestVerifier, WsClient};

use std::net::TcpListener;
use std::sync::Arc;

use actix::Addr;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use tessera_actors::session::{SessionOptions, Topics};
use tessera_actors::{start_session, SessionRegistry, SessionSettings, TokenVerifier};
use tessera_events::{EventNotifier, EventStore, PgEventStore};
use tessera_testkit::TestDb;
use uuid::Uuid;

async fn ws_route(
    req: HttpRequest,
    body: web::Payload,
    registry: web::Data<Addr<SessionRegistry>>,
    verifier: web::Data<Arc<dyn TokenVerifier>>,
    settings: web::Data<SessionSettings>,
) -> actix_web::Result<HttpResponse> {
    let (response, session, stream) = actix_ws::handle(&req, body)?;
    start_session(
        registry.get_ref().clone(),
        verifier.get_ref().clone(),
        None,
        options(&req),
        session,
        stream,
        settings.get_ref().clone(),
    );
    Ok(response)
}

/// `?resume_from=N&topics=a,b` from the query string, as the application's route reads them.
fn options(req: &HttpRequest) -> SessionOptions {
    let mut options = SessionOptions::default();
    for pair in req.query_string().split('&') {
        match pair.split_once('=') {
            Some(("resume_from", v)) => options.resume_from = v.parse().ok(),
            Some(("topics", v)) => {
                options.topics = Topics::parse(v.split(',')).expect("known topics")
            }
            _ => {}
        }
    }
    options
}

/// Serves `/ws` on a free port; the server runs until the test's actix system ends.
pub fn serve(
    registry: Addr<SessionRegistry>,
    verifier: Arc<dyn TokenVerifier>,
    settings: SessionSettings,
) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(registry.clone()))
            .app_data(web::Data::new(verifier.clone()))
            .app_data(web::Data::new(settings.clone()))
            .route("/ws", web::get().to(ws_route))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .expect("listen")
    .run();
    actix_web::rt::spawn(server);
    port
}

/// A session registry serving `/ws` on its own database, for users `alice` and `bob`.
pub struct Node {
    /// Kept for the node's lifetime.
    _db: TestDb,
    pub store: Arc<dyn EventStore>,
    pub registry: Addr<SessionRegistry>,
    pub port: u16,
    /// `ws://127.0.0.1:<port>/ws`.
    pub url: String,
    pub alice: Uuid,
    pub bob: Uuid,
}

/// Starts a [`Node`] with `settings`.
pub async fn node(settings: SessionSettings) -> Node {
    let db = TestDb::new().await;
    let store: Arc<dyn EventStore> = Arc::new(PgEventStore::new(db.pool.clone()));
    let notifier = EventNotifier::start(&db.pool).await.expect("notifier");
    let head = store.head_position().await.expect("head");
    let registry = SessionRegistry::new(store.clone(), Some(notifier), "node-a", head);
    let registry = actix::Supervisor::start(move |_| registry);
    let alice = Uuid::now_v7();
    let bob = Uuid::now_v7();
    let verifier = TestVerifier::shared(&[("alice", alice), ("bob", bob)]);
    let port = serve(registry.clone(), verifier, settings);
    Node {
        _db: db,
        store,
        registry,
        port,
        url: format!("ws://127.0.0.1:{port}/ws"),
        alice,
        bob,
    }
}
