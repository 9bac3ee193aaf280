//! What a search answers: items, each with the hits that found it and where each points.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tessera_projections::read_models::search::query::{ChunkHit, MessageHit, MARK_END, MARK_START};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::content::ItemView;
pub use tessera_events::content::Place;

/// One page of results.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct SearchPage {
    /// Best first.
    pub items: Vec<ItemHits>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// The caller's own conversations whose messages match, best first (on the first page of
    /// a search without a modality, tag or item filter; absent when none match).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conversations: Vec<ConversationHits>,
}

/// A conversation and the paragraphs of its messages that matched.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationHits {
    pub id: Uuid,
    pub title: String,
    /// Reciprocal-rank-fusion score of its best paragraph.
    pub score: f64,
    /// Its best paragraphs, best first (at most three).
    pub hits: Vec<MessageHitView>,
}

/// One matching paragraph of a message or an answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageHitView {
    /// The posted message's id, or the answer's.
    pub message_id: Uuid,
    /// `user` or `assistant`.
    pub role: String,
    pub snippet: Vec<SnippetPart>,
    /// The paragraph, as a byte range of the message's text.
    pub at: Place,
    pub sent_at: DateTime<Utc>,
    pub by_meaning: bool,
    pub by_words: bool,
}

impl MessageHitView {
    pub fn new(h: &MessageHit, snippet: &str) -> Self {
        Self {
            message_id: h.message_id,
            role: h.role.clone(),
            snippet: parts(snippet),
            at: Place::Paragraph {
                start: h.byte_start,
                end: h.byte_end,
            },
            sent_at: h.created_at,
            by_meaning: h.vector_rank.is_some(),
            by_words: h.text_rank.is_some(),
        }
    }
}

/// An item and what in it matched.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemHits {
    pub item: ItemView,
    /// Reciprocal-rank-fusion score of its best hit (comparable within one answer only).
    pub score: f64,
    /// Its best hits, best first (at most three).
    pub hits: Vec<Hit>,
}

/// One matching piece of an item.
#[derive(Debug, Serialize, ToSchema)]
pub struct Hit {
    /// `title`, `note` (the owner's description), `description` (written from the findings),
    /// `summary`, `labels`, `ocr`, `segment`, `keyframe` or `paragraph`.
    pub kind: String,
    /// The matching text, with the query's words marked.
    pub snippet: Vec<SnippetPart>,
    /// Where in the item it is, for the parts that have a place.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<Place>,
    /// Found by meaning (the nearest vectors).
    pub by_meaning: bool,
    /// Found by its words (full text).
    pub by_words: bool,
}

/// A run of a snippet's text; `mark` is set on the query's words.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SnippetPart {
    pub text: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub mark: bool,
}

/// Where a ranked chunk is in its item.
pub fn place_of(h: &ChunkHit) -> Option<Place> {
    match (h.kind.as_str(), h.keyframe, h.start_ms, h.end_ms) {
        ("keyframe", Some(index), Some(t), _) => Some(Place::Keyframe {
            index,
            time: f64::from(t) / 1000.0,
        }),
        (_, _, Some(s), Some(e)) => Some(Place::Time {
            start: f64::from(s) / 1000.0,
            end: f64::from(e) / 1000.0,
        }),
        _ => match (&h.bbox, h.byte_start, h.byte_end) {
            (Some(b), _, _) if b.len() == 4 => Some(Place::Box {
                x: b[0],
                y: b[1],
                width: b[2],
                height: b[3],
            }),
            (_, Some(start), Some(end)) => Some(Place::Paragraph { start, end }),
            _ => None,
        },
    }
}

impl Hit {
    pub fn new(h: &ChunkHit, snippet: &str) -> Self {
        let at = place_of(h);
        Hit {
            kind: h.kind.clone(),
            snippet: parts(snippet),
            at,
            by_meaning: h.vector_rank.is_some(),
            by_words: h.text_rank.is_some(),
        }
    }
}

/// Splits a highlighted snippet at its marks.
pub fn parts(snippet: &str) -> Vec<SnippetPart> {
    let mut out: Vec<SnippetPart> = Vec::new();
    let mut mark = false;
    let mut run = String::new();
    let flush = |run: &mut String, mark: bool, out: &mut Vec<SnippetPart>| {
        if !run.is_empty() {
            out.push(SnippetPart {
                text: std::mem::take(run),
                mark,
            });
        }
    };
    for c in snippet.chars() {
        match c {
            MARK_START => {
                flush(&mut run, mark, &mut out);
                mark = true;
            }
            MARK_END => {
                flush(&mut run, mark, &mut out);
                mark = false;
            }
            c => run.push(c),
        }
    }
    flush(&mut run, mark, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_split_the_snippet() {
        let p = parts("a \u{E000}cat\u{E001} on a \u{E000}sofa\u{E001}");
        let marked: Vec<&str> = p
            .iter()
            .filter(|p| p.mark)
            .map(|p| p.text.as_str())
            .collect();
        assert_eq!(marked, ["cat", "sofa"]);
        let all: String = p.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(all, "a cat on a sofa");
    }
}
