//! A streamed chat completion: server-sent events of OpenAI's chunks (`data: {chunk}` …
//! `data: [DONE]`). Dropping the stream (the client went away) stops the generation; the
//! work done until then is still metered by the task that runs it.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::response::{finish_reason, CompletionUsage};
use crate::inference::ChatEvent;
use crate::routes::openai::error::infer_error;

/// Sets the cancel flag when dropped (the request's future or stream went away) unless
/// disarmed first (the answer was delivered).
pub(super) struct CancelOnDrop(pub Option<Arc<AtomicBool>>);

impl CancelOnDrop {
    pub fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(flag) = &self.0 {
            flag.store(true, Ordering::Relaxed);
        }
    }
}

/// The server-sent events of a streamed answer. Dropping it (the client went away) cancels the
/// generation.
pub(super) struct ChunkStream {
    rx: mpsc::UnboundedReceiver<ChatEvent>,
    pending: Option<ChatEvent>,
    guard: Option<CancelOnDrop>,
    id: String,
    created: i64,
    model: String,
    include_usage: bool,
    sent_role: bool,
    finished: bool,
}

impl ChunkStream {
    /// The stream of answer `id`, from its `first` event on.
    pub fn new(
        rx: mpsc::UnboundedReceiver<ChatEvent>,
        first: ChatEvent,
        guard: CancelOnDrop,
        id: String,
        created: i64,
        model: String,
        include_usage: bool,
    ) -> Self {
        ChunkStream {
            rx,
            pending: Some(first),
            guard: Some(guard),
            id,
            created,
            model,
            include_usage,
            sent_role: false,
            finished: false,
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        let mut c = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": null,
            "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }],
        });
        if self.include_usage {
            c["usage"] = Value::Null;
        }
        c
    }

    fn render(&mut self, event: ChatEvent) -> String {
        let mut out = String::new();
        if !self.sent_role {
            self.sent_role = true;
            let role = self.chunk(json!({ "role": "assistant", "content": "" }), None);
            push_event(&mut out, &role);
        }
        match event {
            ChatEvent::Piece(piece) => {
                let c = self.chunk(json!({ "content": piece }), None);
                push_event(&mut out, &c);
            }
            ChatEvent::Done(Ok(g)) => {
                self.finished = true;
                let c = self.chunk(json!({}), Some(finish_reason(g.finish)));
                push_event(&mut out, &c);
                if self.include_usage {
                    let mut u = self.chunk(json!({}), None);
                    u["choices"] = json!([]);
                    u["usage"] = json!(CompletionUsage::of(&g));
                    push_event(&mut out, &u);
                }
                out.push_str("data: [DONE]\n\n");
                // Done: nothing left to cancel.
                if let Some(mut g) = self.guard.take() {
                    g.disarm();
                }
            }
            ChatEvent::Done(Err(e)) => {
                self.finished = true;
                let e = infer_error(e);
                let body = json!({ "error": {
                    "message": e.message, "type": "server_error", "param": e.param, "code": e.code,
                }});
                push_event(&mut out, &body);
            }
        }
        out
    }
}

fn push_event(out: &mut String, value: &Value) {
    out.push_str("data: ");
    out.push_str(&value.to_string());
    out.push_str("\n\n");
}

impl Stream for ChunkStream {
    type Item = Result<Bytes, actix_web::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        if let Some(event) = self.pending.take() {
            let text = self.render(event);
            return Poll::Ready(Some(Ok(Bytes::from(text))));
        }
        // Pieces that arrived together go out in one write.
        let mut text = String::new();
        loop {
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(event)) => {
                    let part = self.render(event);
                    text.push_str(&part);
                    if self.finished {
                        break;
                    }
                }
                Poll::Ready(None) => {
                    if text.is_empty() {
                        self.finished = true;
                        return Poll::Ready(None);
                    }
                    break;
                }
                Poll::Pending => {
                    if text.is_empty() {
                        return Poll::Pending;
                    }
                    break;
                }
            }
        }
        Poll::Ready(Some(Ok(Bytes::from(text))))
    }
}
