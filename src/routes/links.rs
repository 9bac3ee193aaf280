//! One-time links: `POST /api/auth/setup` (the first administrator, with the link a fresh
//! install prints), `POST /api/auth/password-reset` (a new password with a link an admin
//! issued) and `POST /api/admin/users/{id}/reset-link` (issuing one).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

use super::auth::{signed_in_response, TokenResponse};
use super::json::{json_config, path_config};
use crate::auth::{AdminUser, AuthService, NewUser};
use crate::error::{ApiResult, ErrorBody};

const BODY_LIMIT: usize = 4 * 1024;

/// The first administrator, created with the setup link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    /// The token of the setup link (the part after `#`).
    #[schema(value_type = String, max_length = 128)]
    pub token: SecretString,
    #[schema(max_length = 254, example = "ada@example.com")]
    pub email: String,
    #[schema(value_type = String, format = Password, min_length = 10, max_length = 256)]
    pub password: SecretString,
    #[schema(max_length = 100, example = "Ada Lovelace")]
    pub display_name: String,
}

/// A new password, set with a reset link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    #[schema(value_type = String, max_length = 128)]
    pub token: SecretString,
    #[schema(value_type = String, format = Password, min_length = 10, max_length = 256)]
    pub new_password: SecretString,
}

/// A one-time link to hand over (shown once).
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedLink {
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// Create the first administrator
///
/// With the one-time link `tessera serve` prints on a fresh install. Signs the new
/// administrator in.
#[utoipa::path(
    post, path = "/api/auth/setup", tag = "auth",
    request_body = SetupRequest,
    responses(
        (status = 201, body = TokenResponse),
        (status = 400, body = ErrorBody, description = "`invalid_json`"),
        (status = 409, body = ErrorBody, description = "`setup_done`: an administrator exists"),
        (status = 410, body = ErrorBody, description = "`link_invalid`: unknown, used or expired"),
        (status = 422, body = ErrorBody, description = "`invalid_email`, `weak_password`, `validation_failed`"),
    )
)]
pub async fn setup(
    auth: web::Data<AuthService>,
    req: HttpRequest,
    body: web::Json<SetupRequest>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let new = NewUser {
        email: b.email,
        password: b.password,
        display_name: b.display_name,
    };
    let signed = auth.setup_admin(&b.token, new).await?;
    Ok(signed_in_response(&req, StatusCode::CREATED, signed))
}

/// Set a new password with a reset link
///
/// Every sign-in of the account ends; sign in with the new password.
#[utoipa::path(
    post, path = "/api/auth/password-reset", tag = "auth",
    request_body = PasswordResetRequest,
    responses(
        (status = 204, description = "the password is set"),
        (status = 400, body = ErrorBody, description = "`invalid_json`"),
        (status = 410, body = ErrorBody, description = "`link_invalid`: unknown, used or expired"),
        (status = 422, body = ErrorBody, description = "`weak_password`"),
    )
)]
pub async fn password_reset(
    auth: web::Data<AuthService>,
    body: web::Json<PasswordResetRequest>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    auth.reset_password(&b.token, b.new_password).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Issue a password-reset link
///
/// A link with which the user sets a new password, once, within a day. Hand it over yourself;
/// it is shown only now.
#[utoipa::path(
    post, path = "/api/admin/users/{id}/reset-link", tag = "admin",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 201, body = IssuedLink),
        (status = 403, body = ErrorBody, description = "`forbidden`, `insufficient_scope`"),
        (status = 404, body = ErrorBody, description = "`not_found`"),
    )
)]
pub async fn issue_reset_link(
    auth: web::Data<AuthService>,
    admin: AdminUser,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let (token, expires_at) = auth
        .issue_reset_link(admin.user_id, id.into_inner().into())
        .await?;
    let url = format!("{}/reset#{}", base_url(&req), token.expose_secret());
    Ok(HttpResponse::Created()
        .insert_header(actix_web::http::header::CacheControl(vec![
            actix_web::http::header::CacheDirective::NoStore,
        ]))
        .json(IssuedLink { url, expires_at }))
}

/// Where pages of this site are: `server.public_url`, else as the request reached us.
fn base_url(req: &HttpRequest) -> String {
    match crate::site::Site::of(req).public_url {
        Some(url) => url,
        None => {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/auth/setup")
            .app_data(json_config(BODY_LIMIT))
            .route(web::post().to(setup)),
    )
    .service(
        web::resource("/api/auth/password-reset")
            .app_data(json_config(BODY_LIMIT))
            .route(web::post().to(password_reset)),
    )
    .service(
        web::resource("/api/admin/users/{id}/reset-link")
            .app_data(path_config())
            .route(web::post().to(issue_reset_link)),
    );
}

#[derive(OpenApi)]
#[openapi(
    paths(setup, password_reset, issue_reset_link),
    components(schemas(SetupRequest, PasswordResetRequest, IssuedLink, ErrorBody))
)]
struct LinksApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    LinksApi::openapi()
}
