//! `/api/admin/projections`: where each read model stands, and rebuilding one.

use std::sync::Arc;

use actix::Addr;
use actix_web::{get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use tessera_actors::{HostJob, RebuildJob, RebuildOutcome, RootSupervisor};
use tessera_events::EventStore;
use tessera_projections::{DeadLetter, Projection, RebuildOptions, Resolution};
use utoipa::{OpenApi, ToSchema};

use crate::auth::AdminUser;
use crate::dead_letters::{self, Decision, DecisionFailure};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::routes::health::{tree_status, WorkerView};
use crate::state::AppState;
use tessera_events::ErrorCode;

/// A projection's position against the log, and its host on this node.
#[derive(Serialize, ToSchema)]
pub struct ProjectionView {
    pub name: String,
    /// Last global position applied to the read model.
    pub position: u64,
    /// Head of the event log.
    pub head: u64,
    /// `head - position`.
    pub lag: u64,
    /// Schema version of the live tables, and the one this build expects.
    pub version: i32,
    pub target_version: i32,
    /// Lease epoch and the node holding it.
    pub epoch: u64,
    pub owner_node: Option<String>,
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Restarts of this node's projector host for it (absent when it does not run here).
    pub restarts_here: Option<u64>,
    pub last_error_here: Option<String>,
    /// Whether this node's projector for it runs now (false while it waits for a restart).
    pub running_here: Option<bool>,
    /// A rebuild started from this node is running now.
    pub rebuilding_here: bool,
    /// How the last rebuild started from this node ended (absent when there was none).
    pub last_rebuild_here: Option<LastRebuild>,
    /// The supervised task of the rebuild running here (its restarts after failures).
    pub rebuild_task_here: Option<WorkerView>,
    /// Stalled before the quarantined event at this position, waiting for a decision about it.
    pub stalled_at: Option<u64>,
    /// Events it could not apply: the open ones first, then the last few resolved.
    pub dead_letters: Vec<DeadLetterView>,
}

/// An event a projection could not apply, and what became of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterView {
    pub position: u64,
    /// The projection version that failed on it.
    pub version: i32,
    pub event_id: uuid::Uuid,
    pub event_type: String,
    pub stream_id: String,
    /// A rebuild met it; the live tables kept serving meanwhile.
    pub during_rebuild: bool,
    /// The last failure, as the projection reported it.
    pub error: String,
    pub attempts: u32,
    pub first_failed_at: chrono::DateTime<chrono::Utc>,
    pub last_failed_at: chrono::DateTime<chrono::Utc>,
    /// Absent while the projection waits for a decision: `applied` or `skipped`.
    #[schema(value_type = Option<String>)]
    pub resolution: Option<Resolution>,
    pub resolved_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<DeadLetter> for DeadLetterView {
    fn from(d: DeadLetter) -> Self {
        DeadLetterView {
            position: d.position,
            version: d.version,
            event_id: d.event_id,
            event_type: d.event_type,
            stream_id: d.stream_id,
            during_rebuild: d.during_rebuild,
            error: d.error,
            attempts: d.attempts,
            first_failed_at: d.first_failed_at,
            last_failed_at: d.last_failed_at,
            resolution: d.resolution,
            resolved_at: d.resolved_at,
        }
    }
}

/// The outcome of a finished rebuild.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LastRebuild {
    pub finished_at: chrono::DateTime<chrono::Utc>,
    pub succeeded: bool,
    /// Events replayed (when it succeeded).
    pub events: Option<u64>,
    /// Why it failed (when it did).
    pub error: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ProjectionsView {
    pub node: String,
    pub projections: Vec<ProjectionView>,
}

#[derive(Serialize, ToSchema)]
pub struct RebuildAccepted {
    pub name: String,
    pub status: &'static str,
}

/// Position, lag and lease of every projection.
#[utoipa::path(
    tag = "admin", operation_id = "list_projections",
    responses(
        (status = 200, body = ProjectionsView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[get("/api/admin/projections")]
pub async fn list(
    _admin: AdminUser,
    state: web::Data<AppState>,
    root: web::Data<Addr<RootSupervisor>>,
) -> ApiResult<HttpResponse> {
    let statuses = tessera_projections::status(&state.pool, &state.projections)
        .await
        .map_err(ApiError::internal)?;
    let tree = tree_status(&root).await;
    let projections = statuses
        .into_iter()
        .map(|s| {
            let host_named = |name: &str| {
                tree.as_ref()
                    .and_then(|t| t.hosts.iter().find(|h| h.name == name))
            };
            let host = host_named(&s.name);
            let rebuild_task = host_named(&RebuildJob::name_for(&s.name));
            let key = state
                .projections
                .iter()
                .map(|p| p.name())
                .find(|n| *n == s.name);
            ProjectionView {
                rebuilding_here: key.is_some_and(|k| state.rebuilds.contains(k)),
                last_rebuild_here: key.and_then(|k| state.last_rebuilds.get(k).map(|r| r.clone())),
                restarts_here: host.map(|h| h.restarts),
                last_error_here: host.and_then(|h| h.last_error.clone()),
                running_here: host.map(|h| h.running),
                rebuild_task_here: rebuild_task.map(WorkerView::from),
                name: s.name,
                position: s.position,
                head: s.head,
                lag: s.lag,
                version: s.version,
                target_version: s.target_version,
                epoch: s.epoch,
                owner_node: s.owner_node,
                updated_at: s.updated_at,
                stalled_at: s.stalled_at,
                dead_letters: s.dead_letters.into_iter().map(Into::into).collect(),
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(ProjectionsView {
        node: state.node_id.clone(),
        projections,
    }))
}

/// Rebuilds a projection from the log beside its live tables and swaps it in when caught up.
/// Runs in the background as a supervised task (a failed or panicked run is tried again);
/// follow it with `GET /api/admin/projections`.
#[utoipa::path(
    tag = "admin",
    params(("name" = String, Path, description = "projection name, e.g. `users`")),
    responses(
        (status = 202, body = RebuildAccepted),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such projection (`not_found`)"),
        (status = 409, body = ErrorBody, description = "a rebuild of it is already running (`rebuild_in_progress`)"),
        (status = 503, body = ErrorBody, description = "the node is shutting down (`unavailable`)")
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[post("/api/admin/projections/{name}/rebuild")]
pub async fn start_rebuild(
    admin: AdminUser,
    state: web::Data<AppState>,
    root: web::Data<Addr<RootSupervisor>>,
    name: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let projection = projection_named(&state, &name)?;
    let key = projection.name();
    if !state.rebuilds.insert(key) {
        return Err(ApiError::conflict(
            ErrorCode::RebuildInProgress,
            format!("a rebuild of {key} is already running"),
        ));
    }
    tracing::info!(projection = key, actor = %admin.user_id, "rebuild requested");
    let recorder = state.clone().into_inner();
    let job = RebuildJob::new(
        state.pool.clone(),
        Arc::new(state.store.clone()) as Arc<dyn EventStore>,
        projection,
        RebuildOptions::new(state.node_id.clone()),
        Box::new(move |outcome| record_rebuild(&recorder, key, outcome)),
    );
    let hosted = root.send(HostJob(Arc::new(job))).await.unwrap_or(false);
    if !hosted {
        state.rebuilds.remove(key);
        return Err(ApiError::unavailable(
            ErrorCode::Unavailable,
            "the node is shutting down",
        ));
    }
    Ok(HttpResponse::Accepted().json(RebuildAccepted {
        name: name.into_inner(),
        status: "started",
    }))
}

/// Why an event is skipped, for the audit trail.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkipRequest {
    /// 1 to 500 characters.
    pub reason: String,
}

/// A decision was recorded; the projector acts on it within a second or so.
#[derive(Serialize, ToSchema)]
pub struct DecisionAccepted {
    pub name: String,
    pub position: u64,
    /// `retry` or `skip`.
    pub decision: &'static str,
}

const MAX_REASON_CHARS: usize = 500;

fn projection_named(state: &AppState, name: &str) -> ApiResult<Arc<dyn Projection>> {
    state
        .projections
        .iter()
        .find(|p| p.name() == name)
        .cloned()
        .ok_or_else(|| ApiError::not_found("projection"))
}

async fn record_decision(
    admin: &AdminUser,
    state: &AppState,
    name: &str,
    position: u64,
    decision: Decision,
) -> ApiResult<HttpResponse> {
    let projection = projection_named(state, name)?;
    let label = match decision {
        Decision::Retry => "retry",
        Decision::Skip { .. } => "skip",
    };
    dead_letters::decide(
        &state.pool,
        &state.store,
        &*projection,
        position,
        decision,
        admin.user_id.0,
    )
    .await
    .map_err(|e| match e {
        DecisionFailure::NotFound => ApiError::not_found("quarantined event"),
        DecisionFailure::Resolved => ApiError::conflict(
            ErrorCode::DeadLetterResolved,
            "the event was already applied or skipped",
        ),
        DecisionFailure::Internal(e) => ApiError::internal(e),
    })?;
    Ok(HttpResponse::Accepted().json(DecisionAccepted {
        name: projection.name().to_owned(),
        position,
        decision: label,
    }))
}

/// Tries a quarantined event once more, e.g. after the cause was fixed. If it fails again the
/// projection stays stalled and the dead letter counts one more attempt.
#[utoipa::path(
    tag = "admin",
    params(
        ("name" = String, Path, description = "projection name, e.g. `users`"),
        ("position" = u64, Path, description = "the quarantined event's log position")
    ),
    responses(
        (status = 202, body = DecisionAccepted),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such projection or quarantined event (`not_found`)"),
        (status = 409, body = ErrorBody, description = "already applied or skipped (`dead_letter_resolved`)")
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[post("/api/admin/projections/{name}/dead-letters/{position}/retry")]
pub async fn retry_dead_letter(
    admin: AdminUser,
    state: web::Data<AppState>,
    path: web::Path<(String, u64)>,
) -> ApiResult<HttpResponse> {
    let (name, position) = path.into_inner();
    record_decision(&admin, &state, &name, position, Decision::Retry).await
}

/// Has the projection pass over a quarantined event. Its read model will not reflect the
/// event; the skip is recorded in the log with the reason and who decided, and rebuilds of the
/// same projection version skip it too.
#[utoipa::path(
    tag = "admin",
    params(
        ("name" = String, Path, description = "projection name, e.g. `users`"),
        ("position" = u64, Path, description = "the quarantined event's log position")
    ),
    request_body = SkipRequest,
    responses(
        (status = 202, body = DecisionAccepted),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such projection or quarantined event (`not_found`)"),
        (status = 409, body = ErrorBody, description = "already applied or skipped (`dead_letter_resolved`)"),
        (status = 422, body = ErrorBody, description = "no reason, or one too long (`validation_failed`)")
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[post("/api/admin/projections/{name}/dead-letters/{position}/skip")]
pub async fn skip_dead_letter(
    admin: AdminUser,
    state: web::Data<AppState>,
    path: web::Path<(String, u64)>,
    body: web::Json<SkipRequest>,
) -> ApiResult<HttpResponse> {
    let (name, position) = path.into_inner();
    let reason = body.into_inner().reason.trim().to_owned();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(ApiError::validation(
            "reason",
            format!("say why, in 1 to {MAX_REASON_CHARS} characters"),
        ));
    }
    let decision = Decision::Skip {
        reason: Some(reason),
    };
    record_decision(&admin, &state, &name, position, decision).await
}

/// Records how a rebuild ended, then drops its running mark (in that order, so a reader never
/// sees neither).
fn record_rebuild(state: &AppState, name: &'static str, outcome: RebuildOutcome) {
    let outcome = match outcome {
        Ok(r) => {
            tracing::info!(
                projection = name,
                events = r.events,
                position = r.position,
                "rebuild swapped in"
            );
            LastRebuild {
                finished_at: chrono::Utc::now(),
                succeeded: true,
                events: Some(r.events),
                error: None,
            }
        }
        Err(error) => {
            tracing::error!(projection = name, %error, "rebuild failed");
            LastRebuild {
                finished_at: chrono::Utc::now(),
                succeeded: false,
                events: None,
                error: Some(error),
            }
        }
    };
    state.last_rebuilds.insert(name, outcome);
    state.rebuilds.remove(name);
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(start_rebuild)
        .service(retry_dead_letter)
        .service(skip_dead_letter);
}

#[derive(OpenApi)]
#[openapi(
    paths(list, start_rebuild, retry_dead_letter, skip_dead_letter),
    components(schemas(
        ProjectionView,
        ProjectionsView,
        RebuildAccepted,
        LastRebuild,
        DeadLetterView,
        SkipRequest,
        DecisionAccepted
    ))
)]
struct AdminProjectionsApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    AdminProjectionsApi::openapi()
}
