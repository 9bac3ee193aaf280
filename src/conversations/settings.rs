//! How chat answers are made, from configuration (`[chat]`).

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatSettings {
    /// The provider of new conversations: `local` (the node's own model) or a configured id.
    pub default_provider: String,
    /// Tokens an answer may take at most.
    pub max_answer_tokens: usize,
    /// Sampling temperature of answers.
    pub temperature: f32,
    /// Characters of attachment and library context given to the model at most.
    pub context_chars: usize,
    /// Passages each ranking of the search index contributes when a question is about the
    /// user's files.
    pub retrieval_items: usize,
    /// Passages from the library added to such a question.
    pub retrieval_passages: usize,
    /// The longest an answer may take, in seconds.
    pub answer_timeout_secs: u64,
    /// After the first piece of an answer, pieces are appended at most this often (those that
    /// come meanwhile travel together): fewer events per answer, less work on every node.
    pub stream_interval_ms: u64,
    /// OpenAI-compatible providers by id (`[chat.providers.<id>]`).
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderSettings>,
}

/// An OpenAI-compatible chat endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    /// The name users see.
    pub name: Option<String>,
    /// The API's base URL, e.g. `https://api.example.com/v1` (`/chat/completions` is added).
    pub base_url: String,
    /// The bearer key, if the endpoint needs one. Never logged or shown.
    pub api_key: Option<SecretString>,
    /// The model name sent to the endpoint.
    pub model: String,
    /// Seconds to wait for the first byte and between two pieces of an answer.
    #[serde(default = "default_provider_timeout")]
    pub timeout_secs: u64,
    /// Whether users may choose it before an admin says otherwise.
    #[serde(default)]
    pub enabled: bool,
}

fn default_provider_timeout() -> u64 {
    60
}

/// `(key, value)` defaults for the `[chat]` section.
pub fn defaults(
    b: config::ConfigBuilder<config::builder::DefaultState>,
) -> Result<config::ConfigBuilder<config::builder::DefaultState>, config::ConfigError> {
    b.set_default("chat.default_provider", "local")?
        .set_default("chat.max_answer_tokens", 512)?
        .set_default("chat.temperature", 0.7)?
        .set_default("chat.context_chars", 12_000)?
        .set_default("chat.retrieval_items", 100)?
        .set_default("chat.retrieval_passages", 4)?
        .set_default("chat.answer_timeout_secs", 600)?
        .set_default("chat.stream_interval_ms", 50)
}
