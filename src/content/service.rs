//! The content library's service: what it works with, an item's stream folded, the limits and
//! storage left of a user, and the ledger's writer on this node. Its commands and queries live
//! beside it: whole uploads (`uploads`), their group commit (`commit`), resumable uploads
//! (`resumable`), notes (`notes`), edits, deletion and purge (`lifecycle`) and reads (`reads`).
//! Bytes go to the blob store first, then the event is appended; what has no event is swept by
//! the garbage collector.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tessera_events::aggregate::Aggregate;
use tessera_events::content::{
    content_stream, usage_stream, Content, ContentEvent, Ledger, QuotaLimitsNow,
};
use tessera_events::{
    CommandContext, DomainEvent, EventStore, ExpectedVersion, PgEventStore, UserId,
};
use tokio::sync::mpsc;
use uuid::Uuid;

use tessera_projections::read_models::content as rm;

use super::commit::PendingUpload;
use super::error::ContentFailure;
use super::receive::TempFile;
use super::settings::ContentSettings;
use crate::auth::AuthService;
use crate::blob::BlobStore;
use tessera_events::ContentId;

/// Retries of a command whose streams moved under it.
pub(super) const ATTEMPTS: usize = 8;

/// An item folded from its stream, with the times of its events.
#[derive(Debug, Clone, Default)]
pub struct Folded {
    pub state: Content,
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
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
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) store: PgEventStore,
    pub(super) pool: PgPool,
    pub(super) blobs: Arc<dyn BlobStore>,
    pub(super) settings: ContentSettings,
    auth: AuthService,
    pub(super) cache: crate::cache::HotCache,
    tmp_dir: PathBuf,
    pub(super) node: String,
    previews: OnceLock<mpsc::UnboundedSender<Uuid>>,
    /// One writer per user's ledger on this node: parallel uploads of one user queue here
    /// instead of failing each other's expected version (other nodes still retry).
    ledger_locks: dashmap::DashMap<Uuid, Arc<tokio::sync::Mutex<()>>>,
    /// Uploads waiting for their user's ledger writer, committed as one group.
    pub(super) ledger_queues: dashmap::DashMap<Uuid, Arc<std::sync::Mutex<Vec<PendingUpload>>>>,
    /// When an upload last started or finished here (ms since `epoch`): preview work waits for
    /// a quiet moment, so that a burst of uploads is acknowledged first.
    last_upload_ms: std::sync::atomic::AtomicU64,
    epoch: std::time::Instant,
}

pub(super) fn ctx(actor: Option<UserId>, node: &str) -> CommandContext {
    let mut c = CommandContext::new(actor);
    c.metadata.node = Some(node.to_owned());
    c.metadata.request_id = crate::telemetry::current_request_id();
    c
}

pub(super) fn expected(version: u64) -> ExpectedVersion {
    if version == 0 {
        ExpectedVersion::NoStream
    } else {
        ExpectedVersion::Exact(version)
    }
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

    /// Items whose upload of these bytes (of `owner`, or of anyone) the content read model has
    /// not applied yet, oldest first. Read the log before the read model: an upload the projector
    /// applies between the two reads is then in the second.
    pub async fn unprojected_uploads(
        &self,
        sha256: &str,
        owner: Option<Uuid>,
    ) -> Result<Vec<ContentId>, ContentFailure> {
        let applied = rm::applied_position(&self.inner.pool).await?;
        Ok(tessera_events::content::uploads_after(
            &self.inner.store,
            applied,
            sha256,
            owner.map(UserId),
        )
        .await?)
    }

    pub fn node(&self) -> &str {
        &self.inner.node
    }

    pub(super) fn mark_upload_activity(&self) {
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
    pub async fn lock_ledger(&self, user: UserId) -> tokio::sync::OwnedMutexGuard<()> {
        let user = user.0;
        let locks = &self.inner.ledger_locks;
        if locks.len() > 1024 {
            // Forget the locks nobody holds or waits for, so the map stays small.
            locks.retain(|_, l| Arc::strong_count(l) > 1);
        }
        let lock = locks.entry(user).or_default().value().clone();
        lock.lock_owned().await
    }

    /// The limits in force for `user` now.
    pub async fn limits(&self, user: UserId) -> Result<QuotaLimitsNow, ContentFailure> {
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

    /// Bytes the user may still store (past what items and open resumable uploads hold), for
    /// cutting an upload off early.
    pub async fn remaining_storage(&self, user: UserId) -> Result<u64, ContentFailure> {
        let limits = self.limits(user).await?;
        let ledger = Ledger::load(&self.inner.store, &usage_stream(user)).await?;
        let t = &ledger.state.totals;
        Ok(limits
            .storage_bytes
            .saturating_sub(t.stored_bytes)
            .saturating_sub(t.held_bytes(chrono::Utc::now())))
    }

    /// Folds an item's stream, keeping the times of its events.
    pub async fn fold(&self, id: ContentId) -> Result<Folded, ContentFailure> {
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
}
