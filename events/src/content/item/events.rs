//! The events of an item's stream and the records they carry.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::super::analysis::Analysis;
use super::super::modality::Modality;
use crate::aggregate::DomainEvent;
use crate::ids::{ContentId, JobId, UserId};
use crate::jobs::Provenance;

/// How the item came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Upload,
    Resumable,
    Note,
    /// Made by a model from other items or from text (see [`Generation`]).
    Generated,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upload => "upload",
            Self::Resumable => "resumable",
            Self::Note => "note",
            Self::Generated => "generated",
        }
    }
}

/// What a model made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GenerationKind {
    /// Text read aloud.
    Speech,
    /// Speech (an audio item or a video's sound) written down.
    Transcript,
    /// An image described, with the text found in it.
    Description,
    /// Any item summarised (a video's summary is time-coded).
    Summary,
    /// A text item read aloud.
    Narration,
}

impl GenerationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Speech => "speech",
            Self::Transcript => "transcript",
            Self::Description => "description",
            Self::Summary => "summary",
            Self::Narration => "narration",
        }
    }
}

/// How a generated item came to be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    pub kind: GenerationKind,
    /// The items it was made from (none for speech from text typed in the request).
    #[serde(default)]
    pub generated_from: Vec<ContentId>,
    /// The request's choices (voice, speed, format, words, ...).
    #[serde(default)]
    pub parameters: serde_json::Value,
    /// Each model step, in order; a step whose result was reused (from the source's analysis
    /// or the result cache) says `cached`.
    #[serde(default)]
    pub provenance: Vec<Provenance>,
    /// Time the whole generation took.
    pub processing_ms: u64,
}

/// What the decode probe found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MediaFacts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec: Option<String>,
    #[serde(default)]
    pub has_audio: bool,
    #[serde(default)]
    pub has_video: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Uploaded {
    pub owner: UserId,
    pub title: String,
    /// The client's file name, made safe; none for notes.
    pub filename: Option<String>,
    pub modality: Modality,
    pub mime: String,
    pub extension: String,
    pub size: u64,
    /// Lowercase hex sha256 of the bytes.
    pub sha256: String,
    /// Where the bytes are in the blob store.
    pub blob_key: String,
    #[serde(default)]
    pub media: MediaFacts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub source: Source,
    /// The owner allowed the analysis to keep where a photo was taken (EXIF GPS).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_location: bool,
}

/// A preview picture stored in the blob store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviewImage {
    /// `thumb-256`, `thumb-1024` or `poster`.
    pub name: String,
    pub key: String,
    pub mime: String,
    pub width: u32,
    pub height: u32,
    pub size: u64,
}

/// Everything the preview step produced, kept in the event so a rebuild recomputes nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Previews {
    #[serde(default)]
    pub images: Vec<PreviewImage>,
    /// Peak amplitude per bucket, 0..=1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waveform: Option<Vec<f32>>,
    pub processing_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ContentEvent {
    #[serde(rename = "content.uploaded")]
    Uploaded(Box<Uploaded>),
    #[serde(rename = "content.renamed")]
    Renamed { title: String },
    #[serde(rename = "content.described")]
    Described { description: Option<String> },
    #[serde(rename = "content.tagged")]
    Tagged { tag: String },
    #[serde(rename = "content.untagged")]
    Untagged { tag: String },
    #[serde(rename = "content.deleted")]
    Deleted { purge_after: DateTime<Utc> },
    #[serde(rename = "content.restored")]
    Restored {},
    #[serde(rename = "content.purged")]
    Purged {},
    #[serde(rename = "content.previews_generated")]
    PreviewsGenerated(Previews),
    #[serde(rename = "content.previews_failed")]
    PreviewsFailed { code: String, message: String },
    /// What the models found (labels, text, transcript, description, ...), by job `job_id`.
    /// A later analysis (a reprocess with newer models) replaces an earlier one.
    #[serde(rename = "content.analysed")]
    Analysed {
        job_id: JobId,
        analysis: Box<Analysis>,
    },
    #[serde(rename = "content.analysis_failed")]
    AnalysisFailed {
        job_id: JobId,
        code: String,
        message: String,
    },
    /// The item was made by a model: follows its `content.uploaded` in the same append.
    #[serde(rename = "content.generated")]
    Generated(Box<Generation>),
}

impl DomainEvent for ContentEvent {}
