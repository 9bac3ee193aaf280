//! Where answers come from: the node's own chat model (`local`), or an OpenAI-compatible
//! endpoint (another Tessera's `/v1`, or any compatible service) configured under
//! `[chat.providers.<id>]`. Both stream the answer piece by piece into a channel and stop when
//! the cancel flag is set.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;
use tessera_actors::jobs::Pipelines;
use tessera_events::{ErrorCode, UserId};
use tessera_models::runtime::llama::{ChatMessage, Finish, GenerateOptions};
use tokio::sync::mpsc::UnboundedSender;

use super::settings::ProviderSettings;
use crate::inference::chat::{self, ChatWork, Pieces};

/// The id of the node's own model.
pub const LOCAL: &str = "local";

/// A finished (or stopped) answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// `stop`, `length` or `cancelled`.
    pub finish_reason: String,
    pub model: String,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub first_token_ms: u64,
    pub decode_tokens_per_s: f64,
    /// Prompt tokens whose state came from the local model's prompt cache.
    pub cached_prompt_tokens: u64,
}

/// Why a provider gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ProviderError {
    /// Stable: `provider_timeout`, `provider_error`, `provider_unreachable`,
    /// `provider_refused`, `model_busy`, `context_exceeded`, `model_unavailable`, ...
    pub code: ErrorCode,
    pub message: String,
}

impl ProviderError {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ProviderError {
            code,
            message: message.into(),
        }
    }
}

/// One provider.
#[derive(Clone)]
pub enum Provider {
    Local {
        pipelines: Arc<Pipelines>,
    },
    Remote {
        id: String,
        settings: ProviderSettings,
        client: reqwest::Client,
    },
}

/// What users see of a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderInfo {
    pub id: String,
    pub name: String,
    /// `local` or `openai_compatible`.
    pub kind: &'static str,
    pub model: String,
    /// The configured default, before any admin decision.
    pub enabled_by_default: bool,
    pub base_url: Option<String>,
}

/// Checks a configured provider: its id and its URL.
pub fn check_provider(id: &str, p: &ProviderSettings) -> Result<(), String> {
    let valid_id = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid_id || id == LOCAL {
        return Err(format!(
            "chat provider id {id:?}: use 1 to 64 of a-z, 0-9, - and _, and not {LOCAL:?}"
        ));
    }
    let url = reqwest::Url::parse(&p.base_url)
        .map_err(|e| format!("chat provider {id}: base_url {:?}: {e}", p.base_url))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "chat provider {id}: base_url must be http or https"
        ));
    }
    if p.model.trim().is_empty() {
        return Err(format!("chat provider {id}: model is empty"));
    }
    Ok(())
}

impl Provider {
    pub fn remote(id: &str, settings: ProviderSettings) -> Result<Self, String> {
        check_provider(id, &settings)?;
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(settings.timeout_secs.max(1)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Provider::Remote {
            id: id.to_owned(),
            settings,
            client,
        })
    }

    pub fn info(&self) -> ProviderInfo {
        match self {
            Provider::Local { pipelines } => ProviderInfo {
                id: LOCAL.into(),
                name: "This server".into(),
                kind: "local",
                model: pipelines.chat.info.id.clone(),
                enabled_by_default: true,
                base_url: None,
            },
            Provider::Remote { id, settings, .. } => ProviderInfo {
                id: id.clone(),
                name: settings.name.clone().unwrap_or_else(|| id.clone()),
                kind: "openai_compatible",
                model: settings.model.clone(),
                enabled_by_default: settings.enabled,
                base_url: Some(settings.base_url.clone()),
            },
        }
    }

    /// Generates the reply to `messages` for `user`, sending each piece to `pieces` as it
    /// comes.
    pub async fn answer(
        &self,
        user: UserId,
        messages: Vec<ChatMessage>,
        options: GenerateOptions,
        cancel: Arc<AtomicBool>,
        pieces: UnboundedSender<String>,
    ) -> Result<Answer, ProviderError> {
        match self {
            Provider::Local { pipelines } => {
                local(pipelines, user, messages, options, cancel, pieces).await
            }
            Provider::Remote {
                settings, client, ..
            } => remote(client, settings, messages, options, cancel, pieces).await,
        }
    }
}

async fn local(
    pipelines: &Pipelines,
    user: UserId,
    messages: Vec<ChatMessage>,
    options: GenerateOptions,
    cancel: Arc<AtomicBool>,
    pieces: UnboundedSender<String>,
) -> Result<Answer, ProviderError> {
    let work = ChatWork {
        messages,
        options,
        fit: true,
    };
    // A closed receiver: nobody records the answer any more.
    let pieces: Pieces = Box::new(move |piece| pieces.send(piece).is_ok());
    let g = chat::generate(pipelines, user, work, cancel, Some(pieces))
        .await
        .map_err(|e| ProviderError::new(e.code(), e.to_string()))?;
    Ok(Answer {
        finish_reason: match g.finish {
            Finish::Stop | Finish::StopSequence => "stop",
            Finish::Length => "length",
            Finish::Cancelled => "cancelled",
            Finish::Loop => "loop",
        }
        .into(),
        model: pipelines.chat.info.id.clone(),
        tokens_in: g.prompt_tokens as u64,
        tokens_out: g.completion_tokens as u64,
        first_token_ms: g.first_token_ms.round() as u64,
        decode_tokens_per_s: g.decode_tokens_per_s,
        cached_prompt_tokens: g.cached_prompt_tokens as u64,
    })
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    #[serde(default)]
    usage: Option<ChunkUsage>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct ChunkUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

/// The most bytes of a remote answer kept (a provider that never stops is cut off).
const MAX_REMOTE_ANSWER_BYTES: usize = 1024 * 1024;

async fn remote(
    client: &reqwest::Client,
    settings: &ProviderSettings,
    messages: Vec<ChatMessage>,
    options: GenerateOptions,
    cancel: Arc<AtomicBool>,
    pieces: UnboundedSender<String>,
) -> Result<Answer, ProviderError> {
    let started = Instant::now();
    let url = format!(
        "{}/chat/completions",
        settings.base_url.trim_end_matches('/')
    );
    let body = json!({
        "model": settings.model,
        "messages": messages
            .iter()
            .map(|m| json!({ "role": m.role, "content": m.content }))
            .collect::<Vec<_>>(),
        "stream": true,
        "stream_options": { "include_usage": true },
        "max_tokens": options.max_tokens,
        "temperature": options.temperature,
        "top_p": options.top_p,
    });
    let mut request = client.post(&url).json(&body);
    if let Some(key) = &settings.api_key {
        request = request.bearer_auth(key.expose_secret());
    }
    let timeout = Duration::from_secs(settings.timeout_secs.max(1));
    let response = tokio::time::timeout(timeout, request.send())
        .await
        .map_err(|_| {
            ProviderError::new(
                ErrorCode::ProviderTimeout,
                "the provider did not answer in time",
            )
        })?
        .map_err(|e| {
            let code = if e.is_timeout() {
                ErrorCode::ProviderTimeout
            } else {
                ErrorCode::ProviderUnreachable
            };
            ProviderError::new(code, format!("cannot reach the provider: {e}"))
        })?;
    let status = response.status();
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        let detail = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| text.chars().take(200).collect());
        let code = match status.as_u16() {
            401 | 403 => ErrorCode::ProviderRefused,
            404 => ErrorCode::ProviderModelNotFound,
            429 => ErrorCode::ProviderRateLimited,
            400 | 413 | 422 => ErrorCode::ProviderRejected,
            _ => ErrorCode::ProviderError,
        };
        return Err(ProviderError::new(
            code,
            format!("the provider answered {status}: {detail}"),
        ));
    }
    let mut events = response.bytes_stream().eventsource();
    let mut answer = Answer {
        finish_reason: "stop".into(),
        model: settings.model.clone(),
        tokens_in: 0,
        tokens_out: 0,
        first_token_ms: 0,
        decode_tokens_per_s: 0.0,
        cached_prompt_tokens: 0,
    };
    let mut first_at: Option<Instant> = None;
    let mut pieces_seen = 0u64;
    let mut bytes = 0usize;
    let mut done = false;
    while !done {
        if cancel.load(Ordering::Relaxed) {
            // Dropping the response closes the connection: the provider stops too.
            answer.finish_reason = "cancelled".into();
            break;
        }
        let next = tokio::time::timeout(timeout, events.next())
            .await
            .map_err(|_| {
                ProviderError::new(
                    ErrorCode::ProviderTimeout,
                    "the provider stopped sending the answer",
                )
            })?;
        let Some(event) = next else {
            return Err(ProviderError::new(
                ErrorCode::ProviderError,
                "the provider's stream ended without [DONE]",
            ));
        };
        let event = event.map_err(|e| {
            ProviderError::new(
                ErrorCode::ProviderError,
                format!("unreadable stream from the provider: {e}"),
            )
        })?;
        let data = event.data.trim();
        if data == "[DONE]" {
            break;
        }
        let chunk: Chunk = serde_json::from_str(data).map_err(|e| {
            ProviderError::new(
                ErrorCode::ProviderError,
                format!("the provider sent something that is not a chat chunk: {e}"),
            )
        })?;
        if let Some(m) = chunk.model {
            answer.model = m;
        }
        if let Some(u) = chunk.usage {
            answer.tokens_in = u.prompt_tokens;
            answer.tokens_out = u.completion_tokens;
        }
        for choice in chunk.choices {
            if let Some(text) = choice.delta.and_then(|d| d.content) {
                if !text.is_empty() {
                    if first_at.is_none() {
                        first_at = Some(Instant::now());
                        answer.first_token_ms = started.elapsed().as_millis() as u64;
                    }
                    pieces_seen += 1;
                    bytes += text.len();
                    if bytes > MAX_REMOTE_ANSWER_BYTES {
                        return Err(ProviderError::new(
                            ErrorCode::ProviderError,
                            "the provider's answer is larger than 1 MiB",
                        ));
                    }
                    if pieces.send(text).is_err() {
                        answer.finish_reason = "cancelled".into();
                        done = true;
                    }
                }
            }
            if let Some(reason) = choice.finish_reason {
                answer.finish_reason = if reason == "length" { "length" } else { "stop" }.into();
            }
        }
    }
    if answer.tokens_out == 0 {
        answer.tokens_out = pieces_seen;
    }
    if let Some(first) = first_at {
        let secs = first.elapsed().as_secs_f64();
        if secs > 0.0 && pieces_seen > 1 {
            answer.decode_tokens_per_s = (pieces_seen - 1) as f64 / secs;
        }
    }
    Ok(answer)
}
