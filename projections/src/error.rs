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
    /// The checkpoint row vanished or moved under the lease holder: an invariant is broken.
    #[error("projection {projection}: checkpoint is inconsistent: {detail}")]
    Checkpoint {
        projection: &'static str,
        detail: String,
    },
}

impl ProjectionError {
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
