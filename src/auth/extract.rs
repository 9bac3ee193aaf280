//! Authorization as typed extractors: a handler that takes `AuthUser` or `AdminUser` cannot run
//! for a caller who is not signed in (or not an admin).

use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::http::Method;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use tessera_events::users::{Role, Scope};
use tessera_events::UserId;

use super::error::AuthError;
use super::service::{AuthMethod, AuthService, Principal};
use crate::error::ApiError;

/// The cookie that carries the access token for the browser UI.
pub const ACCESS_COOKIE: &str = "access_token";

/// Any signed-in user: `Authorization: Bearer <access token | API key>`, or the access-token
/// cookie. The role is the user's current one, not the one in an older token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthUser {
    pub user_id: UserId,
    pub role: Role,
    pub method: AuthMethod,
}

impl AuthUser {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

impl AuthUser {
    /// The caller as the auth service saw them.
    pub fn principal(&self) -> Principal {
        Principal {
            user_id: self.user_id,
            role: self.role,
            method: self.method,
        }
    }
}

impl From<Principal> for AuthUser {
    fn from(p: Principal) -> Self {
        Self {
            user_id: p.user_id,
            role: p.role,
            method: p.method,
        }
    }
}

/// A signed-in user with the admin role; anyone else gets 403 `forbidden`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminUser(pub AuthUser);

impl Deref for AdminUser {
    type Target = AuthUser;

    fn deref(&self) -> &AuthUser {
        &self.0
    }
}

enum Credential {
    /// From the `Authorization` header: an access token or an API key.
    Bearer(String),
    /// From the cookie: an access token only.
    Cookie(String),
}

fn credential(req: &HttpRequest) -> Result<Credential, AuthError> {
    if let Some(value) = req.headers().get(AUTHORIZATION) {
        let value = value.to_str().map_err(|_| AuthError::InvalidToken)?;
        let (scheme, token) = value.split_once(' ').ok_or(AuthError::InvalidToken)?;
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
            return Err(AuthError::InvalidToken);
        }
        return Ok(Credential::Bearer(token.to_owned()));
    }
    match req.cookie(ACCESS_COOKIE) {
        Some(c) if !c.value().is_empty() => {
            // A request that changes something on the cookie alone must come from a page of this
            // site (defence against cross-site request forgery beside `SameSite`): browsers name
            // the page in `Origin` on every such request.
            let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
            if !safe && crate::site::same_origin(req) != Some(true) {
                return Err(AuthError::CrossOrigin);
            }
            Ok(Credential::Cookie(c.value().to_owned()))
        }
        _ => Err(AuthError::Unauthenticated),
    }
}

fn service(req: &HttpRequest) -> Result<web::Data<AuthService>, ApiError> {
    req.app_data::<web::Data<AuthService>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("AuthService is not registered as app data"))
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let service = service(req);
        let credential = credential(req);
        let needed = crate::auth::scopes::needed_for(req.method());
        Box::pin(async move {
            let service = service?;
            let principal = match credential? {
                Credential::Bearer(c) => service.authenticate_bearer(&c).await?,
                Credential::Cookie(c) => service.authenticate_access_token(&c).await?,
            };
            if !principal.method.allows(needed) {
                return Err(AuthError::InsufficientScope(needed.as_str()).into());
            }
            Ok(principal.into())
        })
    }
}

impl FromRequest for AdminUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = AuthUser::from_request(req, payload);
        Box::pin(async move {
            let user = user.await?;
            if !user.is_admin() {
                return Err(AuthError::Forbidden.into());
            }
            // An admin's key acts as an admin only when it was made for that.
            if !user.method.allows(Scope::Admin) {
                return Err(AuthError::InsufficientScope("admin").into());
            }
            Ok(AdminUser(user))
        })
    }
}
