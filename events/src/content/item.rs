//! One library item, stream `content-<uuid>`: uploaded (or written as a note), renamed,
//! described, tagged, soft-deleted, restored, purged; previews recorded once. An item a model
//! made (speech, a transcript, a description, a summary) is created by `content.uploaded` and
//! `content.generated` in one append: what it was made from, how, and by which models.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::ContentError;
use super::modality::Modality;
use crate::aggregate::{Aggregate, DomainEvent};
use crate::jobs::Provenance;

pub const MAX_TITLE_CHARS: usize = 300;
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;
pub const MAX_TAG_CHARS: usize = 64;
pub const MAX_TAGS: usize = 64;

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
    pub generated_from: Vec<Uuid>,
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
    pub owner: Uuid,
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
        job_id: Uuid,
        analysis: serde_json::Value,
    },
    #[serde(rename = "content.analysis_failed")]
    AnalysisFailed {
        job_id: Uuid,
        code: String,
        message: String,
    },
    /// The item was made by a model: follows its `content.uploaded` in the same append.
    #[serde(rename = "content.generated")]
    Generated(Box<Generation>),
}

impl DomainEvent for ContentEvent {}

/// Who issues a command. Only the owner changes an item; to anyone else it does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    User(Uuid),
    /// Background work of the system itself (previews, the purge sweeper).
    System,
}

#[derive(Debug, Clone)]
pub enum ContentCommand {
    Upload(Box<Uploaded>),
    /// Creates an item a model made (`source` must be `generated`).
    Generate {
        item: Box<Uploaded>,
        generation: Box<Generation>,
    },
    Rename {
        by: Actor,
        title: String,
    },
    Describe {
        by: Actor,
        description: Option<String>,
    },
    Tag {
        by: Actor,
        tag: String,
    },
    Untag {
        by: Actor,
        tag: String,
    },
    /// Soft delete: restorable until `now + retention`.
    Delete {
        by: Actor,
        now: DateTime<Utc>,
        retention: chrono::Duration,
    },
    Restore {
        by: Actor,
        now: DateTime<Utc>,
    },
    /// Removes the item for good. A user may purge their own item at any time (it is deleted
    /// first); the system purges only deleted items whose restore period has ended.
    Purge {
        by: Actor,
        now: DateTime<Utc>,
    },
    RecordPreviews(Previews),
    RecordPreviewFailure {
        code: String,
        message: String,
    },
    RecordAnalysis {
        job_id: Uuid,
        analysis: serde_json::Value,
    },
    RecordAnalysisFailure {
        job_id: Uuid,
        code: String,
        message: String,
    },
}

/// An item as its stream tells it.
#[derive(Debug, Clone, Default)]
pub struct Content {
    pub uploaded: Option<Uploaded>,
    pub title: String,
    pub description: Option<String>,
    pub tags: BTreeSet<String>,
    pub deleted: Option<DateTime<Utc>>,
    pub purged: bool,
    pub previews: Option<Previews>,
    pub preview_failure: Option<String>,
    /// The current analysis and the job that made it.
    pub analysis: Option<(Uuid, serde_json::Value)>,
    /// Code of the last failed analysis, when no analysis came after it.
    pub analysis_failure: Option<String>,
    /// How a model made the item, for generated items.
    pub generation: Option<Generation>,
}

impl Content {
    pub fn owner(&self) -> Option<Uuid> {
        self.uploaded.as_ref().map(|u| u.owner)
    }

    /// Present and not purged.
    pub fn exists(&self) -> bool {
        self.uploaded.is_some() && !self.purged
    }

    fn check_access(&self, by: Actor) -> Result<(), ContentError> {
        match (by, self.owner()) {
            (_, None) => Err(ContentError::NotFound),
            _ if self.purged => Err(ContentError::NotFound),
            (Actor::System, Some(_)) => Ok(()),
            (Actor::User(u), Some(o)) if u == o => Ok(()),
            _ => Err(ContentError::NotFound),
        }
    }

    /// Changes to metadata need a live (not deleted) item.
    fn check_editable(&self, by: Actor) -> Result<(), ContentError> {
        self.check_access(by)?;
        if self.deleted.is_some() {
            return Err(ContentError::NotFound);
        }
        Ok(())
    }
}

pub fn validate_title(title: &str) -> Result<(), ContentError> {
    let n = title.chars().count();
    if title.trim().is_empty() || n > MAX_TITLE_CHARS {
        return Err(ContentError::Invalid(format!(
            "a title has 1 to {MAX_TITLE_CHARS} characters"
        )));
    }
    if title.chars().any(char::is_control) {
        return Err(ContentError::Invalid(
            "a title cannot hold control characters".into(),
        ));
    }
    Ok(())
}

pub fn validate_tag(tag: &str) -> Result<(), ContentError> {
    let n = tag.chars().count();
    if n == 0 || n > MAX_TAG_CHARS || tag.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ContentError::Invalid(format!(
            "a tag has 1 to {MAX_TAG_CHARS} characters and no spaces"
        )));
    }
    Ok(())
}

impl Aggregate for Content {
    type Event = ContentEvent;
    type Command = ContentCommand;
    type Error = ContentError;

    fn evolve(&mut self, event: &ContentEvent) {
        match event {
            ContentEvent::Uploaded(u) => {
                self.title.clone_from(&u.title);
                self.description.clone_from(&u.description);
                self.tags = u.tags.iter().cloned().collect();
                self.uploaded = Some((**u).clone());
            }
            ContentEvent::Renamed { title } => self.title.clone_from(title),
            ContentEvent::Described { description } => self.description.clone_from(description),
            ContentEvent::Tagged { tag } => {
                self.tags.insert(tag.clone());
            }
            ContentEvent::Untagged { tag } => {
                self.tags.remove(tag);
            }
            ContentEvent::Deleted { purge_after } => self.deleted = Some(*purge_after),
            ContentEvent::Restored {} => self.deleted = None,
            ContentEvent::Purged {} => self.purged = true,
            ContentEvent::PreviewsGenerated(p) => self.previews = Some(p.clone()),
            ContentEvent::PreviewsFailed { code, .. } => self.preview_failure = Some(code.clone()),
            ContentEvent::Analysed { job_id, analysis } => {
                self.analysis = Some((*job_id, analysis.clone()));
                self.analysis_failure = None;
            }
            ContentEvent::AnalysisFailed { code, .. } => {
                self.analysis_failure = Some(code.clone());
            }
            ContentEvent::Generated(g) => self.generation = Some((**g).clone()),
        }
    }

    fn decide(&self, command: ContentCommand) -> Result<Vec<ContentEvent>, ContentError> {
        use ContentCommand as C;
        match command {
            C::Upload(u) => {
                if self.uploaded.is_some() {
                    return Err(ContentError::Exists);
                }
                validate_title(&u.title)?;
                if u.tags.len() > MAX_TAGS {
                    return Err(ContentError::Invalid(format!("at most {MAX_TAGS} tags")));
                }
                for t in &u.tags {
                    validate_tag(t)?;
                }
                Ok(vec![ContentEvent::Uploaded(u)])
            }
            C::Generate { item, generation } => {
                if item.source != Source::Generated {
                    return Err(ContentError::Invalid(
                        "a generated item has the source `generated`".into(),
                    ));
                }
                if generation.generated_from.is_empty() && generation.kind != GenerationKind::Speech
                {
                    return Err(ContentError::Invalid(format!(
                        "a {} is made from at least one item",
                        generation.kind.as_str()
                    )));
                }
                let mut events = self.decide(C::Upload(item))?;
                events.push(ContentEvent::Generated(generation));
                Ok(events)
            }
            C::Rename { by, title } => {
                self.check_editable(by)?;
                validate_title(&title)?;
                Ok(if title == self.title {
                    Vec::new()
                } else {
                    vec![ContentEvent::Renamed { title }]
                })
            }
            C::Describe { by, description } => {
                self.check_editable(by)?;
                if let Some(d) = &description {
                    if d.chars().count() > MAX_DESCRIPTION_CHARS {
                        return Err(ContentError::Invalid(format!(
                            "a description has at most {MAX_DESCRIPTION_CHARS} characters"
                        )));
                    }
                }
                let description = description.filter(|d| !d.trim().is_empty());
                Ok(if description == self.description {
                    Vec::new()
                } else {
                    vec![ContentEvent::Described { description }]
                })
            }
            C::Tag { by, tag } => {
                self.check_editable(by)?;
                validate_tag(&tag)?;
                if self.tags.contains(&tag) {
                    return Ok(Vec::new());
                }
                if self.tags.len() >= MAX_TAGS {
                    return Err(ContentError::Invalid(format!("at most {MAX_TAGS} tags")));
                }
                Ok(vec![ContentEvent::Tagged { tag }])
            }
            C::Untag { by, tag } => {
                self.check_editable(by)?;
                Ok(if self.tags.contains(&tag) {
                    vec![ContentEvent::Untagged { tag }]
                } else {
                    Vec::new()
                })
            }
            C::Delete { by, now, retention } => {
                self.check_access(by)?;
                Ok(if self.deleted.is_some() {
                    Vec::new()
                } else {
                    vec![ContentEvent::Deleted {
                        purge_after: now + retention,
                    }]
                })
            }
            C::Restore { by, now } => {
                self.check_access(by)?;
                match self.deleted {
                    None => Ok(Vec::new()),
                    Some(until) if until <= now => Err(ContentError::RestoreExpired),
                    Some(_) => Ok(vec![ContentEvent::Restored {}]),
                }
            }
            C::Purge { by, now } => {
                if self.uploaded.is_some() && self.purged {
                    return Ok(Vec::new());
                }
                self.check_access(by)?;
                match (by, self.deleted) {
                    (Actor::User(_), None) => Ok(vec![
                        ContentEvent::Deleted { purge_after: now },
                        ContentEvent::Purged {},
                    ]),
                    (Actor::User(_), Some(_)) => Ok(vec![ContentEvent::Purged {}]),
                    (Actor::System, Some(until)) if until <= now => {
                        Ok(vec![ContentEvent::Purged {}])
                    }
                    (Actor::System, _) => Ok(Vec::new()),
                }
            }
            C::RecordPreviews(p) => {
                self.check_access(Actor::System)?;
                Ok(if self.previews.is_some() {
                    Vec::new()
                } else {
                    vec![ContentEvent::PreviewsGenerated(p)]
                })
            }
            C::RecordPreviewFailure { code, message } => {
                self.check_access(Actor::System)?;
                Ok(
                    if self.previews.is_some() || self.preview_failure.is_some() {
                        Vec::new()
                    } else {
                        vec![ContentEvent::PreviewsFailed { code, message }]
                    },
                )
            }
            C::RecordAnalysis { job_id, analysis } => {
                self.check_access(Actor::System)?;
                Ok(vec![ContentEvent::Analysed { job_id, analysis }])
            }
            C::RecordAnalysisFailure {
                job_id,
                code,
                message,
            } => {
                self.check_access(Actor::System)?;
                Ok(vec![ContentEvent::AnalysisFailed {
                    job_id,
                    code,
                    message,
                }])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uploaded(owner: Uuid) -> Uploaded {
        Uploaded {
            owner,
            title: "cat".into(),
            filename: Some("cat.png".into()),
            modality: Modality::Image,
            mime: "image/png".into(),
            extension: "png".into(),
            size: 10,
            sha256: "ab".repeat(32),
            blob_key: "blobs/ab/x".into(),
            media: MediaFacts::default(),
            description: None,
            tags: vec![],
            source: Source::Upload,
            keep_location: false,
        }
    }

    fn with(events: &[ContentEvent]) -> Content {
        let mut c = Content::default();
        for e in events {
            c.evolve(e);
        }
        c
    }

    #[test]
    fn only_the_owner_changes_an_item() {
        let owner = Uuid::new_v4();
        let c = with(&[ContentEvent::Uploaded(Box::new(uploaded(owner)))]);
        let other = Actor::User(Uuid::new_v4());
        let r = c.decide(ContentCommand::Rename {
            by: other,
            title: "x".into(),
        });
        assert!(matches!(r, Err(ContentError::NotFound)));
        let r = c
            .decide(ContentCommand::Rename {
                by: Actor::User(owner),
                title: "dog".into(),
            })
            .unwrap();
        assert_eq!(
            r,
            vec![ContentEvent::Renamed {
                title: "dog".into()
            }]
        );
    }

    #[test]
    fn delete_is_idempotent_and_restore_ends_with_its_period() {
        let owner = Uuid::new_v4();
        let now = Utc::now();
        let by = Actor::User(owner);
        let c = with(&[
            ContentEvent::Uploaded(Box::new(uploaded(owner))),
            ContentEvent::Deleted {
                purge_after: now + chrono::Duration::hours(1),
            },
        ]);
        let again = c.decide(ContentCommand::Delete {
            by,
            now,
            retention: chrono::Duration::hours(1),
        });
        assert!(again.unwrap().is_empty());
        assert_eq!(
            c.decide(ContentCommand::Restore { by, now }).unwrap(),
            vec![ContentEvent::Restored {}]
        );
        let late = now + chrono::Duration::hours(2);
        assert!(matches!(
            c.decide(ContentCommand::Restore { by, now: late }),
            Err(ContentError::RestoreExpired)
        ));
        // Editing a deleted item is refused; the system purges only after the period.
        assert!(c
            .decide(ContentCommand::Purge {
                by: Actor::System,
                now
            })
            .unwrap()
            .is_empty());
        assert_eq!(
            c.decide(ContentCommand::Purge {
                by: Actor::System,
                now: late
            })
            .unwrap(),
            vec![ContentEvent::Purged {}]
        );
    }

    #[test]
    fn previews_are_recorded_once() {
        let owner = Uuid::new_v4();
        let c = with(&[
            ContentEvent::Uploaded(Box::new(uploaded(owner))),
            ContentEvent::PreviewsGenerated(Previews::default()),
        ]);
        assert!(c
            .decide(ContentCommand::RecordPreviews(Previews::default()))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_generated_item_records_its_sources_and_an_old_upload_still_reads() {
        let owner = Uuid::new_v4();
        let source = Uuid::new_v4();
        let mut item = uploaded(owner);
        item.source = Source::Generated;
        let generation = Generation {
            kind: GenerationKind::Summary,
            generated_from: vec![source],
            parameters: serde_json::json!({ "words": 60 }),
            provenance: vec![],
            processing_ms: 5,
        };
        let events = Content::default()
            .decide(ContentCommand::Generate {
                item: Box::new(item.clone()),
                generation: Box::new(generation.clone()),
            })
            .unwrap();
        assert_eq!(events.len(), 2);
        let c = with(&events);
        assert_eq!(c.generation.as_ref().unwrap().generated_from, vec![source]);
        // A summary from nothing, or a generated item posing as an upload, is refused.
        let orphan = Content::default().decide(ContentCommand::Generate {
            item: Box::new(item),
            generation: Box::new(Generation {
                generated_from: vec![],
                ..generation.clone()
            }),
        });
        assert!(matches!(orphan, Err(ContentError::Invalid(_))));
        let posing = Content::default().decide(ContentCommand::Generate {
            item: Box::new(uploaded(owner)),
            generation: Box::new(generation),
        });
        assert!(matches!(posing, Err(ContentError::Invalid(_))));
        // An upload event written before generation existed decodes unchanged.
        let old = serde_json::json!({ "type": "content.uploaded", "data": {
            "owner": owner, "title": "t", "filename": null, "modality": "text",
            "mime": "text/plain", "extension": "txt", "size": 1, "sha256": "ab",
            "blob_key": "k", "source": "note" } });
        let e: ContentEvent = serde_json::from_value(old).unwrap();
        assert!(matches!(e, ContentEvent::Uploaded(u) if u.source == Source::Note));
    }

    #[test]
    fn bad_titles_and_tags_are_refused() {
        assert!(validate_title("").is_err());
        assert!(validate_title("a\u{0}b").is_err());
        assert!(validate_title(&"x".repeat(301)).is_err());
        assert!(validate_tag("two words").is_err());
        assert!(validate_tag("ok-tag").is_ok());
    }
}
