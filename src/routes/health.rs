//! Liveness and readiness.

use std::time::Duration;

use actix::Addr;
use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use tessera_actors::{GetTreeStatus, HostStatus, JobKind, RootSupervisor, TreeStatus};
use utoipa::{OpenApi, ToSchema};

use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
    pub version: &'static str,
    pub node: String,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    pub ready: bool,
    pub database: bool,
    pub migrations: bool,
    /// Some long-lived work of this node is down (restarting after a failure), the live
    /// sessions' registry died, or the actor tree does not answer. The node still serves.
    pub degraded: bool,
    /// The supervised work of this node and its state.
    pub workers: Vec<WorkerView>,
    /// Read models stalled before an event they cannot apply (on any node), waiting for an
    /// administrator to retry or skip it; their reads are stale meanwhile. Marks `degraded`.
    pub stalled_projections: Vec<StalledProjection>,
}

/// A read model stalled before a quarantined event.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StalledProjection {
    pub name: String,
    /// The log position of the event it stopped before.
    pub position: u64,
}

/// One piece of supervised work of this node: a projector, a worker or a running task.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorkerView {
    /// e.g. `users` (a projector), `previews`, `sweeper`, `rebuild:users`.
    pub name: String,
    pub kind: WorkerKind,
    /// A run is in progress.
    pub running: bool,
    /// It should be running and is not: it failed and waits for its restart.
    pub down: bool,
    /// Restarts after failures since this node started it.
    pub restarts: u64,
    /// Why its last failed run ended. Only the admin listing carries it: the text can name
    /// hosts and database errors, and `/ready` answers anyone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// What a supervised piece of work is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkerKind {
    /// Keeps a read model up to date.
    Projector,
    /// Lives with the node: the preview worker, the sweeper, the cache listeners.
    Worker,
    /// Ends when done: a rebuild.
    Task,
}

impl From<&HostStatus> for WorkerView {
    fn from(h: &HostStatus) -> Self {
        WorkerView {
            name: h.name.clone(),
            kind: match h.kind {
                JobKind::Projector => WorkerKind::Projector,
                JobKind::Worker => WorkerKind::Worker,
                JobKind::Task => WorkerKind::Task,
            },
            running: h.running,
            down: h.is_down(),
            restarts: h.restarts,
            last_error: h.last_error.clone(),
        }
    }
}

/// How long a status question to the actor tree may take before the tree counts as not answering.
const TREE_STATUS_TIMEOUT: Duration = Duration::from_secs(2);

/// The actor tree's state, if its root answers in time.
pub async fn tree_status(root: &Addr<RootSupervisor>) -> Option<TreeStatus> {
    tokio::time::timeout(TREE_STATUS_TIMEOUT, root.send(GetTreeStatus))
        .await
        .ok()?
        .ok()
}

/// Every host of the tree as a [`WorkerView`] (none when the tree does not answer).
pub fn workers(tree: Option<&TreeStatus>) -> Vec<WorkerView> {
    tree.iter()
        .flat_map(|t| t.hosts.iter().map(WorkerView::from))
        .collect()
}

/// Whether some supervised work is not as it should be (see [`Readiness::degraded`]).
pub fn degraded(tree: Option<&TreeStatus>) -> bool {
    tree.is_none_or(|t| t.down().next().is_some() || t.sessions.as_ref().is_none_or(|s| s.stopped))
}

/// The process is up.
#[utoipa::path(tag = "health", responses((status = 200, body = Health)))]
#[get("/health")]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        node: state.node_id.clone(),
    })
}

/// Ready to serve: the database answers and every migration this build knows has run. The body
/// also lists the node's supervised work; a worker that is down (restarting after a failure)
/// marks the node `degraded` but not unready, since the node still serves requests and taking it
/// out of rotation would turn a background fault into an outage.
#[utoipa::path(tag = "health", responses(
    (status = 200, body = Readiness),
    (status = 503, body = Readiness, description = "database down or migrations pending")
))]
#[get("/ready")]
pub async fn ready(
    state: web::Data<AppState>,
    root: web::Data<Addr<RootSupervisor>>,
) -> HttpResponse {
    let applied: Result<Vec<i64>, sqlx::Error> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&state.pool)
            .await;
    let (database, migrations) = match applied {
        Ok(versions) => (
            true,
            tessera_events::migrations::MIGRATOR
                .iter()
                .all(|m| versions.contains(&m.version)),
        ),
        Err(sqlx::Error::Database(_)) => (true, false),
        Err(_) => (false, false),
    };
    let tree = tree_status(&root).await;
    let stalled_projections: Vec<StalledProjection> = if migrations {
        tessera_projections::poison::stalled(&state.pool)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|(name, position)| StalledProjection { name, position })
            .collect()
    } else {
        Vec::new()
    };
    let body = Readiness {
        ready: database && migrations,
        database,
        migrations,
        degraded: degraded(tree.as_ref()) || !stalled_projections.is_empty(),
        stalled_projections,
        workers: workers(tree.as_ref())
            .into_iter()
            .map(|w| WorkerView {
                last_error: None,
                ..w
            })
            .collect(),
    };
    if body.ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(health).service(ready);
}

#[derive(OpenApi)]
#[openapi(
    paths(health, ready),
    components(schemas(Health, Readiness, WorkerView, WorkerKind, StalledProjection))
)]
struct HealthApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    HealthApi::openapi()
}
