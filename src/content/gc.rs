//! The sweeper: purges deleted items whose restore period ended, and collects blobs no event
//! refers to (bytes written before a crash that lost their event, chunks of abandoned uploads,
//! previews of purged bytes) once they are older than the grace period.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{Duration as ChronoDuration, Utc};
use tessera_events::content::Actor;

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
        match service.purge(Actor::System, id).await {
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

    // Chunks of sessions that did not complete: kept while the session may still resume.
    let open: HashSet<String> = sqlx::query_scalar::<_, String>(
        "SELECT DISTINCT substr(stream_id, 8) FROM events
         WHERE event_type = 'upload.started'
           AND (payload->>'expires_at')::timestamptz > now() - make_interval(secs => $1)",
    )
    .bind(service.settings().gc_grace_secs as f64)
    .fetch_all(service.pool())
    .await?
    .into_iter()
    .collect();
    for meta in blobs.list("uploads/").await? {
        let session = meta.key.as_str().split('/').nth(1).unwrap_or_default();
        if !open.contains(session) && old(&meta) && blobs.delete(&meta.key).await.is_ok() {
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
        if referenced(service, &sha).await? {
            continue;
        }
        if blobs.delete(&meta.key).await.is_ok() {
            report.blobs_deleted += 1;
        }
        report.previews_deleted += delete_previews(blobs, &sha).await;
    }
    Ok(report)
}

/// Whether an item refers to these bytes: in the read model, or in an upload event the read
/// model may not have caught up with.
async fn referenced(service: &ContentService, sha: &str) -> anyhow::Result<bool> {
    if rm::sha_referenced(service.pool(), sha).await? {
        return Ok(true);
    }
    let pending = rm::unprojected_uploads(service.pool(), sha, None).await?;
    Ok(!pending.is_empty())
}

/// Sweeps every `interval` until the service is dropped.
pub fn start(service: ContentService, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match sweep(&service).await {
                Ok(r) if r != SweepReport::default() => tracing::info!(?r, "content sweep"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "content sweep failed"),
            }
        }
    })
}
