//! Notes: text written in Tessera rather than uploaded, stored like an uploaded text file.

use tessera_events::content::{ContentError, MediaFacts, Modality, Source, Uploaded};
use tessera_events::{ContentId, UserId};

use super::error::ContentFailure;
use super::service::ContentService;
use super::uploads::Outcome;
use super::view::ItemView;
use crate::blob::BlobKey;

impl ContentService {
    /// A note: text written in Tessera rather than uploaded.
    pub async fn create_note(
        &self,
        owner: UserId,
        content_id: ContentId,
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
        // The storage quota is checked before any byte is written (the ledger decides again,
        // exactly, when the item is appended).
        let size = text.len() as u64;
        let remaining = self.remaining_storage(owner).await?;
        if size > remaining {
            let limits = self.limits(owner).await?;
            return Err(ContentError::QuotaExceeded {
                limit: "storage_bytes",
                allowed: limits.storage_bytes,
                used: limits.storage_bytes.saturating_sub(remaining),
                requested: size,
            }
            .into());
        }
        let bytes = bytes::Bytes::from(text.into_bytes());
        let body = Box::pin(futures_util::stream::once(async move {
            Ok::<_, crate::blob::BlobError>(bytes)
        }));
        let staged = self.inner.blobs.stage(body, size).await?;
        let key = BlobKey::content(&staged.sha256)?;
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
        let content_id = content_id.0;
        // The bytes are claimed from before they are written until the event refers to them.
        let claim = self.claim_bytes(&staged.sha256).await?;
        let stored = async {
            self.inner.blobs.promote(&staged, &key).await?;
            self.append_upload(ContentId(content_id), uploaded).await
        }
        .await;
        self.release_bytes(claim).await;
        stored?;
        let f = self.fold(ContentId(content_id)).await?;
        ItemView::from_stream(content_id, &f)
            .map(Outcome::Created)
            .ok_or(ContentFailure::Domain(ContentError::NotFound))
    }
}
