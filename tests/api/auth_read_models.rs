//! The users, api_keys and quotas read models, fed every event type through their `Projection`
//! implementations (the runtime's replay), and checked for deterministic rebuilds.

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use tessera::auth::{AuthService, NewUser};
use tessera::config::{AuthSettings, QuotaDefaults};
use tessera_events::users::{user_stream, PasswordHash, QuotaLimits, Role, UserEvent};
use tessera_events::{CommandContext, EventStore, ExpectedVersion, PgEventStore, UserId};
use tessera_projections::read_models::{self, api_keys, quotas, users};
use tessera_projections::{replay_into, snapshot_schema, Projection};
use tessera_testkit::auth::{new_key, service_with, settings, signed_in};
use tessera_testkit::TestDb;
use uuid::Uuid;

/// Settings whose numbers differ from the defaults, so the read models show which they saw.
fn service(db: &TestDb) -> AuthService {
    service_with(
        db,
        AuthSettings {
            login_attempts_per_account: 5,
            login_attempts_per_address: 30,
            ..settings()
        },
        QuotaDefaults {
            storage_bytes: 1,
            uploads_per_day: 1,
            processing_seconds_per_day: 1,
        },
    )
}

async fn replay_all(db: &TestDb, suffix: &str) {
    let store = PgEventStore::new(db.pool.clone());
    for p in read_models::all() {
        let schema = format!("rm_{}{suffix}", p.name());
        replay_into(&db.pool, &store, p.as_ref(), &schema, None, 7)
            .await
            .expect("replay");
    }
}

#[tokio::test]
async fn every_user_and_key_event_lands_in_the_read_models_deterministically() {
    let db = TestDb::new().await;
    let auth = service(&db);
    let store = PgEventStore::new(db.pool.clone());
    let admin = auth
        .create_admin(
            "root@example.com",
            SecretString::from("correct horse battery"),
            "Root",
        )
        .await
        .expect("admin");
    let user = auth
        .register(NewUser {
            email: "Ada@Example.com".into(),
            password: SecretString::from("correct horse battery"),
            display_name: "Ada".into(),
        })
        .await
        .expect("register")
        .user_id;
    auth.set_role(admin, user.into(), Role::Admin)
        .await
        .expect("role");
    auth.disable_user(admin, user.into())
        .await
        .expect("disable");
    auth.enable_user(admin, user.into()).await.expect("enable");
    auth.disable_user(admin, user.into())
        .await
        .expect("disable again");
    // Password changes have no endpoint yet; append the event as a command would.
    let ctx = CommandContext::new(Some(UserId(user)));
    let stream = user_stream(user);
    let data = ctx
        .to_event_data(
            &stream,
            &[UserEvent::PasswordChanged {
                password_hash: PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$x$y".into()),
            }],
            Some(UserId(user)),
        )
        .expect("encode");
    store
        .append(&stream, ExpectedVersion::StreamExists, data)
        .await
        .expect("append");
    auth.set_quota(
        admin,
        user.into(),
        QuotaLimits {
            storage_bytes: Some(u64::from(u32::MAX) * 4),
            uploads_per_day: Some(7),
            processing_seconds_per_day: None,
        },
    )
    .await
    .expect("quota");
    auth.set_quota(
        admin,
        user.into(),
        QuotaLimits {
            storage_bytes: None,
            uploads_per_day: Some(9),
            processing_seconds_per_day: Some(120),
        },
    )
    .await
    .expect("quota again");
    let key = auth
        .create_api_key(signed_in(admin.into_inner()), new_key("deploy"))
        .await
        .expect("key");
    let revoked = auth
        .create_api_key(signed_in(admin.into_inner()), new_key("old"))
        .await
        .expect("key");
    auth.revoke_api_key(admin, revoked.id.into())
        .await
        .expect("revoke");
    let used_at: DateTime<Utc> = "2030-01-02T03:04:05Z".parse().expect("time");
    let key_stream = tessera_events::users::api_key_stream(key.id);
    let data = CommandContext::new(Some(admin))
        .to_event_data(
            &key_stream,
            &[tessera_events::users::ApiKeyEvent::Used { at: used_at }],
            Some(admin),
        )
        .expect("encode");
    store
        .append(&key_stream, ExpectedVersion::StreamExists, data)
        .await
        .expect("append used");

    replay_all(&db, "").await;

    let u = users::get(&db.pool, user)
        .await
        .expect("query")
        .expect("row");
    assert_eq!(
        (
            u.email.as_str(),
            u.display_name.as_str(),
            u.role(),
            u.disabled
        ),
        ("ada@example.com", "Ada", Role::Admin, true)
    );
    assert!(u.updated_at > u.created_at);
    let last_user_event: DateTime<Utc> =
        sqlx::query_scalar("SELECT max(recorded_at) FROM events WHERE stream_id = $1")
            .bind(stream.as_str())
            .fetch_one(&db.pool)
            .await
            .expect("last");
    assert_eq!(u.updated_at, last_user_event, "times come from recorded_at");
    assert_eq!(
        users::count_active_admins(&db.pool).await.expect("count"),
        1
    );

    let q = quotas::get(&db.pool, user)
        .await
        .expect("query")
        .expect("row");
    assert_eq!(
        (
            q.storage_bytes,
            q.uploads_per_day,
            q.processing_seconds_per_day
        ),
        (None, Some(9), Some(120)),
        "each quota_set replaces the whole set"
    );
    assert!(quotas::get(&db.pool, admin.into_inner())
        .await
        .expect("query")
        .is_none());

    let keys = api_keys::list_for_user(&db.pool, admin.into_inner())
        .await
        .expect("keys");
    assert_eq!(keys.len(), 2);
    let k = keys.iter().find(|k| k.id == key.id).expect("key row");
    assert_eq!(
        (k.name.as_str(), k.prefix.as_str()),
        ("deploy", key.prefix.as_str())
    );
    assert_eq!(k.last_used_at, Some(used_at));
    assert!(k.revoked_at.is_none());
    let r = keys
        .iter()
        .find(|k| k.id == revoked.id)
        .expect("revoked row");
    assert!(r.revoked_at.is_some());

    // A replay from zero into other schemas yields exactly the same contents.
    replay_all(&db, "_again").await;
    for p in read_models::all() {
        let live = snapshot_schema(&db.pool, &format!("rm_{}", p.name()))
            .await
            .expect("snapshot");
        let again = snapshot_schema(&db.pool, &format!("rm_{}_again", p.name()))
            .await
            .expect("snapshot");
        assert_eq!(live, again, "{} is deterministic", p.name());
        assert!(live.len() > 10);
    }
}

#[test]
fn read_models_have_distinct_valid_names_and_versions() {
    let all = read_models::all();
    let mut names: Vec<&str> = all.iter().map(|p| p.name()).collect();
    assert_eq!(
        names,
        [
            "users",
            "api_keys",
            "sessions",
            "quotas",
            "content",
            "usage",
            "jobs",
            "conversations",
            "providers"
        ]
    );
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), all.len());
    for p in &all {
        assert!(tessera_projections::live_schema(p.name()).is_ok());
        assert!(p.version() >= 1);
        assert!(p.setup_sql().contains("CREATE TABLE"));
        assert!(
            !p.setup_sql().contains("rm_"),
            "setup uses unqualified names"
        );
    }
    let _: &dyn Projection = all[0].as_ref();
    let _ = Uuid::nil();
}
