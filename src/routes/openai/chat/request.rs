//! A chat completion request as OpenAI's clients send it, checked and turned into the model's
//! terms.

use serde::de::IgnoredAny;
use serde::Deserialize;
use tessera_events::ErrorCode;
use tessera_models::runtime::llama::{ChatMessage, GenerateOptions};
use utoipa::ToSchema;

use super::DEFAULT_MAX_TOKENS;
use crate::routes::capped::{Capped, TextOrList};
use crate::routes::openai::{resolve, OpenAiError, Task};
use crate::state::AppState;

/// Most stop texts (as OpenAI).
const MAX_STOPS: usize = 4;
/// Most messages in one request (as OpenAI).
pub const MAX_MESSAGES: usize = 2048;
/// Most content parts in one message.
pub const MAX_PARTS: usize = 64;

/// A chat completion request (OpenAI's fields; those marked *accepted* are read and ignored).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatCompletionRequest {
    /// The chat model's catalog id (`GET /v1/models`).
    pub model: String,
    /// The conversation; the answer is the assistant's next turn. Roles: `system`,
    /// `developer` (as system), `user`, `assistant`; content is text or up to 64 text parts.
    /// At most 2048 messages.
    #[schema(value_type = Vec<Object>, max_items = 2048)]
    pub messages: Capped<InMessage, MAX_MESSAGES>,
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
    /// -2 to 2: subtracted from a token's logit once per time it was generated. Every
    /// completion also gets a repeat penalty and DRY against loops.
    pub frequency_penalty: Option<f32>,
    /// -2 to 2: subtracted from a token's logit once it was generated at all.
    pub presence_penalty: Option<f32>,
    /// Only `false`.
    pub logprobs: Option<bool>,
    /// Only `{"type":"text"}`.
    #[schema(value_type = Option<Object>)]
    pub response_format: Option<ResponseFormat>,
    /// Tools are not supported; only an empty list.
    #[schema(value_type = Option<Vec<Object>>)]
    pub tools: Option<Capped<IgnoredAny, 0>>,
    /// Accepted (and not kept).
    #[schema(value_type = Option<Object>)]
    pub tool_choice: Option<IgnoredAny>,
    /// Accepted.
    pub parallel_tool_calls: Option<bool>,
    /// Accepted (and not kept).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<IgnoredAny>,
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
pub type Content = TextOrList<Part, MAX_PARTS>;

/// `response_format`: its `type` (anything else in it is parsed, not kept).
#[derive(Debug, Deserialize)]
pub struct ResponseFormat {
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Part {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
}

/// One stop text or a list of them.
pub type Stop = TextOrList<String, MAX_STOPS>;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamOptions {
    /// Send a last chunk with the usage (and `"usage": null` on the others).
    #[serde(default)]
    pub include_usage: bool,
}

/// A request checked and turned into the model's terms.
pub(super) struct Prepared {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub options: GenerateOptions,
    pub stream: bool,
    pub include_usage: bool,
}

pub(super) fn prepare(state: &AppState, r: ChatCompletionRequest) -> Result<Prepared, OpenAiError> {
    let model = resolve(state, &r.model, Task::Chat)?;
    let too_many = |param: String, what: &str, limit: usize| {
        OpenAiError::param(&param, format!("at most {limit} {what}"))
    };
    let in_messages = r
        .messages
        .into_vec("messages")
        .map_err(|e| too_many("messages".into(), "messages", e.limit))?;
    if in_messages.is_empty() {
        return Err(OpenAiError::invalid(
            ErrorCode::EmptyMessages,
            "`messages` must hold at least one message",
        )
        .with_param("messages"));
    }
    let mut messages = Vec::with_capacity(in_messages.len());
    for (i, m) in in_messages.into_iter().enumerate() {
        let param = format!("messages[{i}]");
        let role = match m.role.as_str() {
            "system" | "developer" => "system",
            "user" => "user",
            "assistant" => "assistant",
            "tool" | "function" => {
                return Err(OpenAiError::invalid(
                    ErrorCode::UnsupportedRole,
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
            Some(Content::List(parts)) => {
                let parts = parts
                    .into_vec("content")
                    .map_err(|e| too_many(format!("{param}.content"), "parts", e.limit))?;
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
                                ErrorCode::UnsupportedContent,
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
                return Err(OpenAiError::invalid(
                    ErrorCode::MissingField,
                    "this message needs `content`",
                )
                .with_param(format!("{param}.content")))
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
        Some(Stop::Text(s)) => vec![s],
        Some(Stop::List(v)) => v
            .into_vec("stop")
            .map_err(|e| too_many("stop".into(), "stop texts", e.limit))?,
    };
    if r.n.is_some_and(|n| n != 1) {
        return Err(
            OpenAiError::invalid(ErrorCode::UnsupportedValue, "only n = 1 is supported")
                .with_param("n"),
        );
    }
    if r.logprobs == Some(true) {
        return Err(OpenAiError::invalid(
            ErrorCode::UnsupportedValue,
            "logprobs are not supported",
        )
        .with_param("logprobs"));
    }
    if r.tools.as_ref().is_some_and(Capped::overflowed) {
        return Err(OpenAiError::invalid(
            ErrorCode::UnsupportedParameter,
            "tools are not supported by this server",
        )
        .with_param("tools"));
    }
    if let Some(f) = &r.response_format {
        if f.kind.as_deref() != Some("text") {
            return Err(OpenAiError::invalid(
                ErrorCode::UnsupportedValue,
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
            frequency_penalty: r.frequency_penalty.unwrap_or(0.0),
            presence_penalty: r.presence_penalty.unwrap_or(0.0),
            ..GenerateOptions::default()
        },
        stream,
        include_usage: stream && r.stream_options.is_some_and(|o| o.include_usage),
    })
}
