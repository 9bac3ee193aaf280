//! `/api/auth/*`: register, log in, refresh, log out.
//!
//! Token responses carry the access and refresh tokens in the body (for API clients) and as
//! HttpOnly, SameSite=Strict cookies (for the browser UI, whose scripts never see them).

use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tessera_events::users::Role;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

use super::json::json_config;
use crate::auth::{AuthService, NewUser, SignUp, SignedIn, ACCESS_COOKIE};
use crate::error::{ApiResult, ErrorBody};

/// The cookie that carries the refresh token; sent only to `/api/auth`.
pub const REFRESH_COOKIE: &str = "refresh_token";
const REFRESH_COOKIE_PATH: &str = "/api/auth";
/// Auth bodies are a few short fields; anything bigger is not a real request.
const BODY_LIMIT: usize = 16 * 1024;

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoleName {
    Admin,
    User,
}

impl From<Role> for RoleName {
    fn from(r: Role) -> Self {
        match r {
            Role::Admin => RoleName::Admin,
            Role::User => RoleName::User,
        }
    }
}

impl From<RoleName> for Role {
    fn from(r: RoleName) -> Self {
        match r {
            RoleName::Admin => Role::Admin,
            RoleName::User => Role::User,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    #[schema(max_length = 254, example = "ada@example.com")]
    pub email: String,
    /// At least 10 characters and hard to guess (estimated with zxcvbn: no common words, names,
    /// dates, keyboard patterns or the email address).
    #[schema(value_type = String, format = Password, min_length = 10, max_length = 256)]
    pub password: SecretString,
    #[schema(max_length = 100, example = "Ada Lovelace")]
    pub display_name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(max_length = 254)]
    pub email: String,
    #[schema(value_type = String, format = Password, max_length = 256)]
    pub password: SecretString,
}

/// A new password for the signed-in user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    #[schema(value_type = String, format = Password, max_length = 256)]
    pub current_password: SecretString,
    #[schema(value_type = String, format = Password, min_length = 10, max_length = 256)]
    pub new_password: SecretString,
}

/// The refresh token, or `{}` to use the `refresh_token` cookie.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 128)]
    pub refresh_token: Option<SecretString>,
}

/// A signed-in session. A browser page (a request that names its `Origin`) gets the tokens
/// only as `HttpOnly` cookies, which its scripts cannot read; other clients get them here.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub user_id: Uuid,
    pub role: RoleName,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// A short-lived JWT for `Authorization: Bearer …` (absent for browser pages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub access_token_expires_at: DateTime<Utc>,
    /// Single use: exchange it at `/api/auth/refresh` for new tokens. Using one twice revokes
    /// the whole session. (Absent for browser pages.)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub refresh_token_expires_at: DateTime<Utc>,
}

fn cookie(
    name: &'static str,
    value: String,
    path: &'static str,
    until: DateTime<Utc>,
    secure: bool,
) -> Cookie<'static> {
    let secs = (until - Utc::now()).num_seconds().max(0);
    Cookie::build(name, value)
        .path(path)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(time::Duration::seconds(secs))
        .finish()
}

fn removal(name: &'static str, path: &'static str, secure: bool) -> Cookie<'static> {
    let mut c = cookie(name, String::new(), path, Utc::now(), secure);
    c.make_removal();
    c
}

/// Cookies are `Secure` when the deployment is served over HTTPS (`server.public_url`), so
/// plain-HTTP development on a LAN address still works, and no request header can turn it off.
fn is_https(req: &HttpRequest) -> bool {
    crate::site::Site::of(req).https
}

pub(crate) fn signed_in_response(
    req: &HttpRequest,
    status: StatusCode,
    s: SignedIn,
) -> HttpResponse {
    let secure = is_https(req);
    // Browsers name the page on every POST; their scripts get no token to leak.
    let browser = req.headers().contains_key(header::ORIGIN);
    let access = s.access_token.expose_secret().to_owned();
    let refresh = s.refresh_token.expose_secret().to_owned();
    HttpResponse::build(status)
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .cookie(cookie(
            ACCESS_COOKIE,
            access.clone(),
            "/",
            s.access_expires_at,
            secure,
        ))
        .cookie(cookie(
            REFRESH_COOKIE,
            refresh.clone(),
            REFRESH_COOKIE_PATH,
            s.refresh_expires_at,
            secure,
        ))
        .json(TokenResponse {
            user_id: s.user_id,
            role: s.role.into(),
            token_type: "Bearer",
            access_token: (!browser).then_some(access),
            expires_in: (s.access_expires_at - Utc::now()).num_seconds().max(0),
            access_token_expires_at: s.access_expires_at,
            refresh_token: (!browser).then_some(refresh),
            refresh_token_expires_at: s.refresh_expires_at,
        })
}

/// The refresh token from the body, else from the cookie.
/// The refresh token of the body, else of the cookie; the cookie only from a page of this site
/// (browsers name it in `Origin`), so another site cannot refresh or end the session.
fn presented_refresh_token(
    req: &HttpRequest,
    body: RefreshRequest,
) -> Result<Option<SecretString>, crate::auth::AuthError> {
    if let Some(token) = body.refresh_token {
        return Ok(Some(token));
    }
    let Some(cookie) = req.cookie(REFRESH_COOKIE).filter(|c| !c.value().is_empty()) else {
        return Ok(None);
    };
    if crate::site::same_origin(req) != Some(true) {
        return Err(crate::auth::AuthError::CrossOrigin);
    }
    Ok(Some(SecretString::from(cookie.value())))
}

/// Create an account (when registration is open). Where sign-ups need an administrator's
/// approval (`auth.approve_new_accounts`, the default) the answer is 202 whether or not the
/// address is registered; otherwise the account is signed in at once.
#[utoipa::path(
    post, path = "/api/auth/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, body = TokenResponse, description = "account created and signed in"),
        (status = 202, body = SignUpRequested, description = "sign-up received; an administrator approves it before it can sign in"),
        (status = 400, body = ErrorBody, description = "`invalid_json`"),
        (status = 403, body = ErrorBody, description = "`registration_closed`"),
        (status = 409, body = ErrorBody, description = "`email_taken`"),
        (status = 413, body = ErrorBody, description = "`payload_too_large`"),
        (status = 422, body = ErrorBody, description = "`invalid_email`, `weak_password`, `validation_failed`"),
        (status = 429, body = ErrorBody, description = "`registration_throttled`; see `Retry-After`"),
    )
)]
pub async fn register(
    auth: web::Data<AuthService>,
    req: HttpRequest,
    body: web::Json<RegisterRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let client = crate::client_addr::client_ip(&req);
    let new = NewUser {
        email: body.email,
        password: body.password,
        display_name: body.display_name,
    };
    match auth.sign_up(new, client).await? {
        SignUp::SignedIn(signed) => Ok(signed_in_response(&req, StatusCode::CREATED, signed)),
        SignUp::AwaitingApproval => Ok(HttpResponse::Accepted().json(SignUpRequested {
            status: "awaiting_approval",
        })),
    }
}

/// A sign-up was received. It tells nothing about whether the address already had an account.
#[derive(Serialize, ToSchema)]
pub struct SignUpRequested {
    /// `awaiting_approval`: an administrator approves the account before it can sign in.
    pub status: &'static str,
}

/// Sign in with email and password. Failed attempts are throttled per account and per address.
#[utoipa::path(
    post, path = "/api/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 400, body = ErrorBody, description = "`invalid_json`"),
        (status = 401, body = ErrorBody, description = "`invalid_credentials`"),
        (status = 403, body = ErrorBody, description = "`account_disabled`"),
        (status = 429, body = ErrorBody, description = "`login_throttled`; see `Retry-After`"),
    )
)]
pub async fn login(
    auth: web::Data<AuthService>,
    req: HttpRequest,
    body: web::Json<LoginRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    // The socket's peer, or who a trusted proxy says it forwards; never a header a client
    // could forge to dodge throttling.
    let client = crate::client_addr::client_ip(&req);
    let signed = auth.login(&body.email, body.password, client).await?;
    Ok(signed_in_response(&req, StatusCode::OK, signed))
}

/// Exchange a refresh token for new tokens. The presented token is used up; presenting it again
/// revokes the session (`refresh_token_reused`).
#[utoipa::path(
    post, path = "/api/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 400, body = ErrorBody, description = "`invalid_json`"),
        (status = 401, body = ErrorBody, description = "`unauthenticated`, `invalid_token`, `token_expired`, `refresh_token_reused`"),
        (status = 403, body = ErrorBody, description = "`account_disabled`"),
        (status = 409, body = ErrorBody, description = "`concurrent_modification`: refreshed concurrently"),
    )
)]
pub async fn refresh(
    auth: web::Data<AuthService>,
    req: HttpRequest,
    body: web::Json<RefreshRequest>,
) -> ApiResult<HttpResponse> {
    let token = presented_refresh_token(&req, body.into_inner())?
        .ok_or(crate::auth::AuthError::Unauthenticated)?;
    let signed = auth.refresh(&token).await?;
    Ok(signed_in_response(&req, StatusCode::OK, signed))
}

/// Sign out: revokes the refresh token's session and clears the cookies. Without a token it
/// only clears the cookies.
#[utoipa::path(
    post, path = "/api/auth/logout", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "signed out"),
        (status = 400, body = ErrorBody, description = "`invalid_json`"),
        (status = 401, body = ErrorBody, description = "`invalid_token`"),
    )
)]
pub async fn logout(
    auth: web::Data<AuthService>,
    req: HttpRequest,
    body: web::Json<RefreshRequest>,
) -> ApiResult<HttpResponse> {
    if let Some(token) = presented_refresh_token(&req, body.into_inner())? {
        auth.logout(&token).await?;
    }
    let secure = is_https(&req);
    Ok(HttpResponse::NoContent()
        .cookie(removal(ACCESS_COOKIE, "/", secure))
        .cookie(removal(REFRESH_COOKIE, REFRESH_COOKIE_PATH, secure))
        .finish())
}

/// Change your password
///
/// Needs the current password (guesses are throttled like logins). Every sign-in of the account
/// ends, on every device; the caller is signed in again with new tokens.
#[utoipa::path(
    post, path = "/api/me/password", tag = "auth",
    security(("bearer" = []), ("cookie" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 200, body = TokenResponse, description = "changed; a new sign-in"),
        (status = 400, body = ErrorBody, description = "`invalid_json`"),
        (status = 401, body = ErrorBody, description = "`unauthenticated`, `invalid_token`, `session_ended`"),
        (status = 403, body = ErrorBody, description = "`cross_origin`"),
        (status = 422, body = ErrorBody, description = "`validation_failed` (field `current_password`: wrong), `weak_password`"),
        (status = 429, body = ErrorBody, description = "`login_throttled`; see `Retry-After`"),
    )
)]
pub async fn change_password(
    user: crate::auth::AuthUser,
    auth: web::Data<AuthService>,
    req: HttpRequest,
    body: web::Json<ChangePasswordRequest>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let client = crate::client_addr::client_ip(&req);
    let signed = auth
        .change_password(user.user_id, b.current_password, b.new_password, client)
        .await?;
    Ok(signed_in_response(&req, StatusCode::OK, signed))
}

/// Sign out everywhere
///
/// Ends every sign-in of the account (this one included): refresh tokens stop working at once
/// and access tokens within seconds, on every device. API keys stay.
#[utoipa::path(
    post, path = "/api/auth/logout-all", tag = "auth",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 204, description = "every sign-in ended"),
        (status = 401, body = ErrorBody, description = "`unauthenticated`, `invalid_token`, `session_ended`"),
        (status = 403, body = ErrorBody, description = "`cross_origin`"),
    )
)]
pub async fn logout_all(
    user: crate::auth::AuthUser,
    auth: web::Data<AuthService>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    auth.end_sessions(user.user_id).await?;
    let secure = is_https(&req);
    Ok(HttpResponse::NoContent()
        .cookie(removal(ACCESS_COOKIE, "/", secure))
        .cookie(removal(REFRESH_COOKIE, REFRESH_COOKIE_PATH, secure))
        .finish())
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/auth/logout-all").route(web::post().to(logout_all)));
    for (path, handler) in [
        ("/api/auth/register", web::post().to(register)),
        ("/api/auth/login", web::post().to(login)),
        ("/api/auth/refresh", web::post().to(refresh)),
        ("/api/auth/logout", web::post().to(logout)),
        ("/api/me/password", web::post().to(change_password)),
    ] {
        cfg.service(
            web::resource(path)
                .app_data(json_config(BODY_LIMIT))
                .route(handler),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    paths(register, login, refresh, logout, change_password, logout_all),
    components(schemas(
        ChangePasswordRequest,
        RegisterRequest,
        SignUpRequested,
        LoginRequest,
        RefreshRequest,
        TokenResponse,
        RoleName,
        ErrorBody
    ))
)]
struct AuthApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    AuthApi::openapi()
}
