//! llama.cpp, through `llama-cpp-2`, for GGUF chat models.
//!
//! One llama.cpp backend per process and one [`LlamaModel`] per model file, shared through an
//! `Arc`; every generation gets its own context (its own KV cache), so generations may run on
//! several threads at once. Contexts are created one at a time: llama.cpp mutates the model while
//! it creates one. The chat template stored in the GGUF is rendered with `minijinja`, with a
//! built-in ChatML template for files that carry none.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::{LlamaStateSeqFlags, SeqState};
use minijinja::{context, Environment, Error as JinjaError, ErrorKind, Value};
use serde::{Deserialize, Serialize};

use super::RuntimeError;

/// ChatML, for GGUF files that carry no chat template.
pub const CHATML_TEMPLATE: &str =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] \
    + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}\
    {{ '<|im_start|>assistant\n' }}{% endif %}";

/// Context sizes are rounded up to a multiple of this many tokens.
const CONTEXT_GRANULE: usize = 256;
/// Text longer than this many bytes per context token cannot fit and is refused before it is
/// tokenized (no vocabulary has tokens anywhere near this long).
const MAX_BYTES_PER_TOKEN: usize = 64;

/// What can go wrong while loading a GGUF model or generating with it.
#[derive(Debug, thiserror::Error)]
pub enum LlamaError {
    #[error("cannot start llama.cpp: {0}")]
    Backend(String),
    #[error("model file {path} is missing; run `tessera models fetch`")]
    ModelMissing { path: String },
    #[error("cannot load GGUF model {path}: {message}")]
    Load { path: String, message: String },
    #[error("the chat cannot be rendered: {0}")]
    InvalidMessages(String),
    #[error("invalid generation options: {0}")]
    InvalidOptions(String),
    #[error("the prompt is empty")]
    EmptyPrompt,
    #[error(
        "the prompt ({prompt_tokens} tokens) plus max_tokens ({max_tokens}) exceeds the context \
         window of {n_ctx} tokens"
    )]
    ContextExceeded {
        prompt_tokens: usize,
        max_tokens: usize,
        n_ctx: usize,
    },
    #[error("the input is {bytes} bytes; at most {limit} bytes fit the context window")]
    InputTooLarge { bytes: usize, limit: usize },
    #[error("cannot create a llama.cpp context of {n_ctx} tokens: {message}")]
    Context { n_ctx: usize, message: String },
    #[error("llama.cpp failed to decode: {0}")]
    Decode(String),
}

impl LlamaError {
    /// A stable, machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            LlamaError::Backend(_) => "llama_backend",
            LlamaError::ModelMissing { .. } => "model_missing",
            LlamaError::Load { .. } => "model_load",
            LlamaError::InvalidMessages(_) => "invalid_messages",
            LlamaError::InvalidOptions(_) => "invalid_options",
            LlamaError::EmptyPrompt => "empty_prompt",
            LlamaError::ContextExceeded { .. } => "context_exceeded",
            LlamaError::InputTooLarge { .. } => "input_too_large",
            LlamaError::Context { .. } => "context_create",
            LlamaError::Decode(_) => "decode_failed",
        }
    }
}

impl From<LlamaError> for RuntimeError {
    fn from(e: LlamaError) -> Self {
        match e {
            LlamaError::ModelMissing { path } => RuntimeError::ModelMissing { path },
            LlamaError::Load { path, message } => RuntimeError::Load { path, message },
            other => RuntimeError::Inference {
                model: "llama".into(),
                message: format!("{}: {other}", other.code()),
            },
        }
    }
}

/// How a model is loaded and how its contexts are built.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LlamaOptions {
    /// The largest context (prompt plus completion) in tokens; `None` is the model's training
    /// context. Each generation allocates only what it needs, up to this.
    pub n_ctx: Option<u32>,
    /// Threads for token-by-token decoding (1 is fastest for small models on few cores).
    pub n_threads: u32,
    /// Threads for prompt processing.
    pub n_threads_batch: u32,
    /// Prompt tokens per decode call.
    pub n_batch: u32,
    /// Bytes of saved KV state kept to skip re-reading a prompt's shared beginning (the system
    /// prompt, the conversation so far); 0 turns the prompt cache off. See [`PromptCache`].
    pub prompt_cache_bytes: usize,
}

impl Default for LlamaOptions {
    fn default() -> Self {
        LlamaOptions {
            n_ctx: None,
            n_threads: 1,
            n_threads_batch: 2,
            n_batch: 512,
            prompt_cache_bytes: 0,
        }
    }
}

/// One turn of a conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant` (templates may accept others).
    pub role: String,
    /// The text of the turn.
    pub content: String,
}

impl ChatMessage {
    /// A message with any role.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }

    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
}

/// How to sample a completion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenerateOptions {
    /// The most tokens to generate (at least 1).
    pub max_tokens: usize,
    /// Softmax temperature; 0 picks the most likely token every time (greedy).
    pub temperature: f32,
    /// Nucleus sampling: keep the most likely tokens whose probabilities add up to this (0, 1].
    pub top_p: f32,
    /// Texts that end the completion; they are never part of it.
    pub stop: Vec<String>,
    /// Seed of the sampler; `None` seeds from the clock.
    pub seed: Option<u32>,
    /// Who may share cached prompt state with this generation (a user's id): a generation
    /// reuses, and leaves behind, saved state only within its scope, so nobody can time
    /// another user's prompts. `None` neither reuses nor saves.
    #[serde(skip)]
    pub cache_scope: Option<String>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_tokens: 256,
            temperature: 0.7,
            top_p: 0.9,
            stop: Vec::new(),
            seed: None,
            cache_scope: None,
        }
    }
}

impl GenerateOptions {
    /// Greedy decoding of at most `max_tokens` tokens.
    pub fn greedy(max_tokens: usize) -> Self {
        GenerateOptions {
            max_tokens,
            temperature: 0.0,
            ..Self::default()
        }
    }

    fn validate(&self) -> Result<(), LlamaError> {
        if self.max_tokens == 0 {
            return Err(LlamaError::InvalidOptions(
                "max_tokens must be at least 1".into(),
            ));
        }
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return Err(LlamaError::InvalidOptions(format!(
                "temperature must be a number >= 0, not {}",
                self.temperature
            )));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(LlamaError::InvalidOptions(format!(
                "top_p must be in (0, 1], not {}",
                self.top_p
            )));
        }
        Ok(())
    }
}

/// Why a generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finish {
    /// The model ended its turn (an end-of-generation token).
    Stop,
    /// `max_tokens` were generated.
    Length,
    /// One of the stop texts appeared.
    StopSequence,
    /// The caller cancelled (the flag, or the token callback returned `Break`).
    Cancelled,
}

/// A finished completion and how it went.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    /// The completion: exactly the concatenation of the pieces streamed to the callback.
    pub text: String,
    /// Why it ended.
    pub finish: Finish,
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Prompt tokens whose state came from the prompt cache instead of being evaluated.
    pub cached_prompt_tokens: usize,
    /// Tokens generated (the end-of-generation token not counted).
    pub completion_tokens: usize,
    /// Milliseconds from the call to the first sampled token (tokenizing and prompt included).
    pub first_token_ms: f64,
    /// Tokens per second of the token-by-token phase after the first token.
    pub decode_tokens_per_s: f64,
}

/// A GGUF model loaded into llama.cpp, shared by all generations of the process.
pub struct LlamaModel {
    model: llama_cpp_2::model::LlamaModel,
    backend: &'static LlamaBackend,
    templates: Environment<'static>,
    template_from_file: bool,
    bos_token: String,
    eos_token: String,
    n_ctx_train: usize,
    n_ctx: usize,
    options: LlamaOptions,
    path: PathBuf,
    prompt_cache: PromptCache,
}

impl std::fmt::Debug for LlamaModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlamaModel")
            .field("path", &self.path)
            .field("n_ctx", &self.n_ctx)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// The process's llama.cpp backend, started on first use.
fn backend() -> Result<&'static LlamaBackend, LlamaError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| LlamaError::Backend(e.clone()))
}

/// The process's llama.cpp backend, for code that drives llama.cpp directly (a benchmark's
/// baseline loop): llama.cpp allows one per process.
pub fn shared_backend() -> Result<&'static LlamaBackend, LlamaError> {
    backend()
}

/// Models loaded in this process by file and options, so a second load shares the first.
type Loaded = HashMap<(PathBuf, LlamaOptions), Weak<LlamaModel>>;

fn loaded() -> &'static Mutex<Loaded> {
    static LOADED: OnceLock<Mutex<Loaded>> = OnceLock::new();
    LOADED.get_or_init(Mutex::default)
}

/// Held while a context is created: llama.cpp writes to the model while it builds one.
static CONTEXT_CREATION: Mutex<()> = Mutex::new(());

impl LlamaModel {
    /// The llama.cpp model underneath, for code that drives llama.cpp directly.
    pub fn raw(&self) -> &llama_cpp_2::model::LlamaModel {
        &self.model
    }

    /// Loads a GGUF file, or returns the process's already loaded copy of it (same options).
    pub fn load(path: &Path, options: &LlamaOptions) -> Result<Arc<Self>, LlamaError> {
        let shown = path.display().to_string();
        if !path.is_file() {
            return Err(LlamaError::ModelMissing { path: shown });
        }
        if options.n_threads == 0 || options.n_threads_batch == 0 || options.n_batch == 0 {
            return Err(LlamaError::InvalidOptions(
                "n_threads, n_threads_batch and n_batch must be at least 1".into(),
            ));
        }
        let key = (
            path.canonicalize().unwrap_or_else(|_| path.to_path_buf()),
            options.clone(),
        );
        // Held through the load so two threads loading one file share one copy.
        let mut models = loaded().lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(model) = models.get(&key).and_then(Weak::upgrade) {
            return Ok(model);
        }
        models.retain(|_, m| m.strong_count() > 0);

        let started = Instant::now();
        let backend = backend()?;
        let model = llama_cpp_2::model::LlamaModel::load_from_file(
            backend,
            path,
            &LlamaModelParams::default(),
        )
        .map_err(|e| LlamaError::Load {
            path: shown.clone(),
            message: e.to_string(),
        })?;

        let n_ctx_train = model
            .meta_val_str("general.architecture")
            .ok()
            .and_then(|arch| model.meta_val_str(&format!("{arch}.context_length")).ok())
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
            .ok_or_else(|| LlamaError::Load {
                path: shown.clone(),
                message: "the file states no context length".into(),
            })?;
        let n_ctx = match options.n_ctx {
            Some(0) => {
                return Err(LlamaError::InvalidOptions(
                    "n_ctx must be at least 1".into(),
                ))
            }
            Some(n) => (n as usize).min(n_ctx_train),
            None => n_ctx_train,
        };

        let file_template = model
            .chat_template(None)
            .ok()
            .and_then(|t| t.to_string().ok())
            .or_else(|| model.meta_val_str("tokenizer.chat_template").ok())
            .filter(|t| !t.trim().is_empty());
        let (templates, template_from_file) = match file_template {
            Some(source) => match template_environment(source) {
                Ok(env) => (env, true),
                Err(e) => {
                    tracing::warn!(path = %shown, error = %e, "the GGUF chat template does not parse; using ChatML");
                    (
                        template_environment(CHATML_TEMPLATE.to_owned()).map_err(|e| {
                            LlamaError::Load {
                                path: shown.clone(),
                                message: e.to_string(),
                            }
                        })?,
                        false,
                    )
                }
            },
            None => (
                template_environment(CHATML_TEMPLATE.to_owned()).map_err(|e| LlamaError::Load {
                    path: shown.clone(),
                    message: e.to_string(),
                })?,
                false,
            ),
        };

        let vocab = model.vocab();
        let token_text = |token: LlamaToken| {
            if token.0 >= 0 && token.0 < vocab.n_tokens() {
                vocab
                    .text(token)
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default()
            } else {
                String::new()
            }
        };
        let bos_token = token_text(vocab.bos());
        let eos_token = token_text(vocab.eos());

        let loaded = Arc::new(LlamaModel {
            model,
            backend,
            templates,
            template_from_file,
            bos_token,
            eos_token,
            n_ctx_train,
            n_ctx,
            options: options.clone(),
            path: path.to_path_buf(),
            prompt_cache: PromptCache::new(options.prompt_cache_bytes),
        });
        tracing::info!(
            path = %shown,
            load_ms = started.elapsed().as_secs_f64() * 1e3,
            n_ctx,
            template_from_file,
            "GGUF model loaded"
        );
        models.insert(key, Arc::downgrade(&loaded));
        Ok(loaded)
    }

    /// The context length the model was trained with.
    pub fn n_ctx_train(&self) -> usize {
        self.n_ctx_train
    }

    /// The largest context a generation may use (prompt plus completion), in tokens.
    pub fn n_ctx(&self) -> usize {
        self.n_ctx
    }

    /// Whether the chat template came from the file (otherwise the built-in ChatML is used).
    pub fn has_file_template(&self) -> bool {
        self.template_from_file
    }

    /// Renders a conversation with the model's chat template, ending with the prompt for the
    /// assistant's next turn.
    pub fn render_chat(&self, messages: &[ChatMessage]) -> Result<String, LlamaError> {
        if messages.is_empty() {
            return Err(LlamaError::InvalidMessages("there are no messages".into()));
        }
        let template = self
            .templates
            .get_template("chat")
            .map_err(|e| LlamaError::InvalidMessages(e.to_string()))?;
        let messages: Value = messages
            .iter()
            .map(|m| context! { role => m.role.as_str(), content => m.content.as_str() })
            .collect();
        template
            .render(context! {
                messages => messages,
                add_generation_prompt => true,
                bos_token => self.bos_token.as_str(),
                eos_token => self.eos_token.as_str(),
            })
            .map_err(|e| LlamaError::InvalidMessages(jinja_message(&e)))
    }

    /// The number of tokens of a text (special tokens such as `<|im_start|>` count as one).
    pub fn count_tokens(&self, text: &str) -> Result<usize, LlamaError> {
        Ok(self.tokenize(text)?.len())
    }

    /// The number of tokens of a rendered conversation.
    pub fn count_chat_tokens(&self, messages: &[ChatMessage]) -> Result<usize, LlamaError> {
        self.count_tokens(&self.render_chat(messages)?)
    }

    /// Drops the oldest messages that are not system messages (never the last one) until the
    /// conversation plus `max_tokens` fits the context window.
    pub fn fit_messages(
        &self,
        messages: &[ChatMessage],
        max_tokens: usize,
    ) -> Result<Vec<ChatMessage>, LlamaError> {
        let mut kept = messages.to_vec();
        loop {
            let prompt_tokens = self.count_chat_tokens(&kept)?;
            if prompt_tokens + max_tokens <= self.n_ctx {
                return Ok(kept);
            }
            let last = kept.len().saturating_sub(1);
            match kept.iter().take(last).position(|m| m.role != "system") {
                Some(i) => {
                    kept.remove(i);
                }
                None => {
                    return Err(LlamaError::ContextExceeded {
                        prompt_tokens,
                        max_tokens,
                        n_ctx: self.n_ctx,
                    })
                }
            }
        }
    }

    fn tokenize(&self, text: &str) -> Result<Vec<LlamaToken>, LlamaError> {
        let limit = self.n_ctx.saturating_mul(MAX_BYTES_PER_TOKEN);
        if text.len() > limit {
            return Err(LlamaError::InputTooLarge {
                bytes: text.len(),
                limit,
            });
        }
        let vocab = self.model.vocab();
        // A template that already wrote the BOS token must not get a second one.
        let add_special = self.bos_token.is_empty() || !text.starts_with(&self.bos_token);
        Ok(vocab.tokenize(text.as_bytes(), add_special, true))
    }

    /// Renders a conversation and generates the assistant's reply; see [`LlamaModel::generate`].
    pub fn chat(
        &self,
        messages: &[ChatMessage],
        options: &GenerateOptions,
        cancel: &AtomicBool,
        on_token: impl FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Generation, LlamaError> {
        let prompt = self.render_chat(messages)?;
        self.generate(&prompt, options, cancel, on_token)
    }

    /// Continues a prompt (already in the model's chat format, or plain text), streaming the
    /// completion to `on_token` in UTF-8-safe pieces. Ends at an end-of-generation token, a stop
    /// text (never streamed), `max_tokens`, `cancel` becoming true, or `on_token` returning
    /// `Break`. Runs on its own context, so several may run at once on different threads.
    pub fn generate(
        &self,
        prompt: &str,
        options: &GenerateOptions,
        cancel: &AtomicBool,
        mut on_token: impl FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Generation, LlamaError> {
        let started = Instant::now();
        options.validate()?;
        let tokens = self.tokenize(prompt)?;
        if tokens.is_empty() {
            return Err(LlamaError::EmptyPrompt);
        }
        let needed = tokens.len().saturating_add(options.max_tokens);
        if needed > self.n_ctx {
            return Err(LlamaError::ContextExceeded {
                prompt_tokens: tokens.len(),
                max_tokens: options.max_tokens,
                n_ctx: self.n_ctx,
            });
        }
        let mut generation = Generation {
            text: String::new(),
            finish: Finish::Cancelled,
            prompt_tokens: tokens.len(),
            cached_prompt_tokens: 0,
            completion_tokens: 0,
            first_token_ms: 0.0,
            decode_tokens_per_s: 0.0,
        };
        if cancel.load(Ordering::Relaxed) {
            return Ok(generation);
        }

        // The KV state of a cached prompt that begins like this one replaces evaluating that
        // beginning again; the last prompt token is always evaluated, for its logits. The
        // context is made large enough to take the saved state whole (it is cut back after).
        let scope = options.cache_scope.as_deref();
        let cached = scope.and_then(|s| self.prompt_cache.find(s, &tokens, self.n_ctx.max(needed)));
        let wanted = needed.max(cached.as_ref().map_or(0, |(saved, _)| saved.tokens.len()));
        let n_ctx = wanted.div_ceil(CONTEXT_GRANULE) * CONTEXT_GRANULE;
        let n_ctx = n_ctx.min(self.n_ctx.max(wanted));
        let n_batch = (self.options.n_batch as usize).min(n_ctx);
        let mut ctx = self.new_context(n_ctx, n_batch)?;
        let vocab = self.model.vocab();

        let reused = match cached {
            Some((saved, shared)) => restore(&mut ctx, &saved, shared),
            None => 0,
        };
        generation.cached_prompt_tokens = reused;
        // Every token whose state is in the context, in order: what a later prompt may reuse.
        let mut evaluated = tokens.clone();

        let mut batch = LlamaBatch::new(n_batch, 1);
        let last = tokens.len() - 1;
        for (chunk_index, chunk) in tokens[reused..].chunks(n_batch).enumerate() {
            if cancel.load(Ordering::Relaxed) {
                return Ok(generation);
            }
            batch.clear();
            for (i, &token) in chunk.iter().enumerate() {
                let pos = reused + chunk_index * n_batch + i;
                add(&mut batch, token, pos, pos == last)?;
            }
            ctx.decode(&mut batch)
                .map_err(|e| LlamaError::Decode(e.to_string()))?;
        }

        let mut sampler = sampler(options);
        let mut stream = TextStream::new(&options.stop);
        let mut piece = Vec::with_capacity(32);
        let mut position = tokens.len();
        let mut first_token_at = None;
        let mut last_token_at = None;
        let mut decode_steps = 0usize;
        let finish = loop {
            if cancel.load(Ordering::Relaxed) {
                break Finish::Cancelled;
            }
            let token = sampler.sample(&ctx, batch.n_tokens() - 1);
            let now = Instant::now();
            first_token_at.get_or_insert(now);
            last_token_at = Some(now);
            if vocab.is_eog(token) {
                break Finish::Stop;
            }
            generation.completion_tokens += 1;
            piece.clear();
            vocab.token_to_piece_into(token, &mut piece, false, None);
            match stream.push(&piece, &mut on_token) {
                Pushed::Open => {}
                Pushed::Stopped => break Finish::StopSequence,
                Pushed::Refused => break Finish::Cancelled,
            }
            if generation.completion_tokens >= options.max_tokens {
                break Finish::Length;
            }
            batch.clear();
            add(&mut batch, token, position, true)?;
            position += 1;
            ctx.decode(&mut batch)
                .map_err(|e| LlamaError::Decode(e.to_string()))?;
            evaluated.push(token);
            decode_steps += 1;
        };
        if matches!(finish, Finish::Stop | Finish::Length) {
            stream.flush(&mut on_token);
        }
        generation.finish = finish;
        generation.text = stream.into_text();
        if let (Some(first), Some(last)) = (first_token_at, last_token_at) {
            generation.first_token_ms = first.duration_since(started).as_secs_f64() * 1e3;
            let secs = last.duration_since(first).as_secs_f64();
            if decode_steps > 0 && secs > 0.0 {
                generation.decode_tokens_per_s = decode_steps as f64 / secs;
            }
        }
        if let Some(scope) = scope {
            self.prompt_cache.save(scope, evaluated, &ctx);
        }
        Ok(generation)
    }

    /// Bytes the prompt cache holds now.
    pub fn prompt_cache_bytes(&self) -> usize {
        self.prompt_cache.bytes()
    }

    fn new_context(&self, n_ctx: usize, n_batch: usize) -> Result<LlamaContext<'_>, LlamaError> {
        let context_err = |message: String| LlamaError::Context { n_ctx, message };
        let size = u32::try_from(n_ctx)
            .ok()
            .and_then(NonZeroU32::new)
            .ok_or_else(|| context_err("the size is out of range".into()))?;
        let batch = u32::try_from(n_batch).map_err(|e| context_err(e.to_string()))?;
        let threads =
            i32::try_from(self.options.n_threads).map_err(|e| context_err(e.to_string()))?;
        let threads_batch =
            i32::try_from(self.options.n_threads_batch).map_err(|e| context_err(e.to_string()))?;
        let params = LlamaContextParams::default()
            .with_n_ctx(Some(size))
            .with_n_batch(batch)
            .with_n_ubatch(batch)
            .with_n_seq_max(1)
            .with_n_threads(threads)
            .with_n_threads_batch(threads_batch);
        let _creating = CONTEXT_CREATION
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.model
            .new_context(self.backend, params)
            .map_err(|e| context_err(e.to_string()))
    }
}

fn add(
    batch: &mut LlamaBatch,
    token: LlamaToken,
    position: usize,
    logits: bool,
) -> Result<(), LlamaError> {
    let position =
        i32::try_from(position).map_err(|e| LlamaError::Decode(format!("position: {e}")))?;
    batch
        .add(token, position, &[0], logits)
        .map_err(|e| LlamaError::Decode(e.to_string()))
}

/// Loads a saved state into a fresh context and cuts it back to the first `shared` tokens.
/// Returns how many prompt tokens need no evaluation: `shared`, or 0 when the state does not
/// load or cannot be cut (then the context is empty again and the prompt is read whole).
fn restore(ctx: &mut LlamaContext<'_>, saved: &SavedPrompt, shared: usize) -> usize {
    let cut = u32::try_from(shared).ok();
    let loaded = ctx.state_seq_set(&saved.state, 0).is_ok();
    if loaded && cut.is_some() && ctx.clear_kv_cache_seq(Some(0), cut, None).unwrap_or(false) {
        return shared;
    }
    tracing::debug!(loaded, shared, "a cached prompt state could not be reused");
    ctx.clear_kv_cache();
    0
}

/// A prompt's KV state after its tokens were evaluated.
struct SavedPrompt {
    scope: String,
    tokens: Vec<LlamaToken>,
    state: SeqState,
}

/// The KV states of a model's recent generations (prompt and answer), so that a prompt that
/// begins like one of them (the same system prompt; the same conversation one turn later) is
/// only evaluated from where they part. A state is reused only by generations of the same
/// scope (a user), since a faster first token would tell one user what another asked. The
/// oldest states go first once the byte budget is reached.
struct PromptCache {
    budget: usize,
    saved: Mutex<Vec<Arc<SavedPrompt>>>,
}

/// Shared beginnings shorter than this are evaluated again: restoring costs more than it saves.
const MIN_SHARED_TOKENS: usize = 16;
/// States kept at most, whatever their size.
const MAX_SAVED_PROMPTS: usize = 32;

impl PromptCache {
    fn new(budget: usize) -> Self {
        PromptCache {
            budget,
            saved: Mutex::new(Vec::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<SavedPrompt>>> {
        self.saved.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn bytes(&self) -> usize {
        self.lock().iter().map(|s| s.state.byte_len()).sum()
    }

    /// The saved state of `scope` sharing the longest beginning with `tokens` (at least
    /// [`MIN_SHARED_TOKENS`], at most all but the last token) that fits a context of `n_ctx`
    /// tokens, and the length of that beginning. The state moves to the back (recently used).
    fn find(
        &self,
        scope: &str,
        tokens: &[LlamaToken],
        n_ctx: usize,
    ) -> Option<(Arc<SavedPrompt>, usize)> {
        if self.budget == 0 {
            return None;
        }
        let mut saved = self.lock();
        let (index, shared) = saved
            .iter()
            .enumerate()
            .filter(|(_, s)| s.scope == scope && s.tokens.len() <= n_ctx)
            .map(|(i, s)| {
                let shared = s
                    .tokens
                    .iter()
                    .zip(tokens)
                    .take_while(|(a, b)| a == b)
                    .count();
                (i, shared.min(tokens.len() - 1))
            })
            .max_by_key(|&(i, shared)| (shared, i))?;
        if shared < MIN_SHARED_TOKENS {
            return None;
        }
        let entry = saved.remove(index);
        saved.push(entry.clone());
        Some((entry, shared))
    }

    /// Saves the state of a context that holds `tokens`, replacing the scope's states it makes
    /// redundant (those that are a beginning of it), then drops the oldest over the budget.
    fn save(&self, scope: &str, tokens: Vec<LlamaToken>, ctx: &LlamaContext<'_>) {
        if self.budget == 0 || tokens.len() < MIN_SHARED_TOKENS {
            return;
        }
        let state = match ctx.state_seq_get(0, LlamaStateSeqFlags::empty()) {
            Ok(state) if state.byte_len() <= self.budget => state,
            Ok(_) => return,
            Err(e) => {
                tracing::debug!(error = %e, "the prompt state could not be saved");
                return;
            }
        };
        let mut saved = self.lock();
        saved.retain(|s| s.scope != scope || !tokens.starts_with(&s.tokens));
        saved.push(Arc::new(SavedPrompt {
            scope: scope.to_owned(),
            tokens,
            state,
        }));
        let mut total: usize = saved.iter().map(|s| s.state.byte_len()).sum();
        while total > self.budget || saved.len() > MAX_SAVED_PROMPTS {
            let oldest = saved.remove(0);
            total -= oldest.state.byte_len();
        }
    }
}

fn sampler(options: &GenerateOptions) -> LlamaSampler {
    if options.temperature <= 0.0 {
        return LlamaSampler::greedy();
    }
    let seed = options.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32))
            .unwrap_or(0)
    });
    LlamaSampler::chain_simple([
        LlamaSampler::top_p(options.top_p, 1),
        LlamaSampler::temp(options.temperature),
        LlamaSampler::dist(seed),
    ])
}

/// A minijinja environment holding one template, `chat`, configured like Hugging Face's
/// renderer (blocks trimmed, Python string methods, `raise_exception`).
fn template_environment(source: String) -> Result<Environment<'static>, JinjaError> {
    let mut env = Environment::new();
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()?,
    );
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    minijinja_contrib::add_to_environment(&mut env);
    env.add_function(
        "raise_exception",
        |message: String| -> Result<Value, JinjaError> {
            Err(JinjaError::new(ErrorKind::InvalidOperation, message))
        },
    );
    env.add_template_owned("chat", source)?;
    Ok(env)
}

/// The message of a template error, without minijinja's source listing.
fn jinja_message(e: &JinjaError) -> String {
    match e.detail() {
        Some(detail) => detail.to_owned(),
        None => e.to_string(),
    }
}

/// What happened to a piece pushed into a [`TextStream`].
#[derive(Debug, PartialEq, Eq)]
enum Pushed {
    /// The completion goes on.
    Open,
    /// A stop text appeared; the text before it was streamed.
    Stopped,
    /// The callback asked to stop.
    Refused,
}

/// Turns token bytes into streamed text: holds back incomplete UTF-8 sequences and any tail
/// that could be the start of a stop text, and cuts the text at the first stop text.
struct TextStream<'s> {
    stops: Vec<&'s str>,
    longest_stop: usize,
    pending: Vec<u8>,
    text: String,
    emitted: usize,
}

impl<'s> TextStream<'s> {
    fn new(stops: &'s [String]) -> Self {
        let stops: Vec<&str> = stops
            .iter()
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .collect();
        let longest_stop = stops.iter().map(|s| s.len()).max().unwrap_or(0);
        TextStream {
            stops,
            longest_stop,
            pending: Vec::new(),
            text: String::new(),
            emitted: 0,
        }
    }

    fn push(&mut self, bytes: &[u8], sink: &mut impl FnMut(&str) -> ControlFlow<()>) -> Pushed {
        self.pending.extend_from_slice(bytes);
        self.decode_pending(false);

        let mut from = self.emitted.saturating_sub(self.longest_stop);
        while !self.text.is_char_boundary(from) {
            from -= 1;
        }
        let found = self
            .stops
            .iter()
            .filter_map(|stop| self.text[from..].find(stop).map(|i| from + i))
            .min();
        if let Some(at) = found {
            let at = at.max(self.emitted);
            self.text.truncate(at);
            // The stop is final even if the callback refuses this last piece.
            let _ = self.emit(at, sink);
            return Pushed::Stopped;
        }

        let held = self.held_back();
        match self.emit(self.text.len() - held, sink) {
            ControlFlow::Continue(()) => Pushed::Open,
            ControlFlow::Break(()) => Pushed::Refused,
        }
    }

    /// The length of the longest tail of the unstreamed text that begins some stop text.
    fn held_back(&self) -> usize {
        let tail = &self.text.as_bytes()[self.emitted..];
        self.stops
            .iter()
            .flat_map(|stop| {
                (1..stop.len().min(tail.len() + 1))
                    .rev()
                    .find(|&k| tail.ends_with(&stop.as_bytes()[..k]))
            })
            .filter(|&k| self.text.is_char_boundary(self.text.len() - k))
            .max()
            .unwrap_or(0)
    }

    fn emit(
        &mut self,
        end: usize,
        sink: &mut impl FnMut(&str) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        if end <= self.emitted {
            return ControlFlow::Continue(());
        }
        let Some(piece) = self.text.get(self.emitted..end) else {
            return ControlFlow::Continue(());
        };
        self.emitted = end;
        sink(piece)
    }

    /// Streams everything held back (an unfinished UTF-8 sequence becomes U+FFFD).
    fn flush(&mut self, sink: &mut impl FnMut(&str) -> ControlFlow<()>) {
        self.decode_pending(true);
        let _ = self.emit(self.text.len(), sink);
    }

    fn decode_pending(&mut self, last: bool) {
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    self.text.push_str(s);
                    self.pending.clear();
                    return;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    if let Ok(s) = std::str::from_utf8(&self.pending[..valid]) {
                        self.text.push_str(s);
                    }
                    match e.error_len() {
                        Some(bad) => {
                            self.text.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                        None if last => {
                            self.text.push(char::REPLACEMENT_CHARACTER);
                            self.pending.clear();
                            return;
                        }
                        None => {
                            self.pending.drain(..valid);
                            return;
                        }
                    }
                }
            }
        }
    }

    /// The streamed text.
    fn into_text(mut self) -> String {
        self.text.truncate(self.emitted);
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pieces: &[&[u8]], stops: &[&str]) -> (Vec<String>, String, Pushed) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut stream = TextStream::new(&stops);
        let mut out = Vec::new();
        let mut last = Pushed::Open;
        for piece in pieces {
            last = stream.push(piece, &mut |s: &str| {
                out.push(s.to_owned());
                ControlFlow::Continue(())
            });
            if last != Pushed::Open {
                break;
            }
        }
        if last == Pushed::Open {
            stream.flush(&mut |s: &str| {
                out.push(s.to_owned());
                ControlFlow::Continue(())
            });
        }
        (out, stream.into_text(), last)
    }

    #[test]
    fn multi_byte_characters_split_across_tokens_are_streamed_whole() {
        let snowman = "☃".as_bytes();
        let (out, text, _) = run(
            &[b"a", &snowman[..1], &snowman[1..2], &snowman[2..], b"b"],
            &[],
        );
        assert_eq!(text, "a☃b");
        assert!(out.iter().all(|p| !p.is_empty()));
        assert_eq!(out, vec!["a", "☃", "b"]);
    }

    #[test]
    fn a_stop_text_split_across_tokens_is_never_streamed() {
        let (out, text, last) = run(&[b"Hello ", b"wor", b"ld", b" again"], &["world"]);
        assert_eq!(last, Pushed::Stopped);
        assert_eq!(text, "Hello ");
        assert_eq!(out.concat(), "Hello ");
    }

    #[test]
    fn a_held_back_prefix_that_is_not_a_stop_is_streamed_later() {
        let (out, text, last) = run(&[b"Hello wor", b"m"], &["world"]);
        assert_eq!(last, Pushed::Open);
        assert_eq!(text, "Hello worm");
        assert_eq!(out, vec!["Hello ", "worm"]);
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        let (_, text, _) = run(&[b"a\xff", b"\xe2\x98"], &[]);
        assert_eq!(text, "a\u{FFFD}\u{FFFD}");
    }
}
