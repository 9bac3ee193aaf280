//! Opening accounts: self-service sign-up and admin accounts made from the command line.

use std::net::IpAddr;

use secrecy::{ExposeSecret, SecretString};
use tessera_events::aggregate::load;
use tessera_events::users::{email_stream, EmailClaim, PasswordHash, Registration, Role};
use tessera_events::{ExpectedVersion, UserId};

use super::{AuthService, NewUser, SignedIn};
use crate::auth::email::EmailAddress;
use crate::auth::error::AuthError;
use crate::auth::{names, password};

/// How a sign-up ended.
pub enum SignUp {
    /// The account was opened and signed in.
    SignedIn(SignedIn),
    /// The request was taken. An account waits for an administrator's approval, unless the
    /// address was already registered: the answer is the same either way, so sign-up does not
    /// tell who has an account.
    AwaitingApproval,
}

impl AuthService {
    /// Opens an account with the `user` role and signs it in, whether or not sign-ups need an
    /// administrator's approval (for tools and tests that set up accounts).
    pub async fn register(&self, new: NewUser) -> Result<SignedIn, AuthError> {
        let user_id = self.create_user(new, Role::User, None).await?;
        self.start_session(user_id, Role::User).await
    }

    /// Self-service sign-up, counted against the client's address (each costs a password hash,
    /// so an address may only open so many accounts per window). With
    /// `auth.approve_new_accounts`, the account waits for an administrator's approval and the
    /// answer does not depend on whether the address is registered.
    #[tracing::instrument(name = "auth.sign_up", skip_all, fields(client = ?client))]
    pub async fn sign_up(&self, new: NewUser, client: Option<IpAddr>) -> Result<SignUp, AuthError> {
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
        if self.inner.settings.approve_new_accounts {
            self.request_account(new).await?;
            return Ok(SignUp::AwaitingApproval);
        }
        Ok(SignUp::SignedIn(self.register(new).await?))
    }

    /// Records a sign-up that waits for approval. A registered address gets the same answer
    /// after the same work (the password is hashed either way), and nothing is written.
    async fn request_account(&self, new: NewUser) -> Result<(), AuthError> {
        let checked = Checked::of(&new)?;
        let password_hash = self.inner.hasher.hash(new.password).await?;
        if self.email_taken(&checked.email).await? {
            tracing::info!("sign-up request for a registered address; answered like any other");
            return Ok(());
        }
        match self
            .append_registration(
                checked,
                password_hash,
                Role::User,
                None,
                true,
                ExpectedVersion::Any,
            )
            .await
        {
            Ok(user_id) => {
                tracing::info!(%user_id, "sign-up awaits approval");
                Ok(())
            }
            // Registered meanwhile: the same answer.
            Err(AuthError::EmailTaken) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Creates an admin account (the `tessera users create-admin` command); open registration
    /// does not matter here.
    #[tracing::instrument(name = "auth.create_admin", skip_all)]
    pub async fn create_admin(
        &self,
        email: &str,
        password: SecretString,
        display_name: &str,
    ) -> Result<UserId, AuthError> {
        let new = NewUser {
            email: email.to_owned(),
            password,
            display_name: display_name.to_owned(),
        };
        self.create_user(new, Role::Admin, None).await
    }

    /// Whether an account holds `email`.
    async fn email_taken(&self, email: &EmailAddress) -> Result<bool, AuthError> {
        let claim_stream = email_stream(&email.sha256_hex())?;
        Ok(load::<EmailClaim>(self.store(), &claim_stream)
            .await?
            .state
            .user_id
            .is_some())
    }

    pub(super) async fn create_user(
        &self,
        new: NewUser,
        role: Role,
        actor: Option<UserId>,
    ) -> Result<UserId, AuthError> {
        self.create_user_at(new, role, actor, ExpectedVersion::Any)
            .await
    }

    /// [`AuthService::create_user`], with what an admin's roster must be at (see
    /// [`Registration::roster`]); a roster that moved fails it as `EmailTaken` would.
    pub(super) async fn create_user_at(
        &self,
        new: NewUser,
        role: Role,
        actor: Option<UserId>,
        roster: ExpectedVersion,
    ) -> Result<UserId, AuthError> {
        let checked = Checked::of(&new)?;
        // Cheap early answer before paying for a hash; the atomic append below is what decides.
        if self.email_taken(&checked.email).await? {
            return Err(AuthError::EmailTaken);
        }
        let password_hash = self.inner.hasher.hash(new.password).await?;
        self.append_registration(checked, password_hash, role, actor, false, roster)
            .await
    }

    /// Appends the account and the claim of its address together; a taken address fails it.
    async fn append_registration(
        &self,
        checked: Checked,
        password_hash: PasswordHash,
        role: Role,
        actor: Option<UserId>,
        pending_approval: bool,
        roster: ExpectedVersion,
    ) -> Result<UserId, AuthError> {
        let Checked {
            email,
            display_name,
        } = checked;
        let user_id = UserId::new();
        let registration = Registration {
            user_id,
            email: email.as_str().to_owned(),
            email_sha256_hex: email.sha256_hex(),
            display_name,
            password_hash,
            role,
            pending_approval,
            roster,
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
            // The user stream is brand new, so the stream that conflicts is the email's (or the
            // roster, where the caller set an expectation on it).
            Err(e) if e.is_concurrency_conflict() => Err(AuthError::EmailTaken),
            Err(e) => Err(e.into()),
        }
    }
}

/// A sign-up's fields, checked (the password against the policy, too).
struct Checked {
    email: EmailAddress,
    display_name: String,
}

impl Checked {
    fn of(new: &NewUser) -> Result<Self, AuthError> {
        let email = EmailAddress::parse(&new.email)?;
        let display_name = names::display_name(&new.display_name)?;
        password::check_policy(new.password.expose_secret(), &email)?;
        Ok(Checked {
            email,
            display_name,
        })
    }
}
