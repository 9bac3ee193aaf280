//! Tessera's projector runtime and read models.
//!
//! A [`Projection`] turns events into read-model tables in its own schema `rm_<name>`. The
//! [`Projector`] keeps it up to date under a cluster-wide lease, committing each batch with its
//! checkpoint; [`rebuild`] replays it from position 0 into a shadow schema and swaps that in
//! without downtime; [`status`] reports how far each one is behind the log.

pub mod error;
mod lease;
mod names;
pub mod poison;
pub mod projection;
pub mod projector;
pub mod read_models;
pub mod rebuild;
pub mod replay;
mod schema;
pub mod snapshot;
pub mod status;

pub use error::ProjectionError;
pub use lease::{hold_lease, HeldLease};

/// The LISTEN/NOTIFY channel on which a projection announces each committed batch (payload: its
/// name), so nodes can drop cached reads of its tables.
pub const PROJECTED_CHANNEL: &str = "tessera_projected";
pub use names::{live_schema, SCHEMA_PREFIX};
pub use poison::{DeadLetter, Resolution};
pub use projection::Projection;
pub use projector::{Projector, ProjectorOptions, ProjectorState};
pub use rebuild::{rebuild, RebuildOptions, RebuildReport};
pub use replay::replay_into;
pub use snapshot::snapshot_schema;
pub use status::{status, ProjectionStatus};

// Hosts spawn these futures on a multi-threaded runtime. sqlx's generic executors can make an
// async fn's future lose `Send` in ways rustc only reports at the spawn site, so check here.
const _: () = {
    fn assert_send<T: Send>(_: &T) {}
    #[allow(dead_code)]
    fn futures_are_send(
        projector: Projector,
        shutdown: tokio::sync::watch::Receiver<bool>,
        pool: &sqlx::PgPool,
        store: &dyn tessera_events::EventStore,
        projection: &dyn Projection,
        options: &RebuildOptions,
    ) {
        assert_send(&rebuild(pool, store, projection, options));
        assert_send(&replay_into(pool, store, projection, "x", None, 1));
        assert_send(&status(pool, &[]));
        assert_send(&snapshot_schema(pool, "x"));
        assert_send(&projector.run(shutdown));
    }
};
