//! The authentication service on a test database, without the HTTP server, and read models
//! brought up to date on demand.

use secrecy::SecretString;
use tessera::auth::AuthService;
use tessera::config::{AuthSettings, QuotaDefaults};
use tessera_events::PgEventStore;
use tessera_projections::{live_schema, read_models, replay_into};

use crate::db::TestDb;

/// The JWT secret of [`settings`].
pub const AUTH_SECRET: &str = "test-secret-test-secret-test-secret-0123";

/// Open registration, short token lifetimes, three failed logins per account.
pub fn settings() -> AuthSettings {
    AuthSettings {
        jwt_secret: SecretString::from(AUTH_SECRET),
        jwt_issuer: "tessera".into(),
        jwt_audience: "tessera-api".into(),
        jwt_previous_secrets: Vec::new(),
        access_token_ttl_secs: 900,
        refresh_token_ttl_secs: 3600,
        session_max_lifetime_secs: 90 * 24 * 3600,
        registrations_per_address: 0,
        login_attempts_per_account: 3,
        login_attempts_per_address: 100,
        login_window_secs: 300,
        open_registration: true,
        approve_new_accounts: false,
        max_api_keys: 25,
    }
}

/// Small default quotas, so a test can tell defaults from limits it set.
pub fn quotas() -> QuotaDefaults {
    QuotaDefaults {
        storage_bytes: 1_000,
        uploads_per_day: 10,
        processing_seconds_per_day: 60,
    }
}

/// The service on `db` with `settings` and `quotas`.
pub fn service_with(db: &TestDb, settings: AuthSettings, quotas: QuotaDefaults) -> AuthService {
    AuthService::new(
        PgEventStore::new(db.pool.clone()),
        db.pool.clone(),
        settings,
        quotas,
    )
}

/// The service on `db` with [`settings`] and [`quotas`].
pub fn service(db: &TestDb) -> AuthService {
    service_with(db, settings(), quotas())
}

/// Brings the read models up to date by replaying the log into fresh live schemas (what the
/// projector runtime does continuously in the server).
pub async fn project(db: &TestDb) {
    let store = PgEventStore::new(db.pool.clone());
    for p in read_models::all() {
        let schema = live_schema(p.name()).expect("schema name");
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .execute(&db.pool)
            .await
            .expect("drop schema");
        replay_into(&db.pool, &store, p.as_ref(), &schema, None, 500)
            .await
            .expect("replay");
    }
}

/// `user_id` signed in with a password (not a key), for service calls made on their behalf.
pub fn signed_in(user_id: uuid::Uuid) -> tessera::auth::Principal {
    tessera::auth::Principal {
        user_id: user_id.into(),
        role: tessera_events::users::Role::User,
        method: tessera::auth::AuthMethod::AccessToken {
            token_id: uuid::Uuid::nil(),
            sign_in: None,
        },
    }
}

/// A new API key named `name` with the default scopes and no expiry.
pub fn new_key(name: &str) -> tessera::auth::service::NewApiKey {
    tessera::auth::service::NewApiKey {
        name: name.to_owned(),
        scopes: Vec::new(),
        expires_at: None,
    }
}
