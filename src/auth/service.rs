//! The authentication and account service: every write goes command → events; reads of lists go
//! to the read models; credential checks read the streams (no projection lag). One module per
//! job: sign-up, sessions (sign-in and request credentials), API keys, profiles, administration.

mod account;
mod admin;
mod api_keys;
mod links;
mod profile;
mod sessions;
mod signup;

pub use signup::SignUp;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use dashmap::DashMap;
use secrecy::SecretString;
use sqlx::PgPool;
use tessera_events::users::{ApiKey, Role, User};
use tessera_events::{CommandContext, EventStore, PgEventStore, UserId};
use tessera_projections::read_models::users;
use tokio::sync::OnceCell;
use uuid::Uuid;

use super::cache::StreamCache;
use super::jwt::JwtKeys;
use super::password::Hasher;
use super::throttle::LoginThrottle;
use crate::cache::ReadThrough;
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
    AccessToken {
        token_id: Uuid,
        /// The sign-in (refresh-token family) it was issued to.
        sign_in: Option<Uuid>,
    },
    ApiKey {
        key_id: Uuid,
        scopes: crate::auth::scopes::Scopes,
    },
}

impl AuthMethod {
    /// Whether the credential may act in `scope`: a sign-in may do whatever its user may, a key
    /// only what its scopes name.
    pub fn allows(&self, scope: tessera_events::users::Scope) -> bool {
        match self {
            AuthMethod::AccessToken { .. } => true,
            AuthMethod::ApiKey { scopes, .. } => scopes.contains(scope),
        }
    }
}

/// A verified caller, with their current role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
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
    pub scopes: Vec<tessera_events::users::Scope>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// What a new API key should be: its label, scopes (none: the defaults) and expiry.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub name: String,
    pub scopes: Vec<tessera_events::users::Scope>,
    pub expires_at: Option<DateTime<Utc>>,
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
    /// Sign-ins, for whether an access token's sign-in has ended.
    sessions: StreamCache<tessera_events::users::Session>,
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
                sessions: StreamCache::default(),
                key_last_used: DashMap::new(),
                dummy_hash: OnceCell::new(),
                profiles: OnceLock::new(),
            }),
        }
    }

    /// Keeps the login throttle's windows in Redis, shared with every node using it.
    pub fn share_throttle(&self, conn: crate::redis_conn::RedisConn) {
        self.inner.throttle.share_through(conn);
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

    fn context(&self, actor: Option<UserId>) -> CommandContext {
        let mut ctx = CommandContext::new(actor);
        ctx.metadata.request_id = crate::telemetry::current_request_id();
        ctx
    }
}

/// `secs` seconds after `now`, saturating.
fn after(now: DateTime<Utc>, secs: u64) -> DateTime<Utc> {
    let secs = i64::try_from(secs).unwrap_or(i64::MAX);
    chrono::Duration::try_seconds(secs)
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}
