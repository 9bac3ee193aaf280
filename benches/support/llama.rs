//! The runtime's own speed, for benchmarks that compare against it: a bare llama-cpp-2 greedy
//! loop on a loaded model, one thread, like the service's contexts.

use std::num::NonZeroU32;
use std::time::Instant;

use anyhow::{Context as _, Result};
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::sampling::LlamaSampler;
use tessera_models::runtime::llama::{shared_backend, LlamaModel};

/// A bare llama-cpp-2 greedy loop: first-token ms and decode tokens/s.
pub fn bare_llama(model: &LlamaModel, prompt: &str, max_tokens: usize) -> Result<(f64, f64)> {
    let backend = shared_backend()?;
    let raw = model.raw();
    let started = Instant::now();
    let vocab = raw.vocab();
    let tokens = vocab.tokenize(prompt.as_bytes(), true, true);
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(1024))
        .with_n_batch(512)
        .with_n_ubatch(512)
        .with_n_threads(1)
        .with_n_threads_batch(1);
    let mut ctx = raw.new_context(backend, params)?;
    let mut batch = LlamaBatch::new(512, 1);
    let last = tokens.len() - 1;
    for (i, t) in tokens.iter().enumerate() {
        batch.add(*t, i as i32, &[0], i == last)?;
    }
    ctx.decode(&mut batch)?;
    let mut sampler = LlamaSampler::greedy();
    let mut first = None;
    let mut position = tokens.len() as i32;
    let mut samples = 0usize;
    let last_at = loop {
        let token = sampler.sample(&ctx, batch.n_tokens() - 1);
        let now = Instant::now();
        first.get_or_insert(now);
        samples += 1;
        if vocab.is_eog(token) || samples >= max_tokens {
            break now;
        }
        batch.clear();
        batch.add(token, position, &[0], true)?;
        position += 1;
        ctx.decode(&mut batch)?;
    };
    let first = first.context("no token")?;
    let first_ms = first.duration_since(started).as_secs_f64() * 1e3;
    let tps =
        samples.saturating_sub(1) as f64 / last_at.duration_since(first).as_secs_f64().max(1e-9);
    Ok((first_ms, tps))
}
