//! `POST /v1/chat/completions`: the node's chat model, answered whole or streamed as
//! server-sent events (`data: {chunk}` … `data: [DONE]`).
//!
//! The generation runs in a task of its own that meters it when it ends, so a client that goes
//! away mid-stream stops the generation (the cancel flag, checked between tokens) and the tokens
//! generated until then are still recorded.

use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use actix_web::{web, HttpResponse};
use bytes::Bytes;
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tessera_actors::jobs::Pipelines;
use tessera_actors::models::{Infer, InferError};
use tessera_events::content::Modality;
use tessera_models::runtime::llama::{ChatMessage, Finish, GenerateOptions, Generation};
use tessera_models::text::chat::{ChatModel, ChatRequest, TokenSink};
use tokio::sync::mpsc;
use utoipa::{OpenApi, ToSchema};

use super::error::{infer_error, OpenAiErrorBody};
use super::{check_quota, meter, read_json, resolve, unix_now, OpenAiError, Task, Usage, V1User};
use crate::content::ContentService;
use crate::state::AppState;

/// Largest request body.
const MAX_BODY: usize = 4 << 20;
/// `max_tokens` when the request names none.
pub const DEFAULT_MAX_TOKENS: u32 = 512;
/// Most stop texts (as OpenAI).
const MAX_STOPS: usize = 4;

/// A chat completion request (OpenAI's fields; those marked *accepted* are read and ignored).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatCompletionRequest {
    /// The chat model's catalog id (`GET /v1/models`).
    pub model: String,
    /// The conversation; the answer is the assistant's next turn. Roles: `system`,
    /// `developer` (as system), `user`, `assistant`; content is text or text parts.
    #[schema(value_type = Vec<Object>)]
    pub messages: Vec<InMessage>,
    /// Most tokens to generate (default 512); prompt plus this must fit the context window.
    pub max_tokens: Option<u32>,
    /// The same as `max_tokens` (OpenAI's newer name); wins when both are given.
    pub max_completion_tokens: Option<u32>,
    /// 0 to 2; 0 is greedy (deterministic). Default 0.7.
    pub temperature: Option<f32>,
    /// Nucleus sampling, (0, 1]. Default 0.9.
    pub top_p: Option<f32>,
    /// Up to 4 texts that end the answer (never part of it).
    #[schema(value_type = Option<Object>)]
    pub stop: Option<Stop>,
    /// Stream the answer as server-sent events.
    pub stream: Option<bool>,
    pub stream_options: Option<StreamOptions>,
    /// Only 1 is supported.
    pub n: Option<u32>,
    /// Seed of the sampler.
    pub seed: Option<i64>,
    /// Accepted.
    pub user: Option<String>,
    /// Accepted, -2 to 2; not applied.
    pub frequency_penalty: Option<f32>,
    /// Accepted, -2 to 2; not applied.
    pub presence_penalty: Option<f32>,
    /// Only `false`.
    pub logprobs: Option<bool>,
    /// Only `{"type":"text"}`.
    #[schema(value_type = Option<Object>)]
    pub response_format: Option<Value>,
    /// Tools are not supported; only an empty list.
    #[schema(value_type = Option<Vec<Object>>)]
    pub tools: Option<Vec<Value>>,
    /// Accepted.
    #[schema(value_type = Option<Object>)]
    pub tool_choice: Option<Value>,
    /// Accepted.
    pub parallel_tool_calls: Option<bool>,
    /// Accepted.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    /// Accepted.
    pub store: Option<bool>,
}

/// One message of the conversation.
#[derive(Debug, Deserialize)]
pub struct InMessage {
    pub role: String,
    #[serde(default)]
    pub content: Option<Content>,
    /// Accepted.
    #[serde(default)]
    pub name: Option<String>,
}

/// Text, or a list of parts of which only `text` parts are supported.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize)]
pub struct Part {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamOptions {
    /// Send a last chunk with the usage (and `"usage": null` on the others).
    #[serde(default)]
    pub include_usage: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompletionUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub prompt_tokens_details: PromptTokensDetails,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PromptTokensDetails {
    /// Prompt tokens not read again: an earlier request of the same user began the same way.
    pub cached_tokens: u64,
}

impl CompletionUsage {
    fn of(g: &Generation) -> Self {
        let (p, c) = (g.prompt_tokens as u64, g.completion_tokens as u64);
        CompletionUsage {
            prompt_tokens: p,
            completion_tokens: c,
            total_tokens: p + c,
            prompt_tokens_details: PromptTokensDetails {
                cached_tokens: g.cached_prompt_tokens as u64,
            },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssistantMessage {
    /// Always `assistant`.
    pub role: &'static str,
    pub content: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Choice {
    pub index: u32,
    pub message: AssistantMessage,
    /// `stop` (the model ended its turn or a stop text appeared) or `length` (`max_tokens`).
    pub finish_reason: &'static str,
    #[schema(value_type = Option<Object>)]
    pub logprobs: Option<Value>,
}

/// A whole answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatCompletion {
    pub id: String,
    /// Always `chat.completion`.
    pub object: &'static str,
    pub created: i64,
    pub model: String,
    pub choices: Vec<Choice>,
    pub usage: CompletionUsage,
    #[schema(value_type = Option<String>)]
    pub system_fingerprint: Option<String>,
}

/// A request checked and turned into the model's terms.
struct Prepared {
    model: String,
    messages: Vec<ChatMessage>,
    options: GenerateOptions,
    stream: bool,
    include_usage: bool,
}

fn prepare(state: &AppState, r: ChatCompletionRequest) -> Result<Prepared, OpenAiError> {
    let model = resolve(state, &r.model, Task::Chat)?;
    if r.messages.is_empty() {
        return Err(OpenAiError::invalid(
            "empty_messages",
            "`messages` must hold at least one message",
        )
        .with_param("messages"));
    }
    let mut messages = Vec::with_capacity(r.messages.len());
    for (i, m) in r.messages.into_iter().enumerate() {
        let param = format!("messages[{i}]");
        let role = match m.role.as_str() {
            "system" | "developer" => "system",
            "user" => "user",
            "assistant" => "assistant",
            "tool" | "function" => {
                return Err(OpenAiError::invalid(
                    "unsupported_role",
                    "tool and function messages are not supported (this server runs no tools)",
                )
                .with_param(format!("{param}.role")))
            }
            _ => {
                return Err(OpenAiError::param(
                    &format!("{param}.role"),
                    "role must be one of system, developer, user, assistant",
                ))
            }
        };
        let text = match m.content {
            Some(Content::Text(t)) => t,
            Some(Content::Parts(parts)) => {
                let mut texts = Vec::with_capacity(parts.len());
                for p in parts {
                    match (p.kind.as_str(), p.text) {
                        ("text", Some(t)) => texts.push(t),
                        ("text", None) => {
                            return Err(OpenAiError::param(
                                &format!("{param}.content"),
                                "a text part needs `text`",
                            ))
                        }
                        (other, _) => {
                            return Err(OpenAiError::invalid(
                                "unsupported_content",
                                format!(
                                    "content parts of type `{other}` are not supported; send text"
                                ),
                            )
                            .with_param(format!("{param}.content")))
                        }
                    }
                }
                texts.join("\n")
            }
            None if role == "assistant" => String::new(),
            None => {
                return Err(
                    OpenAiError::invalid("missing_field", "this message needs `content`")
                        .with_param(format!("{param}.content")),
                )
            }
        };
        messages.push(ChatMessage::new(role, text));
    }
    let defaults = GenerateOptions::default();
    let max_tokens = r
        .max_completion_tokens
        .or(r.max_tokens)
        .unwrap_or(DEFAULT_MAX_TOKENS);
    if max_tokens == 0 {
        return Err(OpenAiError::param(
            "max_tokens",
            "max_tokens must be at least 1",
        ));
    }
    let temperature = r.temperature.unwrap_or(defaults.temperature);
    if !(0.0..=2.0).contains(&temperature) {
        return Err(OpenAiError::param(
            "temperature",
            "temperature must be between 0 and 2",
        ));
    }
    let top_p = r.top_p.unwrap_or(defaults.top_p);
    if !(top_p > 0.0 && top_p <= 1.0) {
        return Err(OpenAiError::param(
            "top_p",
            "top_p must be greater than 0 and at most 1",
        ));
    }
    for (name, v) in [
        ("frequency_penalty", r.frequency_penalty),
        ("presence_penalty", r.presence_penalty),
    ] {
        if v.is_some_and(|v| !(-2.0..=2.0).contains(&v)) {
            return Err(OpenAiError::param(
                name,
                format!("{name} must be between -2 and 2"),
            ));
        }
    }
    let stop = match r.stop {
        None => Vec::new(),
        Some(Stop::One(s)) => vec![s],
        Some(Stop::Many(v)) => v,
    };
    if stop.len() > MAX_STOPS {
        return Err(OpenAiError::param(
            "stop",
            format!("at most {MAX_STOPS} stop texts"),
        ));
    }
    if r.n.is_some_and(|n| n != 1) {
        return Err(
            OpenAiError::invalid("unsupported_value", "only n = 1 is supported").with_param("n"),
        );
    }
    if r.logprobs == Some(true) {
        return Err(
            OpenAiError::invalid("unsupported_value", "logprobs are not supported")
                .with_param("logprobs"),
        );
    }
    if r.tools.as_ref().is_some_and(|t| !t.is_empty()) {
        return Err(OpenAiError::invalid(
            "unsupported_parameter",
            "tools are not supported by this server",
        )
        .with_param("tools"));
    }
    if let Some(f) = &r.response_format {
        if f.get("type").and_then(Value::as_str) != Some("text") {
            return Err(OpenAiError::invalid(
                "unsupported_value",
                "only response_format {\"type\": \"text\"} is supported",
            )
            .with_param("response_format"));
        }
    }
    let stream = r.stream.unwrap_or(false);
    Ok(Prepared {
        model,
        messages,
        options: GenerateOptions {
            max_tokens: max_tokens as usize,
            temperature,
            top_p,
            stop,
            // Any 64-bit seed is accepted; the sampler takes 32 bits of it.
            seed: r.seed.map(|s| s as u32),
            cache_scope: None,
        },
        stream,
        include_usage: stream && r.stream_options.is_some_and(|o| o.include_usage),
    })
}

/// What the generation task reports.
enum Event {
    Piece(String),
    Done(Result<Generation, InferError>),
}

/// Starts the generation in a task of its own (it outlives a client that goes away, so the
/// work done is metered); pieces and the outcome arrive on the returned channel.
fn start(
    pipelines: &Pipelines,
    service: web::Data<ContentService>,
    user: uuid::Uuid,
    p: &Prepared,
    cancel: Arc<AtomicBool>,
) -> mpsc::UnboundedReceiver<Event> {
    let (tx, rx) = mpsc::unbounded_channel();
    let on_token: Option<TokenSink> = p.stream.then(|| {
        let pieces = tx.clone();
        Box::new(move |piece: &str| {
            // Memory is bounded by max_tokens; a reader that is gone ends the generation.
            match pieces.send(Event::Piece(piece.to_owned())) {
                Ok(()) => ControlFlow::Continue(()),
                Err(_) => ControlFlow::Break(()),
            }
        }) as TokenSink
    });
    // Cached prompt state is shared only among one user's requests.
    let options = GenerateOptions {
        cache_scope: Some(user.to_string()),
        ..p.options.clone()
    };
    let request = ChatRequest {
        messages: p.messages.clone(),
        options,
        cancel,
        on_token,
        fit: false,
    };
    let instance = pipelines.chat.instance.clone();
    let model = p.model.clone();
    actix_web::rt::spawn(async move {
        let started = Instant::now();
        let outcome = match instance.send(Infer::<ChatModel>(request)).await {
            Ok(r) => r,
            Err(e) => Err(InferError::Stopped(e.to_string())),
        };
        if let Ok(g) = &outcome {
            let usage = Usage {
                kind: "chat",
                modality: Modality::Text,
                model,
                tokens_in: g.prompt_tokens as u64,
                tokens_out: g.completion_tokens as u64,
                audio_ms: 0,
                started,
            };
            meter(&service, user, usage).await;
            if g.finish == Finish::Cancelled {
                tracing::info!(%user, tokens = g.completion_tokens, "chat completion cancelled");
            }
        }
        let _ = tx.send(Event::Done(outcome));
    });
    rx
}

/// Sets the cancel flag when dropped (the request's future or stream went away) unless
/// disarmed first (the answer was delivered).
struct CancelOnDrop(Option<Arc<AtomicBool>>);

impl CancelOnDrop {
    fn disarm(&mut self) {
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

fn finish_reason(f: Finish) -> &'static str {
    match f {
        Finish::Length => "length",
        Finish::Stop | Finish::StopSequence | Finish::Cancelled => "stop",
    }
}

/// Create a chat completion
///
/// OpenAI's chat completions over the node's chat model. With `stream: true` the answer comes
/// as server-sent events: chunks (`object: chat.completion.chunk`) whose `delta.content` pieces
/// add up to the answer, a last chunk with `finish_reason`, with
/// `stream_options.include_usage` a chunk with the usage, then `data: [DONE]`. A prompt that
/// does not fit the context window with `max_tokens` is refused before any work.
#[utoipa::path(
    post, path = "/v1/chat/completions", tag = "openai",
    security(("bearer" = [])),
    request_body = ChatCompletionRequest,
    responses(
        (status = 200, body = ChatCompletion, description = "The answer; with `stream: true`, `text/event-stream` of chunks"),
        (status = 400, body = OpenAiErrorBody, description = "`context_length_exceeded`, `empty_messages`, `invalid_json`, `invalid_type`, `invalid_value`, `missing_field`, `unknown_parameter`, `unsupported_content`, `unsupported_role`, `model_not_supported`"),
        (status = 401, body = OpenAiErrorBody, description = "`invalid_api_key`, `missing_api_key`"),
        (status = 403, body = OpenAiErrorBody, description = "`quota_exceeded` (processing_seconds_per_day)"),
        (status = 404, body = OpenAiErrorBody, description = "`model_not_found`"),
        (status = 413, body = OpenAiErrorBody, description = "`payload_too_large`"),
        (status = 429, body = OpenAiErrorBody, description = "`rate_limit_exceeded`"),
        (status = 503, body = OpenAiErrorBody, description = "`model_busy`, `model_unavailable`"),
    )
)]
pub async fn completions(
    user: V1User,
    state: web::Data<AppState>,
    service: web::Data<ContentService>,
    pipelines: web::Data<Arc<Pipelines>>,
    body: web::Payload,
) -> Result<HttpResponse, OpenAiError> {
    let request: ChatCompletionRequest = read_json(body, MAX_BODY).await?;
    let p = prepare(&state, request)?;
    check_quota(&service, &user).await?;
    let cancel = Arc::new(AtomicBool::new(false));
    let mut guard = CancelOnDrop(Some(cancel.clone()));
    let mut rx = start(&pipelines, service, user.0.user_id, &p, cancel);
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let created = unix_now();
    if !p.stream {
        let generation = loop {
            match rx.recv().await {
                Some(Event::Done(outcome)) => break outcome.map_err(infer_error)?,
                Some(Event::Piece(_)) => continue,
                None => {
                    return Err(OpenAiError::internal(
                        "the chat task ended without an answer",
                    ))
                }
            }
        };
        guard.disarm();
        return Ok(HttpResponse::Ok().json(ChatCompletion {
            id,
            object: "chat.completion",
            created,
            model: p.model,
            choices: vec![Choice {
                index: 0,
                finish_reason: finish_reason(generation.finish),
                message: AssistantMessage {
                    role: "assistant",
                    content: generation.text.clone(),
                },
                logprobs: None,
            }],
            usage: CompletionUsage::of(&generation),
            system_fingerprint: None,
        }));
    }
    // The first event decides: a refusal (context too long, busy) is an HTTP error, not a
    // stream that starts and then fails.
    let first = rx
        .recv()
        .await
        .ok_or_else(|| OpenAiError::internal("the chat task ended without an answer"))?;
    if let Event::Done(Err(e)) = first {
        return Err(infer_error(e));
    }
    let stream = ChunkStream {
        rx,
        pending: Some(first),
        guard: Some(guard),
        id,
        created,
        model: p.model,
        include_usage: p.include_usage,
        sent_role: false,
        finished: false,
    };
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        // Compression would hold pieces back until a block fills.
        .insert_header(("Content-Encoding", "identity"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream))
}

/// The server-sent events of a streamed answer. Dropping it (the client went away) cancels the
/// generation.
struct ChunkStream {
    rx: mpsc::UnboundedReceiver<Event>,
    pending: Option<Event>,
    guard: Option<CancelOnDrop>,
    id: String,
    created: i64,
    model: String,
    include_usage: bool,
    sent_role: bool,
    finished: bool,
}

impl ChunkStream {
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

    fn render(&mut self, event: Event) -> String {
        let mut out = String::new();
        if !self.sent_role {
            self.sent_role = true;
            let role = self.chunk(json!({ "role": "assistant", "content": "" }), None);
            push_event(&mut out, &role);
        }
        match event {
            Event::Piece(piece) => {
                let c = self.chunk(json!({ "content": piece }), None);
                push_event(&mut out, &c);
            }
            Event::Done(Ok(g)) => {
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
            Event::Done(Err(e)) => {
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

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/chat/completions").route(web::post().to(completions)));
}

#[derive(OpenApi)]
#[openapi(
    paths(completions),
    components(schemas(
        ChatCompletionRequest,
        StreamOptions,
        ChatCompletion,
        Choice,
        AssistantMessage,
        CompletionUsage,
        PromptTokensDetails,
        OpenAiErrorBody
    ))
)]
struct ChatApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    ChatApi::openapi()
}
