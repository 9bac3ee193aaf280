//! What a user does to their own account: change their password, sign out everywhere.
//!
//! Both end every sign-in the account has (a [`UserEvent::SessionsEnded`] in the account's
//! stream): refresh tokens stop rotating and access tokens issued before stop working, on every
//! node, however far its caches lag (at most the status cache's age). A new password signs the
//! caller in again at once.
//!
//! [`UserEvent::SessionsEnded`]: tessera_events::users::UserEvent::SessionsEnded

use std::net::IpAddr;

use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use tessera_events::aggregate::{execute, load};
use tessera_events::users::{user_stream, User, UserCommand, ENDED_PASSWORD_CHANGED};
use tessera_events::UserId;

use super::{AuthService, SignedIn};
use crate::auth::email::EmailAddress;
use crate::auth::error::AuthError;
use crate::auth::password;

impl AuthService {
    /// Replaces the caller's password after checking the current one (throttled like a
    /// login); ends every sign-in of the account and starts a new one for the caller.
    #[tracing::instrument(name = "auth.change_password", skip_all, fields(%user_id))]
    pub async fn change_password(
        &self,
        user_id: UserId,
        current: SecretString,
        new: SecretString,
        client: Option<IpAddr>,
    ) -> Result<SignedIn, AuthError> {
        let stream = user_stream(user_id.0);
        let user = load::<User>(self.store(), &stream).await?.state;
        if !user.exists() {
            return Err(AuthError::InvalidToken);
        }
        self.inner
            .throttle
            .begin(&user.email, client)
            .await
            .map_err(|retry_after| AuthError::LoginThrottled { retry_after })?;
        let phc = match &user.password_hash {
            Some(h) => h.as_str().to_owned(),
            None => self.dummy_hash().await?,
        };
        if !self.inner.hasher.verify(current, phc).await? || user.password_hash.is_none() {
            return Err(AuthError::InvalidField {
                field: "current_password",
                message: "the current password is wrong",
            });
        }
        self.inner.throttle.succeeded(&user.email, client).await;
        let email = EmailAddress::parse(&user.email)?;
        password::check_policy(new.expose_secret(), &email)?;
        let password_hash = self.inner.hasher.hash(new).await?;
        let at = Utc::now();
        execute::<User>(
            self.store(),
            &stream,
            &self.context(Some(user_id)),
            Some(user_id),
            || UserCommand::ChangePassword {
                password_hash: password_hash.clone(),
                at,
                reason: ENDED_PASSWORD_CHANGED,
            },
        )
        .await?;
        self.inner.users.invalidate(user_id.0);
        tracing::info!("password changed; every sign-in ended");
        self.start_session(user_id, user.role).await
    }

    /// Ends every sign-in of the account, the caller's own included.
    #[tracing::instrument(name = "auth.end_sessions", skip_all, fields(%user_id))]
    pub async fn end_sessions(&self, user_id: UserId) -> Result<(), AuthError> {
        execute::<User>(
            self.store(),
            &user_stream(user_id.0),
            &self.context(Some(user_id)),
            Some(user_id),
            || UserCommand::EndSessions { at: Utc::now() },
        )
        .await?;
        self.inner.users.invalidate(user_id.0);
        tracing::info!("signed out everywhere");
        Ok(())
    }
}

impl AuthService {
    /// The user's live sign-ins (from the read model), most recently used first.
    pub async fn list_sessions(
        &self,
        user_id: UserId,
    ) -> Result<Vec<tessera_projections::read_models::sessions::SessionRow>, AuthError> {
        Ok(tessera_projections::read_models::sessions::live_for_user(
            &self.inner.pool,
            user_id.0,
            Utc::now(),
        )
        .await?)
    }

    /// Ends one of the user's sign-ins (someone else's is "not found"): its refresh token stops
    /// at once, its access tokens and sockets within seconds.
    #[tracing::instrument(name = "auth.end_session", skip_all, fields(%user_id, %sign_in))]
    pub async fn end_session(&self, user_id: UserId, sign_in: uuid::Uuid) -> Result<(), AuthError> {
        use tessera_events::users::{session_stream, Session, SessionCommand};
        let stream = session_stream(sign_in);
        let session = load::<Session>(self.store(), &stream).await?.state;
        if session.user_id != Some(user_id) {
            return Err(AuthError::NotFound("session"));
        }
        execute::<Session>(
            self.store(),
            &stream,
            &self.context(Some(user_id)),
            Some(user_id),
            || SessionCommand::Revoke {
                reason: "ended_by_user".into(),
            },
        )
        .await?;
        self.inner.sessions.invalidate(sign_in);
        Ok(())
    }
}
