//! What the models found in an item: the `analysis` of `content.analysed`, one shape per
//! modality, tagged by `modality`.
//!
//! Every model step of an analysis has a [`Provenance`] entry in its `provenance` list, in the
//! order the steps ran; an entry's `step` (one of [`step`]) names the part it produced, so
//! [`Analysis::provenance_of`] gives a part's provenance. A video runs the classifier and OCR
//! once per keyframe, so it has one `image.labels` and one `image.ocr` entry per keyframe.
//!
//! The shape is the one the pipelines have written since the first analysis (schema version 1),
//! so events already in the log read as they are.
//!
//! Two parts differ between the log and the API: keyframes (the log holds their blob keys, the
//! API their addresses) and embeddings (the log holds the vectors, the API only their count).
//! Hence the type parameters `K` (a keyframe) and `E` (the embeddings), with the log's types as
//! defaults, and [`Analysis::map`] to turn one into the other.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::modality::Modality;
use crate::jobs::Provenance;

#[cfg(test)]
mod tests;

/// The names of the model steps in provenance and in the result cache's keys.
pub mod step {
    /// Image classification: [`super::ImageAnalysis::labels`] and each keyframe's labels.
    pub const IMAGE_LABELS: &str = "image.labels";
    /// Text read in an image: [`super::ImageAnalysis::ocr`] and each keyframe's `ocr_text`.
    pub const IMAGE_OCR: &str = "image.ocr";
    /// An image described by the language model from its labels and text.
    pub const IMAGE_DESCRIPTION: &str = "image.description";
    /// Stretches of speech found by voice activity detection.
    pub const AUDIO_SPEECH: &str = "audio.speech";
    /// Speech written down, with times.
    pub const AUDIO_TRANSCRIPT: &str = "audio.transcript";
    /// A text item's summary.
    pub const TEXT_SUMMARY: &str = "text.summary";
    /// The summary of a recording's transcript.
    pub const TRANSCRIPT_SUMMARY: &str = "transcript.summary";
    /// A video's time-coded summary written by the language model, in analyses made before
    /// the summary was built from the findings.
    pub const VIDEO_SUMMARY: &str = "video.summary";
    /// Text embedded for search.
    pub const TEXT_EMBEDDINGS: &str = "text.embeddings";
    /// Text read aloud (interactive requests only).
    pub const SPEECH_SYNTHESIS: &str = "speech.synthesis";

    /// The summary step of a text of kind `what` (`text`, `transcript`): `<what>.summary`.
    pub fn summary_of(what: &str) -> String {
        format!("{what}.summary")
    }
}

/// A class an image classifier saw, with its probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Label {
    /// The class's index in the classifier's class list (ImageNet: 0–999).
    pub index: usize,
    /// The class's name.
    pub name: String,
    /// Probability, 0–1.
    pub score: f32,
}

/// A line of text read in an image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OcrLine {
    pub text: String,
    /// Mean confidence of its characters, 0–1.
    pub score: f32,
    /// Its box in the image's pixels, as `[x, y]` corners: top left, top right, bottom right,
    /// bottom left.
    #[serde(rename = "box")]
    #[schema(value_type = Vec<Vec<f32>>)]
    pub bbox: [[f32; 2]; 4],
}

/// The text read in an image.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OcrText {
    /// All lines in reading order: lines of one row separated by spaces, rows by newlines.
    pub text: String,
    /// The lines in reading order, with their boxes.
    pub lines: Vec<OcrLine>,
}

/// A stretch of speech, in seconds from the start.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SpeechSpan {
    pub start: f32,
    pub end: f32,
}

/// One stretch of transcribed speech, in seconds from the start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Segment {
    pub start: f32,
    pub end: f32,
    /// What was said.
    pub text: String,
}

/// What was said, in time order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Transcript {
    /// Segments in time order, none empty.
    pub segments: Vec<Segment>,
    /// The segments' text joined by spaces.
    pub text: String,
}

/// Where a photo was taken.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GpsPosition {
    pub latitude: f64,
    pub longitude: f64,
}

/// What a photo's EXIF block says. A fact that is not there is `null`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Exif {
    /// Capture time, ISO 8601, with its offset when the camera gave one.
    #[serde(default)]
    pub captured_at: Option<String>,
    #[serde(default)]
    pub camera_make: Option<String>,
    #[serde(default)]
    pub camera_model: Option<String>,
    /// EXIF orientation, 1–8 (1 = upright).
    #[serde(default)]
    pub orientation: Option<u16>,
    /// Kept only when the owner allowed it at upload.
    #[serde(default)]
    pub gps: Option<GpsPosition>,
}

/// A frame of a video picked for analysis, as the log keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Keyframe {
    /// Its place among the video's keyframes, from 0.
    pub index: usize,
    /// Seconds from the start.
    pub time: f64,
    /// The classifier's top labels (at most three).
    pub labels: Vec<Label>,
    /// The text read in the frame.
    pub ocr_text: String,
    /// Where the frame's JPEG is in the blob store.
    pub blob_key: String,
}

/// One embedded window of text derived from an item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EmbeddedChunk {
    /// What the text is (`text`, `transcript`, `derived`).
    pub source: String,
    /// Byte range of the window in that text.
    pub start: usize,
    pub end: usize,
    pub vector: Vec<f32>,
}

/// The embeddings as the log keeps them: every window with its vector.
pub type Embeddings = Vec<EmbeddedChunk>;

/// One statement Tessera shows about an item, with where it comes from: every sentence of a
/// description or a time-coded summary is one, so the UI can say what each rests on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Statement {
    /// The sentence as shown.
    pub text: String,
    /// What it rests on.
    pub source: StatementSource,
    /// How sure the finding behind it is, 0–1, where the source gives a measure (a label's
    /// probability, OCR's mean character confidence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
    /// Below the level at which the finding is shown as fact: the UI marks it as uncertain.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub uncertain: bool,
}

/// What a [`Statement`] rests on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StatementSource {
    /// The image classifier's label of that name.
    Label { name: String },
    /// Text read in the picture (or in the keyframe at `at` seconds of a video).
    Ocr {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<f64>,
    },
    /// Words said between `start` and `end` seconds.
    Transcript { start: f64, end: f64 },
    /// What the classifier saw in the keyframe at `at` seconds.
    Keyframe { at: f64 },
    /// The file's own facts (its length, whether it has sound, its pages).
    File,
    /// Prose the language model wrote that the grounding check found supported by the other
    /// findings.
    Model { model: String },
}

/// What the models found in a text item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TextAnalysis<E> {
    pub words: usize,
    pub characters: usize,
    /// None for a short text.
    #[serde(default)]
    pub summary: Option<String>,
    pub embeddings: E,
    /// Each model step, in the order it ran.
    pub provenance: Vec<Provenance>,
}

/// What the models found in an image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImageAnalysis<E> {
    /// The classifier's top labels, most likely first.
    pub labels: Vec<Label>,
    pub ocr: OcrText,
    pub exif: Exif,
    /// One or two sentences from the labels and the text: the statements, joined.
    pub description: String,
    /// The description sentence by sentence, each with its source. Analyses made before
    /// descriptions were grounded have none (their description is the model's prose).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statements: Vec<Statement>,
    pub embeddings: E,
    /// Each model step, in the order it ran.
    pub provenance: Vec<Provenance>,
}

/// What the models found in an audio item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AudioAnalysis<E> {
    pub duration_secs: f64,
    /// Where speech was found.
    pub speech: Vec<SpeechSpan>,
    pub transcript: Transcript,
    /// None for a short transcript.
    #[serde(default)]
    pub summary: Option<String>,
    pub embeddings: E,
    /// Each model step, in the order it ran.
    pub provenance: Vec<Provenance>,
}

/// What the models found in a video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VideoAnalysis<K, E> {
    /// In time order.
    pub keyframes: Vec<K>,
    pub has_audio: bool,
    /// None for a video without sound.
    pub transcript: Option<Transcript>,
    /// Lines starting with a time code (`[0:05] ...`).
    pub summary: String,
    /// The time-coded summary line by line, each with its source; none in analyses made
    /// before summaries were built from the findings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<Statement>,
    /// What the video shows and says, in a sentence or two (empty in older analyses).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The description sentence by sentence, each with its source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statements: Vec<Statement>,
    pub embeddings: E,
    /// Each model step, in the order it ran.
    pub provenance: Vec<Provenance>,
}

/// What the models found in an item, by modality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "modality", rename_all = "snake_case")]
pub enum Analysis<K = Keyframe, E = Embeddings> {
    Text(TextAnalysis<E>),
    Image(ImageAnalysis<E>),
    Audio(AudioAnalysis<E>),
    Video(VideoAnalysis<K, E>),
}

impl<K, E> Analysis<K, E> {
    pub fn modality(&self) -> Modality {
        match self {
            Self::Text(_) => Modality::Text,
            Self::Image(_) => Modality::Image,
            Self::Audio(_) => Modality::Audio,
            Self::Video(_) => Modality::Video,
        }
    }

    /// Every model step, in the order it ran.
    pub fn provenance(&self) -> &[Provenance] {
        match self {
            Self::Text(a) => &a.provenance,
            Self::Image(a) => &a.provenance,
            Self::Audio(a) => &a.provenance,
            Self::Video(a) => &a.provenance,
        }
    }

    /// The provenance of the parts made by `steps` (see [`step`]), in the order they ran.
    pub fn provenance_of<'a>(
        &'a self,
        steps: &'a [&str],
    ) -> impl Iterator<Item = &'a Provenance> + 'a {
        self.provenance()
            .iter()
            .filter(|p| steps.contains(&p.step.as_str()))
    }

    /// The summary: a text's or a recording's (none when it was too short to need one), or
    /// a video's time-coded one. Images have a description instead.
    pub fn summary(&self) -> Option<&str> {
        match self {
            Self::Text(a) => a.summary.as_deref(),
            Self::Audio(a) => a.summary.as_deref(),
            Self::Video(a) => Some(&a.summary),
            Self::Image(_) => None,
        }
    }

    /// An image's or a video's description.
    pub fn description(&self) -> Option<&str> {
        match self {
            Self::Image(a) => Some(&a.description),
            Self::Video(a) if !a.description.is_empty() => Some(&a.description),
            _ => None,
        }
    }

    /// The description sentence by sentence, with sources (empty for older analyses).
    pub fn statements(&self) -> &[Statement] {
        match self {
            Self::Image(a) => &a.statements,
            Self::Video(a) => &a.statements,
            _ => &[],
        }
    }

    /// An image's labels (none for other modalities).
    pub fn labels(&self) -> &[Label] {
        match self {
            Self::Image(a) => &a.labels,
            _ => &[],
        }
    }

    /// The text read in an image.
    pub fn ocr(&self) -> Option<&OcrText> {
        match self {
            Self::Image(a) => Some(&a.ocr),
            _ => None,
        }
    }

    /// What was said in a recording (none for a video without sound).
    pub fn transcript(&self) -> Option<&Transcript> {
        match self {
            Self::Audio(a) => Some(&a.transcript),
            Self::Video(a) => a.transcript.as_ref(),
            _ => None,
        }
    }

    /// A video's keyframes (none for other modalities).
    pub fn keyframes(&self) -> &[K] {
        match self {
            Self::Video(a) => &a.keyframes,
            _ => &[],
        }
    }

    pub fn embeddings(&self) -> &E {
        match self {
            Self::Text(a) => &a.embeddings,
            Self::Image(a) => &a.embeddings,
            Self::Audio(a) => &a.embeddings,
            Self::Video(a) => &a.embeddings,
        }
    }

    /// The same findings with each keyframe (with its place) and the embeddings turned into
    /// another form (e.g. the API's).
    pub fn map<K2, E2>(
        self,
        mut keyframe: impl FnMut(usize, K) -> K2,
        embeddings: impl FnOnce(E) -> E2,
    ) -> Analysis<K2, E2> {
        match self {
            Self::Text(a) => Analysis::Text(TextAnalysis {
                words: a.words,
                characters: a.characters,
                summary: a.summary,
                embeddings: embeddings(a.embeddings),
                provenance: a.provenance,
            }),
            Self::Image(a) => Analysis::Image(ImageAnalysis {
                labels: a.labels,
                ocr: a.ocr,
                exif: a.exif,
                description: a.description,
                statements: a.statements,
                embeddings: embeddings(a.embeddings),
                provenance: a.provenance,
            }),
            Self::Audio(a) => Analysis::Audio(AudioAnalysis {
                duration_secs: a.duration_secs,
                speech: a.speech,
                transcript: a.transcript,
                summary: a.summary,
                embeddings: embeddings(a.embeddings),
                provenance: a.provenance,
            }),
            Self::Video(a) => Analysis::Video(VideoAnalysis {
                keyframes: a
                    .keyframes
                    .into_iter()
                    .enumerate()
                    .map(|(i, k)| keyframe(i, k))
                    .collect(),
                has_audio: a.has_audio,
                transcript: a.transcript,
                summary: a.summary,
                timeline: a.timeline,
                description: a.description,
                statements: a.statements,
                embeddings: embeddings(a.embeddings),
                provenance: a.provenance,
            }),
        }
    }
}
