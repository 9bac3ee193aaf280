//! Items as the API shows them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tessera_events::content::analysis::{Embeddings, Label};
use tessera_events::content::{
    Analysis, Generation, MediaFacts, PreviewImage, Previews, Source, Uploaded,
};
use tessera_projections::read_models::content::ItemRow;
use utoipa::ToSchema;
use uuid::Uuid;

/// A preview picture and where to fetch it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PreviewView {
    /// `thumb-256`, `thumb-1024` or `poster`.
    pub name: String,
    pub mime: String,
    pub width: u32,
    pub height: u32,
    pub url: String,
}

/// What the preview step produced so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PreviewsView {
    /// `pending`, `ready`, `failed` or `none` (notes have no previews).
    pub state: String,
    pub images: Vec<PreviewView>,
    /// Peak amplitude per bucket (0..=1), for audio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waveform: Option<Vec<f32>>,
    /// Why previews failed (a stable code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What the models found in an item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AnalysisView {
    /// `pending` (queued or running), `ready` or `failed`.
    pub state: String,
    /// The findings: labels, OCR text with boxes, EXIF facts, transcript with timestamps,
    /// description, keyframes, each with the model that produced it (`provenance`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Analysis<KeyframeView, EmbeddingsSummary>>,
    /// Why the last analysis failed (a stable code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How a model made an item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GenerationView {
    /// `speech`, `transcript`, `description`, `summary` or `narration`.
    pub kind: String,
    /// The items it was made from (empty for speech from typed text).
    pub generated_from: Vec<Uuid>,
    /// The request's choices (voice, speed, format, words, ...).
    #[schema(value_type = Object)]
    pub parameters: serde_json::Value,
    /// Each model step: `step`, `model_id`, `model_version`, `model_sha256`, `parameters`,
    /// `run_ms`, and `cached` when the result was reused (from the source's analysis or the
    /// result cache).
    #[schema(value_type = Vec<Object>)]
    pub provenance: Vec<serde_json::Value>,
    /// Time the whole generation took.
    pub processing_ms: u64,
}

impl From<Generation> for GenerationView {
    fn from(g: Generation) -> Self {
        Self {
            kind: g.kind.as_str().to_owned(),
            generated_from: g.generated_from.into_iter().map(Uuid::from).collect(),
            parameters: g.parameters,
            provenance: g
                .provenance
                .iter()
                .filter_map(|p| serde_json::to_value(p).ok())
                .collect(),
            processing_ms: g.processing_ms,
        }
    }
}

/// Facts the decode probe found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MediaView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codec: Option<String>,
    pub has_audio: bool,
    pub has_video: bool,
}

impl From<MediaFacts> for MediaView {
    fn from(m: MediaFacts) -> Self {
        Self {
            width: m.width,
            height: m.height,
            duration_secs: m.duration_secs,
            sample_rate: m.sample_rate,
            channels: m.channels,
            codec: m.codec,
            has_audio: m.has_audio,
            has_video: m.has_video,
        }
    }
}

/// One library item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ItemView {
    pub id: Uuid,
    pub owner: Uuid,
    pub title: String,
    pub filename: Option<String>,
    pub description: Option<String>,
    /// `text`, `image`, `audio` or `video`, decided from the bytes.
    pub modality: String,
    pub mime: String,
    pub extension: String,
    pub size: u64,
    /// Hex SHA-256 of the bytes (also the download's ETag).
    pub sha256: String,
    pub media: MediaView,
    pub tags: Vec<String>,
    /// `upload`, `resumable`, `note` or `generated`.
    pub source: String,
    /// How a model made the item (generated items only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<GenerationView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
    /// When a deleted item is purged for good.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purge_after: Option<DateTime<Utc>>,
    pub previews: PreviewsView,
    pub analysis: AnalysisView,
    /// The original's download address.
    pub file_url: String,
    /// The item's stream version: it changes with every change.
    pub version: u64,
}

fn preview_views(id: Uuid, images: &[PreviewImage]) -> Vec<PreviewView> {
    images
        .iter()
        .map(|p| PreviewView {
            name: p.name.clone(),
            mime: p.mime.clone(),
            width: p.width,
            height: p.height,
            url: format!("/api/content/{id}/previews/{}", p.name),
        })
        .collect()
}

/// A video keyframe as clients see it: with its address instead of its storage key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KeyframeView {
    /// Its place among the video's keyframes, from 0.
    pub index: usize,
    /// Seconds from the start.
    pub time: f64,
    /// The classifier's top labels (at most three).
    pub labels: Vec<Label>,
    /// The text read in the frame.
    pub ocr_text: String,
    /// Where to fetch the frame (JPEG).
    pub url: String,
}

/// The embeddings as clients see them: they serve search, so only their size is shown.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EmbeddingsSummary {
    /// Windows of text embedded.
    pub chunks: usize,
    /// Length of each vector.
    pub dimensions: usize,
}

/// The analysis as clients see it: keyframes get their address instead of a storage key, and
/// embedding vectors (for search, not for reading) are summarised.
fn present_analysis(id: Uuid, analysis: Analysis) -> Analysis<KeyframeView, EmbeddingsSummary> {
    analysis.map(
        |i, k| KeyframeView {
            index: k.index,
            time: k.time,
            labels: k.labels,
            ocr_text: k.ocr_text,
            url: format!("/api/content/{id}/keyframes/{i}"),
        },
        |e: Embeddings| EmbeddingsSummary {
            chunks: e.len(),
            dimensions: e.first().map_or(0, |c| c.vector.len()),
        },
    )
}

impl ItemView {
    pub fn from_row(r: ItemRow) -> Self {
        let previews: Option<Previews> = r.previews.and_then(|p| serde_json::from_value(p).ok());
        let media: MediaFacts = serde_json::from_value(r.media).unwrap_or_default();
        let mut tags = r.tags;
        tags.sort();
        Self {
            file_url: format!("/api/content/{}/file", r.id),
            id: r.id,
            owner: r.owner,
            title: r.title,
            filename: r.filename,
            description: r.description,
            modality: r.modality,
            mime: r.mime,
            extension: r.extension,
            size: r.size.max(0) as u64,
            sha256: r.sha256,
            media: media.into(),
            tags,
            source: r.source,
            generation: r
                .generation
                .and_then(|g| serde_json::from_value::<Generation>(g).ok())
                .map(GenerationView::from),
            created_at: r.created_at,
            updated_at: r.updated_at,
            deleted_at: r.deleted_at,
            purge_after: r.purge_after,
            previews: PreviewsView {
                state: r.preview_state,
                images: previews
                    .as_ref()
                    .map(|p| preview_views(r.id, &p.images))
                    .unwrap_or_default(),
                waveform: previews.and_then(|p| p.waveform),
                error: r.preview_error,
            },
            analysis: AnalysisView {
                state: r.analysis_state,
                result: r
                    .analysis
                    .and_then(|a| serde_json::from_value::<Analysis>(a).ok())
                    .map(|a| present_analysis(r.id, a)),
                error: r.analysis_error,
            },
            version: r.version.max(0) as u64,
        }
    }

    /// The view of an item the read model has not caught up with yet, from its stream.
    pub fn from_stream(id: Uuid, folded: &super::service::Folded) -> Option<Self> {
        let u: &Uploaded = folded.state.uploaded.as_ref()?;
        let s = &folded.state;
        let (state, images, waveform) = match (&s.previews, &s.preview_failure) {
            (Some(p), _) => ("ready", preview_views(id, &p.images), p.waveform.clone()),
            (None, Some(_)) => ("failed", Vec::new(), None),
            (None, None)
                if u.source == Source::Note
                    || (u.source == Source::Generated
                        && u.modality == tessera_events::content::Modality::Text) =>
            {
                ("none", Vec::new(), None)
            }
            (None, None) => ("pending", Vec::new(), None),
        };
        Some(Self {
            id,
            owner: u.owner.into_inner(),
            title: s.title.clone(),
            filename: u.filename.clone(),
            description: s.description.clone(),
            modality: u.modality.as_str().to_owned(),
            mime: u.mime.clone(),
            extension: u.extension.clone(),
            size: u.size,
            sha256: u.sha256.clone(),
            media: u.media.clone().into(),
            tags: s.tags.iter().cloned().collect(),
            source: u.source.as_str().to_owned(),
            generation: s.generation.clone().map(GenerationView::from),
            created_at: folded.created_at,
            updated_at: folded.updated_at,
            deleted_at: s
                .deleted
                .map(|_| folded.deleted_at.unwrap_or(folded.updated_at)),
            purge_after: s.deleted,
            previews: PreviewsView {
                state: state.to_owned(),
                images,
                waveform,
                error: s.preview_failure.clone(),
            },
            analysis: AnalysisView {
                state: match (&s.analysis, &s.analysis_failure) {
                    (Some(_), _) => "ready",
                    (None, Some(_)) => "failed",
                    (None, None) => "pending",
                }
                .to_owned(),
                result: s
                    .analysis
                    .as_ref()
                    .map(|(_, a)| present_analysis(id, a.clone())),
                error: s.analysis_failure.clone(),
            },
            file_url: format!("/api/content/{id}/file"),
            version: folded.version,
        })
    }
}
