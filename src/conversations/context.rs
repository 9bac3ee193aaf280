//! What the model is told besides the conversation: the attachments of the message (their
//! text, transcript, text read from them, labels, description, keyframes, summary) and, when
//! the question is about the user's own files, the library items closest to it in meaning.
//!
//! Everything fits a character budget. An attachment longer than its share is not cut at its
//! start: the search index gives the passages of it that rank best for the question (each with
//! its place: the paragraph, the second, the box), and those go in instead of its long parts.
//! Only when the index has nothing for it yet is its text shortened.

use futures_util::StreamExt;
use sqlx::PgPool;
use tessera_actors::jobs::pipelines::statements::timecode;
use tessera_actors::jobs::Pipelines;
use tessera_actors::models::Infer;
use tessera_events::content::Place;
use tessera_events::content::{Analysis, Modality};
use tessera_events::conversations::ContextSource;
use tessera_events::{ContentId, UserId};
use tessera_models::text::Embedder;
use tessera_projections::read_models::search::query::{self as search, ChunkHit, SearchQuery};
use uuid::Uuid;

use crate::blob::BlobKey;
use crate::content::{ContentFailure, ContentService};
use crate::conversations::ChatSettings;
use crate::search::view::place_of;

/// Passages of one found item given to the model.
const PASSAGES_PER_ITEM: usize = 3;

/// Passages of a long attachment given to the model, at most.
const PASSAGES_PER_ATTACHMENT: usize = 8;

/// The parts of an attachment that stay beside its passages when it is too long: what the
/// models wrote about it as a whole, which is short.
const WHOLE_ITEM_PARTS: [&str; 3] = ["description", "labels", "summary"];

/// The system prompt before any context.
pub const SYSTEM_PROMPT: &str = "You are Tessera's assistant. Answer the user's question \
helpfully and truthfully. When items from the user's library are given below, use them and \
name the item you rely on. If they do not contain the answer, say so.";

/// The most bytes of a text item read for context.
const MAX_TEXT_READ: u64 = 256 * 1024;

/// Words that mark a question about the user's own library.
const LIBRARY_WORDS: [&str; 12] = [
    "my files",
    "my file",
    "my library",
    "my uploads",
    "my documents",
    "my notes",
    "my photos",
    "my pictures",
    "my images",
    "my recordings",
    "my videos",
    "my content",
];

/// Whether the question asks about the user's library.
pub fn asks_about_library(question: &str) -> bool {
    let q = question.to_lowercase();
    LIBRARY_WORDS.iter().any(|w| q.contains(w))
}

/// The built context.
#[derive(Debug, Default)]
pub struct Built {
    /// The system message: the prompt and the items.
    pub system: String,
    pub sources: Vec<ContextSource>,
}

/// One item's context: a heading and its parts.
struct ItemText {
    heading: String,
    parts: Vec<(&'static str, String)>,
}

impl ItemText {
    fn chars(&self) -> usize {
        self.parts.iter().map(|(_, t)| t.chars().count()).sum()
    }
}

/// Cuts `text` to at most `max` characters at a word end, marking the cut.
fn cut(text: &str, max: usize) -> (String, bool) {
    if text.chars().count() <= max {
        return (text.to_owned(), false);
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    if let Some(i) = out.rfind(char::is_whitespace) {
        if i > max / 2 {
            out.truncate(i);
        }
    }
    out.push('…');
    (out, true)
}

/// The parts of an analysis worth telling the model.
fn analysis_parts(analysis: &Analysis) -> Vec<(&'static str, String)> {
    let mut parts = Vec::new();
    if let Some(d) = analysis.description().filter(|s| !s.is_empty()) {
        parts.push(("description", d.to_owned()));
    }
    let names: Vec<&str> = analysis.labels().iter().map(|l| l.name.as_str()).collect();
    if !names.is_empty() {
        parts.push(("labels", names.join(", ")));
    }
    if let Some(t) = analysis
        .ocr()
        .map(|o| o.text.as_str())
        .filter(|s| !s.trim().is_empty())
    {
        parts.push(("ocr", t.to_owned()));
    }
    let frames: Vec<String> = analysis
        .keyframes()
        .iter()
        .map(|k| {
            let labels: Vec<&str> = k.labels.iter().map(|l| l.name.as_str()).collect();
            let text = k.ocr_text.trim();
            let mut line = format!("[{}] {}", timecode(k.time), labels.join(", "));
            if !text.is_empty() {
                line.push_str(&format!("; text: {text}"));
            }
            line
        })
        .collect();
    if !frames.is_empty() {
        parts.push(("keyframes", frames.join("\n")));
    }
    let said: Vec<String> = analysis
        .transcript()
        .map(|t| t.segments.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|s| format!("[{}] {}", timecode(f64::from(s.start)), s.text))
        .collect();
    if !said.is_empty() {
        parts.push(("transcript", said.join("\n")));
    }
    if let Some(s) = analysis.summary().filter(|s| !s.is_empty()) {
        parts.push(("summary", s.to_owned()));
    }
    parts
}

async fn read_text(content: &ContentService, blob_key: &str) -> Result<String, ContentFailure> {
    let key = BlobKey::new(blob_key).map_err(|e| ContentFailure::Internal(e.to_string()))?;
    let read = content
        .blobs()
        .get(&key, Some((0, Some(MAX_TEXT_READ - 1))))
        .await?;
    let mut bytes = Vec::new();
    let mut stream = read.stream;
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk?);
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// An attachment's context, if `owner` owns the item and it is not deleted.
async fn item_text(
    content: &ContentService,
    owner: Uuid,
    id: Uuid,
) -> Result<Option<ItemText>, ContentFailure> {
    let f = content.fold(ContentId(id)).await?;
    let Some(u) = f.state.uploaded.as_ref() else {
        return Ok(None);
    };
    if u.owner != owner || f.state.deleted.is_some() || f.state.purged {
        return Ok(None);
    }
    let mut parts = Vec::new();
    if u.modality == Modality::Text {
        parts.push(("text", read_text(content, &u.blob_key).await?));
    }
    if let Some((_, analysis)) = &f.state.analysis {
        parts.extend(analysis_parts(analysis));
    }
    let mut heading = format!("{} \"{}\" (id {id})", u.modality.as_str(), f.state.title);
    if let Some(d) = f.state.description.as_deref().filter(|d| !d.is_empty()) {
        heading.push_str(&format!(", described by its owner as: {d}"));
    }
    if f.state.analysis.is_none() && u.modality != Modality::Text {
        heading.push_str(" (not analysed yet)");
    }
    Ok(Some(ItemText { heading, parts }))
}

/// An item given to the model: an attachment, or one the search found for the question (then
/// only its passages, with where each is).
struct Entry {
    id: Uuid,
    text: ItemText,
    /// Where its passages are (none when it is given whole).
    places: Vec<Place>,
}

/// Fits the items into `budget` characters: each part gets an equal share of what is left.
fn render(items: Vec<Entry>, budget: usize) -> (String, Vec<ContextSource>) {
    let mut out = String::new();
    let mut sources = Vec::new();
    let total_parts: usize = items.iter().map(|e| e.text.parts.len().max(1)).sum();
    let mut left = budget;
    let mut parts_left = total_parts;
    for Entry {
        id,
        text: item,
        places,
    } in items
    {
        out.push_str(&format!("\n\n## {}\n", item.heading));
        let mut used = Vec::new();
        let mut truncated = false;
        for (name, text) in &item.parts {
            let share = left / parts_left.max(1);
            let (text, cut_it) = cut(text.trim(), share);
            truncated |= cut_it;
            left = left.saturating_sub(text.chars().count());
            parts_left = parts_left.saturating_sub(1);
            out.push_str(&format!("{name}:\n{text}\n"));
            used.push(if *name == PASSAGES { "passage" } else { name }.to_string());
        }
        if item.parts.is_empty() {
            parts_left = parts_left.saturating_sub(1);
        }
        used.dedup();
        sources.push(ContextSource {
            content_id: ContentId(id),
            parts: used,
            truncated,
            places,
        });
    }
    (out, sources)
}

/// A found item's context: the passages the search ranked for the question, each with its
/// place, if `owner` owns the item and it is not deleted.
async fn passages_text(
    content: &ContentService,
    owner: Uuid,
    id: Uuid,
    hits: &[ChunkHit],
) -> Result<Option<(ItemText, Vec<Place>)>, ContentFailure> {
    let f = content.fold(ContentId(id)).await?;
    let Some(u) = f.state.uploaded.as_ref() else {
        return Ok(None);
    };
    if u.owner != owner || f.state.deleted.is_some() || f.state.purged {
        return Ok(None);
    }
    let (passages, places) = passages_part(hits);
    let heading = format!("{} \"{}\" (id {id})", u.modality.as_str(), f.state.title);
    Ok(Some((
        ItemText {
            heading,
            parts: vec![(PASSAGES, passages)],
        },
        places,
    )))
}

/// The name of the part that holds ranked passages.
const PASSAGES: &str = "passages";

/// Ranked passages as one part, each line marked with its time where it has one, and their
/// places.
fn passages_part(hits: &[ChunkHit]) -> (String, Vec<Place>) {
    let mut places = Vec::new();
    let lines: Vec<String> = hits
        .iter()
        .map(|h| {
            let place = place_of(h);
            let at = match &place {
                Some(Place::Time { start, .. }) => format!("[{}] ", timecode(*start)),
                Some(Place::Keyframe { time, .. }) => format!("[{}] ", timecode(*time)),
                Some(Place::Box { .. }) => "[in the picture] ".to_owned(),
                Some(Place::Paragraph { .. }) | None => String::new(),
            };
            places.extend(place);
            format!("{at}{}", h.text)
        })
        .collect();
    (lines.join("\n"), places)
}

/// The question's embedding, computed once, when first needed.
struct Question<'a> {
    pipelines: &'a Pipelines,
    text: &'a str,
    vector: Option<pgvector::Vector>,
}

impl<'a> Question<'a> {
    fn new(pipelines: &'a Pipelines, text: &'a str) -> Self {
        Self {
            pipelines,
            text,
            vector: None,
        }
    }

    /// The hybrid query for the question in `owner`'s items (the question itself is not worth
    /// a cached result in the log: the model is asked directly).
    async fn query(&mut self, owner: Uuid, candidates: usize) -> Result<SearchQuery, String> {
        if self.vector.is_none() {
            let v = self
                .pipelines
                .embeddings
                .instance
                .send(Infer::<Embedder>(self.text.to_owned()))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            self.vector = Some(pgvector::Vector::from(v));
        }
        Ok(SearchQuery {
            owner: Some(owner),
            vector: self.vector.clone(),
            words: Some(self.text.to_owned()),
            candidates: candidates as i64,
            ..SearchQuery::default()
        })
    }
}

/// An attachment too long for its `share` of the budget, as the passages of it that rank best
/// for the question (as many as fit) beside its short whole-item parts; `None` when the index
/// has no passages of it (not indexed yet), so that it is given shortened instead.
async fn attachment_passages(
    question: &mut Question<'_>,
    pool: &PgPool,
    owner: Uuid,
    id: Uuid,
    text: &ItemText,
    (scan, share): (usize, usize),
) -> Result<Option<Entry>, String> {
    let query = SearchQuery {
        item: Some(id),
        ..question.query(owner, scan).await?
    };
    let mut parts: Vec<(&'static str, String)> = text
        .parts
        .iter()
        .filter(|(name, _)| WHOLE_ITEM_PARTS.contains(name))
        .cloned()
        .collect();
    let mut left = share.saturating_sub(parts.iter().map(|(_, t)| t.chars().count()).sum());
    let mut hits: Vec<ChunkHit> = Vec::new();
    for hit in search::hybrid(pool, &query)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|h| h.kind != "title" && h.kind != "note")
        .take(PASSAGES_PER_ATTACHMENT)
    {
        // The best one always goes in (cut if it must be); the others only whole.
        let len = hit.text.chars().count() + 1;
        if !hits.is_empty() && len > left {
            break;
        }
        left = left.saturating_sub(len);
        hits.push(hit);
    }
    if hits.is_empty() {
        return Ok(None);
    }
    let (passages, places) = passages_part(&hits);
    parts.push((PASSAGES, passages));
    Ok(Some(Entry {
        id,
        text: ItemText {
            heading: text.heading.clone(),
            parts,
        },
        places,
    }))
}

/// Builds the context of a message.
pub async fn build(
    content: &ContentService,
    pipelines: &Pipelines,
    pool: &PgPool,
    owner: UserId,
    question: &str,
    attachments: &[Uuid],
    settings: &ChatSettings,
) -> Result<Built, ContentFailure> {
    let owner = owner.0;
    let mut question = Question::new(pipelines, question);
    let scan = settings.retrieval_items;
    let share = settings.context_chars / attachments.len().max(1);
    let mut items = Vec::new();
    for id in attachments {
        let Some(text) = item_text(content, owner, *id).await? else {
            continue;
        };
        if text.chars() > share {
            let limits = (scan, share);
            match attachment_passages(&mut question, pool, owner, *id, &text, limits).await {
                Ok(Some(entry)) => {
                    items.push(entry);
                    continue;
                }
                Ok(None) => {}
                // Passages are a help: without them the attachment is given shortened.
                Err(e) => tracing::warn!(error = %e, item = %id, "attachment passages failed"),
            }
        }
        items.push(Entry {
            id: *id,
            text,
            places: Vec::new(),
        });
    }
    if asks_about_library(question.text) {
        let keep = settings.retrieval_passages;
        match nearest_items(&mut question, pool, owner, scan, keep).await {
            Ok(found) => {
                for (id, hits) in found
                    .into_iter()
                    .filter(|(id, _)| !attachments.contains(id))
                {
                    if let Some((text, places)) = passages_text(content, owner, id, &hits).await? {
                        items.push(Entry { id, text, places });
                    }
                }
            }
            // Retrieval is a help, not a condition: the answer goes on without it.
            Err(e) => tracing::warn!(error = %e, "library retrieval failed"),
        }
    }
    let mut system = SYSTEM_PROMPT.to_owned();
    if items.is_empty() {
        return Ok(Built {
            system,
            sources: Vec::new(),
        });
    }
    system.push_str("\n\nItems from the user's library:");
    let (text, sources) = render(items, settings.context_chars);
    system.push_str(&text);
    Ok(Built { system, sources })
}

/// The user's items the search index ranks best for the question (by meaning and by words,
/// as `/api/search` does), best first, each with its best passages.
async fn nearest_items(
    question: &mut Question<'_>,
    pool: &PgPool,
    owner: Uuid,
    scan: usize,
    keep: usize,
) -> Result<Vec<(Uuid, Vec<ChunkHit>)>, String> {
    let query = question.query(owner, scan).await?;
    let hits = search::hybrid(pool, &query)
        .await
        .map_err(|e| e.to_string())?;
    Ok(search::by_item(hits, PASSAGES_PER_ITEM)
        .into_iter()
        .take(keep)
        .map(|g| (g[0].item_id, g))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_questions_are_recognised() {
        assert!(asks_about_library(
            "What do MY FILES say about the lighthouse?"
        ));
        assert!(asks_about_library("find it in my notes"));
        assert!(!asks_about_library("What is a lighthouse?"));
    }

    #[test]
    fn long_parts_are_cut_within_the_budget() {
        let long = "word ".repeat(1000);
        let items = vec![Entry {
            id: Uuid::nil(),
            text: ItemText {
                heading: "text \"a\"".into(),
                parts: vec![("text", long), ("summary", "short".into())],
            },
            places: Vec::new(),
        }];
        let (out, sources) = render(items, 600);
        assert!(out.chars().count() < 700, "{}", out.len());
        assert!(out.contains("summary:\nshort"));
        assert!(sources[0].truncated);
        assert_eq!(sources[0].parts, ["text", "summary"]);
    }
}
