//! Processing jobs, stream `job-<uuid>`: an upload (or an admin's reprocess command) requests the
//! analysis of one content item; workers on any node lease the job, record each attempt, its
//! progress and its outcome. The analysis itself is recorded on the item's stream
//! (`content.analysed`) in the same append as `job.succeeded`, so the two never disagree.
//!
//! Model outputs are cached in the log as well: stream `result-<uuid>`, whose id is derived from
//! (input sha256, model id and version, parameters), holds one `result.computed` event. A second
//! upload of the same bytes, by anyone, reads it instead of running the model again.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::aggregate::{Aggregate, DomainEvent};
use crate::content::Modality;
use crate::event::StreamId;
use crate::ids::{ContentId, JobId, UserId};

/// Why a job exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobReason {
    /// The item was just uploaded or written.
    Upload,
    /// An admin asked for the item to be analysed again with the current models.
    Reprocess { by: UserId },
}

/// The request: everything a worker needs without reading the item's stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRequested {
    pub content_id: ContentId,
    pub owner: UserId,
    pub modality: Modality,
    pub mime: String,
    pub sha256: String,
    pub blob_key: String,
    pub size: u64,
    pub reason: JobReason,
    /// The owner allowed keeping where a photo was taken (EXIF GPS).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_location: bool,
}

/// Which model produced a result, exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Provenance {
    /// What the model did (`image.labels`, `audio.transcript`, ...).
    pub step: String,
    pub model_id: String,
    pub model_version: String,
    /// sha256 of the model's main file.
    pub model_sha256: String,
    /// The step's settings (thresholds, prompt version, ...), part of the result cache's key.
    #[schema(value_type = Object)]
    pub parameters: serde_json::Value,
    /// Time spent running the model (0 when the result came from the cache).
    pub run_ms: u64,
    /// Whether the result was read from the result cache.
    pub cached: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum JobEvent {
    #[serde(rename = "job.requested")]
    Requested(JobRequested),
    /// A worker leased the job and began attempt `attempt` (1-based).
    #[serde(rename = "job.started")]
    Started { attempt: u32, node: String },
    #[serde(rename = "job.progress")]
    Progress {
        attempt: u32,
        stage: String,
        percent: u8,
    },
    #[serde(rename = "job.succeeded")]
    Succeeded {
        attempt: u32,
        processing_ms: u64,
        provenance: Vec<Provenance>,
    },
    /// The attempt failed; another follows at `retry_at`, if any.
    #[serde(rename = "job.failed")]
    Failed {
        attempt: u32,
        code: String,
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_at: Option<DateTime<Utc>>,
    },
    /// No more attempts: the job waits for an admin.
    #[serde(rename = "job.dead_lettered")]
    DeadLettered {
        attempts: u32,
        code: String,
        reason: String,
    },
}

impl DomainEvent for JobEvent {}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JobStatus {
    #[default]
    None,
    Queued,
    Running,
    Retrying,
    Succeeded,
    DeadLettered,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::None => "none",
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Retrying => "retrying",
            JobStatus::Succeeded => "succeeded",
            JobStatus::DeadLettered => "dead_lettered",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::DeadLettered)
    }
}

/// What may go wrong deciding a job command.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("no such job")]
    NotFound,
    #[error("the job exists already")]
    Exists,
    #[error("the job is {0}")]
    Final(&'static str),
    #[error("attempt {given} is not the current attempt {current}")]
    StaleAttempt { given: u32, current: u32 },
    #[error(transparent)]
    Store(#[from] crate::StoreError),
}

#[derive(Debug, Clone)]
pub enum JobCommand {
    Request(JobRequested),
    Start {
        node: String,
    },
    Progress {
        attempt: u32,
        stage: String,
        percent: u8,
    },
    Succeed {
        attempt: u32,
        processing_ms: u64,
        provenance: Vec<Provenance>,
    },
    /// Fails the current attempt: retried at `retry_at` while attempts remain, dead-lettered
    /// after `max_attempts`.
    Fail {
        attempt: u32,
        code: String,
        reason: String,
        retry_at: DateTime<Utc>,
        max_attempts: u32,
        /// A failure that no retry can mend (the input is bad): dead-letter now.
        permanent: bool,
    },
}

/// A job as its stream tells it.
#[derive(Debug, Clone, Default)]
pub struct Job {
    pub request: Option<JobRequested>,
    pub status: JobStatus,
    /// Attempts started so far.
    pub attempts: u32,
    pub last_error: Option<String>,
}

impl Aggregate for Job {
    type Event = JobEvent;
    type Command = JobCommand;
    type Error = JobError;

    fn evolve(&mut self, event: &JobEvent) {
        match event {
            JobEvent::Requested(r) => {
                self.request = Some(r.clone());
                self.status = JobStatus::Queued;
            }
            JobEvent::Started { attempt, .. } => {
                self.attempts = *attempt;
                self.status = JobStatus::Running;
            }
            JobEvent::Progress { .. } => {}
            JobEvent::Succeeded { .. } => self.status = JobStatus::Succeeded,
            JobEvent::Failed { reason, .. } => {
                self.status = JobStatus::Retrying;
                self.last_error = Some(reason.clone());
            }
            JobEvent::DeadLettered { reason, .. } => {
                self.status = JobStatus::DeadLettered;
                self.last_error = Some(reason.clone());
            }
        }
    }

    fn decide(&self, command: JobCommand) -> Result<Vec<JobEvent>, JobError> {
        match command {
            JobCommand::Request(r) => {
                if self.request.is_some() {
                    return Err(JobError::Exists);
                }
                Ok(vec![JobEvent::Requested(r)])
            }
            JobCommand::Start { node } => {
                self.check_open()?;
                Ok(vec![JobEvent::Started {
                    attempt: self.attempts + 1,
                    node,
                }])
            }
            JobCommand::Progress {
                attempt,
                stage,
                percent,
            } => {
                self.check_attempt(attempt)?;
                Ok(vec![JobEvent::Progress {
                    attempt,
                    stage,
                    percent: percent.min(100),
                }])
            }
            JobCommand::Succeed {
                attempt,
                processing_ms,
                provenance,
            } => {
                self.check_attempt(attempt)?;
                Ok(vec![JobEvent::Succeeded {
                    attempt,
                    processing_ms,
                    provenance,
                }])
            }
            JobCommand::Fail {
                attempt,
                code,
                reason,
                retry_at,
                max_attempts,
                permanent,
            } => {
                self.check_attempt(attempt)?;
                let mut events = vec![JobEvent::Failed {
                    attempt,
                    code: code.clone(),
                    reason: reason.clone(),
                    retry_at: (!permanent && attempt < max_attempts).then_some(retry_at),
                }];
                if permanent || attempt >= max_attempts {
                    events.push(JobEvent::DeadLettered {
                        attempts: attempt,
                        code,
                        reason,
                    });
                }
                Ok(events)
            }
        }
    }
}

impl Job {
    fn check_open(&self) -> Result<(), JobError> {
        if self.request.is_none() {
            return Err(JobError::NotFound);
        }
        if self.status.is_final() {
            return Err(JobError::Final(self.status.as_str()));
        }
        Ok(())
    }

    fn check_attempt(&self, attempt: u32) -> Result<(), JobError> {
        self.check_open()?;
        if attempt != self.attempts || self.status != JobStatus::Running {
            return Err(JobError::StaleAttempt {
                given: attempt,
                current: self.attempts,
            });
        }
        Ok(())
    }
}

/// One cached model output, stream `result-<uuid>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ResultEvent {
    #[serde(rename = "result.computed")]
    Computed {
        /// The cache key in clear: input sha256, model id@version, parameters.
        key: String,
        provenance: Provenance,
        output: serde_json::Value,
    },
}

impl DomainEvent for ResultEvent {}

/// The stream of a job.
pub fn job_stream(id: impl Into<JobId>) -> StreamId {
    StreamId::for_entity("job", id.into())
}

/// The job an upload requests: derived from the item, so a retried upload requests it once.
pub fn upload_job_id(content_id: impl Into<ContentId>) -> JobId {
    JobId(Uuid::new_v5(&content_id.into().0, b"analyse"))
}

/// The cache key of a model output and its stream.
pub fn result_key(input_sha256: &str, model_id: &str, model_version: &str, params: &str) -> String {
    format!("{input_sha256}|{model_id}@{model_version}|{params}")
}

/// The stream that caches the output for `key`.
pub fn result_stream(key: &str) -> StreamId {
    StreamId::for_entity("result", Uuid::new_v5(&Uuid::NAMESPACE_URL, key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requested() -> JobRequested {
        JobRequested {
            content_id: ContentId(Uuid::new_v4()),
            owner: UserId(Uuid::new_v4()),
            modality: Modality::Image,
            mime: "image/png".into(),
            sha256: "ab".repeat(32),
            blob_key: "blobs/x".into(),
            size: 10,
            reason: JobReason::Upload,
            keep_location: false,
        }
    }

    fn fold(events: &[JobEvent]) -> Job {
        let mut j = Job::default();
        events.iter().for_each(|e| j.evolve(e));
        j
    }

    #[test]
    fn attempts_are_bounded_then_dead_lettered() {
        let mut events = vec![JobEvent::Requested(requested())];
        for attempt in 1..=3 {
            let job = fold(&events);
            let started = job
                .decide(JobCommand::Start { node: "n".into() })
                .expect("start");
            assert_eq!(
                started,
                vec![JobEvent::Started {
                    attempt,
                    node: "n".into()
                }]
            );
            events.extend(started);
            let failed = fold(&events)
                .decide(JobCommand::Fail {
                    attempt,
                    code: "x".into(),
                    reason: "boom".into(),
                    retry_at: Utc::now(),
                    max_attempts: 3,
                    permanent: false,
                })
                .expect("fail");
            assert_eq!(failed.len(), if attempt == 3 { 2 } else { 1 });
            events.extend(failed);
        }
        let job = fold(&events);
        assert_eq!(job.status, JobStatus::DeadLettered);
        assert!(job.decide(JobCommand::Start { node: "n".into() }).is_err());
    }

    #[test]
    fn a_stale_attempt_cannot_finish_the_job() {
        let mut events = vec![JobEvent::Requested(requested())];
        events.push(JobEvent::Started {
            attempt: 1,
            node: "a".into(),
        });
        // The lease expired and another node started attempt 2.
        events.push(JobEvent::Started {
            attempt: 2,
            node: "b".into(),
        });
        let job = fold(&events);
        let err = job
            .decide(JobCommand::Succeed {
                attempt: 1,
                processing_ms: 1,
                provenance: vec![],
            })
            .unwrap_err();
        assert!(matches!(
            err,
            JobError::StaleAttempt {
                given: 1,
                current: 2
            }
        ));
        assert!(job
            .decide(JobCommand::Succeed {
                attempt: 2,
                processing_ms: 1,
                provenance: vec![],
            })
            .is_ok());
    }

    #[test]
    fn a_permanent_failure_dead_letters_at_once() {
        let events = vec![
            JobEvent::Requested(requested()),
            JobEvent::Started {
                attempt: 1,
                node: "a".into(),
            },
        ];
        let out = fold(&events)
            .decide(JobCommand::Fail {
                attempt: 1,
                code: "corrupt_media".into(),
                reason: "bad".into(),
                retry_at: Utc::now(),
                max_attempts: 5,
                permanent: true,
            })
            .expect("fail");
        assert!(matches!(out[1], JobEvent::DeadLettered { attempts: 1, .. }));
    }
}
