//! Answers read straight from the findings: asked what an attached page says, what is said in
//! a recording or what a picture shows, the answer quotes the text read, the transcript with its
//! times, or the statements about the picture with their sources. The local model is too small
//! to do this reliably (it improvises instead of quoting), so for these questions it is not
//! asked at all; a configured remote provider still answers them with the same findings as
//! context.

use tessera_actors::jobs::pipelines::statements::timecode;
use tessera_events::content::{Analysis, Modality};
use tessera_events::conversations::ContextSource;
use tessera_events::{ContentId, UserId};
use uuid::Uuid;

use crate::content::{ContentFailure, ContentService};

/// What a question asks of its attachments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// The text in it: a page's, a picture's, a text item's (for a recording: what is said).
    Read,
    /// What is said in it (for a picture or a page: the text in it).
    Said,
    /// What it shows.
    Shows,
}

const READ: &[&str] = &[
    "what is written",
    "what's written",
    "what does it say",
    "what does this say",
    "what does the page say",
    "what does this page say",
    "what does the text say",
    "what does the sign say",
    "what text",
    "which text",
    "read the text",
    "read this",
    "read it",
    "read the page",
];

const SAID: &[&str] = &[
    "what is said",
    "what's said",
    "what was said",
    "what is being said",
    "what do they say",
    "what did they say",
    "what does he say",
    "what did he say",
    "what does she say",
    "what did she say",
    "what is spoken",
    "transcript",
    "transcribe",
];

const SHOWS: &[&str] = &[
    "what does it show",
    "what does this show",
    "what is shown",
    "what do you see",
    "what can you see",
    "what is in the picture",
    "what's in the picture",
    "what is in this picture",
    "what's in this picture",
    "what is in the image",
    "what's in the image",
    "what is in this image",
    "what's in this image",
    "what is in the photo",
    "what's in the photo",
    "what is in this photo",
    "what's in this photo",
    "describe the picture",
    "describe this picture",
    "describe the image",
    "describe this image",
    "describe the photo",
    "describe this photo",
    "describe the video",
    "describe this video",
];

/// What the question asks of its attachments, when it is one of the questions the findings
/// answer by themselves.
pub fn ask_of(question: &str) -> Option<Ask> {
    let q = question.to_lowercase().replace('’', "'");
    let has = |list: &[&str]| list.iter().any(|p| q.contains(p));
    if has(SAID) {
        Some(Ask::Said)
    } else if has(READ) {
        Some(Ask::Read)
    } else if has(SHOWS) {
        Some(Ask::Shows)
    } else {
        None
    }
}

/// The note under every answer read from the findings.
const NOTE: &str = "(Quoted from what Tessera's models found in the item; no language model wrote \
this answer.)";

/// An answer quoted from the findings, and what of each item it quotes.
pub struct Quoted {
    pub text: String,
    pub sources: Vec<ContextSource>,
}

/// The answer to `question` from the findings of the `owner`'s attachments, when the question
/// is one the findings answer and there is at least one attachment to read.
pub async fn answer(
    content: &ContentService,
    owner: UserId,
    question: &str,
    attachments: &[Uuid],
) -> Result<Option<Quoted>, ContentFailure> {
    let Some(ask) = ask_of(question) else {
        return Ok(None);
    };
    let mut parts = Vec::new();
    let mut sources = Vec::new();
    for &id in attachments {
        let f = content.fold(ContentId(id)).await?;
        let Some(u) = f.state.uploaded.as_ref() else {
            continue;
        };
        if u.owner != owner || f.state.deleted.is_some() || f.state.purged {
            continue;
        }
        let title = &f.state.title;
        let part = match &f.state.analysis {
            Some((_, analysis)) => {
                sources.push(ContextSource {
                    content_id: ContentId(id),
                    parts: vec![quoted_part(ask, analysis).to_owned()],
                    truncated: false,
                    places: Vec::new(),
                });
                from_analysis(ask, title, analysis)
            }
            None if u.modality == Modality::Text => {
                format!("“{title}” is a text item that has not been read yet.")
            }
            None => format!("“{title}” has not been analysed yet, so I cannot say."),
        };
        parts.push(part);
    }
    if parts.is_empty() {
        return Ok(None);
    }
    parts.push(NOTE.to_owned());
    Ok(Some(Quoted {
        text: parts.join("\n\n"),
        sources,
    }))
}

/// The part of an item's findings [`from_analysis`] quotes.
fn quoted_part(ask: Ask, a: &Analysis) -> &'static str {
    match (ask, a) {
        (Ask::Read | Ask::Said, Analysis::Audio(_)) | (Ask::Said, Analysis::Video(_)) => {
            "transcript"
        }
        (Ask::Read | Ask::Said, Analysis::Image(_)) => "ocr",
        (Ask::Read, Analysis::Video(_)) => "keyframes",
        (Ask::Read | Ask::Said, Analysis::Text(_)) => "summary",
        (Ask::Shows, _) => "description",
    }
}

/// One item's answer.
fn from_analysis(ask: Ask, title: &str, a: &Analysis) -> String {
    match (ask, a) {
        (Ask::Read | Ask::Said, Analysis::Audio(_)) | (Ask::Said, Analysis::Video(_)) => {
            said(title, a)
        }
        (Ask::Read | Ask::Said, Analysis::Image(_)) => read(title, a),
        (Ask::Read, Analysis::Video(_)) => on_screen(title, a),
        (Ask::Read | Ask::Said, Analysis::Text(t)) => match &t.summary {
            Some(s) => format!("“{title}” ({} words), in short: {s}", t.words),
            None => format!("“{title}” is a short text of {} words.", t.words),
        },
        (Ask::Shows, _) => shows(title, a),
    }
}

/// The text read in a picture, line by line, with OCR's confidence.
fn read(title: &str, a: &Analysis) -> String {
    let Some(ocr) = a.ocr().filter(|o| !o.lines.is_empty()) else {
        return format!("No text was found in “{title}”.");
    };
    let score = ocr.lines.iter().map(|l| l.score).sum::<f32>() / ocr.lines.len() as f32;
    let lines: Vec<String> = ocr
        .lines
        .iter()
        .map(|l| format!("> {}", l.text.trim()))
        .collect();
    format!(
        "The text read in “{title}” ({} lines, {:.0}% mean confidence):\n\n{}",
        ocr.lines.len(),
        score * 100.0,
        lines.join("\n")
    )
}

/// The text on screen in a video's keyframes, with their times.
fn on_screen(title: &str, a: &Analysis) -> String {
    let lines: Vec<String> = a
        .keyframes()
        .iter()
        .filter(|k| !k.ocr_text.trim().is_empty())
        .map(|k| format!("> [{}] {}", timecode(k.time), flat(&k.ocr_text)))
        .collect();
    if lines.is_empty() {
        return format!("No text was found on screen in “{title}”.");
    }
    format!("The text on screen in “{title}”:\n\n{}", lines.join("\n"))
}

/// What is said in a recording, segment by segment with its time.
fn said(title: &str, a: &Analysis) -> String {
    let segments: Vec<String> = a
        .transcript()
        .map(|t| t.segments.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|s| !s.text.trim().is_empty())
        .map(|s| format!("> [{}] {}", timecode(f64::from(s.start)), s.text.trim()))
        .collect();
    if segments.is_empty() {
        return match a {
            Analysis::Video(v) if !v.has_audio => format!("“{title}” has no sound."),
            _ => format!("No speech was found in “{title}”."),
        };
    }
    format!(
        "What is said in “{title}”, from its transcript:\n\n{}",
        segments.join("\n")
    )
}

/// What a picture or a video shows: its statements with their sources, or its labels.
fn shows(title: &str, a: &Analysis) -> String {
    let statements = a.statements();
    if !statements.is_empty() {
        let lines: Vec<String> = statements
            .iter()
            .map(|s| {
                let mark = if s.uncertain { " (uncertain)" } else { "" };
                format!("- {}{mark}", s.text)
            })
            .collect();
        return format!(
            "What “{title}” shows, from its findings:\n\n{}",
            lines.join("\n")
        );
    }
    let labels: Vec<String> = a
        .labels()
        .iter()
        .take(3)
        .map(|l| format!("{} ({:.0}%)", l.name, l.score * 100.0))
        .collect();
    if labels.is_empty() {
        return match a.summary() {
            Some(s) => format!("“{title}”, in short: {s}"),
            None => format!("Nothing certain was found in “{title}”."),
        };
    }
    format!(
        "The image classifier's best guesses for “{title}”: {}.",
        labels.join(", ")
    )
}

fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_the_findings_answer_are_recognised() {
        assert_eq!(ask_of("What is written on this page?"), Some(Ask::Read));
        assert_eq!(ask_of("What does it say?"), Some(Ask::Read));
        assert_eq!(ask_of("What was said in the recording?"), Some(Ask::Said));
        assert_eq!(ask_of("Please transcribe it"), Some(Ask::Said));
        assert_eq!(ask_of("What’s in this picture?"), Some(Ask::Shows));
        assert_eq!(ask_of("What is the capital of France?"), None);
        assert_eq!(ask_of("Summarise the attached notes"), None);
    }
}
