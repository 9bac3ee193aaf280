//! What Tessera states about a picture or a video, built from the findings themselves: every
//! sentence names the finding it rests on, and a finding too uncertain to state as fact is said
//! to be uncertain or left out. The language model's prose is added only where
//! [`super::grounding`] finds every word of it in the findings.

use tessera_events::content::analysis::{
    Keyframe, Label, OcrText, Statement, StatementSource, Transcript,
};

/// A label is stated as what the picture shows at or above this probability...
pub const LABEL_SURE: f32 = 0.35;
/// ...as a possibility (marked uncertain) down to this one, and not at all below it.
pub const LABEL_POSSIBLE: f32 = 0.15;
/// A picture is a page of text when it holds at least this many lines...
const DOCUMENT_LINES: usize = 4;
/// ...or at least two that cover this share of its area (a sign's one big line is no page).
const DOCUMENT_AREA: f32 = 0.25;
/// How much of the text read in a picture a description quotes, in characters.
const QUOTED_CHARS: usize = 160;
/// Lines of a video's timeline, at most.
const TIMELINE_LINES: usize = 60;

/// The statements about an image `width` × `height` pixels from its labels and text.
pub fn image_statements(labels: &[Label], ocr: &OcrText, size: (u32, u32)) -> Vec<Statement> {
    let mut out = Vec::new();
    let text = ocr.text.trim();
    if is_document(ocr, size) {
        out.push(fact(
            "A page of text.",
            StatementSource::Ocr { at: None },
            ocr_confidence(ocr),
        ));
    } else {
        out.push(label_statement(labels, None));
    }
    if !text.is_empty() {
        out.push(fact(
            &quoted("Text in it: ", text),
            StatementSource::Ocr { at: None },
            ocr_confidence(ocr),
        ));
    }
    out
}

/// The statements about a video from its keyframes and what is said in it.
pub fn video_statements(keyframes: &[Keyframe], transcript: Option<&Transcript>) -> Vec<Statement> {
    let mut out = Vec::new();
    // The keyframe whose best label is the most certain says what the video shows.
    let best = keyframes
        .iter()
        .filter_map(|k| k.labels.first().map(|l| (k, l)))
        .max_by(|a, b| a.1.score.total_cmp(&b.1.score));
    match best {
        Some((k, _)) => out.push(label_statement(&k.labels, Some(k.time))),
        None => out.push(fact("A video.", StatementSource::File, None)),
    }
    if let Some(k) = keyframes.iter().find(|k| !k.ocr_text.trim().is_empty()) {
        out.push(fact(
            &quoted(
                &format!("Text on screen at {}: ", timecode(k.time)),
                &k.ocr_text,
            ),
            StatementSource::Ocr { at: Some(k.time) },
            None,
        ));
    }
    match transcript.and_then(|t| t.segments.iter().find(|s| !s.text.trim().is_empty())) {
        Some(s) => out.push(fact(
            &quoted(
                &format!("Speech from {}: ", timecode(s.start as f64)),
                &s.text,
            ),
            StatementSource::Transcript {
                start: s.start as f64,
                end: s.end as f64,
            },
            None,
        )),
        None if transcript.is_some() => {
            out.push(fact("No speech found.", StatementSource::File, None))
        }
        None => out.push(fact("No sound.", StatementSource::File, None)),
    }
    out
}

/// A video's timeline: one line per keyframe (what it shows, the text on screen) and per
/// stretch of speech, in time order, each starting with its time code.
pub fn video_timeline(keyframes: &[Keyframe], transcript: Option<&Transcript>) -> Vec<Statement> {
    let mut lines: Vec<(f64, Statement)> = Vec::new();
    for k in keyframes {
        let shown = label_statement(&k.labels, Some(k.time));
        lines.push((k.time, timed(k.time, shown)));
        let text = k.ocr_text.trim();
        if !text.is_empty() {
            let s = fact(
                &quoted("Text on screen: ", text),
                StatementSource::Ocr { at: Some(k.time) },
                None,
            );
            lines.push((k.time, timed(k.time, s)));
        }
    }
    for s in transcript
        .map(|t| t.segments.as_slice())
        .unwrap_or_default()
    {
        let said = s.text.trim();
        if said.is_empty() {
            continue;
        }
        let start = s.start as f64;
        let st = fact(
            &quoted("Said: ", said),
            StatementSource::Transcript {
                start,
                end: s.end as f64,
            },
            None,
        );
        lines.push((start, timed(start, st)));
    }
    lines.sort_by(|a, b| a.0.total_cmp(&b.0));
    lines
        .into_iter()
        .take(TIMELINE_LINES)
        .map(|(_, s)| s)
        .collect()
}

/// The statements as one text: sentences joined by spaces.
pub fn joined(statements: &[Statement]) -> String {
    statements
        .iter()
        .map(|s| s.text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The timeline as lines.
pub fn lines(statements: &[Statement]) -> String {
    statements
        .iter()
        .map(|s| s.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// What the classifier saw, as sure as its probability allows.
fn label_statement(labels: &[Label], at: Option<f64>) -> Statement {
    let source = |l: &Label| match at {
        Some(at) => StatementSource::Keyframe { at },
        None => StatementSource::Label {
            name: l.name.clone(),
        },
    };
    match labels.first() {
        Some(l) if l.score >= LABEL_SURE => fact(
            &format!(
                "Probably {} ({:.0}%).",
                with_article(&l.name),
                l.score * 100.0
            ),
            source(l),
            Some(l.score),
        ),
        Some(l) if l.score >= LABEL_POSSIBLE => Statement {
            uncertain: true,
            ..fact(
                &format!(
                    "Possibly {} ({:.0}%).",
                    with_article(&l.name),
                    l.score * 100.0
                ),
                source(l),
                Some(l.score),
            )
        },
        _ => Statement {
            uncertain: true,
            ..fact(
                "What it shows is not certain.",
                labels.first().map(source).unwrap_or(StatementSource::File),
                labels.first().map(|l| l.score),
            )
        },
    }
}

/// Whether the text read in a picture makes it a page of text rather than a photo.
pub fn is_document(ocr: &OcrText, (width, height): (u32, u32)) -> bool {
    if ocr.lines.len() >= DOCUMENT_LINES {
        return true;
    }
    let area = width as f32 * height as f32;
    if ocr.lines.len() < 2 || area <= 0.0 {
        return false;
    }
    let covered: f32 = ocr.lines.iter().map(|l| quad_area(&l.bbox)).sum();
    covered / area >= DOCUMENT_AREA
}

/// The area of a quadrilateral by the shoelace formula.
fn quad_area(q: &[[f32; 2]; 4]) -> f32 {
    let mut twice = 0.0;
    for i in 0..4 {
        let (a, b) = (q[i], q[(i + 1) % 4]);
        twice += a[0] * b[1] - b[0] * a[1];
    }
    (twice / 2.0).abs()
}

fn ocr_confidence(ocr: &OcrText) -> Option<f32> {
    if ocr.lines.is_empty() {
        return None;
    }
    Some(ocr.lines.iter().map(|l| l.score).sum::<f32>() / ocr.lines.len() as f32)
}

fn fact(text: &str, source: StatementSource, confidence: Option<f32>) -> Statement {
    Statement {
        text: text.to_owned(),
        source,
        confidence,
        uncertain: false,
    }
}

fn timed(at: f64, s: Statement) -> Statement {
    Statement {
        text: format!("[{}] {}", timecode(at), s.text),
        ..s
    }
}

/// `name` with "a" or "an", for a class name such as "tabby cat" or "espresso".
fn with_article(name: &str) -> String {
    let article = match name.chars().next().map(|c| c.to_ascii_lowercase()) {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    };
    format!("{article} {name}")
}

/// `intro` and the quoted text as a sentence: a full stop after the quote unless the quote
/// already ends one.
fn quoted(intro: &str, text: &str) -> String {
    let q = quote(text.trim(), QUOTED_CHARS);
    let ends = q.ends_with(['.', '!', '?', '…']);
    format!("{intro}“{q}”{}", if ends { "" } else { "." })
}

/// The text's lines joined by spaces, cut at a word end after at most `max` characters.
fn quote(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    let cut: String = flat.chars().take(max).collect();
    let cut = match cut.rfind(' ') {
        Some(at) if at > max / 2 => &cut[..at],
        _ => cut.as_str(),
    };
    format!("{cut}…")
}

/// `m:ss` (or `h:mm:ss`).
pub fn timecode(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use tessera_events::content::analysis::{OcrLine, Segment};

    use super::*;

    fn label(name: &str, score: f32) -> Label {
        Label {
            index: 0,
            name: name.into(),
            score,
        }
    }

    fn line(text: &str, x: f32, y: f32, w: f32, h: f32) -> OcrLine {
        OcrLine {
            text: text.into(),
            score: 0.9,
            bbox: [[x, y], [x + w, y], [x + w, y + h], [x, y + h]],
        }
    }

    #[test]
    fn a_sure_label_is_stated_and_a_weak_one_is_marked_or_dropped() {
        let none = OcrText::default();
        let sure = image_statements(&[label("tabby cat", 0.62)], &none, (640, 480));
        assert_eq!(joined(&sure), "Probably a tabby cat (62%).");
        assert!(!sure[0].uncertain);
        assert_eq!(sure[0].confidence, Some(0.62));

        let weak = image_statements(&[label("espresso", 0.2)], &none, (640, 480));
        assert_eq!(joined(&weak), "Possibly an espresso (20%).");
        assert!(weak[0].uncertain);

        let unsure = image_statements(&[label("brass", 0.07)], &none, (640, 480));
        assert!(!joined(&unsure).contains("brass"), "{}", joined(&unsure));
        assert!(unsure[0].uncertain);
    }

    #[test]
    fn a_page_of_text_is_a_document_not_brass() {
        let lines: Vec<OcrLine> = (0..6)
            .map(|i| {
                line(
                    "Region-based segmentation",
                    20.0,
                    40.0 * i as f32,
                    500.0,
                    30.0,
                )
            })
            .collect();
        let text = lines
            .iter()
            .map(|l| l.text.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        let ocr = OcrText { text, lines };
        let s = image_statements(
            &[label("brass", 0.16), label("menu", 0.07)],
            &ocr,
            (600, 800),
        );
        let said = joined(&s);
        assert!(
            said.starts_with("A page of text. Text in it: “Region-based segmentation"),
            "{said}"
        );
        assert!(!said.contains("brass"), "{said}");
        assert!(s
            .iter()
            .all(|s| matches!(s.source, StatementSource::Ocr { .. })));
    }

    #[test]
    fn a_sign_in_a_photo_is_quoted_beside_the_label() {
        let ocr = OcrText {
            text: "STOP".into(),
            lines: vec![line("STOP", 100.0, 100.0, 60.0, 30.0)],
        };
        let s = image_statements(&[label("street sign", 0.7)], &ocr, (1000, 800));
        assert_eq!(
            joined(&s),
            "Probably a street sign (70%). Text in it: “STOP”."
        );
        let big = OcrText {
            text: "OPEN DAILY".into(),
            lines: vec![line("OPEN DAILY", 0.0, 0.0, 700.0, 150.0)],
        };
        assert!(
            !is_document(&big, (720, 200)),
            "one big line is a sign, not a page"
        );
    }

    #[test]
    fn a_video_is_told_in_time_order_from_its_findings() {
        let keyframes = vec![
            Keyframe {
                index: 0,
                time: 0.0,
                labels: vec![label("tabby cat", 0.6)],
                ocr_text: String::new(),
                blob_key: "k0".into(),
            },
            Keyframe {
                index: 1,
                time: 3.0,
                labels: vec![label("menu", 0.1)],
                ocr_text: "Region-based segmentation".into(),
                blob_key: "k1".into(),
            },
        ];
        let transcript = Transcript {
            segments: vec![Segment {
                start: 4.2,
                end: 6.0,
                text: " The cat sat on the page.".into(),
            }],
            text: "The cat sat on the page.".into(),
        };
        let timeline = video_timeline(&keyframes, Some(&transcript));
        assert_eq!(
            lines(&timeline),
            "[0:00] Probably a tabby cat (60%).\n\
             [0:03] What it shows is not certain.\n\
             [0:03] Text on screen: “Region-based segmentation”.\n\
             [0:04] Said: “The cat sat on the page.”"
        );
        let said = joined(&video_statements(&keyframes, Some(&transcript)));
        assert_eq!(
            said,
            "Probably a tabby cat (60%). Text on screen at 0:03: “Region-based segmentation”. \
             Speech from 0:04: “The cat sat on the page.”"
        );
        let silent = joined(&video_statements(&keyframes, None));
        assert!(silent.ends_with("No sound."), "{silent}");
    }
}
