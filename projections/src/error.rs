//! Errors of the projection runtime and of the projections themselves.

use tessera_events::StoreError;

/// Everything that can stop a projector, a rebuild or a projection's `apply`.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// A read-model statement failed (the usual error of `Projection::apply`).
    #[error("read model database error: {0}")]
    Database(#[from] sqlx::Error),
    /// An event's payload does not have the shape the projection expects.
    #[error("cannot decode event: {0}")]
    Decode(String),
    /// Reading the event log failed.
    /// Something a projection needs from outside the log failed (the embedding model, a
    /// blob); the projector stops and its host retries with backoff.
    #[error("projection input unavailable: {0}")]
    Input(String),

    #[error("event store error: {0}")]
    Store(#[from] StoreError),
    /// A runtime statement (checkpoint, lease, schema) failed.
    #[error("projection {projection}: {context}: {source}")]
    Runtime {
        projection: &'static str,
        context: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// `Projection::apply` failed on one event; the batch it was in was rolled back.
    #[error("projection {projection}: applying event {position} ({event_type}) failed: {source}")]
    Apply {
        projection: &'static str,
        position: u64,
        event_type: String,
        #[source]
        source: Box<ProjectionError>,
    },
    /// The name cannot be turned into schema names (see `ProjectionNames`).
    #[error("invalid projection name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    /// Another node holds the projection's rebuild lock.
    #[error("projection {projection}: another rebuild is in progress")]
    RebuildInProgress { projection: &'static str },
    /// Someone else took the lease while this holder still wrote: its write was refused.
    #[error("projection {projection}: lease epoch {epoch} was fenced by a newer holder")]
    Fenced {
        projection: &'static str,
        epoch: u64,
    },
    /// The live projector did not hand over the lease in time.
    #[error("projection {projection}: no lease handover within {waited:?}")]
    HandoverTimeout {
        projection: &'static str,
        waited: std::time::Duration,
    },
    /// A projection's code panicked on an event.
    #[error("projection code panicked: {0}")]
    Panicked(String),
    /// A rebuild met an event it cannot apply: the event is quarantined and the rebuild waits
    /// for an administrator to retry or skip it.
    #[error("projection {projection}: stalled on event {position} ({event_type}), quarantined")]
    Poisoned {
        projection: &'static str,
        position: u64,
        event_type: String,
    },
    /// The checkpoint row vanished or moved under the lease holder: an invariant is broken.
    #[error("projection {projection}: checkpoint is inconsistent: {detail}")]
    Checkpoint {
        projection: &'static str,
        detail: String,
    },
}

impl ProjectionError {
    /// Whether applying the same event again would fail the same way: the event, or the code
    /// that applies it, is at fault, not the database's availability. Such an event is
    /// quarantined instead of retried forever.
    pub fn is_poison(&self) -> bool {
        match self {
            Self::Decode(_) | Self::Panicked(_) => true,
            Self::Database(e) => deterministic_sql_error(e),
            Self::Store(e) => matches!(
                e,
                StoreError::Serialization(_) | StoreError::Upcast { .. } | StoreError::Invalid(_)
            ),
            Self::Apply { source, .. } => source.is_poison(),
            _ => false,
        }
    }

    /// Wraps a runtime statement's error with the projection and what was being done.
    pub(crate) fn runtime(
        projection: &'static str,
        context: &'static str,
    ) -> impl FnOnce(sqlx::Error) -> ProjectionError {
        move |source| ProjectionError::Runtime {
            projection,
            context,
            source,
        }
    }
}

/// Errors that a statement repeats whenever it runs on the same data: malformed values,
/// violated constraints, statements the schema does not support, rows of the wrong shape.
/// Connection, locking, resource and shutdown errors are not among them.
fn deterministic_sql_error(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // SQLSTATE classes: cardinality, data, integrity, syntax or access rule, program
            // limit, and errors raised by PL/pgSQL.
            matches!(code.get(..2), Some("21" | "22" | "23" | "42" | "54" | "P0"))
        }),
        sqlx::Error::RowNotFound
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::TypeNotFound { .. }
        | sqlx::Error::Decode(_) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_events_are_poison_and_an_unavailable_database_is_not() {
        let wrapped = |source| ProjectionError::Apply {
            projection: "p",
            position: 1,
            event_type: "t".into(),
            source: Box::new(source),
        };
        assert!(wrapped(ProjectionError::Decode("x".into())).is_poison());
        assert!(wrapped(ProjectionError::Panicked("x".into())).is_poison());
        assert!(ProjectionError::Database(sqlx::Error::RowNotFound).is_poison());
        assert!(!wrapped(ProjectionError::Database(sqlx::Error::PoolTimedOut)).is_poison());
        assert!(!wrapped(ProjectionError::Input("model".into())).is_poison());
        assert!(!ProjectionError::Store(StoreError::Database(sqlx::Error::PoolClosed)).is_poison());
    }
}
