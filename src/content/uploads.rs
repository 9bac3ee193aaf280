//! Whole uploads: a received file is probed, checked against the limits, stored by its hash and
//! appended as an item (or found to be one the owner already has).

use tessera_events::content::{ContentError, MediaFacts, Modality, Source, Uploaded};
use tessera_events::{ContentId, UploadId, UserId};
use tessera_models::media::{self, Probed};
use tessera_projections::read_models::content as rm;
use uuid::Uuid;

use super::error::ContentFailure;
use super::filename;
use super::receive::{Received, TempFile};
use super::service::ContentService;
use super::view::ItemView;
use crate::blob::BlobKey;

/// What an upload's metadata fields said.
#[derive(Debug, Clone, Default)]
pub struct UploadMeta {
    pub filename: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<String>,
    /// The owner allows the analysis to keep where a photo was taken (EXIF GPS).
    pub keep_location: bool,
    /// The resumable upload whose storage reservation the item takes over (never from a
    /// client's form).
    pub reservation: Option<Uuid>,
}

/// An upload's result: a new item, or the one these bytes (or this idempotency key) already made.
#[derive(Debug, Clone)]
pub enum Outcome {
    Created(ItemView),
    Existing(ItemView),
}

/// The library's modality of what the probe found.
pub(super) fn modality_of(p: &Probed) -> Modality {
    match p.modality {
        media::Modality::Text => Modality::Text,
        media::Modality::Image => Modality::Image,
        media::Modality::Audio => Modality::Audio,
        media::Modality::Video => Modality::Video,
    }
}

/// The media facts the probe measured, as the item records them.
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
pub fn id_for_key(owner: UserId, key: &str) -> ContentId {
    ContentId(Uuid::new_v5(
        &Uuid::NAMESPACE_OID,
        format!("tessera/content/{owner}/{key}").as_bytes(),
    ))
}

impl ContentService {
    /// The item an idempotency key already made, if any.
    pub async fn existing_for_key(
        &self,
        owner: UserId,
        key: &str,
    ) -> Result<Option<ItemView>, ContentFailure> {
        let id = id_for_key(owner, key).0;
        let f = self.fold(ContentId(id)).await?;
        Ok(ItemView::from_stream(id, &f))
    }

    /// Probes a received file, checks the limits, stores the bytes and appends the item with
    /// its usage. Returns the owner's existing live item when they uploaded these bytes before.
    pub async fn accept_file(
        &self,
        owner: UserId,
        content_id: ContentId,
        file: TempFile,
        received: Received,
        meta: UploadMeta,
        source: Source,
    ) -> Result<Outcome, ContentFailure> {
        let (owner, content_id) = (owner.0, content_id.0);
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
        let filename = meta.filename.as_deref().and_then(filename::sanitize);
        let title = meta
            .title
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .or_else(|| filename.as_deref().map(filename::title_from))
            .unwrap_or_else(|| format!("Untitled {}", modality.as_str()));
        let uploaded = Uploaded {
            owner: UserId(owner),
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
        // The bytes are claimed from before they are written until the event refers to them.
        let claim = self.claim_bytes(&received.sha256).await?;
        let stored = async {
            self.store_file(file, &received, &key).await?;
            self.append_item(
                ContentId(content_id),
                uploaded,
                None,
                meta.reservation.map(UploadId),
            )
            .await
        }
        .await;
        self.release_bytes(claim).await;
        stored?;
        self.mark_upload_activity();
        self.queue_previews(content_id);
        let f = self.fold(ContentId(content_id)).await?;
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
        for id in self.unprojected_uploads(sha256, Some(owner)).await? {
            let f = self.fold(id).await?;
            if f.state.exists() && f.state.deleted.is_none() {
                return Ok(ItemView::from_stream(id.into_inner(), &f));
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
}
