//! Finding streams by what one of their events says: for the few checks that cannot wait for a
//! read model to catch up (the same bytes uploaded twice in a row, bytes about to be deleted).

use super::PgEventStore;
use crate::error::StoreError;

impl PgEventStore {
    /// The streams with an `event_type` event after position `after` whose payload's `sha256`
    /// is `sha256` and whose payload contains `fields` (a JSON object; `@>` containment), in
    /// global order. Payloads are matched as stored, before upcasting: filter only on fields
    /// that no upcaster of that type changes. The index on uploads' `sha256` keeps this short
    /// however far the read model lags.
    pub async fn streams_with_bytes_after(
        &self,
        after: u64,
        event_type: &str,
        sha256: &str,
        fields: &serde_json::Value,
    ) -> Result<Vec<String>, StoreError> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let streams = sqlx::query_scalar(
            "SELECT stream_id FROM events
             WHERE event_type = $2 AND payload->>'sha256' = $3 AND global_position > $1
               AND payload @> $4
             ORDER BY global_position",
        )
        .bind(after)
        .bind(event_type)
        .bind(sha256)
        .bind(fields)
        .fetch_all(self.pool())
        .await?;
        Ok(streams)
    }
}

impl PgEventStore {
    /// How many of `owner`'s API keys are in force at `now`: created, not revoked, not expired.
    /// Read from the log itself, so a key created a moment ago counts however far the keys' read
    /// model lags.
    pub async fn api_keys_in_force(
        &self,
        owner: uuid::Uuid,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events c
             WHERE c.metadata->>'owner' = $1 AND c.event_type = 'apikey.created'
               AND NOT EXISTS (SELECT 1 FROM events r
                               WHERE r.stream_id = c.stream_id AND r.event_type = 'apikey.revoked')
               AND (c.payload->>'expires_at' IS NULL
                    OR (c.payload->>'expires_at')::timestamptz > $2)",
        )
        .bind(owner.to_string())
        .bind(now)
        .fetch_one(self.pool())
        .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
