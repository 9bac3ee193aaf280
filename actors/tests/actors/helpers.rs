//! Helpers shared by the actor tests: a token verifier, a WebSocket server around
//! `start_session`, a WebSocket client, and event appends.

#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use futures_util::future::BoxFuture;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tessera_actors::session::{SessionOptions, Topics};
use tessera_actors::{start_session, SessionRegistry, SessionSettings, SessionUser, TokenVerifier};
use tessera_events::{EventData, EventStore, ExpectedVersion, Metadata, StreamId};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

/// Tokens are user names: `alice` → user A, `bob` → user B.
pub struct TestVerifier(pub HashMap<String, SessionUser>);

impl TestVerifier {
    pub fn shared(users: &[(&str, Uuid)]) -> Arc<dyn TokenVerifier> {
        Arc::new(Self(
            users
                .iter()
                .map(|(token, id)| {
                    (
                        (*token).to_owned(),
                        SessionUser {
                            user_id: *id,
                            role: "user".into(),
                        },
                    )
                })
                .collect(),
        ))
    }
}

impl TokenVerifier for TestVerifier {
    fn verify(&self, token: &str) -> BoxFuture<'static, Option<SessionUser>> {
        let user = self.0.get(token).cloned();
        Box::pin(async move { user })
    }
}

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

/// A WebSocket client speaking the JSON protocol.
pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

pub const WAIT: Duration = Duration::from_secs(10);

impl Client {
    pub async fn connect(url: &str) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connect");
        Self { ws }
    }

    pub async fn send_json(&mut self, value: Value) {
        self.ws
            .send(Message::Text(value.to_string()))
            .await
            .expect("send");
    }

    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.ws
            .send(Message::Text(text.into()))
            .await
            .expect("send");
    }

    /// Authenticates by message and returns the `ready` frame.
    pub async fn auth(&mut self, token: &str) -> Value {
        self.send_json(json!({"v":1,"type":"auth","token":token}))
            .await;
        let ready = self.next_json().await;
        assert_eq!(ready["type"], "ready", "expected ready, got {ready}");
        ready
    }

    /// The next JSON frame (pings and pongs skipped); panics on close or timeout.
    pub async fn next_json(&mut self) -> Value {
        match self.next_frame(WAIT).await {
            Some(Ok(text)) => serde_json::from_str(&text).expect("server frames are JSON"),
            Some(Err(close)) => panic!("closed while waiting for a frame: {close:?}"),
            None => panic!("no frame within {WAIT:?}"),
        }
    }

    /// `Ok(text)` for a text frame, `Err(close frame)` when closed, `None` on timeout.
    pub async fn next_frame(
        &mut self,
        wait: Duration,
    ) -> Option<Result<String, Option<CloseFrame<'static>>>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()?;
            match next {
                Some(Ok(Message::Text(text))) => return Some(Ok(text)),
                Some(Ok(Message::Close(frame))) => return Some(Err(frame)),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Some(Err(None)),
            }
        }
    }

    /// Reads until the close frame; returns its reason text (frames before it are skipped).
    pub async fn expect_close(&mut self, wait: Duration) -> (u16, String) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_frame(left).await {
                Some(Ok(_)) => continue,
                Some(Err(Some(frame))) => return (frame.code.into(), frame.reason.into_owned()),
                Some(Err(None)) => return (0, String::new()),
                None => panic!("not closed within {wait:?}"),
            }
        }
    }

    /// Asserts nothing but pings arrive for `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        if let Some(frame) = self.next_frame(wait).await {
            panic!("expected no frame, got {frame:?}");
        }
    }
}

/// Appends `n` events owned by `owner` (payload `{"tag", "i"}`) to its own stream; returns the
/// position of the last one.
pub async fn append_owned(store: &dyn EventStore, owner: Option<Uuid>, n: usize, tag: &str) -> u64 {
    let stream = StreamId::for_entity("test", owner.unwrap_or_else(Uuid::nil));
    let events = (0..n)
        .map(|i| {
            EventData::new("test.happened", json!({ "tag": tag, "i": i })).with_metadata(Metadata {
                owner,
                ..Default::default()
            })
        })
        .collect();
    store
        .append(&stream, ExpectedVersion::Any, events)
        .await
        .expect("append")
        .last_position
}

/// Polls `check` until it holds, or panics after `wait`.
pub async fn eventually<F, Fut>(wait: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + wait;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}
