//! An item's life after its upload: metadata edits, deletion to the trash, restore, purge (with
//! its bytes and its storage in the ledger), and analysis again on an admin's request.

use chrono::{Duration as ChronoDuration, Utc};
use tessera_events::aggregate::Aggregate;
use tessera_events::content::{
    content_stream, usage_stream, Actor, ContentCommand, ContentError, Ledger, LedgerCommand,
    Uploaded,
};
use tessera_events::jobs::JobReason;
use tessera_events::{AppendRequest, ContentId, EventStore, JobId, UserId};
use uuid::Uuid;

use super::commit::analysis_job;
use super::error::ContentFailure;
use super::service::{ctx, expected, ContentService, Folded, ATTEMPTS};
use super::view::ItemView;
use crate::blob::BlobKey;

/// Metadata changes of one request, applied together.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub title: Option<String>,
    /// `Some(None)` clears the description.
    pub description: Option<Option<String>>,
    pub add_tags: Vec<String>,
    pub remove_tags: Vec<String>,
}

impl ContentService {
    /// Runs commands against one item together (one append), retrying on concurrent changes.
    pub async fn execute(
        &self,
        id: ContentId,
        actor: UserId,
        commands: impl Fn() -> Vec<ContentCommand>,
    ) -> Result<Folded, ContentFailure> {
        let stream = content_stream(id);
        let c = ctx(Some(actor), &self.inner.node);
        let id = id.0;
        for _ in 0..ATTEMPTS {
            let f = self.fold(ContentId(id)).await?;
            let Some(owner) = f.state.owner() else {
                return Err(ContentError::NotFound.into());
            };
            let mut state = f.state.clone();
            let mut events = Vec::new();
            for command in commands() {
                for e in state.decide(command)? {
                    state.evolve(&e);
                    events.push(e);
                }
            }
            if events.is_empty() {
                return Ok(f);
            }
            let data = c.to_event_data(&stream, &events, Some(owner))?;
            match self
                .inner
                .store
                .append(&stream, expected(f.version), data)
                .await
            {
                Ok(_) => return self.fold(ContentId(id)).await,
                Err(e) if e.is_concurrency_conflict() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ContentFailure::Internal(
            "the item kept changing; try again".into(),
        ))
    }

    /// Applies metadata changes of the owner.
    pub async fn update(
        &self,
        owner: UserId,
        id: ContentId,
        changes: Changes,
    ) -> Result<ItemView, ContentFailure> {
        let by = Actor::User(owner);
        let f = self
            .execute(id, owner, || {
                let mut cs = Vec::new();
                if let Some(t) = &changes.title {
                    cs.push(ContentCommand::Rename {
                        by,
                        title: t.trim().to_owned(),
                    });
                }
                if let Some(d) = &changes.description {
                    cs.push(ContentCommand::Describe {
                        by,
                        description: d.clone(),
                    });
                }
                for t in &changes.remove_tags {
                    cs.push(ContentCommand::Untag { by, tag: t.clone() });
                }
                for t in &changes.add_tags {
                    cs.push(ContentCommand::Tag { by, tag: t.clone() });
                }
                if cs.is_empty() {
                    // Nothing to change still checks that the caller owns the item.
                    cs.push(ContentCommand::Untag {
                        by,
                        tag: String::new(),
                    });
                }
                cs
            })
            .await?;
        ItemView::from_stream(id.0, &f).ok_or_else(|| ContentError::NotFound.into())
    }

    /// Soft-deletes an item (restorable for the configured period).
    pub async fn delete(&self, owner: UserId, id: ContentId) -> Result<(), ContentFailure> {
        let retention = ChronoDuration::days(i64::from(self.inner.settings.restore_days));
        self.execute(id, owner, || {
            vec![ContentCommand::Delete {
                by: Actor::User(owner),
                now: Utc::now(),
                retention,
            }]
        })
        .await?;
        Ok(())
    }

    pub async fn restore(&self, owner: UserId, id: ContentId) -> Result<ItemView, ContentFailure> {
        let f = self
            .execute(id, owner, || {
                vec![ContentCommand::Restore {
                    by: Actor::User(owner),
                    now: Utc::now(),
                }]
            })
            .await?;
        ItemView::from_stream(id.0, &f).ok_or_else(|| ContentError::NotFound.into())
    }

    /// Removes an item for good, releases its storage in the ledger (one atomic append), then
    /// removes its bytes unless another item still holds them.
    pub async fn purge(&self, by: Actor, id: ContentId) -> Result<bool, ContentFailure> {
        let stream = content_stream(id);
        let id = id.0;
        for _ in 0..ATTEMPTS {
            let f = self.fold(ContentId(id)).await?;
            let Some(u) = f.state.uploaded.clone() else {
                return Err(ContentError::NotFound.into());
            };
            let events = f.state.decide(ContentCommand::Purge {
                by,
                now: Utc::now(),
            })?;
            if events.is_empty() {
                return Ok(false);
            }
            let actor = match by {
                Actor::User(u) => Some(u.0),
                Actor::System => None,
            };
            let c = ctx(actor.map(UserId), &self.inner.node);
            let us = usage_stream(u.owner);
            let _ledger = self.lock_ledger(u.owner).await;
            let ledger = Ledger::load(&self.inner.store, &us).await?;
            let usage = ledger.state.decide(LedgerCommand::ReleaseStorage {
                content_id: ContentId(id),
                modality: u.modality,
                bytes: u.size,
                today: Utc::now().date_naive(),
            })?;
            let requests = vec![
                AppendRequest {
                    stream: stream.clone(),
                    expected: expected(f.version),
                    events: c.to_event_data(&stream, &events, Some(u.owner))?,
                },
                AppendRequest {
                    stream: us.clone(),
                    expected: expected(ledger.version),
                    events: c.to_event_data(&us, &usage, Some(u.owner))?,
                },
            ];
            match self.inner.store.append_many(requests).await {
                Ok(_) => {
                    self.remove_bytes_if_unused(id, &u).await;
                    return Ok(true);
                }
                Err(e) if e.is_concurrency_conflict() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ContentFailure::Internal(
            "the item kept changing; try again".into(),
        ))
    }

    /// Deletes a purged item's bytes and previews when nothing else needs them (see
    /// [`super::claims`]). Failures are left to the garbage collector.
    async fn remove_bytes_if_unused(&self, id: Uuid, u: &Uploaded) {
        let Ok(key) = BlobKey::new(&u.blob_key) else {
            return;
        };
        if let Err(e) = self
            .delete_bytes_if_unused(&u.sha256, &key, Some(ContentId(id)))
            .await
        {
            tracing::warn!(error = %e, %key, "could not delete a purged blob; the collector will");
        }
    }

    /// An admin's command to analyse an item again with the current models: a new job.
    /// Results of models whose version did not change come from the result cache.
    pub async fn reprocess(&self, admin: UserId, id: ContentId) -> Result<JobId, ContentFailure> {
        let (admin, id) = (admin.0, id.0);
        let f = self.fold(ContentId(id)).await?;
        let Some(u) = f.state.uploaded.clone().filter(|_| f.state.exists()) else {
            return Err(ContentError::NotFound.into());
        };
        let job_id = JobId(Uuid::new_v4());
        let c = ctx(Some(UserId(admin)), &self.inner.node);
        let job = analysis_job(
            &c,
            job_id,
            ContentId(id),
            &u,
            JobReason::Reprocess { by: UserId(admin) },
        )?;
        self.inner
            .store
            .append(&job.stream, job.expected, job.events)
            .await?;
        tracing::info!(%admin, content = %id, job = %job_id, "reprocess requested");
        Ok(job_id)
    }
}
