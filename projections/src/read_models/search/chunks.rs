//! What the search read model indexes of an item: its findings cut into chunks, each with the
//! place it points to (a time span, a box, a keyframe, a paragraph's byte range).
//!
//! Pure functions of an item's events and, for a text item, its text: a rebuild cuts the same
//! chunks again.

use tessera_events::content::analysis::{
    Analysis, AudioAnalysis, Embeddings, ImageAnalysis, Keyframe, Label, OcrLine, Segment,
    TextAnalysis, VideoAnalysis,
};

/// Labels at or above this probability are indexed (words an image may be found by; what the
/// item page states as fact has its own, higher bar).
pub const INDEXED_LABEL: f32 = 0.1;
/// A chunk's text is cut at this many bytes (the embedding model reads 256 tokens anyway).
pub const MAX_CHUNK_BYTES: usize = 2_000;
/// A paragraph longer than this is cut into windows of about this size at whitespace.
pub const PARAGRAPH_WINDOW: usize = 1_000;
/// At most this many chunks per item; the rest of a very long item is not indexed.
pub const MAX_CHUNKS: usize = 4_000;
/// A text item is indexed up to this many bytes.
pub const MAX_TEXT_BYTES: usize = 4 << 20;

/// The chunk's place in an item's chunk list: 0 is the title, 1 the owner's description, the
/// findings follow.
pub const ORD_TITLE: i32 = 0;
pub const ORD_DESCRIPTION: i32 = 1;
pub const ORD_FINDINGS: i32 = 2;

/// What a chunk is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkKind {
    /// The item's title.
    Title,
    /// The description its owner wrote.
    Note,
    /// The description Tessera wrote from the findings.
    Description,
    /// A summary of a text or a recording.
    Summary,
    /// The classifier's labels of an image.
    Labels,
    /// One line of text read in an image, with its box.
    Ocr,
    /// One stretch of a transcript, with its times.
    Segment,
    /// What a video's keyframe shows and contains, with its time.
    Keyframe,
    /// One paragraph (or window of a long one) of a text.
    Paragraph,
}

impl ChunkKind {
    pub const ALL: [ChunkKind; 9] = [
        Self::Title,
        Self::Note,
        Self::Description,
        Self::Summary,
        Self::Labels,
        Self::Ocr,
        Self::Segment,
        Self::Keyframe,
        Self::Paragraph,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Title => "title",
            Self::Note => "note",
            Self::Description => "description",
            Self::Summary => "summary",
            Self::Labels => "labels",
            Self::Ocr => "ocr",
            Self::Segment => "segment",
            Self::Keyframe => "keyframe",
            Self::Paragraph => "paragraph",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One indexed piece of an item.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub kind: ChunkKind,
    pub text: String,
    /// Milliseconds from the start: a segment's span, a keyframe's time (`end_ms` absent).
    pub start_ms: Option<i32>,
    pub end_ms: Option<i32>,
    /// An OCR line's box in the image's pixels: x, y, width, height.
    pub bbox: Option<[f32; 4]>,
    /// The keyframe a chunk comes from.
    pub keyframe: Option<i32>,
    /// A paragraph's byte range in the text.
    pub range: Option<(i32, i32)>,
}

impl Chunk {
    /// A chunk with no place of its own (title, description, summary, labels); `None` when
    /// the text is blank.
    pub fn plain(kind: ChunkKind, text: &str) -> Option<Self> {
        let text = clean(text);
        (!text.is_empty()).then_some(Chunk {
            kind,
            text,
            start_ms: None,
            end_ms: None,
            bbox: None,
            keyframe: None,
            range: None,
        })
    }
}

/// The chunks of an analysis, in order; `text` is a text item's own text (`None` for media).
pub fn of_analysis(analysis: &Analysis, text: Option<&str>) -> Vec<Chunk> {
    let mut out = match analysis {
        Analysis::Text(a) => of_text(a, text.unwrap_or_default()),
        Analysis::Image(a) => of_image(a),
        Analysis::Audio(a) => of_audio(a),
        Analysis::Video(a) => of_video(a),
    };
    out.truncate(MAX_CHUNKS);
    out
}

fn of_text(a: &TextAnalysis<Embeddings>, text: &str) -> Vec<Chunk> {
    let mut out: Vec<Chunk> = a
        .summary
        .as_deref()
        .and_then(|s| Chunk::plain(ChunkKind::Summary, s))
        .into_iter()
        .collect();
    out.extend(paragraphs(text).into_iter().filter_map(|(start, end)| {
        let mut c = Chunk::plain(ChunkKind::Paragraph, &text[start..end])?;
        c.range = Some((to_i32(start), to_i32(end)));
        Some(c)
    }));
    out
}

fn of_image(a: &ImageAnalysis<Embeddings>) -> Vec<Chunk> {
    let mut out = Vec::new();
    out.extend(Chunk::plain(ChunkKind::Labels, &label_words(&a.labels)));
    out.extend(Chunk::plain(ChunkKind::Description, &a.description));
    out.extend(a.ocr.lines.iter().filter_map(ocr_line));
    out
}

fn of_audio(a: &AudioAnalysis<Embeddings>) -> Vec<Chunk> {
    let mut out: Vec<Chunk> = a
        .summary
        .as_deref()
        .and_then(|s| Chunk::plain(ChunkKind::Summary, s))
        .into_iter()
        .collect();
    out.extend(a.transcript.segments.iter().filter_map(segment));
    out
}

fn of_video(a: &VideoAnalysis<Keyframe, Embeddings>) -> Vec<Chunk> {
    let mut out = Vec::new();
    out.extend(Chunk::plain(ChunkKind::Description, &a.description));
    out.extend(Chunk::plain(ChunkKind::Summary, &a.summary));
    out.extend(a.keyframes.iter().filter_map(keyframe));
    if let Some(t) = &a.transcript {
        out.extend(t.segments.iter().filter_map(segment));
    }
    out
}

/// The names of the labels worth finding an image by, most likely first.
fn label_words(labels: &[Label]) -> String {
    labels
        .iter()
        .filter(|l| l.score >= INDEXED_LABEL)
        .map(|l| l.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn ocr_line(line: &OcrLine) -> Option<Chunk> {
    let mut c = Chunk::plain(ChunkKind::Ocr, &line.text)?;
    let xs = line.bbox.iter().map(|p| p[0]);
    let ys = line.bbox.iter().map(|p| p[1]);
    let (x0, x1) = xs.fold((f32::MAX, f32::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
    let (y0, y1) = ys.fold((f32::MAX, f32::MIN), |(lo, hi), y| (lo.min(y), hi.max(y)));
    c.bbox = Some([
        x0.max(0.0),
        y0.max(0.0),
        (x1 - x0).max(0.0),
        (y1 - y0).max(0.0),
    ]);
    Some(c)
}

fn segment(s: &Segment) -> Option<Chunk> {
    let mut c = Chunk::plain(ChunkKind::Segment, &s.text)?;
    c.start_ms = Some(millis(f64::from(s.start)));
    c.end_ms = Some(millis(f64::from(s.end)));
    Some(c)
}

fn keyframe(k: &Keyframe) -> Option<Chunk> {
    let words = label_words(&k.labels);
    let text = match (words.is_empty(), k.ocr_text.trim().is_empty()) {
        (false, false) => format!("{words}. {}", k.ocr_text),
        (false, true) => words,
        (true, _) => k.ocr_text.clone(),
    };
    let mut c = Chunk::plain(ChunkKind::Keyframe, &text)?;
    c.start_ms = Some(millis(k.time));
    c.keyframe = Some(to_i32(k.index));
    Some(c)
}

/// Byte ranges of a text's paragraphs (blocks between blank lines), a long one cut into
/// windows of about [`PARAGRAPH_WINDOW`] bytes at whitespace. Blank ones are left out.
pub fn paragraphs(text: &str) -> Vec<(usize, usize)> {
    let text = &text[..floor_char_boundary(text, MAX_TEXT_BYTES)];
    let mut out = Vec::new();
    let mut start = 0;
    let mut blank_run = false;
    let mut line_start = 0;
    for (i, ch) in text
        .char_indices()
        .chain(std::iter::once((text.len(), '\n')))
    {
        if ch != '\n' {
            continue;
        }
        let line = &text[line_start..i];
        if line.trim().is_empty() {
            if !blank_run {
                windows(text, start, line_start, &mut out);
            }
            blank_run = true;
            start = (i + 1).min(text.len());
        } else {
            blank_run = false;
        }
        line_start = (i + 1).min(text.len());
    }
    windows(text, start, text.len(), &mut out);
    out
}

/// Pushes `text[start..end]` trimmed, cut into windows at whitespace.
fn windows(text: &str, start: usize, end: usize, out: &mut Vec<(usize, usize)>) {
    let mut s = start;
    while s < end {
        let rest = &text[s..end];
        let lead = rest.len() - rest.trim_start().len();
        s += lead;
        if s >= end {
            return;
        }
        let rest = &text[s..end];
        let cut = if rest.len() <= PARAGRAPH_WINDOW + PARAGRAPH_WINDOW / 2 {
            rest.len()
        } else {
            let limit = floor_char_boundary(rest, PARAGRAPH_WINDOW);
            rest[..limit]
                .rfind(char::is_whitespace)
                .filter(|&w| w > PARAGRAPH_WINDOW / 2)
                .unwrap_or(limit)
        };
        let piece = rest[..cut].trim_end();
        if !piece.is_empty() {
            out.push((s, s + piece.len()));
        }
        s += cut.max(1);
        while !text.is_char_boundary(s) {
            s += 1;
        }
    }
}

/// The text as indexed: at most [`MAX_CHUNK_BYTES`], trimmed, without the private-use
/// characters the highlighter marks matches with.
fn clean(text: &str) -> String {
    let text = text.trim();
    let text = &text[..floor_char_boundary(text, MAX_CHUNK_BYTES)];
    text.chars()
        .map(|c| {
            if ('\u{E000}'..='\u{F8FF}').contains(&c) {
                ' '
            } else {
                c
            }
        })
        .collect::<String>()
        .trim()
        .to_owned()
}

fn floor_char_boundary(s: &str, at: usize) -> usize {
    if at >= s.len() {
        return s.len();
    }
    (0..=at).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0)
}

fn millis(secs: f64) -> i32 {
    (secs.max(0.0) * 1000.0).round().min(f64::from(i32::MAX)) as i32
}

fn to_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_are_blocks_between_blank_lines() {
        let text = "First line\nstill first.\n\n  \nSecond.\n\n\nThird";
        let got: Vec<&str> = paragraphs(text).iter().map(|&(s, e)| &text[s..e]).collect();
        assert_eq!(got, ["First line\nstill first.", "Second.", "Third"]);
    }

    #[test]
    fn a_long_paragraph_is_cut_at_whitespace_into_windows() {
        let word = "wörd ";
        let text = word.repeat(1_000);
        let got = paragraphs(&text);
        assert!(got.len() > 3, "{} windows", got.len());
        for &(s, e) in &got {
            assert!(e - s <= PARAGRAPH_WINDOW + PARAGRAPH_WINDOW / 2);
            assert!(text[s..e].starts_with('w') && text[s..e].ends_with('d'));
        }
        // Every word is in some window.
        let words: usize = got
            .iter()
            .map(|&(s, e)| text[s..e].split_whitespace().count())
            .sum();
        assert_eq!(words, 1_000);
    }

    #[test]
    fn ocr_boxes_become_axis_aligned_rectangles() {
        let line = OcrLine {
            text: "Hello".into(),
            score: 0.9,
            bbox: [[10.0, 20.0], [110.0, 22.0], [109.0, 52.0], [9.0, 50.0]],
        };
        let c = ocr_line(&line).unwrap();
        assert_eq!(c.bbox, Some([9.0, 20.0, 101.0, 32.0]));
    }

    #[test]
    fn highlight_markers_cannot_be_smuggled_in() {
        let c = Chunk::plain(ChunkKind::Title, "a\u{E000}b\u{E001}c").unwrap();
        assert_eq!(c.text, "a b c");
        assert!(Chunk::plain(ChunkKind::Title, "  \n ").is_none());
    }
}
