//! A chat completion answered whole, in OpenAI's shape.

use serde::Serialize;
use serde_json::Value;
use tessera_models::runtime::llama::{Finish, Generation};
use utoipa::ToSchema;

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
    pub(super) fn of(g: &Generation) -> Self {
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

impl ChatCompletion {
    /// The whole answer `generation` of `model`.
    pub(super) fn of(id: String, created: i64, model: String, generation: &Generation) -> Self {
        ChatCompletion {
            id,
            object: "chat.completion",
            created,
            model,
            choices: vec![Choice {
                index: 0,
                finish_reason: finish_reason(generation.finish),
                message: AssistantMessage {
                    role: "assistant",
                    content: generation.text.clone(),
                },
                logprobs: None,
            }],
            usage: CompletionUsage::of(generation),
            system_fingerprint: None,
        }
    }
}

pub(super) fn finish_reason(f: Finish) -> &'static str {
    match f {
        Finish::Length => "length",
        Finish::Stop | Finish::StopSequence | Finish::Cancelled | Finish::Loop => "stop",
    }
}
