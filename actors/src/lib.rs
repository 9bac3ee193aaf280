//! Tessera's actor tree: the root supervisor, projector hosts, and live WebSocket sessions.
//!
//! ```text
//! RootSupervisor
//! ├── ProjectorHost × job        (restarts its job with backoff when it fails or panics:
//! │                               projectors, the edge's workers, rebuilds)
//! └── SessionRegistry            (follows the log once per node, routes events by owner)
//!     └── SessionActor × socket  (authenticated; pushes the user's events)
//! ```
//! Only actix-ws is known here; the HTTP route that upgrades a request lives in the edge.

use actix::Message;

mod backoff;
pub mod error_codes;
pub mod jobs;
pub mod models;
pub mod projection_job;
pub mod projector_host;
pub mod rebuild_job;
pub mod search;
pub mod session;
pub mod supervisor;

pub use backoff::RestartPolicy;
pub use error_codes::HasErrorCode;
pub use projection_job::ProjectionJob;
pub use projector_host::{
    panic_message, stop_requested, GetHostStatus, HostStatus, HostedJob, JobFn, JobKind, JobResult,
    ProjectorHost, TASK_RUNS,
};
pub use rebuild_job::{OnRebuildEnd, RebuildJob, RebuildOutcome};
pub use session::{
    start_session, GetRegistryStatus, RegistryStatus, SessionActor, SessionRegistry,
    SessionSettings, SessionUser, TokenVerifier,
};
pub use supervisor::{
    start_tree, GetTreeStatus, HostJob, RootSupervisor, Tree, TreeConfig, TreeStatus,
};

/// Asks an actor of the tree to stop its work gracefully (the root forwards it to every child).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Shutdown;
