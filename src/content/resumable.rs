//! Resumable uploads: a session of a known length receives chunks at their offsets, each stored
//! and acknowledged with an event; the last one joins them and accepts the file as an item.
//!
//! Starting a session reserves its whole length in the owner's usage ledger, in the same append
//! as the session's first event, so the chunks it may receive are within the storage quota
//! before the first arrives, and a user cannot hold more than `max_open_uploads` sessions. The
//! item made at the end takes the reservation over in the ledger's same decision; a session
//! cancelled, failed or found to repeat an existing item ends it; an expired one holds nothing.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use tessera_events::aggregate::Aggregate;
use tessera_events::content::{
    upload_stream, usage_stream, ContentError, Ledger, LedgerCommand, Source, UploadCommand,
    UploadSession, UploadStarted,
};
use tessera_events::{AppendRequest, ContentId, EventStore, ExpectedVersion, UploadId, UserId};
use uuid::Uuid;

use super::error::ContentFailure;
use super::filename;
use super::service::{ctx, expected, ContentService, ATTEMPTS};
use super::uploads::{Outcome, UploadMeta};
use super::view::ItemView;
use crate::blob::BlobKey;
use tessera_events::ErrorCode;

/// A resumable upload as the API shows it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct UploadView {
    pub id: Uuid,
    /// Bytes received and acknowledged: the offset of the next chunk.
    pub offset: u64,
    pub length: u64,
    pub expires_at: DateTime<Utc>,
    /// `open`, `completed` or `aborted`.
    pub state: String,
    /// The item, once the last chunk has arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_id: Option<Uuid>,
    /// The largest chunk accepted.
    pub max_chunk_bytes: u64,
}

impl ContentService {
    fn upload_view(&self, id: Uuid, s: &UploadSession) -> Option<UploadView> {
        let started = s.started.as_ref()?;
        let state = if s.completed.is_some() {
            "completed"
        } else if s.aborted {
            "aborted"
        } else {
            "open"
        };
        Some(UploadView {
            id,
            offset: s.received,
            length: started.length,
            expires_at: started.expires_at,
            state: state.to_owned(),
            content_id: s.completed.map(Uuid::from),
            max_chunk_bytes: self.inner.settings.max_chunk_bytes,
        })
    }

    async fn load_upload(&self, id: Uuid) -> Result<(UploadSession, u64), ContentFailure> {
        let loaded =
            tessera_events::aggregate::load::<UploadSession>(&self.inner.store, &upload_stream(id))
                .await?;
        Ok((loaded.state, loaded.version))
    }

    /// Starts a resumable upload of `length` bytes.
    pub async fn start_upload(
        &self,
        owner: UserId,
        length: u64,
        filename: Option<String>,
        title: Option<String>,
    ) -> Result<UploadView, ContentFailure> {
        let owner = owner.0;
        let max = self.inner.settings.max_any_bytes();
        if length > max {
            return Err(ContentFailure::FileTooLarge {
                modality: "any",
                size: length,
                limit: max,
            });
        }
        if length == 0 {
            return Err(ContentFailure::BadRequest(
                ErrorCode::EmptyFile,
                "an upload has at least one byte".into(),
            ));
        }
        let id = Uuid::now_v7();
        let now = Utc::now();
        let started = UploadStarted {
            owner: UserId(owner),
            length,
            filename: filename.as_deref().and_then(filename::sanitize),
            title,
            expires_at: now
                + ChronoDuration::hours(i64::from(self.inner.settings.upload_session_hours)),
        };
        let limits = self.limits(owner.into()).await?;
        let stream = upload_stream(id);
        let events = UploadSession::default().decide(UploadCommand::Start(started.clone()))?;
        let c = ctx(Some(UserId(owner)), &self.inner.node);
        let session = AppendRequest {
            stream: stream.clone(),
            expected: ExpectedVersion::NoStream,
            events: c.to_event_data(&stream, &events, Some(UserId(owner)))?,
        };
        self.append_to_ledger(owner.into(), Some(session), |now| LedgerCommand::Reserve {
            upload_id: UploadId(id),
            bytes: length,
            expires_at: started.expires_at,
            now,
            limits,
            max_open: self.inner.settings.max_open_uploads,
        })
        .await?;
        let (s, _) = self.load_upload(id).await?;
        self.upload_view(id, &s)
            .ok_or_else(|| ContentError::NotFound.into())
    }

    pub async fn upload_status(
        &self,
        owner: UserId,
        id: UploadId,
    ) -> Result<UploadView, ContentFailure> {
        let (owner, id) = (owner.0, id.0);
        let (s, _) = self.load_upload(id).await?;
        s.owned_by(UserId(owner))?;
        self.upload_view(id, &s)
            .ok_or_else(|| ContentError::NotFound.into())
    }

    /// Stores one chunk at `offset`, acknowledges it with an event, and when it was the last,
    /// assembles, probes and accepts the file.
    pub async fn put_chunk<S, E>(
        &self,
        owner: UserId,
        id: UploadId,
        offset: u64,
        body: S,
    ) -> Result<(UploadView, Option<Outcome>), ContentFailure>
    where
        S: futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let (owner, id) = (owner.0, id.0);
        let (s, _) = self.load_upload(id).await?;
        let started = s.owned_by(UserId(owner))?.clone();
        if s.completed.is_some() || s.aborted {
            return Err(ContentError::UploadClosed {
                state: if s.aborted { "aborted" } else { "completed" },
            }
            .into());
        }
        if s.received != offset {
            return Err(ContentError::OffsetMismatch {
                expected: s.received,
            }
            .into());
        }
        let room = started.length - s.received;
        let limit = room.min(self.inner.settings.max_chunk_bytes);
        let file = self.temp_file()?;
        let received = match super::receive::receive(body, &file, limit).await {
            Err(super::receive::ReceiveError::TooLarge { .. }) if limit == room => {
                return Err(ContentError::PastEnd {
                    length: started.length,
                }
                .into())
            }
            other => other?,
        };
        if received.size > 0 {
            let key = BlobKey::new(&format!("uploads/{id}/{offset:020}"))?;
            self.store_file(file, &received, &key).await?;
            let stream_id = upload_stream(id);
            let c = ctx(Some(UserId(owner)), &self.inner.node);
            let size = received.size;
            tessera_events::aggregate::execute::<UploadSession>(
                &self.inner.store,
                &stream_id,
                &c,
                Some(UserId(owner)),
                || UploadCommand::StoreChunk {
                    by: UserId(owner),
                    offset,
                    size,
                    key: key.to_string(),
                    now: Utc::now(),
                },
            )
            .await?;
        }
        let (s, _) = self.load_upload(id).await?;
        if s.received < started.length || s.completed.is_some() {
            let view = self.upload_view(id, &s).ok_or(ContentError::NotFound)?;
            return Ok((view, None));
        }
        let outcome = self.finish_upload(owner, id, &s, &started).await?;
        let (s, _) = self.load_upload(id).await?;
        let view = self.upload_view(id, &s).ok_or(ContentError::NotFound)?;
        Ok((view, Some(outcome)))
    }

    /// Joins the chunks into one local file, accepts it as an item, closes the session and
    /// deletes the chunks.
    async fn finish_upload(
        &self,
        owner: Uuid,
        id: Uuid,
        s: &UploadSession,
        started: &UploadStarted,
    ) -> Result<Outcome, ContentFailure> {
        let file = self.temp_file()?;
        let parts: Vec<BlobKey> = s
            .parts
            .iter()
            .map(|k| BlobKey::new(k))
            .collect::<Result<_, _>>()?;
        let blobs = self.inner.blobs.clone();
        let chunks = futures_util::stream::iter(parts.clone())
            .then(move |k| {
                let blobs = blobs.clone();
                async move { blobs.get(&k, None).await.map(|r| r.stream) }
            })
            .try_flatten();
        use futures_util::{StreamExt as _, TryStreamExt as _};
        let received = super::receive::receive(Box::pin(chunks), &file, started.length).await?;
        let content_id = Uuid::new_v5(
            &Uuid::NAMESPACE_OID,
            format!("tessera/upload/{id}").as_bytes(),
        );
        let meta = UploadMeta {
            filename: started.filename.clone(),
            title: started.title.clone(),
            reservation: Some(id),
            ..UploadMeta::default()
        };
        let outcome = match self
            .accept_file(
                owner.into(),
                content_id.into(),
                file,
                received,
                meta,
                Source::Resumable,
            )
            .await
        {
            Ok(o) => o,
            Err(ContentFailure::Domain(ContentError::Exists)) => {
                let f = self.fold(ContentId(content_id)).await?;
                Outcome::Existing(
                    ItemView::from_stream(content_id, &f).ok_or(ContentError::NotFound)?,
                )
            }
            Err(e) => {
                // The bytes are bad (or over a limit): the session ends with the reason.
                self.abort_upload_as(None, id, &e.to_string()).await.ok();
                return Err(e);
            }
        };
        let done_id = match &outcome {
            Outcome::Created(v) | Outcome::Existing(v) => v.id,
        };
        let c = ctx(Some(UserId(owner)), &self.inner.node);
        tessera_events::aggregate::execute::<UploadSession>(
            &self.inner.store,
            &upload_stream(id),
            &c,
            Some(UserId(owner)),
            || UploadCommand::Complete {
                by: UserId(owner),
                content_id: ContentId(done_id),
            },
        )
        .await?;
        // A new item took the reservation over; bytes the owner had already did not.
        self.end_reservation(owner, id).await?;
        for k in &parts {
            if let Err(e) = self.inner.blobs.delete(k).await {
                tracing::warn!(error = %e, key = %k, "could not delete an upload chunk; the collector will");
            }
        }
        Ok(outcome)
    }

    pub async fn abort_upload(&self, owner: UserId, id: UploadId) -> Result<(), ContentFailure> {
        self.abort_upload_as(Some(owner.0), id.0, "cancelled by the client")
            .await
    }

    async fn abort_upload_as(
        &self,
        by: Option<Uuid>,
        id: Uuid,
        reason: &str,
    ) -> Result<(), ContentFailure> {
        let (s, _) = self.load_upload(id).await?;
        let owner = s.started.as_ref().map(|s| s.owner);
        let c = ctx(by.map(UserId), &self.inner.node);
        tessera_events::aggregate::execute::<UploadSession>(
            &self.inner.store,
            &upload_stream(id),
            &c,
            owner,
            || UploadCommand::Abort {
                by: by.map(UserId),
                reason: reason.to_owned(),
            },
        )
        .await?;
        if let Some(owner) = owner {
            self.end_reservation(owner.into_inner(), id).await?;
        }
        for k in &s.parts {
            if let Ok(k) = BlobKey::new(k) {
                let _ = self.inner.blobs.delete(&k).await;
            }
        }
        Ok(())
    }

    /// Ends upload `id`'s reservation, if it still holds one.
    async fn end_reservation(&self, owner: Uuid, id: Uuid) -> Result<(), ContentFailure> {
        self.append_to_ledger(owner.into(), None, |now| LedgerCommand::EndReservation {
            upload_id: UploadId(id),
            now,
        })
        .await
    }

    /// Decides `command` on `owner`'s ledger and appends its events, with `with` in the same
    /// atomic append; retried while the ledger moves.
    async fn append_to_ledger(
        &self,
        owner: UserId,
        with: Option<AppendRequest>,
        command: impl Fn(DateTime<Utc>) -> LedgerCommand,
    ) -> Result<(), ContentFailure> {
        let us = usage_stream(owner.0);
        let c = ctx(Some(owner), &self.inner.node);
        let _writer = self.lock_ledger(owner).await;
        for _ in 0..ATTEMPTS {
            let ledger = Ledger::load(&self.inner.store, &us).await?;
            let events = ledger.state.decide(command(Utc::now()))?;
            if events.is_empty() && with.is_none() {
                return Ok(());
            }
            let mut requests: Vec<AppendRequest> = with.iter().cloned().collect();
            if !events.is_empty() {
                requests.push(AppendRequest {
                    stream: us.clone(),
                    expected: expected(ledger.version),
                    events: c.to_event_data(&us, &events, Some(owner))?,
                });
            }
            match self.inner.store.append_many(requests).await {
                Ok(_) => return Ok(()),
                Err(e) if e.is_concurrency_conflict() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ContentFailure::Internal(
            "the usage ledger kept changing; try again".into(),
        ))
    }
}
