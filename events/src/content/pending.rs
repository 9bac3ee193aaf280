//! Uploads the content read model may not have applied yet, found in the log itself.

use crate::error::StoreError;
use crate::ids::{ContentId, UserId};
use crate::postgres::PgEventStore;

/// The event type of an upload, as stored.
const UPLOADED: &str = "content.uploaded";

/// Items whose upload after position `after` (the content read model's checkpoint) holds the
/// bytes `sha256`, of `owner` or of anyone, oldest first: what a check of the read model alone
/// would miss right after an upload. (`sha256` and `owner` are fields no upcaster changes.)
pub async fn uploads_after(
    store: &PgEventStore,
    after: u64,
    sha256: &str,
    owner: Option<UserId>,
) -> Result<Vec<ContentId>, StoreError> {
    let mut fields = serde_json::Map::new();
    if let Some(owner) = owner {
        fields.insert("owner".into(), owner.to_string().into());
    }
    let streams = store
        .streams_with_bytes_after(after, UPLOADED, sha256, &fields.into())
        .await?;
    Ok(streams
        .iter()
        .filter_map(|s| {
            s.strip_prefix("content-")
                .and_then(|id| id.parse::<ContentId>().ok())
        })
        .collect())
}
