//! `/api/admin/users`: list users, disable and enable them, set their role and quota. Admins only:
//! every handler takes `AdminUser`.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tessera_events::users::QuotaLimits;
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

use super::auth::RoleName;
use super::json::{json_config, path_config, query_config};
use crate::auth::service::MAX_PAGE;
use crate::auth::{AdminUser, AuthService};
use crate::error::{ApiResult, ErrorBody};

const BODY_LIMIT: usize = 4 * 1024;
const DEFAULT_PAGE: u32 = 50;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListUsersQuery {
    /// Page size, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `next_after` of the previous page.
    pub after: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUserView {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: RoleName,
    pub disabled: bool,
    /// Signed up and waits for an administrator's approval before it can sign in.
    pub pending: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<AdminUserView>,
    /// Pass as `after` to get the next page; absent on the last page.
    pub next_after: Option<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRoleRequest {
    pub role: RoleName,
}

/// The user's limits; an absent field reverts to the configured default.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetQuotaRequest {
    #[serde(default)]
    #[schema(maximum = 9223372036854775807_u64)]
    pub storage_bytes: Option<u64>,
    #[serde(default)]
    pub uploads_per_day: Option<u32>,
    #[serde(default)]
    #[schema(maximum = 9223372036854775807_u64)]
    pub processing_seconds_per_day: Option<u64>,
}

/// Users by id, a page at a time.
#[utoipa::path(
    get, path = "/api/admin/users", tag = "admin",
    security(("bearer" = []), ("cookie" = [])),
    params(ListUsersQuery),
    responses(
        (status = 200, body = UserList),
        (status = 400, body = ErrorBody, description = "`invalid_query`"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "`forbidden`: not an admin"),
    )
)]
pub async fn list_users(
    auth: web::Data<AuthService>,
    _admin: AdminUser,
    query: web::Query<ListUsersQuery>,
) -> ApiResult<HttpResponse> {
    let q = query.into_inner();
    let limit = q.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let page = auth.list_users(q.after, limit).await?;
    Ok(HttpResponse::Ok().json(UserList {
        users: page
            .users
            .into_iter()
            .map(|u| AdminUserView {
                role: u.role().into(),
                id: u.id,
                email: u.email,
                display_name: u.display_name,
                disabled: u.disabled,
                pending: u.pending,
                created_at: u.created_at,
                updated_at: u.updated_at,
            })
            .collect(),
        next_after: page.next_after,
    }))
}

/// Disable a user: they can no longer sign in, refresh, or use tokens or API keys.
#[utoipa::path(
    post, path = "/api/admin/users/{id}/disable", tag = "admin",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "disabled (or already)"),
        (status = 403, body = ErrorBody, description = "`forbidden`"),
        (status = 404, body = ErrorBody, description = "`not_found`"),
        (status = 409, body = ErrorBody, description = "`last_admin`: you are the last admin"),
    )
)]
pub async fn disable_user(
    auth: web::Data<AuthService>,
    admin: AdminUser,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    auth.disable_user(admin.user_id, id.into_inner().into())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Enable a disabled user.
#[utoipa::path(
    post, path = "/api/admin/users/{id}/enable", tag = "admin",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "enabled (or already)"),
        (status = 403, body = ErrorBody, description = "`forbidden`"),
        (status = 404, body = ErrorBody, description = "`not_found`"),
    )
)]
pub async fn enable_user(
    auth: web::Data<AuthService>,
    admin: AdminUser,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    auth.enable_user(admin.user_id, id.into_inner().into())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Approve a sign-up that waits for approval, so it can sign in.
#[utoipa::path(
    post, path = "/api/admin/users/{id}/approve", tag = "admin",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "approved (or nothing to approve)"),
        (status = 403, body = ErrorBody, description = "`forbidden`"),
        (status = 404, body = ErrorBody, description = "`not_found`"),
    )
)]
pub async fn approve_user(
    auth: web::Data<AuthService>,
    admin: AdminUser,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    auth.approve_user(admin.user_id, id.into_inner().into())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Set a user's role.
#[utoipa::path(
    put, path = "/api/admin/users/{id}/role", tag = "admin",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = Uuid, Path)),
    request_body = SetRoleRequest,
    responses(
        (status = 204, description = "role set"),
        (status = 400, body = ErrorBody, description = "`invalid_json`"),
        (status = 403, body = ErrorBody, description = "`forbidden`"),
        (status = 404, body = ErrorBody, description = "`not_found`"),
        (status = 409, body = ErrorBody, description = "`last_admin`: you are the last admin"),
    )
)]
pub async fn set_role(
    auth: web::Data<AuthService>,
    admin: AdminUser,
    id: web::Path<Uuid>,
    body: web::Json<SetRoleRequest>,
) -> ApiResult<HttpResponse> {
    auth.set_role(admin.user_id, id.into_inner().into(), body.role.into())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Set a user's quota; fields left out revert to the defaults.
#[utoipa::path(
    put, path = "/api/admin/users/{id}/quota", tag = "admin",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = Uuid, Path)),
    request_body = SetQuotaRequest,
    responses(
        (status = 204, description = "quota set"),
        (status = 400, body = ErrorBody, description = "`invalid_json`"),
        (status = 403, body = ErrorBody, description = "`forbidden`"),
        (status = 404, body = ErrorBody, description = "`not_found`"),
        (status = 422, body = ErrorBody, description = "`validation_failed`"),
    )
)]
pub async fn set_quota(
    auth: web::Data<AuthService>,
    admin: AdminUser,
    id: web::Path<Uuid>,
    body: web::Json<SetQuotaRequest>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let quota = QuotaLimits {
        storage_bytes: b.storage_bytes,
        uploads_per_day: b.uploads_per_day,
        processing_seconds_per_day: b.processing_seconds_per_day,
    };
    auth.set_quota(admin.user_id, id.into_inner().into(), quota)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/admin/users")
            .app_data(query_config())
            .route(web::get().to(list_users)),
    );
    for (path, route) in [
        (
            "/api/admin/users/{id}/disable",
            web::post().to(disable_user),
        ),
        ("/api/admin/users/{id}/enable", web::post().to(enable_user)),
        (
            "/api/admin/users/{id}/approve",
            web::post().to(approve_user),
        ),
        ("/api/admin/users/{id}/role", web::put().to(set_role)),
        ("/api/admin/users/{id}/quota", web::put().to(set_quota)),
    ] {
        cfg.service(
            web::resource(path)
                .app_data(path_config())
                .app_data(json_config(BODY_LIMIT))
                .route(route),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    paths(
        list_users,
        disable_user,
        enable_user,
        approve_user,
        set_role,
        set_quota
    ),
    components(schemas(
        AdminUserView,
        UserList,
        SetRoleRequest,
        SetQuotaRequest,
        RoleName,
        ErrorBody
    ))
)]
struct AdminUsersApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    AdminUsersApi::openapi()
}
