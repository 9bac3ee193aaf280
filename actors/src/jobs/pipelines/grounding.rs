//! The grounding check: which sentences of a language model's prose the findings support.
//!
//! A sentence is kept only when every content word in it (a word that is not a function word or
//! one of the words any description uses, such as "picture" or "shows") appears among the words
//! of the findings it was written from: the label names, the text read in the picture, what was
//! said. Anything else is an invention as far as Tessera can tell, and is not shown. Words are
//! compared by a crude stem, so "cats" matches the label "tabby cat".

use std::collections::HashSet;

/// A sentence the check turned down, and the words that no finding supports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub sentence: String,
    pub unsupported: Vec<String>,
}

/// The outcome of checking prose against the findings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checked {
    /// Supported sentences, in order.
    pub kept: Vec<String>,
    /// The rest.
    pub rejected: Vec<Rejected>,
}

/// The words of the findings, stemmed, and their text (flattened) for quotations.
pub struct Sources {
    words: HashSet<String>,
    text: String,
}

impl Sources {
    /// The words of every finding given.
    pub fn new<'a>(findings: impl IntoIterator<Item = &'a str>) -> Self {
        let findings: Vec<&str> = findings.into_iter().collect();
        let words = findings
            .iter()
            .flat_map(|f| words(f))
            .map(|w| stem(&w))
            .collect();
        let text = findings
            .iter()
            .map(|f| flatten(f))
            .collect::<Vec<_>>()
            .join(" | ");
        Sources { words, text }
    }

    /// Checks each sentence of `prose`.
    pub fn check(&self, prose: &str) -> Checked {
        let mut checked = Checked::default();
        for sentence in sentences(prose) {
            let mut unsupported: Vec<String> = content_words(&sentence)
                .filter(|w| !self.words.contains(&stem(w)))
                .collect();
            // A quotation must be found as it is: a paraphrase in quotes is no quote.
            for quoted in quotations(&sentence) {
                let flat = flatten(&quoted);
                if !flat.is_empty() && !self.text.contains(&flat) {
                    unsupported.push(format!("“{quoted}”"));
                }
            }
            if unsupported.is_empty() {
                checked.kept.push(sentence);
            } else {
                checked.rejected.push(Rejected {
                    sentence,
                    unsupported,
                });
            }
        }
        checked
    }
}

/// The words of a sentence that claim something: not function words, not the vocabulary of
/// describing itself.
pub fn content_words(sentence: &str) -> impl Iterator<Item = String> + '_ {
    words(sentence).filter(|w| !is_common(w))
}

/// Text in quotation marks ("…" or “…”) in a sentence.
fn quotations(sentence: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for c in sentence.chars() {
        match (c, current.as_mut()) {
            ('"' | '“', None) => current = Some(String::new()),
            ('"' | '”', Some(_)) => out.extend(current.take()),
            (c, Some(q)) => q.push(c),
            _ => {}
        }
    }
    // An open quotation runs to the end of its sentence.
    out.extend(current);
    out.into_iter()
        .map(|q| q.trim().trim_end_matches(['.', ',', '…']).to_owned())
        .filter(|q| q.split_whitespace().count() >= 2)
        .collect()
}

/// Lower-case words joined by single spaces, punctuation dropped.
fn flatten(text: &str) -> String {
    words(text).collect::<Vec<_>>().join(" ")
}

/// The sentences of a text, trimmed; the last may lack its full stop.
pub fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        current.push(c);
        if matches!(c, '.' | '!' | '?' | '\n') {
            let s = current.trim();
            if s.chars().any(char::is_alphanumeric) {
                out.push(s.to_owned());
            }
            current.clear();
        }
    }
    let s = current.trim();
    if s.chars().any(char::is_alphanumeric) {
        out.push(s.to_owned());
    }
    out
}

/// Lower-case words of letters and digits.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// A crude English stem: enough that plurals and verb forms meet their base.
fn stem(word: &str) -> String {
    for suffix in ["ing", "ies", "es", "ed", "s"] {
        if let Some(base) = word.strip_suffix(suffix) {
            if base.chars().count() >= 3 {
                return base.to_owned();
            }
        }
    }
    word.to_owned()
}

/// Function words and the vocabulary of describing itself, which claim nothing about the item.
fn is_common(word: &str) -> bool {
    const COMMON: &[&str] = &[
        "a",
        "about",
        "above",
        "across",
        "after",
        "against",
        "along",
        "also",
        "an",
        "and",
        "any",
        "he",
        "her",
        "his",
        "i",
        "into",
        "our",
        "she",
        "them",
        "then",
        "they",
        "was",
        "we",
        "were",
        "will",
        "would",
        "you",
        "your",
        "been",
        "being",
        "had",
        "not",
        "so",
        "than",
        "appears",
        "are",
        "around",
        "as",
        "at",
        "be",
        "behind",
        "below",
        "beside",
        "between",
        "both",
        "but",
        "by",
        "can",
        "contains",
        "could",
        "depicts",
        "displays",
        "each",
        "features",
        "for",
        "from",
        "has",
        "have",
        "here",
        "image",
        "in",
        "includes",
        "inside",
        "is",
        "it",
        "its",
        "likely",
        "may",
        "might",
        "near",
        "next",
        "of",
        "on",
        "one",
        "or",
        "over",
        "perhaps",
        "photo",
        "photograph",
        "picture",
        "possibly",
        "probably",
        "reads",
        "says",
        "scene",
        "seen",
        "seems",
        "shown",
        "shows",
        "some",
        "text",
        "that",
        "the",
        "their",
        "there",
        "these",
        "this",
        "those",
        "to",
        "under",
        "visible",
        "what",
        "which",
        "while",
        "with",
        "word",
        "words",
        "written",
    ];
    COMMON.contains(&word) || word.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prose_the_findings_support_is_kept() {
        let sources = Sources::new(["tabby cat", "Egyptian cat", "STOP"]);
        let c = sources.check("The picture shows a tabby cat. A sign reads STOP.");
        assert_eq!(c.kept, ["The picture shows a tabby cat."]);
        assert_eq!(c.rejected.len(), 1);
        assert_eq!(c.rejected[0].unsupported, ["sign"]);
    }

    #[test]
    fn the_invented_saw_of_a_textbook_page_is_rejected() {
        // The labels and text of a photographed textbook page, and what a small model made of
        // them.
        let sources = Sources::new([
            "brass",
            "menu",
            "crossword puzzle",
            "Region-based segmentation",
            "histogram of grey values",
        ]);
        let prose = "The picture depicts a metal saw, likely first, in a metal saw. The object is \
                     a brass, and the background is a menu. The picture is a metal saw";
        let c = sources.check(prose);
        assert!(c.kept.iter().all(|s| !s.contains("saw")), "{c:?}");
        assert_eq!(c.rejected.len(), 3, "{c:?}");
        assert!(c.rejected[0].unsupported.contains(&"metal".to_owned()));
    }

    #[test]
    fn a_quotation_must_be_found_as_it_is() {
        let sources = Sources::new(["Region-based segmentation groups pixels into regions"]);
        let quoted = "The text reads: \"Region-based segmentation groups pixels into regions.\"";
        assert_eq!(sources.check(quoted).kept.len(), 1);
        let changed = "The text reads: \"Region-based segmentation groups regions into pixels.\"";
        let c = sources.check(changed);
        assert!(c.kept.is_empty(), "{c:?}");
    }

    #[test]
    fn plurals_meet_their_singular() {
        let sources = Sources::new(["cat"]);
        assert_eq!(
            sources.check("Two cats.").rejected.len(),
            1,
            "two is a claim"
        );
        assert_eq!(sources.check("Cats.").kept, ["Cats."]);
    }
}
