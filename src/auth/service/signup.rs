//! Opening accounts: self-service sign-up and admin accounts made from the command line.

use std::net::IpAddr;

use secrecy::{ExposeSecret, SecretString};
use tessera_events::aggregate::load;
use tessera_events::users::{email_stream, EmailClaim, Registration, Role};
use uuid::Uuid;

use super::{AuthService, NewUser, SignedIn};
use crate::auth::email::EmailAddress;
use crate::auth::error::AuthError;
use crate::auth::{names, password};

impl AuthService {
    /// Opens an account with the `user` role and signs it in.
    pub async fn register(&self, new: NewUser) -> Result<SignedIn, AuthError> {
        self.register_from(new, None).await
    }

    /// Like [`AuthService::register`], counting the sign-up against the client's address (each
    /// costs a password hash, so an address may only open so many accounts per window).
    #[tracing::instrument(name = "auth.register", skip_all, fields(client = ?client))]
    pub async fn register_from(
        &self,
        new: NewUser,
        client: Option<IpAddr>,
    ) -> Result<SignedIn, AuthError> {
        if !self.inner.settings.open_registration {
            return Err(AuthError::RegistrationClosed);
        }
        if let Some(ip) = client {
            self.inner
                .throttle
                .begin_registration(ip)
                .await
                .map_err(|retry_after| AuthError::RegistrationThrottled { retry_after })?;
        }
        let user_id = self.create_user(new, Role::User, None).await?;
        self.start_session(user_id, Role::User).await
    }

    /// Creates an admin account (the `tessera users create-admin` command); open registration
    /// does not matter here.
    #[tracing::instrument(name = "auth.create_admin", skip_all)]
    pub async fn create_admin(
        &self,
        email: &str,
        password: SecretString,
        display_name: &str,
    ) -> Result<Uuid, AuthError> {
        let new = NewUser {
            email: email.to_owned(),
            password,
            display_name: display_name.to_owned(),
        };
        self.create_user(new, Role::Admin, None).await
    }

    pub(super) async fn create_user(
        &self,
        new: NewUser,
        role: Role,
        actor: Option<Uuid>,
    ) -> Result<Uuid, AuthError> {
        let email = EmailAddress::parse(&new.email)?;
        let display_name = names::display_name(&new.display_name)?;
        password::check_policy(new.password.expose_secret(), &email)?;
        let claim_stream = email_stream(&email.sha256_hex())?;
        // Cheap early answer before paying for a hash; the atomic append below is what decides.
        if load::<EmailClaim>(self.store(), &claim_stream)
            .await?
            .state
            .user_id
            .is_some()
        {
            return Err(AuthError::EmailTaken);
        }
        let password_hash = self.inner.hasher.hash(new.password).await?;
        let user_id = Uuid::now_v7();
        let registration = Registration {
            user_id,
            email: email.as_str().to_owned(),
            email_sha256_hex: email.sha256_hex(),
            display_name,
            password_hash,
            role,
        };
        let ctx = self.context(actor.or(Some(user_id)));
        match self
            .store()
            .append_many(registration.append_requests(&ctx)?)
            .await
        {
            Ok(_) => {
                tracing::info!(%user_id, role = role.as_str(), "user registered");
                Ok(user_id)
            }
            // The user stream is brand new, so the only stream that can conflict is the email's.
            Err(e) if e.is_concurrency_conflict() => Err(AuthError::EmailTaken),
            Err(e) => Err(e.into()),
        }
    }
}
