//! Generation: the prompt pass, the token-by-token decode loop and sampling.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use serde::{Deserialize, Serialize};

use super::loop_guard::{Guarded, LoopGuard};
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
    /// Divides the logits of tokens seen in the last [`REPEAT_LAST_N`] generated tokens
    /// (llama.cpp's repeat penalty); 1 turns it off.
    #[serde(default = "default_repeat_penalty")]
    pub repeat_penalty: f32,
    /// Subtracted from a token's logit once per time it was generated (OpenAI's
    /// `frequency_penalty`); 0 turns it off.
    #[serde(default)]
    pub frequency_penalty: f32,
    /// Subtracted from a token's logit once it was generated at all (OpenAI's
    /// `presence_penalty`); 0 turns it off.
    #[serde(default)]
    pub presence_penalty: f32,
    /// Strength of DRY ("don't repeat yourself"), which penalises the token that would extend a
    /// sequence already generated; 0 turns it off.
    #[serde(default = "default_dry_multiplier")]
    pub dry_multiplier: f32,
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
            repeat_penalty: default_repeat_penalty(),
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            dry_multiplier: default_dry_multiplier(),
            cache_scope: None,
        }
    }
}

/// The repetition controls every generation gets unless it asks otherwise: small models loop
/// without them, greedy ones above all.
fn default_repeat_penalty() -> f32 {
    1.1
}

fn default_dry_multiplier() -> f32 {
    0.8
}

/// Generated tokens the repeat, frequency and presence penalties look back over.
const REPEAT_LAST_N: i32 = 64;
/// DRY's settings, llama.cpp's defaults: the base of its exponential penalty, the repeated length
/// it allows unpunished, how far back it looks, and the texts that break a sequence.
const DRY_BASE: f32 = 1.75;
const DRY_ALLOWED_LENGTH: i32 = 2;
const DRY_LAST_N: i32 = 512;
const DRY_BREAKERS: [&str; 4] = ["\n", ":", "\"", "*"];

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
        if !(self.repeat_penalty.is_finite() && self.repeat_penalty > 0.0) {
            return Err(LlamaError::InvalidOptions(format!(
                "repeat_penalty must be a number > 0, not {}",
                self.repeat_penalty
            )));
        }
        for (name, value) in [
            ("frequency_penalty", self.frequency_penalty),
            ("presence_penalty", self.presence_penalty),
        ] {
            if !(-2.0..=2.0).contains(&value) {
                return Err(LlamaError::InvalidOptions(format!(
                    "{name} must be between -2 and 2, not {value}"
                )));
            }
        }
        if !(self.dry_multiplier.is_finite() && self.dry_multiplier >= 0.0) {
            return Err(LlamaError::InvalidOptions(format!(
                "dry_multiplier must be a number >= 0, not {}",
                self.dry_multiplier
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
    /// The model began repeating itself; the text ends where the repetition began.
    Loop,
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

        let mut sampler = self.sampler(options);
        let mut guard = LoopGuard::new();
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
            match guard.push(token.0, &piece) {
                Guarded::Loop(kept) => {
                    break release(kept, &mut stream, &mut on_token).unwrap_or(Finish::Loop)
                }
                Guarded::Release(free) => {
                    if let Some(end) = release(free, &mut stream, &mut on_token) {
                        break end;
                    }
                }
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
        let finish = match finish {
            Finish::Stop | Finish::Length => {
                release(guard.drain(), &mut stream, &mut on_token).unwrap_or(finish)
            }
            other => other,
        };
        if matches!(finish, Finish::Stop | Finish::Length | Finish::Loop) {
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

/// Streams pieces the loop guard held back (at the end, or those before a loop); a stop text or a refusal
/// among it ends the generation there, as it would have mid-way.
fn release(
    pieces: impl IntoIterator<Item = Vec<u8>>,
    stream: &mut TextStream<'_>,
    on_token: &mut impl FnMut(&str) -> ControlFlow<()>,
) -> Option<Finish> {
    for due in pieces {
        match stream.push(&due, on_token) {
            Pushed::Open => {}
            Pushed::Stopped => return Some(Finish::StopSequence),
            Pushed::Refused => return Some(Finish::Cancelled),
        }
    }
    None
}

impl LlamaModel {
    /// The sampler chain: the repetition controls, then greedy choice or nucleus sampling.
    fn sampler(&self, options: &GenerateOptions) -> LlamaSampler {
        let mut chain = Vec::with_capacity(5);
        if options.repeat_penalty != 1.0
            || options.frequency_penalty != 0.0
            || options.presence_penalty != 0.0
        {
            chain.push(LlamaSampler::penalties(
                self.model.n_vocab(),
                REPEAT_LAST_N,
                options.repeat_penalty,
                options.frequency_penalty,
                options.presence_penalty,
            ));
        }
        if options.dry_multiplier > 0.0 {
            chain.push(LlamaSampler::dry(
                &self.model,
                options.dry_multiplier,
                DRY_BASE,
                DRY_ALLOWED_LENGTH,
                DRY_LAST_N,
                DRY_BREAKERS,
            ));
        }
        if options.temperature <= 0.0 {
            chain.push(LlamaSampler::greedy());
            return LlamaSampler::chain_simple(chain);
        }
        let seed = options.seed.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32))
                .unwrap_or(0)
        });
        chain.extend([
            LlamaSampler::top_p(options.top_p, 1),
            LlamaSampler::temp(options.temperature),
            LlamaSampler::dist(seed),
        ]);
        LlamaSampler::chain_simple(chain)
    }
}
