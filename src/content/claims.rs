//! Deleting bytes no item needs, without ever deleting bytes an item needs.
//!
//! Identical files share one blob. Whether another item still refers to bytes is decided from
//! the log past the content projection's checkpoint and the read model together, so a read
//! model that lags cannot hide a reference. That leaves the upload in flight: its blob is
//! written (or found already there) before its event is appended. An upload therefore claims
//! the bytes first, and a deletion takes an exclusive advisory lock on them that the claim's
//! insert shares:
//! - a claim made before the deletion's check is seen, and nothing is deleted;
//! - a claim made after the deletion committed finds no blob, and its upload writes its own.
//!
//! A claim ends when its event is appended (or its upload fails). One left behind by a crash
//! holds its bytes for [`CLAIM_HOLDS_FOR`], then the collector removes it.

use chrono::Utc;
use uuid::Uuid;

use super::error::ContentFailure;
use super::service::ContentService;
use crate::blob::BlobKey;

use tessera_events::ContentId;
use tessera_projections::read_models::content as rm;

/// How long a claim left behind keeps its bytes from deletion.
pub const CLAIM_HOLDS_FOR: chrono::Duration = chrono::Duration::hours(1);

/// Advisory lock class of bytes (the projection leases use another).
const BYTES_LOCK_CLASS: i32 = 0x6279_7465; // "byte"

/// The lock key of bytes: the first 32 bits of their hash.
fn lock_key(sha256: &str) -> i32 {
    let prefix = sha256.get(..8).unwrap_or(sha256);
    u32::from_str_radix(prefix, 16).map_or(0, |n| n as i32)
}

/// Bytes claimed by an upload in flight; released by [`ContentService::release_bytes`].
#[must_use = "a claim holds its bytes until released"]
pub struct BytesClaim(Uuid);

impl ContentService {
    /// Claims `sha256` for an upload about to write and refer to it.
    pub(super) async fn claim_bytes(&self, sha256: &str) -> Result<BytesClaim, ContentFailure> {
        let claim = Uuid::now_v7();
        let mut tx = self.pool().begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock_shared($1, $2)")
            .bind(BYTES_LOCK_CLASS)
            .bind(lock_key(sha256))
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO bytes_claims (claim, sha256) VALUES ($1, $2)")
            .bind(claim)
            .bind(sha256)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(BytesClaim(claim))
    }

    /// Ends a claim (its event is appended, or its upload failed).
    pub(super) async fn release_bytes(&self, claim: BytesClaim) {
        let released = sqlx::query("DELETE FROM bytes_claims WHERE claim = $1")
            .bind(claim.0)
            .execute(self.pool())
            .await;
        if let Err(e) = released {
            tracing::warn!(error = %e, "a bytes claim stays until it expires");
        }
    }

    /// Deletes the blob `key` of `sha256` and its previews when no item but `except` refers
    /// to them and no upload claims them. Returns how many previews went with them, or `None`
    /// when they were kept.
    pub async fn delete_bytes_if_unused(
        &self,
        sha256: &str,
        key: &BlobKey,
        except: Option<ContentId>,
    ) -> Result<Option<usize>, ContentFailure> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(BYTES_LOCK_CLASS)
            .bind(lock_key(sha256))
            .execute(&mut *tx)
            .await?;
        let claimed: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM bytes_claims WHERE sha256 = $1 AND claimed_at > $2)",
        )
        .bind(sha256)
        .bind(Utc::now() - CLAIM_HOLDS_FOR)
        .fetch_one(&mut *tx)
        .await?;
        if claimed
            || self
                .bytes_referenced(sha256, except.map(Uuid::from))
                .await?
        {
            return Ok(None);
        }
        match self.blobs().delete(key).await {
            Ok(()) => {}
            Err(crate::blob::BlobError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        let previews = super::gc::delete_previews(self.blobs().as_ref(), sha256).await;
        tx.commit().await?;
        Ok(Some(previews))
    }

    /// Whether an item other than `except` refers to the bytes: in the log past the content
    /// projection's checkpoint (read first), or in the read model (which then has everything
    /// before it). A purged item still in the read model counts: its bytes wait for the
    /// collector, never the other way round.
    async fn bytes_referenced(
        &self,
        sha256: &str,
        except: Option<Uuid>,
    ) -> Result<bool, ContentFailure> {
        let pending = self.unprojected_uploads(sha256, None).await?;
        if pending.iter().any(|id| Some(*id) != except.map(ContentId)) {
            return Ok(true);
        }
        Ok(rm::sha_referenced_except(self.pool(), sha256, except).await?)
    }

    /// Removes claims older than [`CLAIM_HOLDS_FOR`] (uploads that crashed mid-way).
    pub async fn expire_claims(&self) -> Result<u64, ContentFailure> {
        let done = sqlx::query("DELETE FROM bytes_claims WHERE claimed_at <= $1")
            .bind(Utc::now() - CLAIM_HOLDS_FOR)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_come_from_the_hash() {
        assert_eq!(lock_key("00000001ffff"), 1);
        assert_eq!(lock_key("ffffffff"), -1);
        assert_eq!(lock_key("zz"), 0);
    }
}
