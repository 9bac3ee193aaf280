//! The sweeper: purges deleted items whose restore period ended, and collects blobs no event
//! refers to (bytes written before a crash that lost their event, chunks of abandoned uploads,
//! previews of purged bytes) once they are older than the grace period. The node's supervisor
//! hosts it ([`Sweeper`]) and restarts it when it fails.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use tessera_actors::{stop_requested, HostedJob, JobResult};
use tessera_events::content::{Actor, UploadSession};
use tokio::sync::watch;
use uuid::Uuid;

use tessera_projections::read_models::content as rm;

use super::service::ContentService;
use crate::blob::BlobStore;

/// What one sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    pub purged: usize,
    pub blobs_deleted: usize,
    pub staging_deleted: usize,
    pub chunks_deleted: usize,
    pub previews_deleted: usize,
}

/// Deletes the previews made from these bytes.
pub async fn delete_previews(blobs: &dyn BlobStore, sha256: &str) -> usize {
    let mut n = 0;
    if let Ok(list) = blobs.list(&format!("previews/{sha256}/")).await {
        for meta in list {
            if blobs.delete(&meta.key).await.is_ok() {
                n += 1;
            }
        }
    }
    n
}

/// Purges what is due and collects what nothing refers to.
pub async fn sweep(service: &ContentService) -> anyhow::Result<SweepReport> {
    let mut report = SweepReport::default();
    let now = Utc::now();
    for (id, _owner) in rm::due_for_purge(service.pool(), now, 500).await? {
        match service.purge(Actor::System, id.into()).await {
            Ok(true) => report.purged += 1,
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, %id, "purging an item failed"),
        }
    }
    let grace = ChronoDuration::seconds(service.settings().gc_grace_secs as i64);
    let old = |m: &crate::blob::BlobMeta| now - m.modified > grace;
    let blobs = service.blobs().as_ref();

    for meta in blobs.list("staging/").await? {
        if old(&meta) && blobs.delete(&meta.key).await.is_ok() {
            report.staging_deleted += 1;
        }
    }

    // Chunks of resumable uploads: kept while their session may still take chunks; those of a
    // session that expired, completed or was aborted go at once (its reservation no longer
    // counts them against the quota). A chunk of no known session waits for the grace period.
    let mut resumable: HashMap<String, Resumable> = HashMap::new();
    for meta in blobs.list("uploads/").await? {
        let session = meta.key.as_str().split('/').nth(1).unwrap_or_default();
        let state = match resumable.get(session) {
            Some(state) => *state,
            None => {
                let state = session_state(service, session, now).await?;
                resumable.insert(session.to_owned(), state);
                state
            }
        };
        let delete = match state {
            Resumable::Open => false,
            Resumable::Over => true,
            Resumable::Unknown => old(&meta),
        };
        if delete && blobs.delete(&meta.key).await.is_ok() {
            report.chunks_deleted += 1;
        }
    }

    for meta in blobs.list("blobs/").await? {
        if !old(&meta) {
            continue;
        }
        let Some(sha) = meta.key.as_str().rsplit('/').next().map(str::to_owned) else {
            continue;
        };
        if let Some(previews) = service
            .delete_bytes_if_unused(&sha, &meta.key, None)
            .await?
        {
            report.blobs_deleted += 1;
            report.previews_deleted += previews;
        }
    }
    service.expire_claims().await?;
    Ok(report)
}

/// Whether a resumable upload may still take chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resumable {
    Open,
    /// Expired, completed or aborted.
    Over,
    /// No such session was started.
    Unknown,
}

async fn session_state(
    service: &ContentService,
    session: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Resumable> {
    let Ok(id) = Uuid::parse_str(session) else {
        return Ok(Resumable::Unknown);
    };
    let stream = tessera_events::content::upload_stream(id);
    let s = tessera_events::aggregate::load::<UploadSession>(service.store(), &stream)
        .await?
        .state;
    Ok(match &s.started {
        None => Resumable::Unknown,
        Some(started) if s.completed.is_none() && !s.aborted && started.expires_at > now => {
            Resumable::Open
        }
        Some(_) => Resumable::Over,
    })
}

/// The sweeper, for the node's supervisor to host: sweeps every `interval` (the first at once).
pub struct Sweeper {
    service: ContentService,
    interval: Duration,
}

impl Sweeper {
    pub fn new(service: ContentService, interval: Duration) -> Self {
        Self { service, interval }
    }
}

impl HostedJob for Sweeper {
    fn name(&self) -> &str {
        "sweeper"
    }

    fn run(&self, mut shutdown: watch::Receiver<bool>) -> BoxFuture<'static, JobResult> {
        let (service, interval) = (self.service.clone(), self.interval);
        async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop_requested(&mut shutdown) => return Ok(()),
                    _ = tick.tick() => {}
                }
                match sweep(&service).await {
                    Ok(r) if r != SweepReport::default() => tracing::info!(?r, "content sweep"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "content sweep failed"),
                }
            }
        }
        .boxed()
    }
}
