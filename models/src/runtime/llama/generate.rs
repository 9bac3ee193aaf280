//! Generation: the prompt pass, the token-by-token decode loop and sampling.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use serde::{Deserialize, Serialize};

use super::prompt_cache::restore;
use super::text_stream::{Pushed, TextStream};
use super::{ChatMessage, LlamaError, LlamaModel};

/// Context sizes are rounded up to a multiple of this many tokens.
const CONTEXT_GRANULE: usize = 256;

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

impl LlamaModel {
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
