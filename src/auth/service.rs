//! The authentication and account service: every write goes command → events; reads of lists go
//! to the read models; credential checks read the streams (no projection lag).

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use dashmap::DashMap;
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use subtle::ConstantTimeEq;
use tessera_events::aggregate::{execute, load};
use tessera_events::users::{
    api_key_stream, email_stream, roster_stream, session_stream, user_stream, AdminRoster,
    AdminRosterCommand, ApiKey, ApiKeyCommand, ApiKeyEvent, EmailClaim, QuotaLimits, Registration,
    Role, Session, SessionCommand, SessionEvent, User, UserCommand,
};
use tessera_events::{
    Aggregate, AppendRequest, CommandContext, EventStore, ExpectedVersion, PgEventStore,
};
use tessera_projections::read_models::{api_keys, profile, quotas, users};
use tokio::sync::OnceCell;
use uuid::Uuid;

use super::cache::StreamCache;
use super::email::EmailAddress;
use super::error::AuthError;
use super::jwt::{Claims, JwtKeys};
use super::names;
use super::password::{self, Hasher};
use super::throttle::LoginThrottle;
use super::tokens;
use crate::cache::{ProjectionEpochs, ReadThrough};
use crate::config::{AuthSettings, QuotaDefaults};

/// How stale a user's status (role, disabled) may be when an access token is checked. Changes
/// made through this node apply at once; other nodes see them within this time.
const STATUS_MAX_AGE: Duration = Duration::from_secs(5);
/// `apikey.used` is appended at most this often per key.
const LAST_USED_EVERY: Duration = Duration::from_secs(60);
/// Most users one admin listing returns.
pub const MAX_PAGE: u32 = 100;

/// What a sign-in (register, login, refresh) hands the client.
#[derive(Debug)]
pub struct SignedIn {
    pub user_id: Uuid,
    pub role: Role,
    pub access_token: SecretString,
    pub access_expires_at: DateTime<Utc>,
    pub refresh_token: SecretString,
    pub refresh_expires_at: DateTime<Utc>,
}

/// How a request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    AccessToken { token_id: Uuid },
    ApiKey { key_id: Uuid },
}

/// A verified caller, with their current role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub user_id: Uuid,
    pub role: Role,
    pub method: AuthMethod,
}

/// A new API key; `key` is shown once and never again.
#[derive(Debug)]
pub struct CreatedApiKey {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub key: SecretString,
    pub created_at: DateTime<Utc>,
}

/// Limits in force for a user: the ones set for them, else the configured defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EffectiveQuota {
    pub storage_bytes: u64,
    pub uploads_per_day: u32,
    pub processing_seconds_per_day: u64,
}

/// The signed-in user's profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub quota: EffectiveQuota,
}

/// One page of the admin user listing.
#[derive(Debug)]
pub struct UserPage {
    pub users: Vec<users::UserRow>,
    /// Pass as `after` for the next page; `None` on the last page.
    pub next_after: Option<Uuid>,
}

/// Registration input, as received.
#[derive(Debug)]
pub struct NewUser {
    pub email: String,
    pub password: SecretString,
    pub display_name: String,
}

struct Inner {
    store: PgEventStore,
    pool: PgPool,
    settings: AuthSettings,
    quotas: QuotaDefaults,
    jwt: JwtKeys,
    hasher: Hasher,
    throttle: LoginThrottle,
    users: StreamCache<User>,
    api_keys: StreamCache<ApiKey>,
    key_last_used: DashMap<Uuid, Instant>,
    /// Profiles read from the users and quotas read models, valid until either moves.
    profiles: OnceLock<ReadThrough<Uuid, Profile>>,
    /// Verified against when an email is unknown, so a wrong email costs as long as a wrong
    /// password and response times do not reveal which accounts exist.
    dummy_hash: OnceCell<String>,
}

/// Users and access. Cheap to clone; register it as `web::Data<AuthService>`.
#[derive(Clone)]
pub struct AuthService {
    inner: Arc<Inner>,
}

impl AuthService {
    pub fn new(
        store: PgEventStore,
        pool: PgPool,
        settings: AuthSettings,
        quotas: QuotaDefaults,
    ) -> Self {
        let throttle = LoginThrottle::with_registrations(
            settings.login_attempts_per_account,
            settings.login_attempts_per_address,
            settings.registrations_per_address,
            Duration::from_secs(settings.login_window_secs),
        );
        Self {
            inner: Arc::new(Inner {
                jwt: JwtKeys::new(&settings),
                store,
                pool,
                settings,
                quotas,
                hasher: Hasher::new(),
                throttle,
                users: StreamCache::default(),
                api_keys: StreamCache::default(),
                key_last_used: DashMap::new(),
                dummy_hash: OnceCell::new(),
                profiles: OnceLock::new(),
            }),
        }
    }

    pub fn settings(&self) -> &AuthSettings {
        &self.inner.settings
    }

    pub fn quota_defaults(&self) -> &QuotaDefaults {
        &self.inner.quotas
    }

    fn store(&self) -> &dyn EventStore {
        &self.inner.store
    }

    fn context(&self, actor: Option<Uuid>) -> CommandContext {
        let mut ctx = CommandContext::new(actor);
        ctx.metadata.request_id = crate::telemetry::current_request_id();
        ctx
    }

    // ---- registration and sign-in ----

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

    async fn create_user(
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
            Some(u) if matches => u,
            _ => {
                tracing::info!(?client, "login failed");
                return Err(AuthError::InvalidCredentials);
            }
        };
        self.inner.throttle.succeeded(&account, client);
        let user_id = user.id.ok_or(AuthError::InvalidCredentials)?;
        // Only after the password was right, so guessing cannot discover disabled accounts.
        if user.disabled {
            return Err(AuthError::AccountDisabled);
        }
        tracing::info!(%user_id, "login succeeded");
        self.start_session(user_id, user.role).await
    }

    async fn dummy_hash(&self) -> Result<String, AuthError> {
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

    async fn start_session(&self, user_id: Uuid, role: Role) -> Result<SignedIn, AuthError> {
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
            },
        )
        .await?;
        let (access_token, access_expires_at) = self.inner.jwt.issue(user_id, role, now)?;
        Ok(SignedIn {
            user_id,
            role,
            access_token: SecretString::from(access_token),
            access_expires_at,
            refresh_token,
            refresh_expires_at,
        })
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
            // A disabled user keeps no way back in; check before rotating.
            Some(self.user_access(user_id, Duration::ZERO).await?)
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
        let (access_token, access_expires_at) = self.inner.jwt.issue(user_id, role, now)?;
        Ok(SignedIn {
            user_id,
            role,
            access_token: SecretString::from(access_token),
            access_expires_at,
            refresh_token: new_token,
            refresh_expires_at: events
                .iter()
                .find_map(|e| match e {
                    SessionEvent::Refreshed { expires_at, .. } => Some(*expires_at),
                    _ => None,
                })
                .unwrap_or_else(|| self.refresh_expiry(now)),
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
        tracing::info!(%user_id, "logged out");
        Ok(())
    }

    // ---- request authentication ----

    /// Verifies an access token (JWT) and that its user may still act.
    pub async fn authenticate_access_token(&self, token: &str) -> Result<Principal, AuthError> {
        let claims: Claims = self.inner.jwt.verify(token)?;
        let role = self.user_access(claims.sub, STATUS_MAX_AGE).await?;
        Ok(Principal {
            user_id: claims.sub,
            role,
            method: AuthMethod::AccessToken {
                token_id: claims.jti,
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

    /// The user's current role, if the user exists and is not disabled.
    async fn user_access(&self, user_id: Uuid, max_age: Duration) -> Result<Role, AuthError> {
        let status = self
            .inner
            .users
            .read(
                self.store(),
                user_id,
                &user_stream(user_id),
                max_age,
                |u: &User| u.exists().then_some((u.role, u.disabled)),
            )
            .await?;
        match status {
            None => Err(AuthError::InvalidToken),
            Some((_, true)) => Err(AuthError::AccountDisabled),
            Some((role, false)) => Ok(role),
        }
    }

    // ---- API keys ----

    /// Creates an API key for `user_id`. The returned key is the only copy there will ever be.
    #[tracing::instrument(name = "auth.api_key.create", skip_all, fields(%user_id))]
    pub async fn create_api_key(
        &self,
        user_id: Uuid,
        name: &str,
    ) -> Result<CreatedApiKey, AuthError> {
        let name = names::api_key_name(name)?;
        let key = tokens::new_api_key();
        let ctx = self.context(Some(user_id));
        execute::<ApiKey>(
            self.store(),
            &api_key_stream(key.id),
            &ctx,
            Some(user_id),
            || ApiKeyCommand::Create {
                user_id,
                name: name.clone(),
                key_hash: key.hash.clone(),
                prefix: key.prefix.clone(),
            },
        )
        .await?;
        tracing::info!(key_id = %key.id, "api key created");
        Ok(CreatedApiKey {
            id: key.id,
            name,
            prefix: key.prefix,
            key: key.key,
            created_at: Utc::now(),
        })
    }

    /// The user's API keys (from the read model; revoked ones included).
    pub async fn list_api_keys(
        &self,
        user_id: Uuid,
    ) -> Result<Vec<api_keys::ApiKeyRow>, AuthError> {
        Ok(api_keys::list_for_user(&self.inner.pool, user_id).await?)
    }

    /// Revokes one of the user's keys; someone else's key is "not found".
    #[tracing::instrument(name = "auth.api_key.revoke", skip_all, fields(%user_id, %key_id))]
    pub async fn revoke_api_key(&self, user_id: Uuid, key_id: Uuid) -> Result<(), AuthError> {
        execute::<ApiKey>(
            self.store(),
            &api_key_stream(key_id),
            &self.context(Some(user_id)),
            Some(user_id),
            || ApiKeyCommand::Revoke { owner: user_id },
        )
        .await?;
        self.inner.api_keys.invalidate(key_id);
        Ok(())
    }

    /// Verifies an API key against its stream (consistent: a revoked key stops at once).
    pub async fn verify_api_key(&self, key: &str) -> Result<Principal, AuthError> {
        let key_id = tokens::api_key_id(key).ok_or(AuthError::InvalidToken)?;
        let presented = tokens::sha256_hex(key);
        let state = self
            .inner
            .api_keys
            .read(
                self.store(),
                key_id,
                &api_key_stream(key_id),
                Duration::ZERO,
                |k: &ApiKey| k.user_id.map(|u| (u, k.revoked, k.key_hash.clone())),
            )
            .await?;
        let Some((user_id, revoked, stored)) = state else {
            return Err(AuthError::InvalidToken);
        };
        if !bool::from(presented.as_bytes().ct_eq(stored.as_bytes())) || revoked {
            return Err(AuthError::InvalidToken);
        }
        let role = self.user_access(user_id, STATUS_MAX_AGE).await?;
        self.touch_api_key(key_id, user_id);
        Ok(Principal {
            user_id,
            role,
            method: AuthMethod::ApiKey { key_id },
        })
    }

    /// Records the key's use, at most once a minute per key, without delaying the request.
    fn touch_api_key(&self, key_id: Uuid, user_id: Uuid) {
        let now = Instant::now();
        let due = match self.inner.key_last_used.entry(key_id) {
            dashmap::mapref::entry::Entry::Occupied(mut o)
                if now.duration_since(*o.get()) >= LAST_USED_EVERY =>
            {
                o.insert(now);
                true
            }
            dashmap::mapref::entry::Entry::Occupied(_) => false,
            dashmap::mapref::entry::Entry::Vacant(v) => {
                v.insert(now);
                true
            }
        };
        if !due {
            return;
        }
        let this = self.clone();
        let ctx = self.context(Some(user_id));
        tokio::spawn(async move {
            let stream = api_key_stream(key_id);
            let events = [ApiKeyEvent::Used { at: Utc::now() }];
            let result = match ctx.to_event_data(&stream, &events, Some(user_id)) {
                Ok(data) => this
                    .store()
                    .append(&stream, ExpectedVersion::StreamExists, data)
                    .await
                    .map(|_| ()),
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                tracing::warn!(%key_id, error = %e, "recording api key use failed");
            }
        });
    }

    // ---- profile ----

    /// Serves profiles from a read-through cache invalidated by the users and quotas projections'
    /// announcements (`GET /api/me` is the hottest read).
    pub fn enable_profile_cache(&self, epochs: Arc<ProjectionEpochs>) {
        let _ = self.inner.profiles.set(ReadThrough::new(
            epochs,
            &[users::NAME, quotas::NAME],
            100_000,
        ));
    }

    /// The user's profile with the quota in force.
    pub async fn profile(&self, user_id: Uuid) -> Result<Profile, AuthError> {
        let Some(cache) = self.inner.profiles.get() else {
            return self.read_profile(user_id).await;
        };
        if let Some(profile) = cache.get(&user_id) {
            return Ok(profile);
        }
        let token = cache.token();
        let profile = self.read_profile(user_id).await?;
        cache.put(user_id, token, profile.clone());
        Ok(profile)
    }

    async fn read_profile(&self, user_id: Uuid) -> Result<Profile, AuthError> {
        if let Some(row) = profile::get(&self.inner.pool, user_id).await? {
            let set = QuotaLimits {
                storage_bytes: row.storage_bytes.and_then(|v| u64::try_from(v).ok()),
                uploads_per_day: row.uploads_per_day.and_then(|v| u32::try_from(v).ok()),
                processing_seconds_per_day: row
                    .processing_seconds_per_day
                    .and_then(|v| u64::try_from(v).ok()),
            };
            return Ok(Profile {
                id: row.id,
                role: row.role.parse().unwrap_or(Role::User),
                email: row.email,
                display_name: row.display_name,
                created_at: row.created_at,
                updated_at: row.updated_at,
                quota: self.effective_quota(&set),
            });
        }
        // Right after registering, the read model may not have the row yet; the stream has.
        self.profile_from_stream(user_id).await
    }

    async fn profile_from_stream(&self, user_id: Uuid) -> Result<Profile, AuthError> {
        let stream = user_stream(user_id);
        let events = self.store().read_stream(&stream, 0, 10_000).await?;
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            return Err(AuthError::NotFound("user"));
        };
        let mut user = User::default();
        for e in &events {
            user.evolve(&tessera_events::DomainEvent::decode(e)?);
        }
        Ok(Profile {
            id: user_id,
            email: user.email,
            display_name: user.display_name,
            role: user.role,
            created_at: first.recorded_at,
            updated_at: last.recorded_at,
            quota: self.effective_quota(&user.quota),
        })
    }

    /// Set limits over configured defaults.
    pub fn effective_quota(&self, set: &QuotaLimits) -> EffectiveQuota {
        let d = &self.inner.quotas;
        EffectiveQuota {
            storage_bytes: set.storage_bytes.unwrap_or(d.storage_bytes),
            uploads_per_day: set.uploads_per_day.unwrap_or(d.uploads_per_day),
            processing_seconds_per_day: set
                .processing_seconds_per_day
                .unwrap_or(d.processing_seconds_per_day),
        }
    }

    // ---- administration ----

    /// Users by id, `limit` (1..=100) at a time after the `after` cursor.
    pub async fn list_users(&self, after: Option<Uuid>, limit: u32) -> Result<UserPage, AuthError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let users = users::list(&self.inner.pool, after, i64::from(limit)).await?;
        let next_after = if users.len() == limit as usize {
            users.last().map(|u| u.id)
        } else {
            None
        };
        Ok(UserPage { users, next_after })
    }

    #[tracing::instrument(name = "auth.admin.disable", skip_all, fields(%actor, %target))]
    pub async fn disable_user(&self, actor: Uuid, target: Uuid) -> Result<(), AuthError> {
        self.admin_command(actor, target, || UserCommand::Disable)
            .await
    }

    #[tracing::instrument(name = "auth.admin.enable", skip_all, fields(%actor, %target))]
    pub async fn enable_user(&self, actor: Uuid, target: Uuid) -> Result<(), AuthError> {
        self.admin_command(actor, target, || UserCommand::Enable)
            .await
    }

    #[tracing::instrument(name = "auth.admin.set_role", skip_all, fields(%actor, %target, role = role.as_str()))]
    pub async fn set_role(&self, actor: Uuid, target: Uuid, role: Role) -> Result<(), AuthError> {
        self.admin_command(actor, target, || UserCommand::ChangeRole(role))
            .await
    }

    #[tracing::instrument(name = "auth.admin.set_quota", skip_all, fields(%actor, %target))]
    pub async fn set_quota(
        &self,
        actor: Uuid,
        target: Uuid,
        quota: QuotaLimits,
    ) -> Result<(), AuthError> {
        // Read models store limits as bigint.
        let too_big = |v: Option<u64>| v.is_some_and(|v| i64::try_from(v).is_err());
        if too_big(quota.storage_bytes) {
            return Err(AuthError::InvalidField {
                field: "storage_bytes",
                message: "must be at most 9223372036854775807",
            });
        }
        if too_big(quota.processing_seconds_per_day) {
            return Err(AuthError::InvalidField {
                field: "processing_seconds_per_day",
                message: "must be at most 9223372036854775807",
            });
        }
        self.admin_command(actor, target, || UserCommand::SetQuota(quota))
            .await
    }

    /// Runs an admin's command on a user. When it changes whether the user is an active admin,
    /// the roster changes in the same atomic append, with both streams' versions expected, so the
    /// last active admin can never be removed, not even by two admins acting at once.
    async fn admin_command(
        &self,
        actor: Uuid,
        target: Uuid,
        command: impl Fn() -> UserCommand,
    ) -> Result<(), AuthError> {
        let result = self.admin_command_once(actor, target, &command).await;
        // Whatever happened, the next check of this user reads their stream.
        self.inner.users.invalidate(target);
        result
    }

    async fn admin_command_once(
        &self,
        actor: Uuid,
        target: Uuid,
        command: &impl Fn() -> UserCommand,
    ) -> Result<(), AuthError> {
        let stream = user_stream(target);
        let ctx = self.context(Some(actor));
        let mut attempts = 0;
        loop {
            attempts += 1;
            let loaded = load::<User>(self.store(), &stream).await?;
            let events = loaded.state.decide(command())?;
            if events.is_empty() {
                return Ok(());
            }
            let mut after = loaded.state.clone();
            for e in &events {
                after.evolve(e);
            }
            let is_active_admin = |u: &User| u.role == Role::Admin && !u.disabled;
            let mut requests = vec![AppendRequest {
                events: ctx.to_event_data(&stream, &events, Some(target))?,
                stream: stream.clone(),
                expected: ExpectedVersion::Exact(loaded.version),
            }];
            match (is_active_admin(&loaded.state), is_active_admin(&after)) {
                (before, now) if before == now => {}
                (_, now) => {
                    let roster_stream = roster_stream();
                    let roster = load::<AdminRoster>(self.store(), &roster_stream).await?;
                    let change = if now {
                        AdminRosterCommand::Add(target)
                    } else {
                        AdminRosterCommand::Remove(target)
                    };
                    let roster_events = roster.state.decide(change)?;
                    if !roster_events.is_empty() {
                        requests.push(AppendRequest {
                            events: ctx.to_event_data(&roster_stream, &roster_events, None)?,
                            stream: roster_stream,
                            expected: match roster.version {
                                0 => ExpectedVersion::NoStream,
                                v => ExpectedVersion::Exact(v),
                            },
                        });
                    }
                }
            }
            match self.store().append_many(requests).await {
                Ok(_) => return Ok(()),
                Err(e) if e.is_concurrency_conflict() && attempts < 5 => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// `secs` seconds after `now`, saturating.
fn after(now: DateTime<Utc>, secs: u64) -> DateTime<Utc> {
    let secs = i64::try_from(secs).unwrap_or(i64::MAX);
    chrono::Duration::try_seconds(secs)
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}
