//! `POST /v1/chat/completions`: the node's chat model, answered whole or streamed as
//! server-sent events (`data: {chunk}` … `data: [DONE]`).
//!
//! The generation runs in a task of its own ([`crate::inference::chat`]) that meters it when it
//! ends, so a client that goes away mid-stream stops the generation (the cancel flag, checked
//! between tokens) and the tokens generated until then are still recorded.

mod request;
mod response;
mod stream;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use actix_web::{web, HttpResponse};
use utoipa::OpenApi;

pub use request::{ChatCompletionRequest, Content, InMessage, Part, Stop, StreamOptions};
pub use response::{
    AssistantMessage, ChatCompletion, Choice, CompletionUsage, PromptTokensDetails,
};

use super::error::{infer_error, OpenAiErrorBody};
use super::{read_json, unix_now, OpenAiError, V1User};
use crate::inference::{ChatEvent, ChatWork, Inference};
use crate::state::AppState;
use request::prepare;
use stream::{CancelOnDrop, ChunkStream};

/// Largest request body.
const MAX_BODY: usize = 4 << 20;
/// `max_tokens` when the request names none.
pub const DEFAULT_MAX_TOKENS: u32 = 512;

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
    inference: web::Data<Inference>,
    req: actix_web::HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, OpenAiError> {
    let request: ChatCompletionRequest = read_json(&req, body, MAX_BODY).await?;
    let p = prepare(&state, request)?;
    let cancel = Arc::new(AtomicBool::new(false));
    let mut guard = CancelOnDrop(Some(cancel.clone()));
    let work = ChatWork {
        messages: p.messages,
        options: p.options,
        fit: false,
    };
    let mut rx = inference
        .start_chat(user.0.user_id, p.model.clone(), work, p.stream, cancel)
        .await?;
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let created = unix_now();
    if !p.stream {
        let generation = loop {
            match rx.recv().await {
                Some(ChatEvent::Done(outcome)) => break outcome.map_err(infer_error)?,
                Some(ChatEvent::Piece(_)) => continue,
                None => {
                    return Err(OpenAiError::internal(
                        "the chat task ended without an answer",
                    ))
                }
            }
        };
        guard.disarm();
        let answer = ChatCompletion::of(id, created, p.model, &generation);
        return Ok(HttpResponse::Ok().json(answer));
    }
    // The first event decides: a refusal (context too long, busy) is an HTTP error, not a
    // stream that starts and then fails.
    let first = rx
        .recv()
        .await
        .ok_or_else(|| OpenAiError::internal("the chat task ended without an answer"))?;
    if let ChatEvent::Done(Err(e)) = first {
        return Err(infer_error(e));
    }
    let stream = ChunkStream::new(rx, first, guard, id, created, p.model, p.include_usage);
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        // Compression would hold pieces back until a block fills.
        .insert_header(("Content-Encoding", "identity"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream))
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
