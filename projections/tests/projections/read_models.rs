//! Read models that override `apply_batch` must produce exactly what applying their events one
//! by one produces.

use async_trait::async_trait;
use sqlx::PgConnection;
use tessera_events::users::{user_stream, PasswordHash, QuotaLimits, Role, UserEvent};
use tessera_events::{
    CommandContext, EventStore, ExpectedVersion, PgEventStore, RecordedEvent, UserId,
};
use tessera_projections::read_models::UsersProjection;
use tessera_projections::{replay_into, snapshot_schema, Projection, ProjectionError};
use tessera_testkit::TestDb;
use uuid::Uuid;

/// The users read model through the trait's default, one-event-at-a-time `apply_batch`.
struct OneByOne(UsersProjection);

#[async_trait]
impl Projection for OneByOne {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn version(&self) -> i32 {
        self.0.version()
    }
    fn setup_sql(&self) -> &'static str {
        self.0.setup_sql()
    }
    async fn apply(
        &self,
        conn: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        self.0.apply(conn, event).await
    }
}

/// A deterministic mix of every user event over a few dozen accounts, interleaved so that one
/// batch holds registrations and later changes of the same and of earlier accounts.
async fn append_history(store: &PgEventStore) {
    let mut seed: u64 = 0x5eed;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut users: Vec<(Uuid, u64)> = Vec::new();
    for i in 0..400 {
        let ctx = CommandContext::new(None);
        if users.is_empty() || next() % 5 == 0 {
            let id = Uuid::now_v7();
            let event = UserEvent::Registered {
                user_id: UserId(id),
                email: format!("user{i}@example.com"),
                display_name: format!("User {i}"),
                password_hash: PasswordHash::new("$argon2id$x".into()),
                role: if i % 7 == 0 { Role::Admin } else { Role::User },
                pending_approval: i % 3 == 0,
            };
            let stream = user_stream(id);
            let data = ctx
                .to_event_data(&stream, &[event], Some(UserId(id)))
                .unwrap();
            store
                .append(&stream, ExpectedVersion::NoStream, data)
                .await
                .unwrap();
            users.push((id, 1));
            continue;
        }
        let pick = (next() % users.len() as u64) as usize;
        let (id, version) = users[pick];
        let event = match next() % 7 {
            6 => UserEvent::Approved {},
            0 => UserEvent::RoleChanged { role: Role::Admin },
            1 => UserEvent::RoleChanged { role: Role::User },
            2 => UserEvent::Disabled {},
            3 => UserEvent::Enabled {},
            4 => UserEvent::PasswordChanged {
                password_hash: PasswordHash::new("$argon2id$y".into()),
            },
            _ => UserEvent::QuotaSet(QuotaLimits {
                storage_bytes: Some(next() % 1000),
                ..QuotaLimits::default()
            }),
        };
        let stream = user_stream(id);
        let data = ctx
            .to_event_data(&stream, &[event], Some(UserId(id)))
            .unwrap();
        store
            .append(&stream, ExpectedVersion::Exact(version), data)
            .await
            .unwrap();
        users[pick].1 += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_users_batch_apply_equals_applying_events_one_by_one() {
    let db = TestDb::new().await;
    let store = PgEventStore::new(db.pool.clone());
    append_history(&store).await;
    let head = store.head_position().await.unwrap();
    assert_eq!(head, 400);

    for batch_size in [1, 37, 500] {
        let batched = format!("users_batched_{batch_size}");
        replay_into(
            &db.pool,
            &store,
            &UsersProjection,
            &batched,
            None,
            batch_size,
        )
        .await
        .unwrap();
        let single = format!("users_single_{batch_size}");
        replay_into(
            &db.pool,
            &store,
            &OneByOne(UsersProjection),
            &single,
            None,
            batch_size,
        )
        .await
        .unwrap();
        let (a, b) = (
            snapshot_schema(&db.pool, &batched).await.unwrap(),
            snapshot_schema(&db.pool, &single).await.unwrap(),
        );
        assert!(a.len() > 1000, "the snapshot holds the rows: {a}");
        assert_eq!(a, b, "batch size {batch_size}");
    }
}
