//! Summaries by the language model: a long text is summarised piece by piece, then the
//! pieces' summaries together.

use tessera_events::content::analysis::step;
use tessera_events::jobs::Provenance;
use tessera_models::runtime::llama::{ChatMessage, GenerateOptions};
use tessera_models::text::chat::ChatRequest;

use super::grounding::{sentences, Sources};
use super::params::SummaryParams;
use super::progress::note_tokens;
use super::Pipelines;
use crate::jobs::cache::cached;
use crate::jobs::StepError;

/// Pieces of text the LLM summarises at once, in characters (about 1,000 tokens).
const SUMMARY_PIECE_CHARS: usize = 4000;
/// The most pieces summarised per round; the rest of a very long text is left out.
const MAX_SUMMARY_PIECES: usize = 16;

impl Pipelines {
    /// A summary of a long text (none for a short one), for an analysis.
    pub(super) async fn summary(
        &self,
        sha256: &str,
        text: &str,
        what: &str,
        provenance: &mut Vec<Provenance>,
    ) -> Result<Option<String>, StepError> {
        if text.split_whitespace().count() < self.options.summary_min_words {
            return Ok(None);
        }
        let (summary, p) = self
            .summarise(sha256, text, what, self.options.summary_words)
            .await?;
        provenance.push(p);
        Ok(Some(summary))
    }

    /// A summary of `text` in at most `words` words, however short the text, cached by
    /// (`sha256`, `what`, `words`) like an analysis' summary, so either reuses the other.
    pub async fn summarise(
        &self,
        sha256: &str,
        text: &str,
        what: &str,
        words: usize,
    ) -> Result<(String, Provenance), StepError> {
        let owned = text.to_owned();
        let what_owned = what.to_owned();
        let (summary, p) = cached(
            self.store.as_ref(),
            sha256,
            &step::summary_of(what),
            &self.chat.info,
            &SummaryParams {
                prompt: "summary-v3",
                max_words: words,
                piece_chars: SUMMARY_PIECE_CHARS,
                temperature: 0.0,
            },
            async move {
                let summary = self.rounds(&owned, &what_owned, words).await?;
                Ok(grounded(&owned, &summary, words))
            },
        )
        .await?;
        Ok((summary, p))
    }

    /// Summarises the pieces of `text`, then the pieces' summaries, up to three rounds.
    async fn rounds(&self, text: &str, what: &str, words: usize) -> Result<String, StepError> {
        let mut pieces: Vec<String> = split_pieces(text, SUMMARY_PIECE_CHARS);
        for _round in 0..3 {
            let mut next = Vec::new();
            for piece in pieces.iter().take(MAX_SUMMARY_PIECES) {
                next.push(self.summarise_once(piece, what, words).await?);
            }
            if next.len() == 1 {
                return Ok(next.remove(0));
            }
            pieces = split_pieces(&next.join("\n"), SUMMARY_PIECE_CHARS);
        }
        Ok(pieces.join(" "))
    }

    async fn summarise_once(
        &self,
        text: &str,
        what: &str,
        words: usize,
    ) -> Result<String, StepError> {
        let messages = vec![
            ChatMessage::system(
                "You write short, faithful summaries. Use only what the text says.",
            ),
            ChatMessage::user(format!(
                "Summarise this {what} in at most {words} words.\n\n{text}"
            )),
        ];
        let g = self
            .chat
            .infer(ChatRequest::new(
                messages,
                GenerateOptions::greedy(words * 2 + 16),
            ))
            .await?;
        note_tokens(&g);
        Ok(end_at_sentence(&cut_words(g.text.trim(), words)))
    }
}

/// The summary's sentences that the source supports (see [`super::grounding`]); when it
/// supports none, the source's own first sentences, up to `words` words: an extractive summary
/// says less, but nothing the source does not.
fn grounded(source: &str, summary: &str, words: usize) -> String {
    let checked = Sources::new([source]).check(summary);
    for r in &checked.rejected {
        tracing::debug!(
            sentence = %r.sentence,
            unsupported = ?r.unsupported,
            "a summary sentence the source does not support was left out"
        );
    }
    if !checked.kept.is_empty() {
        return checked.kept.join(" ");
    }
    let mut lead = String::new();
    for sentence in sentences(source) {
        let count = lead.split_whitespace().count() + sentence.split_whitespace().count();
        if count > words && !lead.is_empty() {
            break;
        }
        lead.push_str(&sentence);
        lead.push(' ');
    }
    end_at_sentence(&cut_words(lead.trim(), words))
}

/// Splits text into pieces of at most `max` characters, at paragraph, sentence or word ends.
fn split_pieces(text: &str, max: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    for word in text.split_inclusive(char::is_whitespace) {
        if current.chars().count() + word.chars().count() > max && !current.trim().is_empty() {
            pieces.push(std::mem::take(&mut current).trim().to_owned());
        }
        current.push_str(word);
    }
    if !current.trim().is_empty() {
        pieces.push(current.trim().to_owned());
    }
    pieces
}

/// The text up to its last full sentence, so that a summary cut by the word or token limit never
/// ends mid-sentence; a text with no sentence end at all is kept whole.
fn end_at_sentence(text: &str) -> String {
    let mut ends = text.char_indices().filter(|&(i, c)| {
        matches!(c, '.' | '!' | '?')
            && text[i + c.len_utf8()..]
                .chars()
                .next()
                .is_none_or(char::is_whitespace)
    });
    match ends.next_back() {
        Some((i, c)) => text[..i + c.len_utf8()].to_owned(),
        None => text.to_owned(),
    }
}

fn cut_words(text: &str, max: usize) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.len() <= max {
        return words.join(" ");
    }
    words[..max].join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_summary_sentences_are_dropped_and_nothing_left_gives_the_lead() {
        let source = "The museum's new exhibition follows the history of maps. The first room \
                      shows a map of a city scratched into clay.";
        let summary = "The museum's new exhibition, \"Sailing the Seas,\" is a fascinating blend \
                       of history and technology. The first room shows a map scratched into clay.";
        assert_eq!(
            grounded(source, summary, 60),
            "The first room shows a map scratched into clay."
        );
        let invented = "A fascinating blend of technology.";
        assert_eq!(
            grounded(source, invented, 9),
            "The museum's new exhibition follows the history of maps."
        );
    }

    #[test]
    fn a_summary_cut_by_its_limit_ends_at_its_last_sentence() {
        let cut = cut_words(
            "The cat sat. It read a page of text about segmentation and",
            9,
        );
        assert_eq!(end_at_sentence(&cut), "The cat sat.");
        assert_eq!(end_at_sentence("No full stop here"), "No full stop here");
        assert_eq!(end_at_sentence("Costs 3.5 euros. Then"), "Costs 3.5 euros.");
    }
}
