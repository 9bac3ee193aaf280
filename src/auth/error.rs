//! Why an authentication or account operation failed, and the stable code each case shows.

use std::time::Duration;

use actix_web::http::StatusCode;
use tessera_events::users::UsersError;
use tessera_events::StoreError;

use crate::error::ApiError;
use tessera_events::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no credentials were presented")]
    Unauthenticated,
    #[error("the email address is already registered")]
    EmailTaken,
    #[error("email or password is wrong")]
    InvalidCredentials,
    #[error("weak password: {0}")]
    WeakPassword(&'static str),
    #[error("invalid email address: {0}")]
    InvalidEmail(&'static str),
    #[error("{field}: {message}")]
    InvalidField {
        field: &'static str,
        message: &'static str,
    },
    #[error("the token is invalid")]
    InvalidToken,
    #[error("the token has expired")]
    TokenExpired,
    #[error("a refresh token was used twice; the session was revoked")]
    RefreshTokenReused,
    #[error("changed concurrently")]
    Conflict,
    #[error("the account is disabled")]
    AccountDisabled,
    #[error("this sign-in was ended (signed out everywhere, a new password, or the account was disabled); sign in again")]
    SessionEnded,
    #[error("too many failed logins")]
    LoginThrottled { retry_after: Duration },
    #[error("too many sign-ups from this address")]
    RegistrationThrottled { retry_after: Duration },
    #[error("registration is closed")]
    RegistrationClosed,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("not allowed")]
    Forbidden,
    #[error("this link is unknown, was used already, or has expired; ask for a new one")]
    LinkInvalid,
    #[error("Tessera has an administrator already")]
    SetupDone,
    #[error("this API key's scopes do not allow it; it needs `{0}`")]
    InsufficientScope(&'static str),
    #[error("at most {limit} API keys may be in force at once; revoke one first")]
    TooManyApiKeys { limit: u32 },
    #[error("a request that changes something with the session cookie must come from a page of this site")]
    CrossOrigin,
    #[error("the last active admin cannot be disabled or demoted")]
    LastAdmin,
    /// A failure that is ours, not the client's (logged, shown as `internal_error`).
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Store(StoreError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        match e {
            // A lost race on a stream this layer did not expect to contend is transient.
            StoreError::WrongExpectedVersion { .. } => AuthError::Conflict,
            e => AuthError::Store(e),
        }
    }
}

impl From<UsersError> for AuthError {
    fn from(e: UsersError) -> Self {
        match e {
            UsersError::UserNotFound => AuthError::NotFound("user"),
            UsersError::ApiKeyNotFound => AuthError::NotFound("api key"),
            UsersError::EmailTaken | UsersError::UserExists => AuthError::EmailTaken,
            UsersError::SessionNotFound | UsersError::UnknownToken | UsersError::SessionExists => {
                AuthError::InvalidToken
            }
            UsersError::SessionRevoked { reason }
                if reason == tessera_events::users::REVOKED_REUSE =>
            {
                AuthError::RefreshTokenReused
            }
            UsersError::SessionRevoked { .. } => AuthError::InvalidToken,
            UsersError::SessionExpired => AuthError::TokenExpired,
            UsersError::ApiKeyExists => {
                AuthError::Store(StoreError::Invalid("api key id collision".into()))
            }
            UsersError::LastAdmin => AuthError::LastAdmin,
            UsersError::LinkInvalid => AuthError::LinkInvalid,
            UsersError::Store(e) => e.into(),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        use AuthError as E;
        let unauthorized = StatusCode::UNAUTHORIZED;
        let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
        match e {
            E::Unauthenticated => ApiError::new(
                unauthorized,
                ErrorCode::Unauthenticated,
                "sign in: send `Authorization: Bearer <token>`",
            ),
            E::EmailTaken => ApiError::conflict(ErrorCode::EmailTaken, e.to_string()),
            E::InvalidCredentials => {
                ApiError::new(unauthorized, ErrorCode::InvalidCredentials, e.to_string())
            }
            E::WeakPassword(_) => {
                ApiError::new(unprocessable, ErrorCode::WeakPassword, e.to_string())
                    .with_field("password")
            }
            E::InvalidEmail(_) => {
                ApiError::new(unprocessable, ErrorCode::InvalidEmail, e.to_string())
                    .with_field("email")
            }
            E::InvalidField { field, message } => ApiError::validation(field, message),
            E::InvalidToken => ApiError::new(unauthorized, ErrorCode::InvalidToken, e.to_string()),
            E::TokenExpired => ApiError::new(unauthorized, ErrorCode::TokenExpired, e.to_string()),
            E::RefreshTokenReused => {
                ApiError::new(unauthorized, ErrorCode::RefreshTokenReused, e.to_string())
            }
            E::Conflict => ApiError::conflict(
                ErrorCode::ConcurrentModification,
                "this was changed concurrently; retry (a refresh token: sign in again)",
            ),
            E::SessionEnded => ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::SessionEnded,
                e.to_string(),
            ),
            E::AccountDisabled => ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::AccountDisabled,
                e.to_string(),
            ),
            E::LoginThrottled { retry_after } => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::LoginThrottled,
                "too many failed logins; try again later",
            )
            // Round up: retrying at the advertised second must not be refused again.
            .with_retry_after(retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0)),
            E::RegistrationThrottled { retry_after } => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RegistrationThrottled,
                "too many sign-ups from this address; try again later",
            )
            .with_retry_after(retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0)),
            E::RegistrationClosed => ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::RegistrationClosed,
                e.to_string(),
            ),
            E::NotFound(what) => ApiError::not_found(what),
            E::Forbidden => ApiError::forbidden("this needs the admin role"),
            E::LinkInvalid => {
                ApiError::new(StatusCode::GONE, ErrorCode::LinkInvalid, e.to_string())
            }
            E::SetupDone => ApiError::conflict(ErrorCode::SetupDone, e.to_string()),
            E::InsufficientScope(_) => ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::InsufficientScope,
                e.to_string(),
            ),
            E::TooManyApiKeys { .. } => {
                ApiError::conflict(ErrorCode::TooManyApiKeys, e.to_string())
            }
            E::CrossOrigin => {
                ApiError::new(StatusCode::FORBIDDEN, ErrorCode::CrossOrigin, e.to_string())
            }
            E::LastAdmin => ApiError::conflict(ErrorCode::LastAdmin, e.to_string()),
            E::Internal(m) => ApiError::internal(m),
            E::Store(s) => s.into(),
            E::Database(d) => d.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Clients branch on these codes: changing one is a breaking API change.
    #[test]
    fn every_error_has_its_stable_status_and_code() {
        let cases: Vec<(AuthError, u16, &str)> = vec![
            (AuthError::Unauthenticated, 401, "unauthenticated"),
            (AuthError::EmailTaken, 409, "email_taken"),
            (AuthError::InvalidCredentials, 401, "invalid_credentials"),
            (AuthError::WeakPassword("x"), 422, "weak_password"),
            (AuthError::InvalidEmail("x"), 422, "invalid_email"),
            (
                AuthError::InvalidField {
                    field: "name",
                    message: "x",
                },
                422,
                "validation_failed",
            ),
            (AuthError::InvalidToken, 401, "invalid_token"),
            (AuthError::TokenExpired, 401, "token_expired"),
            (AuthError::RefreshTokenReused, 401, "refresh_token_reused"),
            (AuthError::Conflict, 409, "concurrent_modification"),
            (AuthError::AccountDisabled, 403, "account_disabled"),
            (
                AuthError::LoginThrottled {
                    retry_after: Duration::from_millis(1500),
                },
                429,
                "login_throttled",
            ),
            (AuthError::RegistrationClosed, 403, "registration_closed"),
            (
                AuthError::RegistrationThrottled {
                    retry_after: Duration::from_secs(3),
                },
                429,
                "registration_throttled",
            ),
            (AuthError::NotFound("api key"), 404, "not_found"),
            (AuthError::Forbidden, 403, "forbidden"),
            (AuthError::LastAdmin, 409, "last_admin"),
            (AuthError::Internal("x".into()), 500, "internal_error"),
        ];
        for (err, status, code) in cases {
            let what = format!("{err:?}");
            let api = ApiError::from(err);
            assert_eq!(
                (api.status.as_u16(), api.code.as_str()),
                (status, code),
                "{what}"
            );
        }
    }

    #[test]
    fn throttling_rounds_retry_after_up_and_fields_are_named() {
        let api = ApiError::from(AuthError::LoginThrottled {
            retry_after: Duration::from_millis(1500),
        });
        assert_eq!(api.retry_after, Some(2));
        assert_eq!(
            ApiError::from(AuthError::WeakPassword("x"))
                .field
                .as_deref(),
            Some("password")
        );
        assert_eq!(
            ApiError::from(AuthError::InvalidEmail("x"))
                .field
                .as_deref(),
            Some("email")
        );
    }

    #[test]
    fn domain_errors_map_without_leaking_which_check_failed() {
        let revoked = |reason: &str| {
            AuthError::from(UsersError::SessionRevoked {
                reason: reason.into(),
            })
        };
        assert!(matches!(
            revoked(tessera_events::users::REVOKED_REUSE),
            AuthError::RefreshTokenReused
        ));
        assert!(matches!(revoked("logout"), AuthError::InvalidToken));
        assert!(matches!(
            AuthError::from(UsersError::UnknownToken),
            AuthError::InvalidToken
        ));
        assert!(matches!(
            AuthError::from(UsersError::ApiKeyNotFound),
            AuthError::NotFound(_)
        ));
    }
}
