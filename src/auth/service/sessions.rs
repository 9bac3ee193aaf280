//! Signing in and out (password, refresh-token rotation, logout) and checking the credential
//! of each request (access token or API key).

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use tessera_events::aggregate::{execute, load};
use tessera_events::users::{
    email_stream, session_stream, user_stream, EmailClaim, Issued, Role, Session, SessionCommand,
    SessionEvent, User,
};
use tessera_events::{Aggregate, ExpectedVersion, UserId};
use uuid::Uuid;

use super::{after, AuthMethod, AuthService, Principal, SignedIn, STATUS_MAX_AGE};
use crate::auth::email::EmailAddress;
use crate::auth::error::AuthError;
use crate::auth::jwt::Claims;
use crate::auth::tokens;

impl AuthService {
    /// Checks email and password and signs in. Failures are throttled per account and address.
    #[tracing::instrument(name = "auth.login", skip_all, fields(client = ?client))]
    pub async fn login(
        &self,
        email: &str,
        password: SecretString,
        client: Option<IpAddr>,
    ) -> Result<SignedIn, AuthError> {
        if email.len() > EmailAddress::MAX_LEN * 4 || password.expose_secret().len() > 4 * 256 {
            // Far beyond anything valid: refuse before throttling state or hashing is touched.
            return Err(AuthError::InvalidCredentials);
        }
        let account = email.trim().to_lowercase();
        self.inner
            .throttle
            .begin(&account, client)
            .await
            .map_err(|retry_after| {
                tracing::warn!(?client, "login throttled");
                AuthError::LoginThrottled { retry_after }
            })?;
        let user = match EmailAddress::parse(email) {
            Ok(e) => self.find_by_email(&e).await?,
            Err(_) => None,
        };
        let phc = match user.as_ref().and_then(|u| u.password_hash.as_ref()) {
            Some(h) => h.as_str().to_owned(),
            None => self.dummy_hash().await?,
        };
        let matches = self.inner.hasher.verify(password, phc).await?;
        let user = match user {
            // A sign-up no administrator approved yet answers like a wrong password: otherwise
            // whoever asked for it could tell it from an address registered before.
            Some(u) if matches && !u.pending => u,
            _ => {
                tracing::info!(?client, "login failed");
                return Err(AuthError::InvalidCredentials);
            }
        };
        self.inner.throttle.succeeded(&account, client).await;
        let user_id = user.id.ok_or(AuthError::InvalidCredentials)?;
        // Only after the password was right, so guessing cannot discover disabled accounts.
        if user.disabled {
            return Err(AuthError::AccountDisabled);
        }
        tracing::info!(%user_id, "login succeeded");
        self.start_session(user_id, user.role).await
    }

    pub(super) async fn dummy_hash(&self) -> Result<String, AuthError> {
        self.inner
            .dummy_hash
            .get_or_try_init(|| async {
                let h = self
                    .inner
                    .hasher
                    .hash(SecretString::from(Uuid::new_v4().to_string()))
                    .await?;
                Ok::<_, AuthError>(h.as_str().to_owned())
            })
            .await
            .cloned()
    }

    async fn find_by_email(&self, email: &EmailAddress) -> Result<Option<User>, AuthError> {
        let claim = load::<EmailClaim>(self.store(), &email_stream(&email.sha256_hex())?).await?;
        let Some(user_id) = claim.state.user_id else {
            return Ok(None);
        };
        let user = load::<User>(self.store(), &user_stream(user_id))
            .await?
            .state;
        Ok(user.exists().then_some(user))
    }

    pub(super) async fn start_session(
        &self,
        user_id: UserId,
        role: Role,
    ) -> Result<SignedIn, AuthError> {
        let family = Uuid::new_v4();
        let refresh_token = tokens::new_refresh_token(family);
        let now = Utc::now();
        let refresh_expires_at = self.refresh_expiry(now);
        let ctx = self.context(Some(user_id));
        let token_hash = tokens::sha256_hex(refresh_token.expose_secret());
        let family_expires_at = after(now, self.inner.settings.session_max_lifetime_secs);
        let refresh_expires_at = refresh_expires_at.min(family_expires_at);
        execute::<Session>(
            self.store(),
            &session_stream(family),
            &ctx,
            Some(user_id),
            || SessionCommand::Start {
                user_id,
                token_hash: token_hash.clone(),
                expires_at: refresh_expires_at,
                family_expires_at: Some(family_expires_at),
                started_at: Some(now),
            },
        )
        .await?;
        self.signed_in(
            user_id.into_inner(),
            role,
            now,
            family,
            refresh_token,
            refresh_expires_at,
        )
    }

    fn refresh_expiry(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        after(now, self.inner.settings.refresh_token_ttl_secs)
    }

    /// Rotates a refresh token. A token that was already rotated revokes its whole family.
    #[tracing::instrument(name = "auth.refresh", skip_all, fields(family))]
    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<SignedIn, AuthError> {
        let presented = refresh_token.expose_secret();
        let family = tokens::refresh_token_family(presented).ok_or(AuthError::InvalidToken)?;
        tracing::Span::current().record("family", tracing::field::display(family));
        let stream = session_stream(family);
        let loaded = load::<Session>(self.store(), &stream).await?;
        let user_id = loaded.state.user_id.ok_or(AuthError::InvalidToken)?;
        let new_token = tokens::new_refresh_token(family);
        let now = Utc::now();
        let events = loaded.state.decide(SessionCommand::Refresh {
            presented_hash: tokens::sha256_hex(presented),
            new_hash: tokens::sha256_hex(new_token.expose_secret()),
            expires_at: self.refresh_expiry(now),
            now,
        })?;
        let reused = events
            .iter()
            .any(|e| matches!(e, SessionEvent::Revoked { .. }));
        let role = if reused {
            None
        } else {
            // A disabled user, or a sign-in that was ended, keeps no way back in; check before
            // rotating.
            let issued = Issued::Session(loaded.state.started_at);
            Some(self.user_access(user_id, Duration::ZERO, issued).await?)
        };
        let ctx = self.context(Some(user_id));
        let data = ctx.to_event_data(&stream, &events, Some(user_id))?;
        // Exact version: of two concurrent refreshes with the same token, one wins.
        self.store()
            .append(&stream, ExpectedVersion::Exact(loaded.version), data)
            .await?;
        let Some(role) = role else {
            tracing::warn!(%user_id, %family, "refresh token reuse detected; family revoked");
            return Err(AuthError::RefreshTokenReused);
        };
        let refresh_expires_at = events
            .iter()
            .find_map(|e| match e {
                SessionEvent::Refreshed { expires_at, .. } => Some(*expires_at),
                _ => None,
            })
            .unwrap_or_else(|| self.refresh_expiry(now));
        self.signed_in(
            user_id.into_inner(),
            role,
            now,
            family,
            new_token,
            refresh_expires_at,
        )
    }

    /// What the client gets for a sign-in or refresh: a fresh access token with the refresh
    /// token.
    fn signed_in(
        &self,
        user_id: Uuid,
        role: Role,
        now: DateTime<Utc>,
        family: Uuid,
        refresh_token: SecretString,
        refresh_expires_at: DateTime<Utc>,
    ) -> Result<SignedIn, AuthError> {
        let (access_token, access_expires_at) =
            self.inner.jwt.issue(user_id, role, now, Some(family))?;
        Ok(SignedIn {
            user_id,
            role,
            access_token: SecretString::from(access_token),
            access_expires_at,
            refresh_token,
            refresh_expires_at,
        })
    }

    /// Signs out: revokes the refresh token's family. Revoking twice is fine.
    #[tracing::instrument(name = "auth.logout", skip_all, fields(family))]
    pub async fn logout(&self, refresh_token: &SecretString) -> Result<(), AuthError> {
        let presented = refresh_token.expose_secret();
        let family = tokens::refresh_token_family(presented).ok_or(AuthError::InvalidToken)?;
        tracing::Span::current().record("family", tracing::field::display(family));
        let stream = session_stream(family);
        let user_id = load::<Session>(self.store(), &stream)
            .await?
            .state
            .user_id
            .ok_or(AuthError::InvalidToken)?;
        let presented_hash = tokens::sha256_hex(presented);
        execute::<Session>(
            self.store(),
            &stream,
            &self.context(Some(user_id)),
            Some(user_id),
            || SessionCommand::Logout {
                presented_hash: presented_hash.clone(),
            },
        )
        .await?;
        self.inner.sessions.invalidate(family);
        tracing::info!(%user_id, "logged out");
        Ok(())
    }

    /// Verifies an access token (JWT) and that its user may still act.
    pub async fn authenticate_access_token(&self, token: &str) -> Result<Principal, AuthError> {
        let claims: Claims = self.inner.jwt.verify(token)?;
        let issued = Issued::Session(claims.issued_at());
        let role = self
            .user_access(UserId(claims.sub), STATUS_MAX_AGE, issued)
            .await?;
        // A sign-in that ended (signed out, or ended from another device) takes its access
        // tokens with it, within the status cache's age.
        if let Some(sid) = claims.sid {
            let ended = self
                .inner
                .sessions
                .read(
                    self.store(),
                    sid,
                    &session_stream(sid),
                    STATUS_MAX_AGE,
                    |s: &Session| s.revoked.is_some(),
                )
                .await?;
            if ended {
                return Err(AuthError::SessionEnded);
            }
        }
        Ok(Principal {
            user_id: claims.sub.into(),
            role,
            method: AuthMethod::AccessToken {
                token_id: claims.jti,
                sign_in: claims.sid,
            },
        })
    }

    /// Verifies a bearer credential: an API key (`tsk_…`) or an access token.
    pub async fn authenticate_bearer(&self, credential: &str) -> Result<Principal, AuthError> {
        if tokens::looks_like_api_key(credential) {
            self.verify_api_key(credential).await
        } else {
            self.authenticate_access_token(credential).await
        }
    }

    /// The user's current role, if the user exists, is not disabled, and the credential
    /// `issued` was not ended since.
    pub(super) async fn user_access(
        &self,
        user_id: UserId,
        max_age: Duration,
        issued: Issued,
    ) -> Result<Role, AuthError> {
        let status = self
            .inner
            .users
            .read(
                self.store(),
                user_id.into_inner(),
                &user_stream(user_id),
                max_age,
                |u: &User| {
                    u.exists()
                        .then_some((u.role, u.disabled, u.still_valid(issued)))
                },
            )
            .await?;
        match status {
            None => Err(AuthError::InvalidToken),
            Some((_, true, _)) => Err(AuthError::AccountDisabled),
            Some((_, false, false)) => Err(AuthError::SessionEnded),
            Some((role, false, true)) => Ok(role),
        }
    }
}
