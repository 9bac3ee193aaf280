//! The content library's commands and queries: uploads (whole and resumable), notes, edits,
//! deletion, downloads, previews' storage and the usage ledger. Bytes go to the blob store
//! first, then the event is appended; what has no event is swept by the garbage collector.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use sqlx::PgPool;
use tessera_events::aggregate::Aggregate;
use tessera_events::content::{
    audit_stream, content_stream, upload_stream, usage_stream, Actor, AuditEvent, Content,
    ContentAccess, ContentCommand, ContentError, ContentEvent, Generation, Ledger, LedgerCommand,
    MediaFacts, Modality, QuotaLimitsNow, Source, UploadCommand, UploadSession, UploadStarted,
    Uploaded,
};
use tessera_events::jobs::{job_stream, upload_job_id, JobEvent, JobReason, JobRequested};
use tessera_events::{
    AppendRequest, CommandContext, DomainEvent, EventStore, ExpectedVersion, PgEventStore,
};
use tessera_models::media::{self, Probed};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::error::ContentFailure;
use super::filename;
use super::receive::{Received, TempFile};
use super::settings::ContentSettings;
use super::view::ItemView;
use crate::auth::AuthService;
use crate::blob::{BlobKey, BlobRead, BlobStore};
use tessera_projections::read_models::content as rm;

/// Retries of a command whose streams moved under it.
const ATTEMPTS: usize = 8;

/// An item folded from its stream, with the times of its events.
#[derive(Debug, Clone, Default)]
pub struct Folded {
    pub state: Content,
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// An upload waiting for its group commit.
struct PendingUpload {
    id: Uuid,
    uploaded: Uploaded,
    /// The item's events: `content.uploaded`, and `content.generated` for a generated item.
    events: Vec<ContentEvent>,
    /// The uploading request's context (its request id, its event ids).
    ctx: CommandContext,
    limits: QuotaLimitsNow,
    reply: tokio::sync::oneshot::Sender<Result<(), ContentFailure>>,
}

/// What an upload's metadata fields said.
#[derive(Debug, Clone, Default)]
pub struct UploadMeta {
    pub filename: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<String>,
    /// The owner allows the analysis to keep where a photo was taken (EXIF GPS).
    pub keep_location: bool,
}

/// An upload's result: a new item, or the one these bytes (or this idempotency key) already made.
#[derive(Debug, Clone)]
pub enum Outcome {
    Created(ItemView),
    Existing(ItemView),
}

/// Who is reading: the owner, or an admin reading someone else's content (which is recorded).
#[derive(Debug, Clone, Copy)]
pub struct Viewer {
    pub user_id: Uuid,
    pub admin: bool,
}

/// Metadata changes of one request, applied together.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub title: Option<String>,
    /// `Some(None)` clears the description.
    pub description: Option<Option<String>>,
    pub add_tags: Vec<String>,
    pub remove_tags: Vec<String>,
}

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

/// What the library works with.
pub struct Dependencies {
    pub store: PgEventStore,
    pub pool: PgPool,
    pub blobs: Arc<dyn BlobStore>,
    pub auth: AuthService,
    pub cache: crate::cache::HotCache,
}

#[derive(Clone)]
pub struct ContentService {
    inner: Arc<Inner>,
}

struct Inner {
    store: PgEventStore,
    pool: PgPool,
    blobs: Arc<dyn BlobStore>,
    settings: ContentSettings,
    auth: AuthService,
    cache: crate::cache::HotCache,
    tmp_dir: PathBuf,
    node: String,
    previews: OnceLock<mpsc::UnboundedSender<Uuid>>,
    /// One writer per user's ledger on this node: parallel uploads of one user queue here
    /// instead of failing each other's expected version (other nodes still retry).
    ledger_locks: dashmap::DashMap<Uuid, Arc<tokio::sync::Mutex<()>>>,
    /// Uploads waiting for their user's ledger writer, committed as one group.
    ledger_queues: dashmap::DashMap<Uuid, Arc<std::sync::Mutex<Vec<PendingUpload>>>>,
    /// When an upload last started or finished here (ms since `epoch`): preview work waits for
    /// a quiet moment, so that a burst of uploads is acknowledged first.
    last_upload_ms: std::sync::atomic::AtomicU64,
    epoch: std::time::Instant,
}

fn ctx(actor: Option<Uuid>, node: &str) -> CommandContext {
    let mut c = CommandContext::new(actor);
    c.metadata.node = Some(node.to_owned());
    c.metadata.request_id = crate::telemetry::current_request_id();
    c
}

fn expected(version: u64) -> ExpectedVersion {
    if version == 0 {
        ExpectedVersion::NoStream
    } else {
        ExpectedVersion::Exact(version)
    }
}

pub(super) fn modality_of(p: &Probed) -> Modality {
    match p.modality {
        media::Modality::Text => Modality::Text,
        media::Modality::Image => Modality::Image,
        media::Modality::Audio => Modality::Audio,
        media::Modality::Video => Modality::Video,
    }
}

pub(super) fn facts_of(p: &Probed) -> MediaFacts {
    MediaFacts {
        width: p.width,
        height: p.height,
        duration_secs: p.duration_secs,
        sample_rate: p.sample_rate,
        channels: p.channels,
        codec: p.codec.clone(),
        has_audio: p.has_audio,
        has_video: p.has_video,
    }
}

/// The id an idempotency key stands for: the same key of the same user is the same item.
pub fn id_for_key(owner: Uuid, key: &str) -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_OID,
        format!("tessera/content/{owner}/{key}").as_bytes(),
    )
}

impl ContentService {
    pub fn new(
        deps: Dependencies,
        settings: ContentSettings,
        data_dir: &std::path::Path,
        node: String,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store: deps.store,
                pool: deps.pool,
                blobs: deps.blobs,
                settings,
                auth: deps.auth,
                cache: deps.cache,
                tmp_dir: data_dir.join("tmp"),
                node,
                previews: OnceLock::new(),
                ledger_locks: dashmap::DashMap::new(),
                ledger_queues: dashmap::DashMap::new(),
                last_upload_ms: std::sync::atomic::AtomicU64::new(0),
                epoch: std::time::Instant::now(),
            }),
        }
    }

    pub fn settings(&self) -> &ContentSettings {
        &self.inner.settings
    }

    /// This node's folder for temporary files.
    pub fn tmp_dir(&self) -> &std::path::Path {
        &self.inner.tmp_dir
    }

    pub fn blobs(&self) -> &Arc<dyn BlobStore> {
        &self.inner.blobs
    }

    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    pub fn store(&self) -> &PgEventStore {
        &self.inner.store
    }

    pub fn node(&self) -> &str {
        &self.inner.node
    }

    fn mark_upload_activity(&self) {
        let now = self.inner.epoch.elapsed().as_millis() as u64;
        self.inner
            .last_upload_ms
            .store(now, std::sync::atomic::Ordering::Relaxed);
    }

    /// How long since an upload last started or finished on this node.
    pub fn quiet_for(&self) -> std::time::Duration {
        let now = self.inner.epoch.elapsed().as_millis() as u64;
        let last = self
            .inner
            .last_upload_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        std::time::Duration::from_millis(now.saturating_sub(last))
    }

    /// Where new uploads are received before they are probed.
    pub fn temp_file(&self) -> Result<TempFile, ContentFailure> {
        self.mark_upload_activity();
        TempFile::new_in(&self.inner.tmp_dir).map_err(|e| ContentFailure::Internal(e.to_string()))
    }

    /// Sends new items to the preview worker.
    pub fn set_preview_queue(&self, tx: mpsc::UnboundedSender<Uuid>) {
        let _ = self.inner.previews.set(tx);
    }

    pub(super) fn queue_previews(&self, id: Uuid) {
        if let Some(tx) = self.inner.previews.get() {
            let _ = tx.send(id);
        }
    }

    /// Holds the right to write `user`'s ledger on this node.
    pub async fn lock_ledger(&self, user: Uuid) -> tokio::sync::OwnedMutexGuard<()> {
        let locks = &self.inner.ledger_locks;
        if locks.len() > 1024 {
            // Forget the locks nobody holds or waits for, so the map stays small.
            locks.retain(|_, l| Arc::strong_count(l) > 1);
        }
        let lock = locks.entry(user).or_default().value().clone();
        lock.lock_owned().await
    }

    /// The limits in force for `user` now.
    pub async fn limits(&self, user: Uuid) -> Result<QuotaLimitsNow, ContentFailure> {
        let profile = self
            .inner
            .auth
            .profile(user)
            .await
            .map_err(|e| ContentFailure::Internal(format!("loading quota of {user}: {e}")))?;
        Ok(QuotaLimitsNow {
            storage_bytes: profile.quota.storage_bytes,
            uploads_per_day: u64::from(profile.quota.uploads_per_day),
            processing_seconds_per_day: profile.quota.processing_seconds_per_day,
        })
    }

    /// Bytes the user may still store, for cutting an upload off early.
    pub async fn remaining_storage(&self, user: Uuid) -> Result<u64, ContentFailure> {
        let limits = self.limits(user).await?;
        let ledger = Ledger::load(&self.inner.store, &usage_stream(user)).await?;
        Ok(limits
            .storage_bytes
            .saturating_sub(ledger.state.totals.stored_bytes))
    }

    /// Folds an item's stream, keeping the times of its events.
    pub async fn fold(&self, id: Uuid) -> Result<Folded, ContentFailure> {
        let stream = content_stream(id);
        let mut f = Folded::default();
        loop {
            let batch = self
                .inner
                .store
                .read_stream(&stream, f.version, 1000)
                .await?;
            let done = batch.len() < 1000;
            for e in &batch {
                let event = ContentEvent::decode(e)?;
                if f.version == 0 {
                    f.created_at = e.recorded_at;
                }
                match &event {
                    ContentEvent::Deleted { .. } => f.deleted_at = Some(e.recorded_at),
                    ContentEvent::Restored {} => f.deleted_at = None,
                    _ => {}
                }
                if !matches!(
                    event,
                    ContentEvent::PreviewsGenerated(_)
                        | ContentEvent::PreviewsFailed { .. }
                        | ContentEvent::Analysed { .. }
                        | ContentEvent::AnalysisFailed { .. }
                ) {
                    f.updated_at = e.recorded_at;
                }
                f.state.evolve(&event);
                f.version = e.stream_version;
            }
            if done {
                return Ok(f);
            }
        }
    }

    /// The item an idempotency key already made, if any.
    pub async fn existing_for_key(
        &self,
        owner: Uuid,
        key: &str,
    ) -> Result<Option<ItemView>, ContentFailure> {
        let id = id_for_key(owner, key);
        let f = self.fold(id).await?;
        Ok(ItemView::from_stream(id, &f))
    }

    /// Probes a received file, checks the limits, stores the bytes and appends the item with
    /// its usage. Returns the owner's existing live item when they uploaded these bytes before.
    pub async fn accept_file(
        &self,
        owner: Uuid,
        content_id: Uuid,
        file: TempFile,
        received: Received,
        meta: UploadMeta,
        source: Source,
    ) -> Result<Outcome, ContentFailure> {
        let limits = self.inner.settings.media_limits();
        let path = file.path().to_owned();
        let probed = tokio::task::spawn_blocking(move || media::probe(&path, &limits))
            .await
            .map_err(|e| ContentFailure::Internal(e.to_string()))??;
        let modality = modality_of(&probed);
        let max = self.inner.settings.max_bytes(modality);
        if received.size > max {
            return Err(ContentFailure::FileTooLarge {
                modality: modality.as_str(),
                size: received.size,
                limit: max,
            });
        }
        if let Some(item) = self.live_item_with(owner, &received.sha256).await? {
            return Ok(Outcome::Existing(item));
        }
        let key = BlobKey::content(&received.sha256)?;
        self.store_file(file, &received, &key).await?;
        let filename = meta.filename.as_deref().and_then(filename::sanitize);
        let title = meta
            .title
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .or_else(|| filename.as_deref().map(filename::title_from))
            .unwrap_or_else(|| format!("Untitled {}", modality.as_str()));
        let uploaded = Uploaded {
            owner,
            title,
            filename,
            modality,
            mime: probed.mime.clone(),
            extension: probed.extension.clone(),
            size: received.size,
            sha256: received.sha256.clone(),
            blob_key: key.to_string(),
            media: facts_of(&probed),
            description: meta.description.filter(|d| !d.trim().is_empty()),
            tags: meta.tags,
            source,
            keep_location: meta.keep_location,
        };
        self.append_upload(content_id, uploaded).await?;
        self.mark_upload_activity();
        self.queue_previews(content_id);
        let f = self.fold(content_id).await?;
        ItemView::from_stream(content_id, &f)
            .map(Outcome::Created)
            .ok_or(ContentFailure::Domain(ContentError::NotFound))
    }

    /// The owner's live item holding these bytes: from the read model, or from upload events it
    /// has not caught up with yet (so uploading the same file twice in a row finds the first).
    async fn live_item_with(
        &self,
        owner: Uuid,
        sha256: &str,
    ) -> Result<Option<ItemView>, ContentFailure> {
        // The log past the projection's checkpoint first, then the read model: an upload the
        // projector applies between the two reads is then in the second. (The other order
        // missed it when the projector committed in between.)
        for id in rm::unprojected_uploads(&self.inner.pool, sha256, Some(owner)).await? {
            let f = self.fold(id).await?;
            if f.state.exists() && f.state.deleted.is_none() {
                return Ok(ItemView::from_stream(id, &f));
            }
        }
        if let Some(row) = rm::find_by_sha(&self.inner.pool, owner, sha256).await? {
            return Ok(Some(ItemView::from_row(row)));
        }
        Ok(None)
    }

    /// Moves a received file into the blob store under `key`.
    pub(super) async fn store_file(
        &self,
        file: TempFile,
        received: &Received,
        key: &BlobKey,
    ) -> Result<(), ContentFailure> {
        let staged = self
            .inner
            .blobs
            .stage_file(file.path(), received.size, &received.sha256)
            .await?;
        self.inner.blobs.promote(&staged, key).await?;
        Ok(())
    }

    /// Appends a new item and its usage in one atomic append; the ledger's expected version
    /// makes the quota decision exact under concurrent uploads. Uploads of one user waiting on
    /// this node are committed together (group commit): one ledger read and one transaction for
    /// the whole group, each item still decided in turn against the running totals.
    async fn append_upload(&self, id: Uuid, uploaded: Uploaded) -> Result<(), ContentFailure> {
        self.append_item(id, uploaded, None).await
    }

    /// Appends a new item (with how a model made it, for a generated item) and its usage.
    pub(super) async fn append_item(
        &self,
        id: Uuid,
        uploaded: Uploaded,
        generation: Option<Generation>,
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
            queues.entry(owner).or_default().value().clone()
        };
        queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(PendingUpload {
                id,
                uploaded,
                events,
                ctx: ctx(Some(owner), &self.inner.node),
                limits,
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
                self.commit_uploads(owner, group).await;
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
        let today = Utc::now().date_naive();
        let mut totals = ledger.state;
        let mut accepted = Vec::new();
        let mut requests = Vec::new();
        let mut usage = Vec::new();
        for p in group {
            let decided = totals.decide(LedgerCommand::RecordUpload {
                content_id: p.id,
                modality: p.uploaded.modality,
                bytes: p.uploaded.size,
                today,
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
                .to_event_data(&cs, &p.events, Some(owner))
                .and_then(|c| Ok((c, p.ctx.to_event_data(&us, &events, Some(owner))?)));
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
                content_id: p.id,
                modality: p.uploaded.modality,
                bytes: p.uploaded.size,
                today: Utc::now().date_naive(),
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
                    if self.fold(p.id).await?.version > 0 {
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

    /// An admin's command to analyse an item again with the current models: a new job.
    /// Results of models whose version did not change come from the result cache.
    pub async fn reprocess(&self, admin: Uuid, id: Uuid) -> Result<Uuid, ContentFailure> {
        let f = self.fold(id).await?;
        let Some(u) = f.state.uploaded.clone().filter(|_| f.state.exists()) else {
            return Err(ContentError::NotFound.into());
        };
        let job_id = Uuid::new_v4();
        let stream = job_stream(job_id);
        let events = [JobEvent::Requested(JobRequested {
            content_id: id,
            owner: u.owner,
            modality: u.modality,
            mime: u.mime.clone(),
            sha256: u.sha256.clone(),
            blob_key: u.blob_key.clone(),
            size: u.size,
            reason: JobReason::Reprocess { by: admin },
            keep_location: u.keep_location,
        })];
        let c = ctx(Some(admin), &self.inner.node);
        let data = c.to_event_data(&stream, &events, Some(u.owner))?;
        self.inner
            .store
            .append(&stream, ExpectedVersion::NoStream, data)
            .await?;
        tracing::info!(%admin, content = %id, job = %job_id, "reprocess requested");
        Ok(job_id)
    }

    /// A note: text written in Tessera rather than uploaded.
    pub async fn create_note(
        &self,
        owner: Uuid,
        content_id: Uuid,
        title: String,
        text: String,
        description: Option<String>,
        tags: Vec<String>,
    ) -> Result<Outcome, ContentFailure> {
        if text.len() as u64 > self.inner.settings.max_text_bytes {
            return Err(ContentFailure::FileTooLarge {
                modality: "text",
                size: text.len() as u64,
                limit: self.inner.settings.max_text_bytes,
            });
        }
        let bytes = bytes::Bytes::from(text.into_bytes());
        let size = bytes.len() as u64;
        let body = Box::pin(futures_util::stream::once(async move {
            Ok::<_, crate::blob::BlobError>(bytes)
        }));
        let staged = self.inner.blobs.stage(body, size).await?;
        let key = BlobKey::content(&staged.sha256)?;
        self.inner.blobs.promote(&staged, &key).await?;
        let uploaded = Uploaded {
            owner,
            title,
            filename: None,
            modality: Modality::Text,
            mime: "text/plain; charset=utf-8".into(),
            extension: "txt".into(),
            size,
            sha256: staged.sha256.clone(),
            blob_key: key.to_string(),
            media: MediaFacts::default(),
            description: description.filter(|d| !d.trim().is_empty()),
            tags,
            source: Source::Note,
            keep_location: false,
        };
        self.append_upload(content_id, uploaded).await?;
        let f = self.fold(content_id).await?;
        ItemView::from_stream(content_id, &f)
            .map(Outcome::Created)
            .ok_or(ContentFailure::Domain(ContentError::NotFound))
    }

    /// Records that an admin read someone else's content.
    async fn audit(
        &self,
        viewer: Viewer,
        owner: Uuid,
        content_id: Option<Uuid>,
        access: ContentAccess,
    ) -> Result<(), ContentFailure> {
        if viewer.user_id == owner {
            return Ok(());
        }
        let stream = audit_stream(viewer.user_id);
        let c = ctx(Some(viewer.user_id), &self.inner.node);
        let events = [AuditEvent::ContentAccessed {
            content_id,
            owner,
            access,
        }];
        let data = c.to_event_data(&stream, &events, Some(viewer.user_id))?;
        self.inner
            .store
            .append(&stream, ExpectedVersion::Any, data)
            .await?;
        tracing::info!(admin = %viewer.user_id, %owner, ?content_id, ?access, "admin read another user's content");
        Ok(())
    }

    /// Checks that `viewer` may read an item of `owner`, recording an admin's read.
    pub async fn authorize_read(
        &self,
        viewer: Viewer,
        owner: Uuid,
        content_id: Option<Uuid>,
        access: ContentAccess,
    ) -> Result<(), ContentFailure> {
        if viewer.user_id == owner {
            return Ok(());
        }
        if !viewer.admin {
            return Err(ContentError::NotFound.into());
        }
        self.audit(viewer, owner, content_id, access).await
    }

    /// One item, from the read model or, before it has caught up, from the stream.
    pub async fn get(
        &self,
        viewer: Viewer,
        id: Uuid,
        access: ContentAccess,
    ) -> Result<ItemView, ContentFailure> {
        let pool = self.inner.pool.clone();
        let cached: Option<ItemView> = self
            .inner
            .cache
            .get_or_load(rm::NAME, &format!("item:{id}"), || async move {
                rm::get(&pool, id).await.map(|r| r.map(ItemView::from_row))
            })
            .await?;
        // The read model may lag the item's own stream (a client reads right after a change):
        // the stream's last version says whether the cached view is current.
        let last = self
            .inner
            .store
            .read_last(&content_stream(id))
            .await?
            .map_or(0, |e| e.stream_version);
        let view = match cached {
            Some(view) if view.version == last => view,
            _ => {
                let f = self.fold(id).await?;
                if !f.state.exists() {
                    return Err(ContentError::NotFound.into());
                }
                ItemView::from_stream(id, &f).ok_or(ContentError::NotFound)?
            }
        };
        self.authorize_read(viewer, view.owner, Some(id), access)
            .await?;
        Ok(view)
    }

    /// A page of a listing, through the hot cache (dropped whenever the read model moves).
    pub async fn list(
        &self,
        q: rm::ListQuery,
    ) -> Result<(Vec<ItemView>, Option<rm::Cursor>), ContentFailure> {
        let key = format!("list:{q:?}");
        let pool = self.inner.pool.clone();
        Ok(self
            .inner
            .cache
            .get_or_load(rm::NAME, &key, || async move {
                rm::list(&pool, &q)
                    .await
                    .map(|(rows, next)| (rows.into_iter().map(ItemView::from_row).collect(), next))
            })
            .await?)
    }

    /// The owner's tags, most used first (cached like the lists, so invalidated with them).
    pub async fn tags(&self, owner: Uuid) -> Result<Vec<(String, i64)>, ContentFailure> {
        let pool = self.inner.pool.clone();
        Ok(self
            .inner
            .cache
            .get_or_load(rm::NAME, &format!("tags:{owner}"), || async move {
                rm::tags(&pool, owner, 500).await
            })
            .await?)
    }

    /// Runs commands against one item together (one append), retrying on concurrent changes.
    pub async fn execute(
        &self,
        id: Uuid,
        actor: Uuid,
        commands: impl Fn() -> Vec<ContentCommand>,
    ) -> Result<Folded, ContentFailure> {
        let stream = content_stream(id);
        let c = ctx(Some(actor), &self.inner.node);
        for _ in 0..ATTEMPTS {
            let f = self.fold(id).await?;
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
                Ok(_) => return self.fold(id).await,
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
        owner: Uuid,
        id: Uuid,
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
        ItemView::from_stream(id, &f).ok_or_else(|| ContentError::NotFound.into())
    }

    /// Soft-deletes an item (restorable for the configured period).
    pub async fn delete(&self, owner: Uuid, id: Uuid) -> Result<(), ContentFailure> {
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

    pub async fn restore(&self, owner: Uuid, id: Uuid) -> Result<ItemView, ContentFailure> {
        let f = self
            .execute(id, owner, || {
                vec![ContentCommand::Restore {
                    by: Actor::User(owner),
                    now: Utc::now(),
                }]
            })
            .await?;
        ItemView::from_stream(id, &f).ok_or_else(|| ContentError::NotFound.into())
    }

    /// Removes an item for good, releases its storage in the ledger (one atomic append), then
    /// removes its bytes unless another item still holds them.
    pub async fn purge(&self, by: Actor, id: Uuid) -> Result<bool, ContentFailure> {
        let stream = content_stream(id);
        for _ in 0..ATTEMPTS {
            let f = self.fold(id).await?;
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
                Actor::User(u) => Some(u),
                Actor::System => None,
            };
            let c = ctx(actor, &self.inner.node);
            let us = usage_stream(u.owner);
            let _ledger = self.lock_ledger(u.owner).await;
            let ledger = Ledger::load(&self.inner.store, &us).await?;
            let usage = ledger.state.decide(LedgerCommand::ReleaseStorage {
                content_id: id,
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

    /// Deletes a purged item's bytes and previews when no other item refers to them. Failures
    /// are left to the garbage collector.
    async fn remove_bytes_if_unused(&self, id: Uuid, u: &Uploaded) {
        let others: Result<bool, sqlx::Error> = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM rm_content.items WHERE sha256 = $1 AND id <> $2)",
        )
        .bind(&u.sha256)
        .bind(id)
        .fetch_one(&self.inner.pool)
        .await;
        if !matches!(others, Ok(false)) {
            return;
        }
        // A concurrent upload of the same bytes refreshes the blob (promote); leave young
        // blobs to the collector, which checks again after its grace period.
        let Ok(key) = BlobKey::new(&u.blob_key) else {
            return;
        };
        match self.inner.blobs.head(&key).await {
            Ok(Some(meta)) if Utc::now() - meta.modified > ChronoDuration::minutes(10) => {}
            _ => return,
        }
        if let Err(e) = self.inner.blobs.delete(&key).await {
            tracing::warn!(error = %e, %key, "could not delete a purged blob; the collector will");
        }
        super::gc::delete_previews(self.inner.blobs.as_ref(), &u.sha256).await;
    }

    /// A preview picture's bytes.
    pub async fn open_preview(
        &self,
        viewer: Viewer,
        id: Uuid,
        name: &str,
    ) -> Result<(ItemView, String, BlobRead), ContentFailure> {
        let f_item = self.get(viewer, id, ContentAccess::Preview).await?;
        let f = self.fold(id).await?;
        let image = f
            .state
            .previews
            .as_ref()
            .and_then(|p| p.images.iter().find(|i| i.name == name))
            .cloned()
            .ok_or(ContentError::NotFound)?;
        let key = BlobKey::new(&image.key)?;
        let read = self.inner.blobs.get(&key, None).await?;
        Ok((f_item, image.mime, read))
    }

    /// A video keyframe the analysis stored, by its index.
    pub async fn open_keyframe(
        &self,
        viewer: Viewer,
        id: Uuid,
        index: usize,
    ) -> Result<(ItemView, BlobRead), ContentFailure> {
        let item = self.get(viewer, id, ContentAccess::Preview).await?;
        let f = self.fold(id).await?;
        let key = f
            .state
            .analysis
            .as_ref()
            .and_then(|(_, a)| a.get("keyframes")?.get(index)?.get("blob_key")?.as_str())
            .map(str::to_owned)
            .ok_or(ContentError::NotFound)?;
        let read = self.inner.blobs.get(&BlobKey::new(&key)?, None).await?;
        Ok((item, read))
    }

    // ---- resumable uploads ----

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
            content_id: s.completed,
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
        owner: Uuid,
        length: u64,
        filename: Option<String>,
        title: Option<String>,
    ) -> Result<UploadView, ContentFailure> {
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
                "empty_file",
                "an upload has at least one byte".into(),
            ));
        }
        let remaining = self.remaining_storage(owner).await?;
        if length > remaining {
            let limits = self.limits(owner).await?;
            return Err(ContentError::QuotaExceeded {
                limit: "storage_bytes",
                allowed: limits.storage_bytes,
                used: limits.storage_bytes - remaining,
                requested: length,
            }
            .into());
        }
        let id = Uuid::now_v7();
        let started = UploadStarted {
            owner,
            length,
            filename: filename.as_deref().and_then(filename::sanitize),
            title,
            expires_at: Utc::now()
                + ChronoDuration::hours(i64::from(self.inner.settings.upload_session_hours)),
        };
        let stream = upload_stream(id);
        let c = ctx(Some(owner), &self.inner.node);
        tessera_events::aggregate::execute::<UploadSession>(
            &self.inner.store,
            &stream,
            &c,
            Some(owner),
            || UploadCommand::Start(started.clone()),
        )
        .await?;
        let (s, _) = self.load_upload(id).await?;
        self.upload_view(id, &s)
            .ok_or_else(|| ContentError::NotFound.into())
    }

    pub async fn upload_status(&self, owner: Uuid, id: Uuid) -> Result<UploadView, ContentFailure> {
        let (s, _) = self.load_upload(id).await?;
        s.owned_by(owner)?;
        self.upload_view(id, &s)
            .ok_or_else(|| ContentError::NotFound.into())
    }

    /// Stores one chunk at `offset`, acknowledges it with an event, and when it was the last,
    /// assembles, probes and accepts the file.
    pub async fn put_chunk<S, E>(
        &self,
        owner: Uuid,
        id: Uuid,
        offset: u64,
        body: S,
    ) -> Result<(UploadView, Option<Outcome>), ContentFailure>
    where
        S: futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let (s, _) = self.load_upload(id).await?;
        let started = s.owned_by(owner)?.clone();
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
            let c = ctx(Some(owner), &self.inner.node);
            let size = received.size;
            tessera_events::aggregate::execute::<UploadSession>(
                &self.inner.store,
                &stream_id,
                &c,
                Some(owner),
                || UploadCommand::StoreChunk {
                    by: owner,
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
            ..UploadMeta::default()
        };
        let outcome = match self
            .accept_file(owner, content_id, file, received, meta, Source::Resumable)
            .await
        {
            Ok(o) => o,
            Err(ContentFailure::Domain(ContentError::Exists)) => {
                let f = self.fold(content_id).await?;
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
        let c = ctx(Some(owner), &self.inner.node);
        tessera_events::aggregate::execute::<UploadSession>(
            &self.inner.store,
            &upload_stream(id),
            &c,
            Some(owner),
            || UploadCommand::Complete {
                by: owner,
                content_id: done_id,
            },
        )
        .await?;
        for k in &parts {
            if let Err(e) = self.inner.blobs.delete(k).await {
                tracing::warn!(error = %e, key = %k, "could not delete an upload chunk; the collector will");
            }
        }
        Ok(outcome)
    }

    pub async fn abort_upload(&self, owner: Uuid, id: Uuid) -> Result<(), ContentFailure> {
        self.abort_upload_as(Some(owner), id, "cancelled by the client")
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
        let c = ctx(by, &self.inner.node);
        tessera_events::aggregate::execute::<UploadSession>(
            &self.inner.store,
            &upload_stream(id),
            &c,
            owner,
            || UploadCommand::Abort {
                by,
                reason: reason.to_owned(),
            },
        )
        .await?;
        for k in &s.parts {
            if let Ok(k) = BlobKey::new(k) {
                let _ = self.inner.blobs.delete(&k).await;
            }
        }
        Ok(())
    }
}

/// The analysis job an upload requests, appended with the item itself.
fn analysis_request(
    ctx: &CommandContext,
    content_id: Uuid,
    u: &Uploaded,
) -> Result<AppendRequest, tessera_events::StoreError> {
    let stream = job_stream(upload_job_id(content_id));
    let events = [JobEvent::Requested(JobRequested {
        content_id,
        owner: u.owner,
        modality: u.modality,
        mime: u.mime.clone(),
        sha256: u.sha256.clone(),
        blob_key: u.blob_key.clone(),
        size: u.size,
        reason: JobReason::Upload,
        keep_location: u.keep_location,
    })];
    Ok(AppendRequest {
        events: ctx.to_event_data(&stream, &events, Some(u.owner))?,
        stream,
        expected: ExpectedVersion::NoStream,
    })
}
