//! Appending new items with their usage: uploads of one user waiting on this node are committed
//! together (group commit), each with the analysis job it requests.

use std::sync::Arc;

use chrono::Utc;
use tessera_events::aggregate::Aggregate;
use tessera_events::content::{
    content_stream, usage_stream, Content, ContentCommand, ContentError, ContentEvent, Generation,
    Ledger, LedgerCommand, QuotaLimitsNow, Uploaded,
};
use tessera_events::jobs::{job_stream, upload_job_id, JobEvent, JobReason, JobRequested};
use tessera_events::{
    AppendRequest, CommandContext, ContentId, EventStore, ExpectedVersion, JobId, UploadId, UserId,
};
use uuid::Uuid;

use super::error::ContentFailure;
use super::service::{ctx, expected, ContentService, ATTEMPTS};

/// An upload waiting for its group commit.
pub(super) struct PendingUpload {
    id: Uuid,
    uploaded: Uploaded,
    /// The item's events: `content.uploaded`, and `content.generated` for a generated item.
    events: Vec<ContentEvent>,
    /// The uploading request's context (its request id, its event ids).
    ctx: CommandContext,
    limits: QuotaLimitsNow,
    /// The resumable upload whose reservation the item takes over.
    reservation: Option<Uuid>,
    reply: tokio::sync::oneshot::Sender<Result<(), ContentFailure>>,
}

impl ContentService {
    /// Appends a new item and its usage in one atomic append; the ledger's expected version
    /// makes the quota decision exact under concurrent uploads. Uploads of one user waiting on
    /// this node are committed together (group commit): one ledger read and one transaction for
    /// the whole group, each item still decided in turn against the running totals.
    pub(super) async fn append_upload(
        &self,
        id: ContentId,
        uploaded: Uploaded,
    ) -> Result<(), ContentFailure> {
        self.append_item(id, uploaded, None, None).await
    }

    /// Appends a new item (with how a model made it, for a generated item) and its usage.
    pub(super) async fn append_item(
        &self,
        id: ContentId,
        uploaded: Uploaded,
        generation: Option<Generation>,
        reservation: Option<UploadId>,
    ) -> Result<(), ContentFailure> {
        let owner = uploaded.owner;
        let limits = self.limits(owner).await?;
        // Validates the item before it joins a group.
        let item = Box::new(uploaded.clone());
        let events = Content::default().decide(match generation {
            Some(g) => ContentCommand::Generate {
                item,
                generation: Box::new(g),
            },
            None => ContentCommand::Upload(item),
        })?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let queue = {
            let queues = &self.inner.ledger_queues;
            if queues.len() > 1024 {
                queues.retain(|_, q| Arc::strong_count(q) > 1);
            }
            queues
                .entry(owner.into_inner())
                .or_default()
                .value()
                .clone()
        };
        queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(PendingUpload {
                id: id.into_inner(),
                uploaded,
                events,
                ctx: ctx(Some(owner), &self.inner.node),
                limits,
                reservation: reservation.map(Uuid::from),
                reply,
            });
        {
            let _writer = self.lock_ledger(owner).await;
            let group = std::mem::take(
                &mut *queue
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            );
            if !group.is_empty() {
                self.commit_uploads(owner.into_inner(), group).await;
            }
        }
        answer.await.unwrap_or_else(|_| {
            Err(ContentFailure::Internal(
                "the upload's commit was abandoned".into(),
            ))
        })
    }

    /// Commits a group of uploads of `owner` (the caller holds the ledger writer lock).
    async fn commit_uploads(&self, owner: Uuid, group: Vec<PendingUpload>) {
        let us = usage_stream(owner);
        let ledger = match Ledger::load(&self.inner.store, &us).await {
            Ok(l) => l,
            Err(e) => {
                for p in group {
                    let _ = p.reply.send(Err(ContentFailure::Internal(e.to_string())));
                }
                return;
            }
        };
        let now = Utc::now();
        let mut totals = ledger.state.clone();
        let mut accepted = Vec::new();
        let mut requests = Vec::new();
        let mut usage = Vec::new();
        for p in group {
            let decided = totals.decide(LedgerCommand::RecordUpload {
                content_id: ContentId(p.id),
                modality: p.uploaded.modality,
                bytes: p.uploaded.size,
                reservation: p.reservation.map(UploadId),
                now,
                limits: p.limits,
            });
            let events = match decided {
                Ok(events) => events,
                Err(e) => {
                    let _ = p.reply.send(Err(e.into()));
                    continue;
                }
            };
            let cs = content_stream(p.id);
            let data = p
                .ctx
                .to_event_data(&cs, &p.events, Some(UserId(owner)))
                .and_then(|c| Ok((c, p.ctx.to_event_data(&us, &events, Some(UserId(owner)))?)));
            match data {
                Ok((content, ledger_events)) => {
                    for e in &events {
                        totals.evolve(e);
                    }
                    requests.push(AppendRequest {
                        stream: cs,
                        expected: ExpectedVersion::NoStream,
                        events: content,
                    });
                    match analysis_request(&p.ctx, p.id, &p.uploaded) {
                        Ok(job) => requests.push(job),
                        Err(e) => {
                            requests.pop();
                            let _ = p.reply.send(Err(e.into()));
                            continue;
                        }
                    }
                    usage.extend(ledger_events);
                    accepted.push(p);
                }
                Err(e) => {
                    let _ = p.reply.send(Err(e.into()));
                }
            }
        }
        if accepted.is_empty() {
            return;
        }
        requests.push(AppendRequest {
            stream: us,
            expected: expected(ledger.version),
            events: usage,
        });
        match self.inner.store.append_many(requests).await {
            Ok(_) => {
                for p in accepted {
                    let _ = p.reply.send(Ok(()));
                }
            }
            // Another node moved the ledger, or an item id exists already: one at a time.
            Err(e) if e.is_concurrency_conflict() => {
                for p in accepted {
                    let r = self.append_upload_alone(&p).await;
                    let _ = p.reply.send(r);
                }
            }
            Err(e) => {
                for p in accepted {
                    let _ = p.reply.send(Err(ContentFailure::Internal(e.to_string())));
                }
            }
        }
    }

    /// Appends one upload on its own, retrying while the ledger moves.
    async fn append_upload_alone(&self, p: &PendingUpload) -> Result<(), ContentFailure> {
        let owner = p.uploaded.owner;
        let cs = content_stream(p.id);
        let us = usage_stream(owner);
        let item = &p.events;
        for _ in 0..ATTEMPTS {
            let ledger = Ledger::load(&self.inner.store, &us).await?;
            let usage_events = ledger.state.decide(LedgerCommand::RecordUpload {
                content_id: ContentId(p.id),
                modality: p.uploaded.modality,
                bytes: p.uploaded.size,
                reservation: p.reservation.map(UploadId),
                now: Utc::now(),
                limits: p.limits,
            })?;
            let requests = vec![
                AppendRequest {
                    stream: cs.clone(),
                    expected: ExpectedVersion::NoStream,
                    events: p.ctx.to_event_data(&cs, item, Some(owner))?,
                },
                AppendRequest {
                    stream: us.clone(),
                    expected: expected(ledger.version),
                    events: p.ctx.to_event_data(&us, &usage_events, Some(owner))?,
                },
                analysis_request(&p.ctx, p.id, &p.uploaded)?,
            ];
            match self.inner.store.append_many(requests).await {
                Ok(_) => return Ok(()),
                Err(e) if e.is_concurrency_conflict() => {
                    if self.fold(ContentId(p.id)).await?.version > 0 {
                        return Err(ContentError::Exists.into());
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(ContentFailure::Internal(
            "the usage ledger kept changing; try again".into(),
        ))
    }
}

/// The analysis job an upload requests, appended with the item itself.
fn analysis_request(
    ctx: &CommandContext,
    content_id: Uuid,
    u: &Uploaded,
) -> Result<AppendRequest, tessera_events::StoreError> {
    let job_id = upload_job_id(content_id);
    analysis_job(ctx, job_id, ContentId(content_id), u, JobReason::Upload)
}

/// A new job `job_id` that analyses the bytes of item `content_id`, for `reason`.
pub(super) fn analysis_job(
    ctx: &CommandContext,
    job_id: JobId,
    content_id: ContentId,
    u: &Uploaded,
    reason: JobReason,
) -> Result<AppendRequest, tessera_events::StoreError> {
    let stream = job_stream(job_id);
    let events = [JobEvent::Requested(JobRequested {
        content_id,
        owner: u.owner,
        modality: u.modality,
        mime: u.mime.clone(),
        sha256: u.sha256.clone(),
        blob_key: u.blob_key.clone(),
        size: u.size,
        reason,
        keep_location: u.keep_location,
    })];
    Ok(AppendRequest {
        events: ctx.to_event_data(&stream, &events, Some(u.owner))?,
        stream,
        expected: ExpectedVersion::NoStream,
    })
}
