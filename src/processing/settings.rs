//! How this node processes uploads, from configuration (`[processing]`).

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessingSettings {
    /// Whether this node runs processing jobs (every node records them; any node may run them).
    pub enabled: bool,
    /// Jobs this node runs at once.
    pub slots: usize,
    /// Attempts before a job is dead-lettered.
    pub max_attempts: u32,
    /// Seconds a lease lasts without a heartbeat; a dead node's jobs are taken over after this.
    pub lease_ttl_secs: u64,
    /// Seconds before the second attempt; doubled for each further one.
    pub backoff_secs: u64,
    /// The longest one attempt may run, in seconds.
    pub attempt_timeout_secs: u64,
    /// Memory the loaded models may take together, in MB; the least recently used idle model
    /// is unloaded past it.
    pub memory_budget_mb: u64,
    /// Inferences running at once across every model; 0 means one per core.
    pub inference_threads: usize,
    /// Memory, in MB, the chat model keeps of recent prompts' state so that a prompt beginning
    /// like an earlier one of the same user (the system prompt, the conversation so far) is
    /// only read from where it differs; 0 turns this off. Counted in the model's memory.
    pub prompt_cache_mb: u64,
    /// Seconds a model stays loaded without use.
    pub idle_unload_secs: u64,
    /// How long an embedding request waits for others to share its batch, in milliseconds.
    pub batch_window_ms: u64,
    /// Requests waiting for one model beyond this are refused as busy.
    pub max_queue: usize,
    /// The model catalog; default: the one built in (plus the user's, see `tessera models`).
    pub catalog: Option<std::path::PathBuf>,
    /// Which catalog model does each task; a user's own model (another GGUF, say) is chosen
    /// here by its catalog id.
    pub models: ModelChoice,
}

/// Catalog ids of the models the pipelines use.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelChoice {
    pub embeddings: String,
    pub classifier: String,
    pub ocr: String,
    pub vad: String,
    pub speech_recognition: String,
    pub speech_synthesis: String,
    pub chat: String,
}

/// `(key, value)` defaults for the `[processing]` section.
pub fn defaults(
    b: config::ConfigBuilder<config::builder::DefaultState>,
) -> Result<config::ConfigBuilder<config::builder::DefaultState>, config::ConfigError> {
    b.set_default("processing.enabled", true)?
        .set_default("processing.slots", 2)?
        .set_default("processing.max_attempts", 3)?
        .set_default("processing.lease_ttl_secs", 30)?
        .set_default("processing.backoff_secs", 10)?
        .set_default("processing.attempt_timeout_secs", 1800)?
        .set_default("processing.memory_budget_mb", 2048)?
        .set_default("processing.inference_threads", 0)?
        .set_default("processing.prompt_cache_mb", 64)?
        .set_default("processing.idle_unload_secs", 600)?
        .set_default("processing.batch_window_ms", 5)?
        .set_default("processing.max_queue", 512)?
        .set_default("processing.models.embeddings", "minilm-l6-v2-int8")?
        .set_default("processing.models.classifier", "efficientnet-lite0")?
        .set_default("processing.models.ocr", "ppocr-v4")?
        .set_default("processing.models.vad", "silero-vad")?
        .set_default("processing.models.speech_recognition", "whisper-tiny-en")?
        .set_default(
            "processing.models.speech_synthesis",
            "piper-en-us-joe-medium",
        )?
        .set_default("processing.models.chat", "smollm2-135m-instruct")
}
