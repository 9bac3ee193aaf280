//! One-time links: the setup link a fresh install prints, with which the first person creates
//! the administrator in the browser; and password-reset links an admin hands a user.
//!
//! A link token is `<link uuid>.<32 random bytes, base64url>`; the uuid names its stream, where
//! only the token's sha256 is kept. Using a link appends `link.used` with the stream's exact
//! version, so it works once even when two requests race.

use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use tessera_events::aggregate::{execute, load};
use tessera_events::users::{
    link_stream, roster_stream, user_stream, AdminRoster, Link, LinkCommand, LinkPurpose, Role,
    User, UserCommand, ENDED_PASSWORD_RESET,
};
use tessera_events::{Aggregate, ExpectedVersion, UserId};
use uuid::Uuid;

use super::{AuthService, NewUser, SignedIn};
use crate::auth::email::EmailAddress;
use crate::auth::error::AuthError;
use crate::auth::{names, password, tokens};

/// How long a link works.
pub const LINK_TTL: Duration = Duration::hours(24);

impl AuthService {
    /// Whether the deployment has an active administrator.
    pub async fn has_admin(&self) -> Result<bool, AuthError> {
        Ok(self.roster_without_admins().await?.is_none())
    }

    /// The roster's version while it has no active administrator; `None` once it has one.
    async fn roster_without_admins(&self) -> Result<Option<ExpectedVersion>, AuthError> {
        let roster = load::<AdminRoster>(self.store(), &roster_stream()).await?;
        Ok(roster
            .state
            .active
            .is_empty()
            .then_some(match roster.version {
                0 => ExpectedVersion::NoStream,
                v => ExpectedVersion::Exact(v),
            }))
    }

    /// A setup link's token, when no administrator exists yet; `None` otherwise.
    pub async fn issue_setup_link(
        &self,
    ) -> Result<Option<(SecretString, DateTime<Utc>)>, AuthError> {
        if self.has_admin().await? {
            return Ok(None);
        }
        self.issue_link(LinkPurpose::Setup, None).await.map(Some)
    }

    /// A one-time link with which `target` sets a new password, issued by `admin`.
    #[tracing::instrument(name = "auth.admin.reset_link", skip_all, fields(%admin, %target))]
    pub async fn issue_reset_link(
        &self,
        admin: UserId,
        target: UserId,
    ) -> Result<(SecretString, DateTime<Utc>), AuthError> {
        let user = load::<User>(self.store(), &user_stream(target.0))
            .await?
            .state;
        if !user.exists() {
            return Err(AuthError::NotFound("user"));
        }
        let purpose = LinkPurpose::PasswordReset { user_id: target };
        self.issue_link(purpose, Some(admin.0)).await
    }

    async fn issue_link(
        &self,
        purpose: LinkPurpose,
        by: Option<Uuid>,
    ) -> Result<(SecretString, DateTime<Utc>), AuthError> {
        let id = Uuid::new_v4();
        let token = tokens::new_refresh_token(id);
        let expires_at = Utc::now() + LINK_TTL;
        execute::<Link>(
            self.store(),
            &link_stream(id),
            &self.context(by.map(UserId)),
            None,
            || LinkCommand::Issue {
                purpose,
                token_hash: tokens::sha256_hex(token.expose_secret()),
                expires_at,
                by: by.map(UserId),
            },
        )
        .await?;
        Ok((token, expires_at))
    }

    /// Uses the link `token` for `purpose` (once): `LinkInvalid` unless it opens.
    async fn use_link(&self, token: &SecretString, purpose: LinkPurpose) -> Result<(), AuthError> {
        let id =
            tokens::refresh_token_family(token.expose_secret()).ok_or(AuthError::LinkInvalid)?;
        let stream = link_stream(id);
        let loaded = load::<Link>(self.store(), &stream).await?;
        let events = loaded.state.decide(LinkCommand::Use {
            purpose,
            presented_hash: tokens::sha256_hex(token.expose_secret()),
            now: Utc::now(),
        })?;
        let data = self.context(None).to_event_data(&stream, &events, None)?;
        self.store()
            .append(&stream, ExpectedVersion::Exact(loaded.version), data)
            .await
            .map_err(|e| {
                if e.is_concurrency_conflict() {
                    AuthError::LinkInvalid
                } else {
                    e.into()
                }
            })?;
        Ok(())
    }

    /// Creates the first administrator with a setup link, and signs them in.
    #[tracing::instrument(name = "auth.setup", skip_all)]
    pub async fn setup_admin(
        &self,
        token: &SecretString,
        new: NewUser,
    ) -> Result<SignedIn, AuthError> {
        // What would refuse the account is checked before the link is used up.
        let email = EmailAddress::parse(&new.email)?;
        names::display_name(&new.display_name)?;
        password::check_policy(new.password.expose_secret(), &email)?;
        let Some(roster) = self.roster_without_admins().await? else {
            return Err(AuthError::SetupDone);
        };
        self.use_link(token, LinkPurpose::Setup).await?;
        // Only while the roster is as it was without an administrator: two setup links used at
        // once make one administrator, not two.
        let user_id = match self.create_user_at(new, Role::Admin, None, roster).await {
            Err(AuthError::EmailTaken) if self.has_admin().await? => {
                return Err(AuthError::SetupDone)
            }
            other => other?,
        };
        tracing::info!(%user_id, "the first administrator was created with the setup link");
        self.start_session(user_id, Role::Admin).await
    }

    /// Sets a new password with a reset link; every sign-in of the account ends.
    #[tracing::instrument(name = "auth.reset_password", skip_all)]
    pub async fn reset_password(
        &self,
        token: &SecretString,
        new_password: SecretString,
    ) -> Result<UserId, AuthError> {
        let id =
            tokens::refresh_token_family(token.expose_secret()).ok_or(AuthError::LinkInvalid)?;
        let link = load::<Link>(self.store(), &link_stream(id)).await?.state;
        let Some(LinkPurpose::PasswordReset { user_id }) = link.purpose else {
            return Err(AuthError::LinkInvalid);
        };
        let stream = user_stream(user_id);
        let user = load::<User>(self.store(), &stream).await?.state;
        let email = EmailAddress::parse(&user.email)?;
        password::check_policy(new_password.expose_secret(), &email)?;
        self.use_link(token, LinkPurpose::PasswordReset { user_id })
            .await?;
        let password_hash = self.inner.hasher.hash(new_password).await?;
        execute::<User>(
            self.store(),
            &stream,
            &self.context(Some(user_id)),
            Some(user_id),
            || UserCommand::ChangePassword {
                password_hash: password_hash.clone(),
                at: Utc::now(),
                reason: ENDED_PASSWORD_RESET,
            },
        )
        .await?;
        self.inner.users.invalidate(user_id.into_inner());
        tracing::info!(%user_id, "password reset with a link; every sign-in ended");
        Ok(user_id)
    }
}
