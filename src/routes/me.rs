//! `/api/me`: the signed-in user's profile and API keys.

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

use super::auth::RoleName;
use super::json::{json_config, path_config};
use crate::auth::service::NewApiKey;
use crate::auth::{AuthService, AuthUser, EffectiveQuota};
use crate::error::{ApiResult, ErrorBody};
use crate::routes::capped::Capped;
use tessera_events::users::Scope;

const BODY_LIMIT: usize = 4 * 1024;

/// Limits in force: the ones an admin set, else the configured defaults.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuotaView {
    pub storage_bytes: u64,
    pub uploads_per_day: u32,
    pub processing_seconds_per_day: u64,
}

impl From<EffectiveQuota> for QuotaView {
    fn from(q: EffectiveQuota) -> Self {
        Self {
            storage_bytes: q.storage_bytes,
            uploads_per_day: q.uploads_per_day,
            processing_seconds_per_day: q.processing_seconds_per_day,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: RoleName,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub quota: QuotaView,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// A label to tell keys apart.
    #[schema(max_length = 100, example = "CI uploader")]
    pub name: String,
    /// What the key may do: `read`, `write`, `keys` (manage keys), `admin` (admins only, and
    /// only when asked for). Default: `read` and `write`.
    #[serde(default)]
    #[schema(value_type = Vec<Scope>, max_items = 4)]
    pub scopes: Capped<Scope, 4>,
    /// When the key stops working (default: never).
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A new API key. `key` is shown this once; only its hash is kept.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKeyResponse {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    /// Send as `Authorization: Bearer <key>`.
    pub key: String,
    pub created_at: DateTime<Utc>,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: Uuid,
    pub name: String,
    /// The key's first characters.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    /// Recorded at most once a minute.
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// One of the user's sign-ins.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: Uuid,
    pub started_at: DateTime<Utc>,
    /// When its tokens were last refreshed (about every quarter of an hour while in use).
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The sign-in that made this request.
    pub current: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    pub sessions: Vec<SessionView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    pub api_keys: Vec<ApiKeyView>,
}

/// The signed-in user's profile and quota.
#[utoipa::path(
    get, path = "/api/me", tag = "me",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, body = MeResponse),
        (status = 401, body = ErrorBody, description = "`unauthenticated`, `invalid_token`, `token_expired`"),
        (status = 403, body = ErrorBody, description = "`account_disabled`"),
    )
)]
pub async fn get_me(auth: web::Data<AuthService>, user: AuthUser) -> ApiResult<HttpResponse> {
    let p = auth.profile(user.user_id).await?;
    Ok(HttpResponse::Ok()
        .insert_header(CacheControl(vec![
            CacheDirective::Private,
            CacheDirective::NoCache,
        ]))
        .json(MeResponse {
            id: p.id,
            email: p.email,
            display_name: p.display_name,
            // The role that authorised this request is the current one; the read model may lag.
            role: user.role.into(),
            created_at: p.created_at,
            updated_at: p.updated_at,
            quota: p.quota.into(),
        }))
}

/// The signed-in user's API keys, newest first (revoked ones included).
#[utoipa::path(
    get, path = "/api/me/api-keys", tag = "me",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ApiKeyList), (status = 401, body = ErrorBody))
)]
pub async fn list_api_keys(
    auth: web::Data<AuthService>,
    user: AuthUser,
) -> ApiResult<HttpResponse> {
    let rows = auth.list_api_keys(user.user_id).await?;
    Ok(HttpResponse::Ok().json(ApiKeyList {
        api_keys: rows
            .into_iter()
            .map(|r| ApiKeyView {
                scopes: r.scopes(),
                id: r.id,
                name: r.name,
                prefix: r.prefix,
                created_at: r.created_at,
                last_used_at: r.last_used_at,
                revoked_at: r.revoked_at,
                expires_at: r.expires_at,
            })
            .collect(),
    }))
}

/// Create an API key. The response holds the key; it cannot be shown again.
#[utoipa::path(
    post, path = "/api/me/api-keys", tag = "me",
    security(("bearer" = []), ("cookie" = [])),
    request_body = CreateApiKeyRequest,
    responses(
        (status = 201, body = CreatedApiKeyResponse),
        (status = 400, body = ErrorBody, description = "`invalid_json`"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "`forbidden` (`admin` for a non-admin), `insufficient_scope` (a key without `keys`, or giving a scope it lacks)"),
        (status = 409, body = ErrorBody, description = "`too_many_api_keys`"),
        (status = 422, body = ErrorBody, description = "`validation_failed` (name, scopes, expires_at)"),
    )
)]
pub async fn create_api_key(
    auth: web::Data<AuthService>,
    user: AuthUser,
    body: web::Json<CreateApiKeyRequest>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let new = NewApiKey {
        name: b.name,
        scopes: b.scopes.into_vec("scopes")?,
        expires_at: b.expires_at,
    };
    let k = auth.create_api_key(user.principal(), new).await?;
    Ok(HttpResponse::Created()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(CreatedApiKeyResponse {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            key: k.key.expose_secret().to_owned(),
            created_at: k.created_at,
            scopes: k.scopes,
            expires_at: k.expires_at,
        }))
}

/// Revoke one of your API keys. Someone else's key id is `not_found`.
#[utoipa::path(
    delete, path = "/api/me/api-keys/{id}", tag = "me",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = Uuid, Path, description = "the key's id")),
    responses(
        (status = 204, description = "revoked (or already revoked)"),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "`not_found`"),
    )
)]
pub async fn revoke_api_key(
    auth: web::Data<AuthService>,
    user: AuthUser,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    if !user.method.allows(Scope::Keys) {
        return Err(crate::auth::AuthError::InsufficientScope("keys").into());
    }
    auth.revoke_api_key(user.user_id, id.into_inner().into())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Your sign-ins that are live, most recently used first.
#[utoipa::path(
    get, path = "/api/me/sessions", tag = "me",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = SessionList), (status = 401, body = ErrorBody))
)]
pub async fn list_sessions(
    auth: web::Data<AuthService>,
    user: AuthUser,
) -> ApiResult<HttpResponse> {
    let current = match user.method {
        crate::auth::AuthMethod::AccessToken { sign_in, .. } => sign_in,
        crate::auth::AuthMethod::ApiKey { .. } => None,
    };
    let rows = auth.list_sessions(user.user_id).await?;
    Ok(HttpResponse::Ok()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(SessionList {
            sessions: rows
                .into_iter()
                .map(|r| SessionView {
                    current: Some(r.id) == current,
                    id: r.id,
                    started_at: r.started_at,
                    last_used_at: r.refreshed_at,
                    expires_at: r.expires_at,
                })
                .collect(),
        }))
}

/// End one of your sign-ins (sign that device out). Someone else's id is `not_found`.
#[utoipa::path(
    delete, path = "/api/me/sessions/{id}", tag = "me",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = Uuid, Path, description = "the sign-in's id")),
    responses(
        (status = 204, description = "ended (or already)"),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "`not_found`"),
    )
)]
pub async fn end_session(
    auth: web::Data<AuthService>,
    user: AuthUser,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    auth.end_session(user.user_id, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/me/sessions").route(web::get().to(list_sessions)))
        .service(
            web::resource("/api/me/sessions/{id}")
                .app_data(path_config())
                .route(web::delete().to(end_session)),
        );
    cfg.service(web::resource("/api/me").route(web::get().to(get_me)))
        .service(
            web::resource("/api/me/api-keys")
                .app_data(json_config(BODY_LIMIT))
                .route(web::get().to(list_api_keys))
                .route(web::post().to(create_api_key)),
        )
        .service(
            web::resource("/api/me/api-keys/{id}")
                .app_data(path_config())
                .route(web::delete().to(revoke_api_key)),
        );
}

#[derive(OpenApi)]
#[openapi(
    paths(
        get_me,
        list_api_keys,
        create_api_key,
        revoke_api_key,
        list_sessions,
        end_session
    ),
    components(schemas(
        MeResponse,
        QuotaView,
        CreateApiKeyRequest,
        CreatedApiKeyResponse,
        ApiKeyView,
        ApiKeyList,
        SessionView,
        SessionList,
        Scope,
        ErrorBody
    ))
)]
struct MeApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    MeApi::openapi()
}
