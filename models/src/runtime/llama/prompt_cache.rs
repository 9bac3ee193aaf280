//! The prompt cache: KV states of recent generations, kept per user within a byte budget, so a
//! prompt that begins like an earlier one is only evaluated from where they part.

use std::sync::{Arc, Mutex, PoisonError};

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::{LlamaStateSeqFlags, SeqState};

/// Loads a saved state into a fresh context and cuts it back to the first `shared` tokens.
/// Returns how many prompt tokens need no evaluation: `shared`, or 0 when the state does not
/// load or cannot be cut (then the context is empty again and the prompt is read whole).
pub(super) fn restore(ctx: &mut LlamaContext<'_>, saved: &SavedPrompt, shared: usize) -> usize {
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
pub(super) struct SavedPrompt {
    scope: String,
    pub(super) tokens: Vec<LlamaToken>,
    state: SeqState,
}

/// The KV states of a model's recent generations (prompt and answer), so that a prompt that
/// begins like one of them (the same system prompt; the same conversation one turn later) is
/// only evaluated from where they part. A state is reused only by generations of the same
/// scope (a user), since a faster first token would tell one user what another asked. The
/// oldest states go first once the byte budget is reached.
pub(super) struct PromptCache {
    budget: usize,
    saved: Mutex<Vec<Arc<SavedPrompt>>>,
}

/// Shared beginnings shorter than this are evaluated again: restoring costs more than it saves.
const MIN_SHARED_TOKENS: usize = 16;
/// States kept at most, whatever their size.
const MAX_SAVED_PROMPTS: usize = 32;

impl PromptCache {
    pub(super) fn new(budget: usize) -> Self {
        PromptCache {
            budget,
            saved: Mutex::new(Vec::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<SavedPrompt>>> {
        self.saved.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn bytes(&self) -> usize {
        self.lock().iter().map(|s| s.state.byte_len()).sum()
    }

    /// The saved state of `scope` sharing the longest beginning with `tokens` (at least
    /// [`MIN_SHARED_TOKENS`], at most all but the last token) that fits a context of `n_ctx`
    /// tokens, and the length of that beginning. The state moves to the back (recently used).
    pub(super) fn find(
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
    pub(super) fn save(&self, scope: &str, tokens: Vec<LlamaToken>, ctx: &LlamaContext<'_>) {
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
