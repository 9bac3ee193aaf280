//! Chat providers: `/api/providers` (the enabled ones) and `/api/admin/providers` (admins
//! list, enable, disable).

use actix_web::{web, HttpResponse};

use super::views::{ProviderList, ProviderView};
use crate::auth::{AdminUser, AuthUser};
use crate::conversations::ChatService;
use crate::error::{ApiError, ApiResult, ErrorBody};

#[utoipa::path(
    get, path = "/api/providers", tag = "chat",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ProviderList))
)]
pub async fn providers(_user: AuthUser, chat: web::Data<ChatService>) -> ApiResult<HttpResponse> {
    let providers = chat
        .providers()
        .await?
        .into_iter()
        .filter(|p| p.enabled)
        .map(|p| ProviderView::of(p, false))
        .collect();
    Ok(HttpResponse::Ok().json(ProviderList { providers }))
}

#[utoipa::path(
    get, path = "/api/admin/providers", tag = "admin",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, body = ProviderList),
        (status = 403, body = ErrorBody, description = "`forbidden`: not an admin"),
    )
)]
pub async fn admin_providers(
    _admin: AdminUser,
    chat: web::Data<ChatService>,
) -> ApiResult<HttpResponse> {
    let providers = chat
        .providers()
        .await?
        .into_iter()
        .map(|p| ProviderView::of(p, true))
        .collect();
    Ok(HttpResponse::Ok().json(ProviderList { providers }))
}

#[utoipa::path(
    post, path = "/api/admin/providers/{id}/{action}", tag = "admin",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path), ("action" = String, Path, description = "`enable` or `disable`")),
    responses(
        (status = 204),
        (status = 403, body = ErrorBody, description = "`forbidden`: not an admin"),
        (status = 404, body = ErrorBody, description = "unknown action"),
        (status = 422, body = ErrorBody, description = "`unknown_provider`"),
    )
)]
pub async fn admin_set_provider(
    admin: AdminUser,
    chat: web::Data<ChatService>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (id, action) = path.into_inner();
    let enabled = match action.as_str() {
        "enable" => true,
        "disable" => false,
        _ => return Err(ApiError::not_found("route")),
    };
    chat.set_provider_enabled(admin.user_id, &id, enabled)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
