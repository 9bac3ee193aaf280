//! The contract between a read model and the runtime that maintains it.

use async_trait::async_trait;
use tessera_events::RecordedEvent;

use crate::error::ProjectionError;

/// A read model maintained from the event log.
///
/// `apply` writes with unqualified table names: the runtime points `search_path` at the live
/// schema `rm_<name>` or, during a rebuild, at a shadow schema, so one piece of code fills both.
/// It must be deterministic (take times from `event.recorded_at`, never `now()`), or a rebuild
/// would not reproduce the live tables.
#[async_trait]
pub trait Projection: Send + Sync + 'static {
    /// A short lowercase name, e.g. `users`; its tables live in schema `rm_users`.
    fn name(&self) -> &'static str;

    /// The read model's shape and semantics; a new value rebuilds it from scratch at next start.
    fn version(&self) -> i32;

    /// `CREATE TABLE ...` statements with unqualified names, run inside the target schema.
    fn setup_sql(&self) -> &'static str;

    /// Applies one event inside the batch transaction (which also moves the checkpoint).
    async fn apply(
        &self,
        conn: &mut sqlx::PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError>;

    /// Applies a batch of events, in order, inside the batch transaction. The default applies
    /// them one by one; read models that see many events override it with set-based statements
    /// (a few round trips per batch instead of one per event).
    async fn apply_batch(
        &self,
        conn: &mut sqlx::PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        for event in events {
            self.apply(&mut *conn, event)
                .await
                .map_err(|source| ProjectionError::Apply {
                    projection: self.name(),
                    position: event.global_position,
                    event_type: event.event_type.clone(),
                    source: Box::new(source),
                })?;
        }
        Ok(())
    }
}
