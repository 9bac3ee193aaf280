//! The one WebSocket client of the tests and benchmarks, speaking the session protocol's JSON
//! frames (docs/websocket.md).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{self, HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for a frame it expects.
pub const WAIT: Duration = Duration::from_secs(10);

/// The socket under the client, for tests that send raw frames.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A client socket; pings and pongs are skipped when reading.
pub struct WsClient {
    pub ws: Socket,
}

impl WsClient {
    /// Connects to `url` (`ws://…`); panics when the upgrade fails.
    pub async fn connect(url: &str) -> Self {
        Self::connect_with(url, &[])
            .await
            .unwrap_or_else(|e| panic!("websocket connect to {url}: {e}"))
    }

    /// Connects with extra request headers (`authorization`, `cookie`, `origin`, …).
    pub async fn connect_with(url: &str, headers: &[(&str, &str)]) -> Result<Self, WsError> {
        let mut request = url.into_client_request()?;
        for (name, value) in headers {
            let name: HeaderName = name
                .parse()
                .map_err(|e| WsError::HttpFormat(http::Error::from(e)))?;
            let value = HeaderValue::from_str(value)
                .map_err(|e| WsError::HttpFormat(http::Error::from(e)))?;
            request.headers_mut().insert(name, value);
        }
        let (ws, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(Self { ws })
    }

    /// Connects with `Authorization: Bearer <token>` (or no header for `None`).
    pub async fn connect_bearer(url: &str, token: Option<&str>) -> Result<Self, WsError> {
        match token {
            Some(token) => {
                Self::connect_with(url, &[("authorization", &format!("Bearer {token}"))]).await
            }
            None => Self::connect_with(url, &[]).await,
        }
    }

    /// Connects with a bearer token and reads the `ready` frame; panics otherwise.
    pub async fn signed_in(url: &str, token: &str) -> (Self, Value) {
        let mut client = Self::connect_bearer(url, Some(token))
            .await
            .unwrap_or_else(|e| panic!("websocket connect to {url}: {e}"));
        let ready = client.next_json().await;
        assert_eq!(ready["type"], "ready", "expected ready, got {ready}");
        (client, ready)
    }

    /// Sends a text frame.
    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.ws
            .send(Message::Text(text.into()))
            .await
            .expect("send");
    }

    /// Sends `value` as a text frame.
    pub async fn send_json(&mut self, value: Value) {
        self.send_text(value.to_string()).await;
    }

    /// Authenticates by message and returns the `ready` frame.
    pub async fn auth(&mut self, token: &str) -> Value {
        self.send_json(json!({"v":1,"type":"auth","token":token}))
            .await;
        let ready = self.next_json().await;
        assert_eq!(ready["type"], "ready", "expected ready, got {ready}");
        ready
    }

    /// `Ok(text)` for a text frame, `Err(close frame)` when closed (`Err(None)` when the
    /// connection ended without one), `None` when nothing came within `wait`.
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

    /// The next JSON frame within `wait`, or `Err(close reason)` when the socket closes
    /// (empty when it ended without a close frame); `None` when nothing came.
    pub async fn next_value(&mut self, wait: Duration) -> Option<Result<Value, String>> {
        Some(match self.next_frame(wait).await? {
            Ok(text) => Ok(serde_json::from_str(&text).expect("server frames are JSON")),
            Err(frame) => Err(frame.map(|f| f.reason.into_owned()).unwrap_or_default()),
        })
    }

    /// The next JSON frame within `wait`, `None` when nothing came; panics when the socket
    /// closes.
    pub async fn try_next_json(&mut self, wait: Duration) -> Option<Value> {
        match self.next_value(wait).await? {
            Ok(value) => Some(value),
            Err(reason) => panic!("closed while waiting for a frame: {reason:?}"),
        }
    }

    /// The next JSON frame within `wait`; panics on close or timeout.
    pub async fn next_json_within(&mut self, wait: Duration) -> Value {
        self.try_next_json(wait)
            .await
            .unwrap_or_else(|| panic!("no frame within {wait:?}"))
    }

    /// The next JSON frame within [`WAIT`]; panics on close or timeout.
    pub async fn next_json(&mut self) -> Value {
        self.next_json_within(WAIT).await
    }

    /// The first `event` frame of `stream` within `wait`, skipping every other frame.
    pub async fn event_of(&mut self, stream: &str, wait: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let frame = self
                .try_next_json(left)
                .await
                .unwrap_or_else(|| panic!("no event of {stream} within {wait:?}"));
            if frame["type"] == "event" && frame["stream"] == stream {
                return frame;
            }
        }
    }

    /// Reads until the close frame; returns its code and reason (frames before it are
    /// skipped; `(0, "")` when the connection ended without one).
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

    /// The close reason, waiting up to [`WAIT`].
    pub async fn closed(&mut self) -> String {
        self.expect_close(WAIT).await.1
    }

    /// Asserts nothing but pings arrive for `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        if let Some(frame) = self.next_frame(wait).await {
            panic!("expected no frame, got {frame:?}");
        }
    }
}
