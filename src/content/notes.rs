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
        let bytes = bytes::Bytes::from(text.into_bytes());
        let size = bytes.len() as u64;
        let body = Box::pin(futures_util::stream::once(async move {
            Ok::<_, crate::blob::BlobError>(bytes)
        }));
        let staged = self.inner.blobs.stage(body, size).await?;
        let key = BlobKey::content(&staged.sha256)?;
        self.inner.blobs.promote(&staged, &key).await?;
        let uploaded = Uploaded {
            owner: owner.0,
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
        self.append_upload(content_id, uploaded).await?;
        let f = self.fold(content_id).await?;
        ItemView::from_stream(content_id, &f)
            .map(Outcome::Created)
            .ok_or(ContentFailure::Domain(ContentError::NotFound))
    }
}
