//! Chat and summarisation with a GGUF model on llama.cpp.
//!
//! [`ChatModel`] puts a shared [`LlamaModel`] behind the registry's [`Model`] trait;
//! [`summarise`] condenses text of any length (long text is cut into pieces that fit the
//! context, each summarised, then the summaries are summarised).

use std::ops::ControlFlow;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::runtime::llama::{ChatMessage, GenerateOptions, Generation, LlamaError, LlamaModel};
use crate::runtime::{Model, RuntimeError};

/// Receives the completion piece by piece; returning `Break` ends the generation.
pub type TokenSink = Box<dyn FnMut(&str) -> ControlFlow<()> + Send>;

/// One chat completion for [`ChatModel`].
pub struct ChatRequest {
    /// The conversation so far; the reply is the assistant's next turn.
    pub messages: Vec<ChatMessage>,
    /// Sampling options.
    pub options: GenerateOptions,
    /// Set to true to stop the generation between two tokens.
    pub cancel: Arc<AtomicBool>,
    /// Streams the reply as it is generated, if set.
    pub on_token: Option<TokenSink>,
    /// Drop the oldest turns (never system messages or the last message) until the prompt and
    /// `max_tokens` fit the context window, instead of failing with `context_exceeded`.
    pub fit: bool,
}

impl ChatRequest {
    /// A request without streaming or cancellation.
    pub fn new(messages: Vec<ChatMessage>, options: GenerateOptions) -> Self {
        ChatRequest {
            messages,
            options,
            cancel: Arc::new(AtomicBool::new(false)),
            on_token: None,
            fit: false,
        }
    }
}

/// A chat model the model registry can hold; it shares the process's loaded GGUF model.
pub struct ChatModel {
    model: Arc<LlamaModel>,
}

impl ChatModel {
    /// Wraps a loaded model.
    pub fn new(model: Arc<LlamaModel>) -> Self {
        ChatModel { model }
    }

    /// The shared model.
    pub fn model(&self) -> &Arc<LlamaModel> {
        &self.model
    }

    /// Generates the reply to one request.
    pub fn respond(&self, request: ChatRequest) -> Result<Generation, LlamaError> {
        let ChatRequest {
            messages,
            options,
            cancel,
            on_token,
            fit,
        } = request;
        let messages = if fit {
            self.model.fit_messages(&messages, options.max_tokens)?
        } else {
            messages
        };
        match on_token {
            Some(mut sink) => self.model.chat(&messages, &options, &cancel, |p| sink(p)),
            None => self
                .model
                .chat(&messages, &options, &cancel, |_| ControlFlow::Continue(())),
        }
    }
}

impl Model for ChatModel {
    type Request = ChatRequest;
    type Response = Generation;

    fn run_batch(&mut self, requests: Vec<ChatRequest>) -> Vec<Result<Generation, RuntimeError>> {
        requests
            .into_iter()
            .map(|r| self.respond(r).map_err(RuntimeError::from))
            .collect()
    }
}

/// The most tokens of text summarised in one call, however large the context: small models
/// summarise shorter pieces better, and prompt time grows with length.
const MAX_PIECE_TOKENS: usize = 1536;
/// Rounds of summarising summaries before the result is cut to length.
const MAX_ROUNDS: usize = 6;

const SUMMARY_SYSTEM: &str = "You are a helpful assistant. You write short, faithful summaries.";

fn summary_messages(text: &str, max_words: usize) -> Vec<ChatMessage> {
    vec![
        ChatMessage::system(SUMMARY_SYSTEM),
        ChatMessage::user(format!(
            "Summarise the following text in at most {max_words} words.\n\n{text}"
        )),
    ]
}

/// Summarises a text in at most `max_words` words (greedy, so the same text gives the same
/// summary). Text that does not fit the context is cut into pieces at sentence and word
/// boundaries; the pieces are summarised, then their summaries. Empty text, or `max_words`
/// of 0, gives an empty summary. Stops early, with an empty result, once `cancel` is set.
pub fn summarise(
    model: &LlamaModel,
    text: &str,
    max_words: usize,
    cancel: &AtomicBool,
) -> Result<String, LlamaError> {
    let text = text.trim();
    if text.is_empty() || max_words == 0 {
        return Ok(String::new());
    }
    // English runs at about 1.3 tokens a word; leave room for a little more.
    let max_tokens = max_words.saturating_mul(2).saturating_add(16);
    let overhead = model.count_chat_tokens(&summary_messages("", max_words))?;
    let room = model
        .n_ctx()
        .saturating_sub(overhead + max_tokens + 16)
        .min(MAX_PIECE_TOKENS);
    // Each piece must be at least twice as long as its summary, or summarising would not
    // shrink the text.
    if room < 2 * max_tokens || room < 32 {
        return Err(LlamaError::ContextExceeded {
            prompt_tokens: overhead + 2 * max_tokens,
            max_tokens,
            n_ctx: model.n_ctx(),
        });
    }
    let options = GenerateOptions::greedy(max_tokens);

    let mut current = text.to_owned();
    for _ in 0..MAX_ROUNDS {
        let pieces = pieces(model, &current, room)?;
        let mut summaries = Vec::with_capacity(pieces.len());
        for piece in &pieces {
            let generation = model.chat(
                &summary_messages(piece, max_words),
                &options,
                cancel,
                |_| ControlFlow::Continue(()),
            )?;
            if generation.finish == crate::runtime::llama::Finish::Cancelled {
                return Ok(String::new());
            }
            summaries.push(generation.text.trim().to_owned());
        }
        current = summaries.join("\n");
        if pieces.len() <= 1 {
            break;
        }
    }
    Ok(first_words(current.trim(), max_words).to_owned())
}

/// The text up to the end of its `n`th word.
fn first_words(text: &str, n: usize) -> &str {
    let mut words = 0;
    let mut in_word = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            if in_word {
                words += 1;
                if words == n {
                    return &text[..i];
                }
            }
            in_word = false;
        } else {
            in_word = true;
        }
    }
    text
}

/// Cuts a text into pieces of at most `budget` tokens, at sentence ends where possible, else
/// at whitespace, else anywhere on a character boundary.
fn pieces(model: &LlamaModel, text: &str, budget: usize) -> Result<Vec<String>, LlamaError> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut current_tokens = 0;
    for sentence in text.split_inclusive(['.', '!', '?', '\n']) {
        for unit in split_to_fit(model, sentence, budget)? {
            let n = count(model, &unit)?;
            if current_tokens + n > budget && !current.is_empty() {
                out.push(std::mem::take(&mut current));
                current_tokens = 0;
            }
            current.push_str(&unit);
            current_tokens += n;
        }
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    Ok(out)
}

/// A sentence as one unit if it fits `budget`, else as word runs (or character runs) that do.
fn split_to_fit(
    model: &LlamaModel,
    sentence: &str,
    budget: usize,
) -> Result<Vec<String>, LlamaError> {
    // Counting is skipped where bytes alone decide (a token covers at least one byte, and
    // sentences far longer than the budget never fit).
    let fits = sentence.len() <= budget
        || (sentence.len() <= budget.saturating_mul(16) && count(model, sentence)? <= budget);
    if fits {
        return Ok(vec![sentence.to_owned()]);
    }
    let mut out = Vec::new();
    for word in sentence.split_inclusive(char::is_whitespace) {
        if word.len() <= budget {
            out.push(word.to_owned());
            continue;
        }
        // A token covers at least one byte, so `budget` bytes are at most `budget` tokens.
        let mut start = 0;
        while start < word.len() {
            let mut end = (start + budget).min(word.len());
            while !word.is_char_boundary(end) {
                end -= 1;
            }
            if end == start {
                end = word[start..]
                    .char_indices()
                    .nth(1)
                    .map_or(word.len(), |(i, _)| start + i);
            }
            out.push(word[start..end].to_owned());
            start = end;
        }
    }
    Ok(out)
}

fn count(model: &LlamaModel, text: &str) -> Result<usize, LlamaError> {
    if text.is_empty() {
        return Ok(0);
    }
    model.count_tokens(text)
}

#[cfg(test)]
mod tests {
    use super::first_words;

    #[test]
    fn first_words_cuts_after_the_nth_word() {
        assert_eq!(first_words("one two  three four", 2), "one two");
        assert_eq!(first_words("one two", 5), "one two");
        assert_eq!(first_words("  one\ntwo", 1), "  one");
    }
}
