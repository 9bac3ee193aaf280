//! Items a model made: stored and counted like an upload (their own blob, a usage-ledger entry
//! against the storage and daily-upload limits), created by `content.uploaded` and
//! `content.generated` in one append, so an item never exists without its origin.

use chrono::Utc;
use sha2::{Digest, Sha256};
use tessera_events::content::{
    usage_stream, ContentError, Generation, Ledger, MediaFacts, Modality, Source, Uploaded,
};
use tessera_events::{ContentId, UserId};
use tessera_models::media;
use uuid::Uuid;

use super::error::ContentFailure;
use super::filename;
use super::receive::Received;
use super::service::ContentService;
use super::uploads::{facts_of, modality_of};
use super::view::ItemView;
use crate::blob::BlobKey;

/// What a generation produced, before it becomes an item.
#[derive(Debug, Clone)]
pub struct GeneratedOutput {
    pub title: String,
    /// The text, or the bytes of an encoded medium (probed like an upload).
    pub body: GeneratedBody,
    pub generation: Generation,
}

#[derive(Debug, Clone)]
pub enum GeneratedBody {
    Text(String),
    /// Encoded media (audio) and the file extension it is written with.
    Media {
        bytes: Vec<u8>,
        extension: String,
    },
}

impl ContentService {
    /// Refuses to start work whose result could not be stored: the day's uploads or the
    /// storage are used up (`quota_exceeded` naming `uploads_per_day` or `storage_bytes`).
    pub async fn check_new_item_quota(&self, user: UserId) -> Result<(), ContentFailure> {
        let limits = self.limits(user).await?;
        let ledger = Ledger::load(self.store(), &usage_stream(user)).await?;
        let now = Utc::now();
        let held = ledger.state.totals.held_bytes(now);
        let t = ledger.state.totals.on(now.date_naive());
        if t.uploads_on_day >= limits.uploads_per_day {
            return Err(ContentError::QuotaExceeded {
                limit: "uploads_per_day",
                allowed: limits.uploads_per_day,
                used: t.uploads_on_day,
                requested: 1,
            }
            .into());
        }
        let used = t.stored_bytes.saturating_add(held);
        if used >= limits.storage_bytes {
            return Err(ContentError::QuotaExceeded {
                limit: "storage_bytes",
                allowed: limits.storage_bytes,
                used,
                requested: 1,
            }
            .into());
        }
        Ok(())
    }

    /// Stores a generated output as a new item of `owner` and appends it with its origin.
    pub async fn create_generated(
        &self,
        owner: UserId,
        output: GeneratedOutput,
    ) -> Result<ItemView, ContentFailure> {
        let owner = owner.0;
        let id = Uuid::now_v7();
        let (bytes, extension) = match &output.body {
            GeneratedBody::Text(t) => (t.as_bytes().to_vec(), "txt".to_owned()),
            GeneratedBody::Media { bytes, extension } => (bytes.clone(), extension.clone()),
        };
        let size = bytes.len() as u64;
        let file = self.temp_file()?;
        let path = file.path().with_extension(&extension);
        let sha256 = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || {
                std::fs::write(&path, &bytes).map(|()| hex::encode(Sha256::digest(&bytes)))
            })
            .await
            .map_err(|e| ContentFailure::Internal(e.to_string()))?
            .map_err(|e| ContentFailure::Internal(format!("writing a generated item: {e}")))?
        };
        // The file is written under the extension the probe reads; remove it whatever happens.
        let _written = tempfile::TempPath::from_path(&path);
        let (modality, mime, extension, media) = match &output.body {
            GeneratedBody::Text(_) => (
                Modality::Text,
                "text/plain; charset=utf-8".to_owned(),
                extension,
                MediaFacts::default(),
            ),
            GeneratedBody::Media { .. } => {
                let limits = self.settings().media_limits();
                let probe_path = path.clone();
                let probed =
                    tokio::task::spawn_blocking(move || media::probe(&probe_path, &limits))
                        .await
                        .map_err(|e| ContentFailure::Internal(e.to_string()))??;
                (
                    modality_of(&probed),
                    probed.mime.clone(),
                    probed.extension.clone(),
                    facts_of(&probed),
                )
            }
        };
        let max = self.settings().max_bytes(modality);
        if size > max {
            return Err(ContentFailure::FileTooLarge {
                modality: modality.as_str(),
                size,
                limit: max,
            });
        }
        std::fs::rename(&path, file.path())
            .map_err(|e| ContentFailure::Internal(format!("moving a generated item: {e}")))?;
        let received = Received {
            size,
            sha256: sha256.clone(),
        };
        let key = BlobKey::content(&sha256)?;
        let title = output.title.trim().to_owned();
        let uploaded = Uploaded {
            owner: UserId(owner),
            filename: filename::sanitize(&format!("{title}.{extension}")),
            title,
            modality,
            mime,
            extension,
            size,
            sha256: sha256.clone(),
            blob_key: key.to_string(),
            media,
            description: None,
            tags: Vec::new(),
            source: Source::Generated,
            keep_location: false,
        };
        // The bytes are claimed from before they are written until the event refers to them.
        let claim = self.claim_bytes(&sha256).await?;
        let stored = async {
            self.store_file(file, &received, &key).await?;
            self.append_item(ContentId(id), uploaded, Some(output.generation), None)
                .await
        }
        .await;
        self.release_bytes(claim).await;
        stored?;
        if modality != Modality::Text {
            self.queue_previews(id);
        }
        let f = self.fold(ContentId(id)).await?;
        ItemView::from_stream(id, &f).ok_or_else(|| ContentError::NotFound.into())
    }
}
