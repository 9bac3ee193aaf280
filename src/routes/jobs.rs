//! Processing jobs: `GET /api/content/{id}/jobs` (the item's owner, or an admin),
//! `GET /api/admin/jobs` (admins: by status, e.g. the dead-lettered ones),
//! `POST /api/admin/content/{id}/reprocess` (admins: analyse again with the current models) and
//! `GET /api/admin/workers` (admins: this node's supervised background work).

use actix::Addr;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tessera_events::content::ContentAccess;
use tessera_projections::read_models::jobs::{self as rm_jobs, JobRow};
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

use super::content::viewer;
use super::json::{path_config, query_config};
use crate::auth::{AdminUser, AuthUser};
use crate::content::ContentService;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::routes::health::{degraded, tree_status, workers, WorkerView};
use crate::state::AppState;
use tessera_actors::RootSupervisor;
use tessera_events::ErrorCode;

/// One processing job.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    pub id: Uuid,
    pub content_id: Uuid,
    pub owner: Uuid,
    pub modality: String,
    /// `upload` or `reprocess`.
    pub reason: String,
    /// `queued`, `running`, `retrying`, `succeeded` or `dead_lettered`.
    pub status: String,
    pub attempts: i32,
    /// When the next attempt may start (queued and retrying jobs).
    pub run_after: DateTime<Utc>,
    /// The running attempt's stage and percentage.
    pub stage: Option<String>,
    pub percent: i16,
    /// The node that ran the last attempt.
    pub node: Option<String>,
    /// The last failure's stable code and reason.
    pub error_code: Option<String>,
    pub error: Option<String>,
    pub processing_ms: Option<i64>,
    pub requested_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<JobRow> for JobView {
    fn from(r: JobRow) -> Self {
        JobView {
            id: r.job_id,
            content_id: r.content_id,
            owner: r.owner,
            modality: r.modality,
            reason: r.reason,
            status: r.status,
            attempts: r.attempts,
            run_after: r.run_after,
            stage: r.stage,
            percent: r.percent,
            node: r.node,
            error_code: r.last_code,
            error: r.last_error,
            processing_ms: r.processing_ms,
            requested_at: r.requested_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobList {
    pub jobs: Vec<JobView>,
}

/// This node's supervised background work.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkersView {
    /// The node that answered.
    pub node: String,
    /// Some of it is down (restarting after a failure), or the actor tree does not answer.
    pub degraded: bool,
    /// Projectors, workers (previews, sweeper, cache listeners) and running tasks (rebuilds).
    pub workers: Vec<WorkerView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReprocessAccepted {
    pub job_id: Uuid,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AdminJobsQuery {
    /// `queued`, `running`, `retrying`, `succeeded` or `dead_lettered` (default).
    pub status: Option<String>,
    /// 1 to 200 (default 50).
    pub limit: Option<i64>,
}

const STATUSES: [&str; 5] = [
    "queued",
    "running",
    "retrying",
    "succeeded",
    "dead_lettered",
];

#[utoipa::path(
    get, path = "/api/content/{id}/jobs", tag = "content",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = JobList),
        (status = 404, body = ErrorBody, description = "`not_found`"),
    )
)]
pub async fn item_jobs(
    user: AuthUser,
    service: web::Data<ContentService>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    // Ownership (or an admin's audited read) first: another user's item does not exist.
    service
        .get(viewer(&user), id.into(), ContentAccess::Metadata)
        .await?;
    let jobs = rm_jobs::for_content(&state.pool, id.into())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(HttpResponse::Ok().json(JobList {
        jobs: jobs.into_iter().map(JobView::from).collect(),
    }))
}

#[utoipa::path(
    get, path = "/api/admin/jobs", tag = "admin",
    security(("bearer" = []), ("cookie" = [])),
    params(AdminJobsQuery),
    responses(
        (status = 200, body = JobList),
        (status = 400, body = ErrorBody, description = "`invalid_query`"),
        (status = 403, body = ErrorBody, description = "`forbidden`: not an admin"),
    )
)]
pub async fn admin_jobs(
    _admin: AdminUser,
    state: web::Data<AppState>,
    query: web::Query<AdminJobsQuery>,
) -> ApiResult<HttpResponse> {
    let q = query.into_inner();
    let status = q.status.unwrap_or_else(|| "dead_lettered".into());
    if !STATUSES.contains(&status.as_str()) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidQuery,
            format!("status must be one of {}", STATUSES.join(", ")),
        ));
    }
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let jobs = rm_jobs::by_status(&state.pool, &status, limit)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(HttpResponse::Ok().json(JobList {
        jobs: jobs.into_iter().map(JobView::from).collect(),
    }))
}

#[utoipa::path(
    post, path = "/api/admin/content/{id}/reprocess", tag = "admin",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 202, body = ReprocessAccepted, description = "a new analysis job was queued"),
        (status = 403, body = ErrorBody, description = "`forbidden`: not an admin"),
        (status = 404, body = ErrorBody, description = "`not_found`"),
    )
)]
pub async fn reprocess(
    admin: AdminUser,
    service: web::Data<ContentService>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let job_id = service
        .reprocess(admin.user_id, id.into_inner().into())
        .await?;
    Ok(HttpResponse::Accepted().json(ReprocessAccepted {
        job_id: job_id.into_inner(),
    }))
}

#[utoipa::path(
    get, path = "/api/admin/workers", tag = "admin",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, body = WorkersView),
        (status = 403, body = ErrorBody, description = "`forbidden`: not an admin"),
    )
)]
pub async fn admin_workers(
    _admin: AdminUser,
    state: web::Data<AppState>,
    root: web::Data<Addr<RootSupervisor>>,
) -> HttpResponse {
    let tree = tree_status(&root).await;
    HttpResponse::Ok().json(WorkersView {
        node: state.node_id.clone(),
        degraded: degraded(tree.as_ref()),
        workers: workers(tree.as_ref()),
    })
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/content/{id}/jobs")
            .app_data(path_config())
            .route(web::get().to(item_jobs)),
    )
    .service(
        web::resource("/api/admin/jobs")
            .app_data(query_config())
            .route(web::get().to(admin_jobs)),
    )
    .service(
        web::resource("/api/admin/content/{id}/reprocess")
            .app_data(path_config())
            .route(web::post().to(reprocess)),
    )
    .service(web::resource("/api/admin/workers").route(web::get().to(admin_workers)));
}

#[derive(OpenApi)]
#[openapi(
    paths(item_jobs, admin_jobs, reprocess, admin_workers),
    components(schemas(JobView, JobList, ReprocessAccepted, WorkersView, ErrorBody))
)]
struct JobsApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    JobsApi::openapi()
}
