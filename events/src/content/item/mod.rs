//! One library item, stream `content-<uuid>`: uploaded (or written as a note), renamed,
//! described, tagged, soft-deleted, restored, purged; previews recorded once. An item a model
//! made (speech, a transcript, a description, a summary) is created by `content.uploaded` and
//! `content.generated` in one append: what it was made from, how, and by which models.
//!
//! `events` holds what the stream records; this module the aggregate: its state, its commands
//! and the rules between them.

mod events;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::analysis::Analysis;
use super::error::ContentError;
use crate::aggregate::Aggregate;
use crate::ids::{JobId, UserId};

pub use events::{
    ContentEvent, Generation, GenerationKind, MediaFacts, PreviewImage, Previews, Source, Uploaded,
};

pub const MAX_TITLE_CHARS: usize = 300;
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;
pub const MAX_TAG_CHARS: usize = 64;
pub const MAX_TAGS: usize = 64;

/// Who issues a command. Only the owner changes an item; to anyone else it does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    User(UserId),
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
        job_id: JobId,
        analysis: Box<Analysis>,
    },
    RecordAnalysisFailure {
        job_id: JobId,
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
    pub analysis: Option<(JobId, Analysis)>,
    /// Code of the last failed analysis, when no analysis came after it.
    pub analysis_failure: Option<String>,
    /// How a model made the item, for generated items.
    pub generation: Option<Generation>,
}

impl Content {
    pub fn owner(&self) -> Option<UserId> {
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
                self.analysis = Some((*job_id, (**analysis).clone()));
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
