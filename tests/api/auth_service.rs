//! The authentication service against a real PostgreSQL: registration, sign-in, refresh-token
//! rotation and reuse, API keys, disabling, throttling, and admin rules.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tessera::auth::{AuthError, AuthMethod, AuthService, NewUser, SignedIn};
use tessera::config::AuthSettings;
use tessera_events::users::{session_stream, user_stream, QuotaLimits, Role};
use tessera_events::{EventStore, PgEventStore, UserId};
use tessera_testkit::auth::{new_key, project, quotas, service, service_with, settings, signed_in};
use tessera_testkit::TestDb;
use uuid::Uuid;

const PASSWORD: &str = "correct horse battery";
const CLIENT: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));

fn new_user(email: &str) -> NewUser {
    NewUser {
        email: email.into(),
        password: SecretString::from(PASSWORD),
        display_name: "Test User".into(),
    }
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s)
}

async fn event_types(db: &TestDb, stream: &tessera_events::StreamId) -> Vec<String> {
    PgEventStore::new(db.pool.clone())
        .read_stream(stream, 0, 1000)
        .await
        .expect("read stream")
        .into_iter()
        .map(|e| e.event_type)
        .collect()
}

async fn login(auth: &AuthService, email: &str) -> Result<SignedIn, AuthError> {
    auth.login(email, secret(PASSWORD), CLIENT).await
}

#[tokio::test]
async fn register_then_login_issues_working_tokens() {
    let db = TestDb::new().await;
    let auth = service(&db);
    let signed = auth
        .register(new_user("Ada@Example.com"))
        .await
        .expect("register");
    assert_eq!(signed.role, Role::User);
    let p = auth
        .authenticate_access_token(signed.access_token.expose_secret())
        .await
        .expect("access token works");
    assert_eq!((p.user_id, p.role), (signed.user_id.into(), Role::User));
    assert!(matches!(p.method, AuthMethod::AccessToken { .. }));
    // Bearer dispatch sends JWTs to the JWT check.
    let p2 = auth
        .authenticate_bearer(signed.access_token.expose_secret())
        .await
        .expect("bearer");
    assert_eq!(p2.user_id, signed.user_id);

    let again = login(&auth, "  ada@EXAMPLE.com ").await.expect("login");
    assert_eq!(again.user_id, signed.user_id);
    assert!(matches!(
        auth.login("ada@example.com", secret("wrong password 1"), CLIENT)
            .await,
        Err(AuthError::InvalidCredentials)
    ));
    assert!(matches!(
        login(&auth, "nobody@example.com").await,
        Err(AuthError::InvalidCredentials)
    ));
    assert!(matches!(
        login(&auth, "not an email").await,
        Err(AuthError::InvalidCredentials)
    ));

    // The user stream tells the story with the user as owner and actor; no password in clear.
    let events = PgEventStore::new(db.pool.clone())
        .read_stream(&user_stream(signed.user_id), 0, 10)
        .await
        .expect("read");
    assert_eq!(events[0].event_type, "user.registered");
    assert_eq!(events[0].payload["email"], "ada@example.com");
    assert!(events[0].payload["password_hash"]
        .as_str()
        .is_some_and(|h| h.starts_with("$argon2id$")));
    assert!(!events[0].payload.to_string().contains(PASSWORD));
    assert_eq!(events[0].metadata.owner, Some(UserId(signed.user_id)));
    assert_eq!(events[0].metadata.actor, Some(UserId(signed.user_id)));
}

#[tokio::test]
async fn registration_validates_its_input() {
    let db = TestDb::new().await;
    let auth = service(&db);
    let bad_email = auth.register(new_user("not-an-email")).await;
    assert!(matches!(bad_email, Err(AuthError::InvalidEmail(_))));
    let long_email = format!("{}@example.com", "a".repeat(250));
    assert!(matches!(
        auth.register(new_user(&long_email)).await,
        Err(AuthError::InvalidEmail(_))
    ));
    let mut weak = new_user("weak@example.com");
    weak.password = secret("password");
    assert!(matches!(
        auth.register(weak).await,
        Err(AuthError::WeakPassword(_))
    ));
    let mut same = new_user("samesame12@example.com");
    same.password = secret("samesame12@example.com");
    assert!(matches!(
        auth.register(same).await,
        Err(AuthError::WeakPassword(_))
    ));
    let mut long_name = new_user("name@example.com");
    long_name.display_name = "x".repeat(101);
    assert!(matches!(
        auth.register(long_name).await,
        Err(AuthError::InvalidField {
            field: "display_name",
            ..
        })
    ));
    let mut long_pw = new_user("pw@example.com");
    long_pw.password = secret(&format!("{}A", "a".repeat(256)));
    assert!(matches!(
        auth.register(long_pw).await,
        Err(AuthError::InvalidField {
            field: "password",
            ..
        })
    ));
}

#[tokio::test]
async fn duplicate_registration_is_refused_whatever_the_case() {
    let db = TestDb::new().await;
    let auth = service(&db);
    auth.register(new_user("dup@example.com"))
        .await
        .expect("first");
    assert!(matches!(
        auth.register(new_user(" DUP@example.COM")).await,
        Err(AuthError::EmailTaken)
    ));
    assert!(matches!(
        auth.create_admin("dup@example.com", secret(PASSWORD), "Admin")
            .await,
        Err(AuthError::EmailTaken)
    ));
}

#[tokio::test]
async fn concurrent_duplicate_registrations_exactly_one_wins() {
    let db = TestDb::new().await;
    let auth = service(&db);
    let attempts: Vec<_> = (0..8)
        .map(|_| {
            let auth = auth.clone();
            tokio::spawn(async move { auth.register(new_user("race@example.com")).await })
        })
        .collect();
    let mut won = 0;
    for a in attempts {
        match a.await.expect("task") {
            Ok(_) => won += 1,
            Err(AuthError::EmailTaken) => {}
            Err(e) => panic!("unexpected error {e:?}"),
        }
    }
    assert_eq!(won, 1);
    let registered: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE event_type = 'user.registered' \
         AND payload->>'email' = 'race@example.com'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("count");
    assert_eq!(registered, 1, "exactly one account exists");
}

#[tokio::test]
async fn closed_registration_refuses_sign_ups_but_not_create_admin() {
    let db = TestDb::new().await;
    let auth = service_with(
        &db,
        AuthSettings {
            open_registration: false,
            max_api_keys: 25,
            ..settings()
        },
        quotas(),
    );
    assert!(matches!(
        auth.sign_up(new_user("a@example.com"), None).await,
        Err(AuthError::RegistrationClosed)
    ));
    let admin = auth
        .create_admin("root@example.com", secret(PASSWORD), "Root")
        .await
        .expect("create admin");
    let signed = login(&auth, "root@example.com").await.expect("login");
    assert_eq!(
        (signed.user_id, signed.role),
        (admin.into_inner(), Role::Admin)
    );
}

#[tokio::test]
async fn refresh_rotates_and_reusing_an_old_token_revokes_the_whole_family() {
    let db = TestDb::new().await;
    let auth = service(&db);
    let s1 = auth
        .register(new_user("rot@example.com"))
        .await
        .expect("register");
    let s2 = auth
        .refresh(&s1.refresh_token)
        .await
        .expect("first rotation");
    assert_ne!(
        s1.refresh_token.expose_secret(),
        s2.refresh_token.expose_secret()
    );
    auth.authenticate_access_token(s2.access_token.expose_secret())
        .await
        .expect("new access token works");
    let s3 = auth
        .refresh(&s2.refresh_token)
        .await
        .expect("second rotation");

    // s1 was used up: presenting it again is reuse, which kills the family...
    assert!(matches!(
        auth.refresh(&s1.refresh_token).await,
        Err(AuthError::RefreshTokenReused)
    ));
    // ...including the newest token, which an attacker may be holding.
    assert!(matches!(
        auth.refresh(&s3.refresh_token).await,
        Err(AuthError::RefreshTokenReused)
    ));
    let family = tessera::auth::tokens::refresh_token_family(s1.refresh_token.expose_secret())
        .expect("family");
    assert_eq!(
        event_types(&db, &session_stream(family)).await,
        [
            "session.started",
            "session.refreshed",
            "session.refreshed",
            "session.revoked"
        ]
    );
    // Another sign-in is a new family and unaffected.
    let other = login(&auth, "rot@example.com").await.expect("login");
    auth.refresh(&other.refresh_token)
        .await
        .expect("other family");
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_have_one_winner() {
    let db = TestDb::new().await;
    let auth = service(&db);
    let s = auth
        .register(new_user("twice@example.com"))
        .await
        .expect("register");
    let token = s.refresh_token.expose_secret().to_owned();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let auth = auth.clone();
            let token = secret(&token);
            tokio::spawn(async move { auth.refresh(&token).await })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        match t.await.expect("task") {
            Ok(_) => won += 1,
            // Losers either lost the append race or arrived after the rotation (reuse).
            Err(AuthError::Conflict | AuthError::RefreshTokenReused) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(won, 1);
}

#[tokio::test]
async fn logout_revokes_the_family_and_is_idempotent() {
    let db = TestDb::new().await;
    let auth = service(&db);
    let s1 = auth
        .register(new_user("bye@example.com"))
        .await
        .expect("register");
    let s2 = auth.refresh(&s1.refresh_token).await.expect("rotate");
    auth.logout(&s2.refresh_token).await.expect("logout");
    assert!(matches!(
        auth.refresh(&s2.refresh_token).await,
        Err(AuthError::InvalidToken)
    ));
    auth.logout(&s2.refresh_token).await.expect("logout twice");
    // An old token of the family may sign out too (revoking is always safe).
    auth.logout(&s1.refresh_token)
        .await
        .expect("logout with old token");
}

#[tokio::test]
async fn malformed_unknown_and_expired_refresh_tokens_are_refused() {
    let db = TestDb::new().await;
    let auth = service_with(
        &db,
        AuthSettings {
            refresh_token_ttl_secs: 0,
            ..settings()
        },
        quotas(),
    );
    for bad in [
        "",
        "garbage",
        "a.b",
        "00000000-0000-0000-0000-000000000000.short",
    ] {
        assert!(
            matches!(
                auth.refresh(&secret(bad)).await,
                Err(AuthError::InvalidToken)
            ),
            "{bad:?}"
        );
        assert!(matches!(
            auth.logout(&secret(bad)).await,
            Err(AuthError::InvalidToken)
        ));
    }
    let unknown = tessera::auth::tokens::new_refresh_token(Uuid::new_v4());
    assert!(matches!(
        auth.refresh(&unknown).await,
        Err(AuthError::InvalidToken)
    ));

    let s = auth
        .register(new_user("exp@example.com"))
        .await
        .expect("register");
    assert!(matches!(
        auth.refresh(&s.refresh_token).await,
        Err(AuthError::TokenExpired)
    ));
    // A made-up token of a real family is not reuse: nothing is revoked.
    let family = tessera::auth::tokens::refresh_token_family(s.refresh_token.expose_secret())
        .expect("family");
    let forged = tessera::auth::tokens::new_refresh_token(family);
    assert!(matches!(
        auth.refresh(&forged).await,
        Err(AuthError::InvalidToken)
    ));
    assert_eq!(
        event_types(&db, &session_stream(family)).await,
        ["session.started"]
    );
}

async fn wait_for_event(db: &TestDb, stream: &tessera_events::StreamId, event_type: &str) {
    for _ in 0..100 {
        if event_types(db, stream)
            .await
            .iter()
            .any(|t| t == event_type)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{event_type} never appeared on {stream}");
}

#[tokio::test]
async fn api_keys_create_verify_track_use_and_revoke() {
    let db = TestDb::new().await;
    let auth = service(&db);
    let owner = auth
        .register(new_user("keys@example.com"))
        .await
        .expect("register");
    let other = auth
        .register(new_user("other@example.com"))
        .await
        .expect("register");
    let created = auth
        .create_api_key(signed_in(owner.user_id), new_key("  CI uploader "))
        .await
        .expect("create");
    assert_eq!(created.name, "CI uploader");
    let key = created.key.expose_secret().to_owned();
    assert!(key.starts_with("tsk_") && key.starts_with(&created.prefix));

    let p = auth.authenticate_bearer(&key).await.expect("key works");
    assert_eq!(p.user_id, owner.user_id);
    assert!(matches!(p.method, AuthMethod::ApiKey { key_id, .. } if key_id == created.id));

    // Only the hash is stored.
    let stored: String =
        sqlx::query_scalar("SELECT payload::text FROM events WHERE stream_id = $1")
            .bind(format!("apikey-{}", created.id))
            .fetch_one(&db.pool)
            .await
            .expect("created event");
    assert!(!stored.contains(&key[37..]));

    // Last use is recorded once, however often the key is used within the minute.
    let stream = tessera_events::users::api_key_stream(created.id);
    wait_for_event(&db, &stream, "apikey.used").await;
    for _ in 0..5 {
        auth.verify_api_key(&key).await.expect("still works");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        event_types(&db, &stream).await,
        ["apikey.created", "apikey.used"]
    );

    // A key with the right id but another secret is refused.
    let mut forged = key.clone();
    let last = forged.pop().expect("non-empty");
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert!(matches!(
        auth.verify_api_key(&forged).await,
        Err(AuthError::InvalidToken)
    ));
    assert!(matches!(
        auth.verify_api_key("tsk_nonsense").await,
        Err(AuthError::InvalidToken)
    ));

    // Someone else's key is "not found", never "forbidden".
    assert!(matches!(
        auth.revoke_api_key(other.user_id.into(), created.id.into())
            .await,
        Err(AuthError::NotFound(_))
    ));
    assert!(matches!(
        auth.revoke_api_key(owner.user_id.into(), Uuid::new_v4().into())
            .await,
        Err(AuthError::NotFound(_))
    ));
    auth.revoke_api_key(owner.user_id.into(), created.id.into())
        .await
        .expect("revoke");
    assert!(matches!(
        auth.verify_api_key(&key).await,
        Err(AuthError::InvalidToken)
    ));
    auth.revoke_api_key(owner.user_id.into(), created.id.into())
        .await
        .expect("revoking twice is fine");

    project(&db).await;
    let listed = auth
        .list_api_keys(owner.user_id.into())
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, created.id);
    assert_eq!(listed[0].prefix, created.prefix);
    assert!(listed[0].last_used_at.is_some());
    assert!(listed[0].revoked_at.is_some());
    assert!(auth
        .list_api_keys(other.user_id.into())
        .await
        .expect("list")
        .is_empty());
}

#[tokio::test]
async fn a_disabled_user_cannot_log_in_refresh_or_use_tokens_and_keys() {
    let db = TestDb::new().await;
    let auth = service(&db);
    let admin = auth
        .create_admin("admin@example.com", secret(PASSWORD), "Admin")
        .await
        .expect("admin");
    let user = auth
        .register(new_user("user@example.com"))
        .await
        .expect("register");
    let key = auth
        .create_api_key(signed_in(user.user_id), new_key("k"))
        .await
        .expect("key")
        .key;
    auth.authenticate_access_token(user.access_token.expose_secret())
        .await
        .expect("works before");

    auth.disable_user(admin, user.user_id.into())
        .await
        .expect("disable");
    assert!(matches!(
        auth.authenticate_access_token(user.access_token.expose_secret())
            .await,
        Err(AuthError::AccountDisabled)
    ));
    assert!(matches!(
        auth.verify_api_key(key.expose_secret()).await,
        Err(AuthError::AccountDisabled)
    ));
    assert!(matches!(
        auth.refresh(&user.refresh_token).await,
        Err(AuthError::AccountDisabled)
    ));
    assert!(matches!(
        login(&auth, "user@example.com").await,
        Err(AuthError::AccountDisabled)
    ));
    // A wrong password still says only "invalid credentials".
    assert!(matches!(
        auth.login("user@example.com", secret("wrong password 1"), CLIENT)
            .await,
        Err(AuthError::InvalidCredentials)
    ));

    // A second service (another node) reads the stream, not a stale copy, when it first sees
    // the user.
    let other_node = service(&db);
    assert!(matches!(
        other_node
            .authenticate_access_token(user.access_token.expose_secret())
            .await,
        Err(AuthError::AccountDisabled)
    ));

    auth.enable_user(admin, user.user_id.into())
        .await
        .expect("enable");
    // The account is back; none of its old credentials are.
    assert!(matches!(
        auth.authenticate_access_token(user.access_token.expose_secret())
            .await,
        Err(AuthError::SessionEnded)
    ));
    assert!(matches!(
        auth.verify_api_key(key.expose_secret()).await,
        Err(AuthError::SessionEnded)
    ));
    assert!(matches!(
        auth.refresh(&user.refresh_token).await,
        Err(AuthError::SessionEnded)
    ));
    login(&auth, "user@example.com")
        .await
        .expect("a new sign-in");

    let events = PgEventStore::new(db.pool.clone())
        .read_stream(&user_stream(user.user_id), 0, 10)
        .await
        .expect("read");
    let disabled = events
        .iter()
        .find(|e| e.event_type == "user.disabled")
        .expect("disabled event");
    assert_eq!(disabled.metadata.actor, Some(admin));
    assert_eq!(disabled.metadata.owner, Some(UserId(user.user_id)));
}

#[tokio::test]
async fn failed_logins_are_throttled_per_account_and_a_success_resets_it() {
    let db = TestDb::new().await;
    let auth = service(&db); // 3 failures per account
    auth.register(new_user("t@example.com"))
        .await
        .expect("register");
    auth.register(new_user("u@example.com"))
        .await
        .expect("register");
    let wrong = || secret("wrong password 1");

    // Two failures, then a success resets the count.
    for _ in 0..2 {
        assert!(matches!(
            auth.login("t@example.com", wrong(), CLIENT).await,
            Err(AuthError::InvalidCredentials)
        ));
    }
    login(&auth, "t@example.com").await.expect("success");
    for _ in 0..3 {
        assert!(matches!(
            auth.login("T@example.com", wrong(), CLIENT).await,
            Err(AuthError::InvalidCredentials)
        ));
    }
    // Now even the right password is refused until the window passes.
    match login(&auth, "t@example.com").await {
        Err(AuthError::LoginThrottled { retry_after }) => {
            assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(300))
        }
        other => panic!("expected throttling, got {other:?}"),
    }
    // Other accounts are not affected.
    login(&auth, "u@example.com").await.expect("other account");
}

#[tokio::test]
async fn failed_logins_are_throttled_per_address() {
    let db = TestDb::new().await;
    let auth = service_with(
        &db,
        AuthSettings {
            login_attempts_per_account: 100,
            login_attempts_per_address: 3,
            ..settings()
        },
        quotas(),
    );
    auth.register(new_user("v@example.com"))
        .await
        .expect("register");
    for i in 0..3 {
        let email = format!("guess{i}@example.com");
        assert!(matches!(
            auth.login(&email, secret("wrong password 1"), CLIENT).await,
            Err(AuthError::InvalidCredentials)
        ));
    }
    assert!(matches!(
        login(&auth, "v@example.com").await,
        Err(AuthError::LoginThrottled { .. })
    ));
    let elsewhere = Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)));
    auth.login("v@example.com", secret(PASSWORD), elsewhere)
        .await
        .expect("another address is fine");
}

#[tokio::test]
async fn the_last_admin_cannot_disable_or_demote_themselves() {
    let db = TestDb::new().await;
    let auth = service(&db);
    let root = auth
        .create_admin("root@example.com", secret(PASSWORD), "Root")
        .await
        .expect("admin");
    project(&db).await;
    assert!(matches!(
        auth.disable_user(root, root).await,
        Err(AuthError::LastAdmin)
    ));
    assert!(matches!(
        auth.set_role(root, root, Role::User).await,
        Err(AuthError::LastAdmin)
    ));
    // Setting one's own role to admin again is harmless.
    auth.set_role(root, root, Role::Admin).await.expect("no-op");

    let second = auth
        .create_admin("second@example.com", secret(PASSWORD), "Second")
        .await
        .expect("second admin");
    project(&db).await;
    auth.set_role(root, root, Role::User)
        .await
        .expect("demote self");
    let p = auth
        .authenticate_access_token(
            login(&auth, "root@example.com")
                .await
                .expect("login")
                .access_token
                .expose_secret(),
        )
        .await
        .expect("auth");
    assert_eq!(p.role, Role::User, "the current role wins over the old one");
    project(&db).await;
    assert!(matches!(
        auth.disable_user(second, second).await,
        Err(AuthError::LastAdmin)
    ));
}

#[tokio::test]
async fn a_role_change_applies_to_existing_access_tokens_at_once() {
    let db = TestDb::new().await;
    let auth = service(&db);
    let admin = auth
        .create_admin("a@example.com", secret(PASSWORD), "A")
        .await
        .expect("admin");
    let user = auth
        .register(new_user("b@example.com"))
        .await
        .expect("register");
    auth.set_role(admin, user.user_id.into(), Role::Admin)
        .await
        .expect("promote");
    let p = auth
        .authenticate_access_token(user.access_token.expose_secret())
        .await
        .expect("auth");
    assert_eq!(p.role, Role::Admin);
}

#[tokio::test]
async fn admin_commands_on_unknown_users_are_not_found() {
    let db = TestDb::new().await;
    let auth = service(&db);
    let admin = auth
        .create_admin("a@example.com", secret(PASSWORD), "A")
        .await
        .expect("admin");
    let ghost = Uuid::now_v7();
    assert!(matches!(
        auth.disable_user(admin, ghost.into()).await,
        Err(AuthError::NotFound(_))
    ));
    assert!(matches!(
        auth.enable_user(admin, ghost.into()).await,
        Err(AuthError::NotFound(_))
    ));
    assert!(matches!(
        auth.set_role(admin, ghost.into(), Role::Admin).await,
        Err(AuthError::NotFound(_))
    ));
    assert!(matches!(
        auth.set_quota(admin, ghost.into(), QuotaLimits::default())
            .await,
        Err(AuthError::NotFound(_))
    ));
    assert!(matches!(
        auth.set_quota(
            admin,
            admin,
            QuotaLimits {
                storage_bytes: Some(u64::MAX),
                ..QuotaLimits::default()
            }
        )
        .await,
        Err(AuthError::InvalidField { .. })
    ));
}

#[tokio::test]
async fn profile_and_user_list_come_from_the_read_models_with_default_quotas() {
    let db = TestDb::new().await;
    let auth = service(&db);
    let admin = auth
        .create_admin("admin@example.com", secret(PASSWORD), "Admin")
        .await
        .expect("admin");
    project(&db).await;
    let user = auth
        .register(new_user("me@example.com"))
        .await
        .expect("register");

    // Before the projection catches up, the profile comes from the stream.
    let p = auth.profile(user.user_id.into()).await.expect("profile");
    assert_eq!(p.email, "me@example.com");
    assert_eq!(p.quota.storage_bytes, 1_000);

    auth.set_quota(
        admin,
        user.user_id.into(),
        QuotaLimits {
            storage_bytes: Some(5_000),
            ..QuotaLimits::default()
        },
    )
    .await
    .expect("set quota");
    project(&db).await;
    let p = auth.profile(user.user_id.into()).await.expect("profile");
    assert_eq!(
        (
            p.quota.storage_bytes,
            p.quota.uploads_per_day,
            p.quota.processing_seconds_per_day
        ),
        (5_000, 10, 60)
    );
    assert_eq!(p.display_name, "Test User");
    assert!(matches!(
        auth.profile(Uuid::now_v7().into()).await,
        Err(AuthError::NotFound(_))
    ));

    for i in 0..3 {
        auth.register(new_user(&format!("u{i}@example.com")))
            .await
            .expect("register");
    }
    project(&db).await;
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = auth.list_users(after, 2).await.expect("page");
        assert!(page.users.len() <= 2);
        seen.extend(page.users.iter().map(|u| u.email.clone()));
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    assert_eq!(
        seen[0], "admin@example.com",
        "ordered by id, i.e. sign-up time"
    );
}

/// However often a sign-in is refreshed, it ends at its absolute lifetime.
#[tokio::test]
async fn a_sign_in_ends_at_its_absolute_lifetime_however_often_it_is_refreshed() {
    let db = TestDb::new().await;
    let auth = service_with(
        &db,
        AuthSettings {
            session_max_lifetime_secs: 2,
            ..settings()
        },
        quotas(),
    );
    let signed = auth
        .register(new_user("brief@example.com"))
        .await
        .expect("register");
    assert!(
        signed.refresh_expires_at <= chrono::Utc::now() + chrono::Duration::seconds(2),
        "the refresh token never outlives the sign-in"
    );
    let refreshed = auth
        .refresh(&signed.refresh_token)
        .await
        .expect("refresh within the lifetime");
    assert!(refreshed.refresh_expires_at <= signed.refresh_expires_at);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert!(matches!(
        auth.refresh(&refreshed.refresh_token).await,
        Err(AuthError::TokenExpired)
    ));
}

/// Two setup links used at the same moment make one administrator: the other is told setup is
/// done, and no second account exists. (Both pass the "no administrator yet" check before
/// either has hashed its password, so without the roster's expectation both would be made.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_setup_links_used_at_once_make_one_administrator() {
    let db = TestDb::new().await;
    let auth = service(&db);
    let (first, _) = auth.issue_setup_link().await.unwrap().expect("a link");
    let (second, _) = auth
        .issue_setup_link()
        .await
        .unwrap()
        .expect("another link");
    let (a, b) = tokio::join!(
        auth.setup_admin(&first, new_user("first@example.com")),
        auth.setup_admin(&second, new_user("second@example.com")),
    );
    assert_eq!(
        [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(),
        1,
        "{a:?} / {b:?}"
    );
    let refused = if a.is_ok() { b } else { a };
    assert!(matches!(refused, Err(AuthError::SetupDone)), "{refused:?}");
    let registered: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'user.registered'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(registered, 1);
    assert!(auth.has_admin().await.unwrap());
    assert!(auth.issue_setup_link().await.unwrap().is_none());
}
