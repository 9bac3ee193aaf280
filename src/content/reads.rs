//! Reading the library: one item, listings and tags through the hot cache, preview pictures and
//! keyframes; an admin's read of someone else's content is authorised and recorded.

use tessera_events::content::{
    audit_stream, content_stream, AuditEvent, ContentAccess, ContentError,
};
use tessera_events::{ContentId, EventStore, ExpectedVersion, UserId};
use tessera_projections::read_models::content as rm;

use super::error::ContentFailure;
use super::service::{ctx, ContentService};
use super::view::ItemView;
use crate::blob::{BlobKey, BlobRead};

/// Who is reading: the owner, or an admin reading someone else's content (which is recorded).
#[derive(Debug, Clone, Copy)]
pub struct Viewer {
    pub user_id: UserId,
    pub admin: bool,
}

impl ContentService {
    /// Records that an admin read someone else's content.
    async fn audit(
        &self,
        viewer: Viewer,
        owner: UserId,
        content_id: Option<ContentId>,
        access: ContentAccess,
    ) -> Result<(), ContentFailure> {
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

    /// Records that an admin searched everyone's content (`owner` absent) or one user's.
    pub async fn audit_search(
        &self,
        viewer: Viewer,
        owner: Option<UserId>,
        query: &str,
    ) -> Result<(), ContentFailure> {
        let stream = audit_stream(viewer.user_id);
        let c = ctx(Some(viewer.user_id), &self.inner.node);
        let events = [AuditEvent::Searched {
            owner,
            query: query.to_owned(),
        }];
        let data = c.to_event_data(&stream, &events, Some(viewer.user_id))?;
        self.inner
            .store
            .append(&stream, ExpectedVersion::Any, data)
            .await?;
        tracing::info!(admin = %viewer.user_id, ?owner, "admin searched others' content");
        Ok(())
    }

    /// Checks that `viewer` may read an item of `owner`, recording an admin's read.
    pub async fn authorize_read(
        &self,
        viewer: Viewer,
        owner: UserId,
        content_id: Option<ContentId>,
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
        id: ContentId,
        access: ContentAccess,
    ) -> Result<ItemView, ContentFailure> {
        let typed_id = id;
        let id = id.0;
        let pool = self.inner.pool.clone();
        let cached: Option<ItemView> = self
            .inner
            .cache
            .get_or_load(rm::NAME, &format!("item:{id}"), || async move {
                rm::get(&pool, typed_id)
                    .await
                    .map(|r| r.map(ItemView::from_row))
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
                let f = self.fold(ContentId(id)).await?;
                if !f.state.exists() {
                    return Err(ContentError::NotFound.into());
                }
                ItemView::from_stream(id, &f).ok_or(ContentError::NotFound)?
            }
        };
        self.authorize_read(viewer, view.owner.into(), Some(typed_id), access)
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
    pub async fn tags(&self, owner: UserId) -> Result<Vec<(String, i64)>, ContentFailure> {
        let owner = owner.0;
        let pool = self.inner.pool.clone();
        Ok(self
            .inner
            .cache
            .get_or_load(rm::NAME, &format!("tags:{owner}"), || async move {
                rm::tags(&pool, owner, 500).await
            })
            .await?)
    }

    /// A preview picture's bytes.
    pub async fn open_preview(
        &self,
        viewer: Viewer,
        id: ContentId,
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
        id: ContentId,
        index: usize,
    ) -> Result<(ItemView, BlobRead), ContentFailure> {
        let item = self.get(viewer, id, ContentAccess::Preview).await?;
        let f = self.fold(id).await?;
        let key = f
            .state
            .analysis
            .as_ref()
            .and_then(|(_, a)| a.keyframes().get(index))
            .map(|k| k.blob_key.clone())
            .ok_or(ContentError::NotFound)?;
        let read = self.inner.blobs.get(&BlobKey::new(&key)?, None).await?;
        Ok((item, read))
    }
}
