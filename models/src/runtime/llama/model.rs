//! Loading a GGUF file (one shared copy per file and options) and building contexts on it.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::Instant;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::token::LlamaToken;
use minijinja::Environment;

use super::prompt_cache::PromptCache;
use super::template::chat_templates;
use super::LlamaError;

/// Text longer than this many bytes per context token cannot fit and is refused before it is
/// tokenized (no vocabulary has tokens anywhere near this long).
const MAX_BYTES_PER_TOKEN: usize = 64;

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

/// A GGUF model loaded into llama.cpp, shared by all generations of the process.
pub struct LlamaModel {
    pub(super) model: llama_cpp_2::model::LlamaModel,
    backend: &'static LlamaBackend,
    pub(super) templates: Environment<'static>,
    pub(super) template_from_file: bool,
    pub(super) bos_token: String,
    pub(super) eos_token: String,
    n_ctx_train: usize,
    pub(super) n_ctx: usize,
    pub(super) options: LlamaOptions,
    path: PathBuf,
    pub(super) prompt_cache: PromptCache,
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
        let (templates, template_from_file) = chat_templates(&model, &shown)?;

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

    /// The number of tokens of a text (special tokens such as `<|im_start|>` count as one).
    pub fn count_tokens(&self, text: &str) -> Result<usize, LlamaError> {
        Ok(self.tokenize(text)?.len())
    }

    pub(super) fn tokenize(&self, text: &str) -> Result<Vec<LlamaToken>, LlamaError> {
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

    /// Bytes the prompt cache holds now.
    pub fn prompt_cache_bytes(&self) -> usize {
        self.prompt_cache.bytes()
    }

    pub(super) fn new_context(
        &self,
        n_ctx: usize,
        n_batch: usize,
    ) -> Result<LlamaContext<'_>, LlamaError> {
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
