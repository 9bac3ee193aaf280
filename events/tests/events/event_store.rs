//! The event log's guarantees (ARCHITECTURE.md, "Event log"), each against a real PostgreSQL.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sqlx::{Connection, PgConnection};
use tessera_events::{
    AppendRequest, EventData, EventNotifier, EventStore, ExpectedVersion, PgEventStore, StoreError,
    StreamId, Subscription, Upcasters,
};
use tessera_testkit::TestDb;
use uuid::Uuid;

fn ev(n: usize) -> EventData {
    EventData::new("test.happened", json!({ "n": n }))
}

fn stream(name: &str) -> StreamId {
    StreamId::new(format!("test-{name}")).unwrap()
}

/// Guarantee 1: of N concurrent appends with the same expected version exactly one wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_with_one_expected_version_let_exactly_one_win() {
    let db = TestDb::with_pool_size(24).await;
    let store = PgEventStore::new(db.pool.clone());
    let s = stream("race");
    store
        .append(&s, ExpectedVersion::NoStream, vec![ev(0)])
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = store.clone();
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            store
                .append(&s, ExpectedVersion::Exact(1), vec![ev(i), ev(i + 100)])
                .await
        }));
    }
    let mut ok = 0;
    let mut conflicts = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(r) => {
                ok += 1;
                assert_eq!(r.next_expected_version, 3);
            }
            Err(StoreError::WrongExpectedVersion { .. }) => conflicts += 1,
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!((ok, conflicts), (1, 19));
    let events = store.read_stream(&s, 0, 100).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
}

/// Guarantee 1, below the code: the unique constraint refuses a duplicate version.
#[tokio::test]
async fn the_database_refuses_a_duplicate_stream_version_even_bypassing_the_store() {
    let db = TestDb::new().await;
    let store = PgEventStore::new(db.pool.clone());
    let s = stream("bypass");
    store
        .append(&s, ExpectedVersion::NoStream, vec![ev(0)])
        .await
        .unwrap();
    let err = sqlx::query(
        "INSERT INTO events (event_id, stream_id, stream_version, event_type, payload) \
         VALUES ($1, $2, 1, 'test.happened', '{}')",
    )
    .bind(Uuid::new_v4())
    .bind(s.as_str())
    .execute(&db.pool)
    .await
    .unwrap_err();
    let db_err = err.as_database_error().unwrap();
    assert_eq!(db_err.constraint(), Some("events_stream_version_key"));
}

#[tokio::test]
async fn expected_version_variants_are_checked() {
    let db = TestDb::new().await;
    let store = PgEventStore::new(db.pool.clone());
    let s = stream("variants");
    let err = store
        .append(&s, ExpectedVersion::StreamExists, vec![ev(0)])
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::WrongExpectedVersion { actual: 0, .. }
    ));
    store
        .append(&s, ExpectedVersion::NoStream, vec![ev(0)])
        .await
        .unwrap();
    let err = store
        .append(&s, ExpectedVersion::NoStream, vec![ev(1)])
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::WrongExpectedVersion { actual: 1, .. }
    ));
    let err = store
        .append(&s, ExpectedVersion::Exact(5), vec![ev(1)])
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::WrongExpectedVersion { actual: 1, .. }
    ));
    let r = store
        .append(&s, ExpectedVersion::StreamExists, vec![ev(1)])
        .await
        .unwrap();
    assert_eq!(r.next_expected_version, 2);
    let r = store
        .append(&s, ExpectedVersion::Any, vec![ev(2), ev(3)])
        .await
        .unwrap();
    assert_eq!(r.next_expected_version, 4);
}

/// `Any` appends racing for the same stream all land, with contiguous versions.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_any_appends_all_land_with_contiguous_versions() {
    let db = TestDb::with_pool_size(16).await;
    let store = PgEventStore::new(db.pool.clone());
    let s = stream("any");
    let mut tasks = Vec::new();
    for i in 0..12 {
        let (store, s) = (store.clone(), s.clone());
        tasks.push(tokio::spawn(async move {
            store
                .append(&s, ExpectedVersion::Any, vec![ev(i), ev(i)])
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let versions: Vec<u64> = store
        .read_stream(&s, 0, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.stream_version)
        .collect();
    assert_eq!(versions, (1..=24).collect::<Vec<_>>());
}

/// Guarantee 2: a command's events commit all or nothing, across streams too.
#[tokio::test]
async fn a_multi_stream_append_commits_all_or_nothing() {
    let db = TestDb::new().await;
    let store = PgEventStore::new(db.pool.clone());
    let (a, b) = (stream("a"), stream("b"));
    store
        .append(&b, ExpectedVersion::NoStream, vec![ev(0)])
        .await
        .unwrap();
    let err = store
        .append_many(vec![
            AppendRequest {
                stream: a.clone(),
                expected: ExpectedVersion::NoStream,
                events: (0..50).map(ev).collect(),
            },
            AppendRequest {
                stream: b.clone(),
                expected: ExpectedVersion::NoStream, // wrong: b exists
                events: vec![ev(1)],
            },
        ])
        .await
        .unwrap_err();
    assert!(err.is_concurrency_conflict());
    assert!(store.read_stream(&a, 0, 100).await.unwrap().is_empty());
    let ok = store
        .append_many(vec![
            AppendRequest {
                stream: a.clone(),
                expected: ExpectedVersion::NoStream,
                events: (0..50).map(ev).collect(),
            },
            AppendRequest {
                stream: b.clone(),
                expected: ExpectedVersion::Exact(1),
                events: vec![ev(1)],
            },
        ])
        .await
        .unwrap();
    assert_eq!(ok[0].next_expected_version, 50);
    assert_eq!(ok[1].next_expected_version, 2);
    let a_events = store.read_stream(&a, 0, 100).await.unwrap();
    assert_eq!(
        a_events
            .iter()
            .map(|e| e.stream_version)
            .collect::<Vec<_>>(),
        (1..=50).collect::<Vec<_>>()
    );
    assert!(a_events
        .iter()
        .enumerate()
        .all(|(i, e)| e.payload == json!({ "n": i })));
}

/// Multi-stream appends racing for the same streams: exactly one lands whole; a retry of it
/// (same event ids) replays its result; `Any` appends racing for one stream all land.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_multi_stream_appends_land_once_and_replay() {
    let db = TestDb::with_pool_size(24).await;
    let store = PgEventStore::new(db.pool.clone());
    let (a, b, log) = (stream("ma"), stream("mb"), stream("mlog"));
    let request = |i: usize| {
        vec![
            AppendRequest {
                stream: a.clone(),
                expected: ExpectedVersion::NoStream,
                events: vec![ev(i), ev(i + 100)],
            },
            AppendRequest {
                stream: b.clone(),
                expected: ExpectedVersion::NoStream,
                events: vec![ev(i)],
            },
            AppendRequest {
                stream: log.clone(),
                expected: ExpectedVersion::Any,
                events: vec![ev(i)],
            },
        ]
    };
    let mut tasks = Vec::new();
    for i in 0..12 {
        let (store, r) = (store.clone(), request(i));
        tasks.push(tokio::spawn(async move {
            (r.clone(), store.append_many(r).await)
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            (r, Ok(results)) => winners.push((r, results)),
            (_, Err(e)) => assert!(e.is_concurrency_conflict(), "unexpected error {e}"),
        }
    }
    assert_eq!(winners.len(), 1);
    let (sent, results) = winners.pop().unwrap();
    assert_eq!(
        results
            .iter()
            .map(|r| r.next_expected_version)
            .collect::<Vec<_>>(),
        vec![2, 1, 1]
    );
    let a_events = store.read_stream(&a, 0, 10).await.unwrap();
    assert_eq!(a_events.len(), 2);
    assert_eq!(results[0].last_position, a_events[1].global_position);
    assert!(a_events[0].global_position < a_events[1].global_position);

    // The same command again: nothing new, the first results.
    let again = store.append_many(sent).await.unwrap();
    assert!(again.iter().all(|r| r.replayed));
    assert_eq!(
        again.iter().map(|r| r.last_position).collect::<Vec<_>>(),
        results.iter().map(|r| r.last_position).collect::<Vec<_>>()
    );
    assert_eq!(store.read_stream(&log, 0, 10).await.unwrap().len(), 1);

    // Only `Any` streams: every racer lands, with contiguous versions.
    let mut tasks = Vec::new();
    for i in 0..12 {
        let store = store.clone();
        let (x, y) = (stream("many-x"), stream("many-y"));
        tasks.push(tokio::spawn(async move {
            store
                .append_many(vec![
                    AppendRequest {
                        stream: x,
                        expected: ExpectedVersion::Any,
                        events: vec![ev(i)],
                    },
                    AppendRequest {
                        stream: y,
                        expected: ExpectedVersion::Any,
                        events: vec![ev(i), ev(i)],
                    },
                ])
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let y = store.read_stream(&stream("many-y"), 0, 100).await.unwrap();
    assert_eq!(
        y.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        (1..=24).collect::<Vec<_>>()
    );
}

/// A failure in the middle of an append (here: a payload the database rejects) leaves nothing.
#[tokio::test]
async fn a_failing_append_leaves_no_partial_events() {
    let db = TestDb::new().await;
    let store = PgEventStore::new(db.pool.clone());
    let s = stream("partial");
    let mut events: Vec<EventData> = (0..5).map(ev).collect();
    // jsonb cannot hold a NUL character: the database refuses the fourth event.
    events[3].payload = json!({ "bad": "nul\u{0000}byte" });
    assert!(store
        .append(&s, ExpectedVersion::NoStream, events)
        .await
        .is_err());
    assert_eq!(store.head_position().await.unwrap(), 0);
    assert!(store.read_stream(&s, 0, 10).await.unwrap().is_empty());
}

/// Guarantee 3: a retried command with the same event ids appends nothing and gets the original
/// result.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retried_appends_with_the_same_event_ids_are_idempotent() {
    let db = TestDb::with_pool_size(16).await;
    let store = PgEventStore::new(db.pool.clone());
    let s = stream("idem");
    let events: Vec<EventData> = (0..3).map(ev).collect();
    let first = store
        .append(&s, ExpectedVersion::NoStream, events.clone())
        .await
        .unwrap();
    assert!(!first.replayed);
    store
        .append(&s, ExpectedVersion::Exact(3), vec![ev(9)])
        .await
        .unwrap();
    // Retried with its original expectation, after the stream moved on: still the first result.
    let again = store
        .append(&s, ExpectedVersion::NoStream, events.clone())
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.next_expected_version, first.next_expected_version);
    assert_eq!(again.last_position, first.last_position);
    assert_eq!(store.read_stream(&s, 0, 10).await.unwrap().len(), 4);

    // Reusing some of the ids with new ones is refused, not half-applied.
    let mut mixed = vec![events[0].clone()];
    mixed.push(ev(10));
    let err = store
        .append(&s, ExpectedVersion::Any, mixed)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::IdempotencyConflict { .. }));

    // The same command sent eight times at once lands once.
    let burst: Vec<EventData> = (20..23).map(ev).collect();
    let s2 = stream("idem-burst");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (store, s2, burst) = (store.clone(), s2.clone(), burst.clone());
        tasks.push(tokio::spawn(async move {
            store.append(&s2, ExpectedVersion::NoStream, burst).await
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap().unwrap());
    }
    assert_eq!(results.iter().filter(|r| !r.replayed).count(), 1);
    assert!(results
        .iter()
        .all(|r| r.last_position == results[0].last_position && r.next_expected_version == 3));
    assert_eq!(store.read_stream(&s2, 0, 10).await.unwrap().len(), 3);
}

/// Opens a transaction that appends like the store does (transaction id first, then a
/// position) and holds it open.
async fn open_append(db: &TestDb, stream: &str) -> (PgConnection, i64) {
    let mut conn = PgConnection::connect_with(&db.options).await.unwrap();
    sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut conn)
        .await
        .unwrap();
    let pos: i64 = sqlx::query_scalar(
        "INSERT INTO events (event_id, stream_id, stream_version, event_type, payload) \
         VALUES ($1, $2, 1, 'test.held', '{}') RETURNING global_position",
    )
    .bind(Uuid::new_v4())
    .bind(stream)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    (conn, pos)
}

/// Guarantee 4: a reader never moves past a position whose transaction may still commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_never_skips_an_event_committed_out_of_order() {
    let db = TestDb::new().await;
    let store = PgEventStore::new(db.pool.clone());
    store
        .append(&stream("before"), ExpectedVersion::Any, vec![ev(0)])
        .await
        .unwrap();
    let (mut held, held_pos) = open_append(&db, "test-held").await;
    // Later appends commit while the held one is still open.
    for i in 0..5 {
        store
            .append(
                &stream(&format!("after{i}")),
                ExpectedVersion::Any,
                vec![ev(i)],
            )
            .await
            .unwrap();
    }
    let seen = store.read_all(0, 100).await.unwrap();
    assert_eq!(
        seen.iter().map(|e| e.global_position).collect::<Vec<_>>(),
        vec![1],
        "the reader must stop before the open transaction's position"
    );
    assert_eq!(held_pos, 2);
    let after_first = store.read_all(1, 100).await.unwrap();
    assert!(after_first.is_empty(), "nothing may pass the hole yet");

    sqlx::query("COMMIT").execute(&mut held).await.unwrap();
    let rest = store.read_all(1, 100).await.unwrap();
    assert_eq!(
        rest.iter().map(|e| e.global_position).collect::<Vec<_>>(),
        vec![2, 3, 4, 5, 6, 7]
    );
    assert_eq!(rest[0].event_type, "test.held");
}

/// A rolled-back append leaves a permanent hole that readers pass once it is settled.
#[tokio::test]
async fn a_rolled_back_append_leaves_a_hole_readers_pass() {
    let db = TestDb::new().await;
    let store = PgEventStore::new(db.pool.clone());
    let (mut held, held_pos) = open_append(&db, "test-doomed").await;
    store
        .append(&stream("kept"), ExpectedVersion::Any, vec![ev(1), ev(2)])
        .await
        .unwrap();
    assert!(store.read_all(0, 100).await.unwrap().is_empty());
    sqlx::query("ROLLBACK").execute(&mut held).await.unwrap();
    let got = store.read_all(0, 100).await.unwrap();
    assert_eq!(held_pos, 1);
    assert_eq!(
        got.iter().map(|e| e.global_position).collect::<Vec<_>>(),
        vec![2, 3]
    );
}

/// A long transaction in another database of the same cluster does not hold readers back.
#[tokio::test]
async fn a_long_transaction_elsewhere_in_the_cluster_does_not_stall_readers() {
    let db = TestDb::new().await;
    let other = TestDb::new().await;
    let (mut elsewhere, _) = open_append(&other, "test-elsewhere").await;
    let store = PgEventStore::new(db.pool.clone());
    let (mut held, _) = open_append(&db, "test-doomed").await;
    store
        .append(&stream("kept"), ExpectedVersion::Any, vec![ev(1)])
        .await
        .unwrap();
    sqlx::query("ROLLBACK").execute(&mut held).await.unwrap();
    let got = store.read_all(0, 100).await.unwrap();
    assert_eq!(
        got.iter().map(|e| e.global_position).collect::<Vec<_>>(),
        vec![2]
    );
    sqlx::query("ROLLBACK")
        .execute(&mut elsewhere)
        .await
        .unwrap();
}

/// Guarantee 4 under load: writers whose transactions commit in random order, and a subscriber
/// that must see every committed event exactly once, in position order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscriber_sees_every_event_once_in_order_under_out_of_order_commits() {
    let db = TestDb::with_pool_size(30).await;
    let store: Arc<dyn EventStore> = Arc::new(PgEventStore::new(db.pool.clone()));
    let notifier = EventNotifier::start(&db.pool).await.unwrap();
    let mut writers = Vec::new();
    for w in 0..8u64 {
        let options = db.options.clone();
        writers.push(tokio::spawn(async move {
            let mut conn = PgConnection::connect_with(&options).await.unwrap();
            let mut committed = Vec::new();
            for i in 0..25u64 {
                sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
                sqlx::query("SELECT pg_current_xact_id()")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let pos: i64 = sqlx::query_scalar(
                    "INSERT INTO events (event_id, stream_id, stream_version, event_type, payload) \
                     VALUES ($1, $2, 1, 'test.w', '{}') RETURNING global_position",
                )
                .bind(Uuid::new_v4())
                .bind(format!("w{w}-{i}"))
                .fetch_one(&mut conn)
                .await
                .unwrap();
                // Hold the transaction a varying while, so commits overtake each other.
                let pause = (w * 7 + i * 13) % 9;
                tokio::time::sleep(Duration::from_millis(pause)).await;
                let roll_back = (w + i) % 6 == 0;
                let end = if roll_back { "ROLLBACK" } else { "COMMIT" };
                sqlx::query(end).execute(&mut conn).await.unwrap();
                if !roll_back {
                    committed.push(pos as u64);
                }
            }
            committed
        }));
    }
    let reader = tokio::spawn(async move {
        let mut sub = Subscription::new(store, Some(&notifier), 0)
            .with_poll_interval(Duration::from_millis(50));
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while tokio::time::Instant::now() < deadline {
            let batch =
                match tokio::time::timeout(Duration::from_millis(1500), sub.next_batch(17)).await {
                    Ok(b) => b.unwrap(),
                    Err(_) => break, // quiet for a while: writers are done
                };
            seen.extend(batch.iter().map(|e| e.global_position));
        }
        seen
    });
    let mut committed = BTreeSet::new();
    for w in writers {
        committed.extend(w.await.unwrap());
    }
    let seen = reader.await.unwrap();
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted, seen, "delivered out of order or twice");
    assert_eq!(
        seen.into_iter().collect::<BTreeSet<_>>(),
        committed,
        "every committed event, and nothing else"
    );
}

/// Catch-up subscriptions wake on NOTIFY rather than waiting for their poll interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_catches_up_then_wakes_on_notify() {
    let db = TestDb::new().await;
    let store = Arc::new(PgEventStore::new(db.pool.clone()));
    for i in 0..30 {
        store
            .append(&stream("old"), ExpectedVersion::Any, vec![ev(i)])
            .await
            .unwrap();
    }
    let notifier = EventNotifier::start(&db.pool).await.unwrap();
    let mut sub = Subscription::new(store.clone(), Some(&notifier), 10)
        .with_poll_interval(Duration::from_secs(3600));
    let first = sub.next_batch(100).await.unwrap();
    assert_eq!(first.first().unwrap().global_position, 11);
    assert_eq!(first.last().unwrap().global_position, 30);
    let waiter = tokio::spawn(async move { sub.next_batch(100).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    store
        .append(&stream("new"), ExpectedVersion::Any, vec![ev(99)])
        .await
        .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(20), waiter)
        .await
        .expect("the subscription was not woken by the notification")
        .unwrap()
        .unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].payload, json!({ "n": 99 }));
}

/// A store wired to the process's notifier wakes its subscribers as its append commits, before
/// any NOTIFY could have come back (on this single-threaded runtime no other task ran between
/// the commit and the check).
#[tokio::test]
async fn an_append_wakes_this_process_subscribers_at_once() {
    let db = TestDb::new().await;
    let store = PgEventStore::new(db.pool.clone());
    let notifier = EventNotifier::start(&db.pool).await.unwrap();
    let mut wake = notifier.receiver();
    wake.borrow_and_update();
    store
        .append(&stream("quiet"), ExpectedVersion::Any, vec![ev(0)])
        .await
        .unwrap();
    assert!(
        !wake.has_changed().unwrap(),
        "nothing announces it locally yet"
    );

    store.wake_locally(&notifier);
    let clone = store.clone();
    let appended = clone
        .append(&stream("loud"), ExpectedVersion::Any, vec![ev(1)])
        .await
        .unwrap();
    assert!(
        wake.has_changed().unwrap(),
        "the clone's append woke the subscribers"
    );
    assert!(*wake.borrow_and_update() >= appended.last_position);
}

/// Guarantee 8: nobody, not even the table's owner, can change or remove an event.
#[tokio::test]
async fn events_cannot_be_updated_deleted_or_truncated() {
    let db = TestDb::new().await;
    let store = PgEventStore::new(db.pool.clone());
    store
        .append(&stream("fixed"), ExpectedVersion::Any, vec![ev(1)])
        .await
        .unwrap();
    for sql in [
        "UPDATE events SET payload = '{}'",
        "DELETE FROM events",
        "TRUNCATE events",
    ] {
        let err = sqlx::query(sql).execute(&db.pool).await.unwrap_err();
        let code = err.as_database_error().and_then(|e| e.code()).unwrap();
        assert_eq!(code, "42501", "{sql} must be refused");
    }
    let e = store.read_all(0, 10).await.unwrap();
    assert_eq!(e[0].payload, json!({ "n": 1 }));
}

/// Old events are upcast on read and never rewritten.
#[tokio::test]
async fn old_schema_versions_are_upcast_when_read() {
    let db = TestDb::new().await;
    let writer = PgEventStore::new(db.pool.clone());
    let s = stream("upcast");
    writer
        .append(
            &s,
            ExpectedVersion::NoStream,
            vec![EventData::new(
                "test.named",
                json!({ "name": "Ada Lovelace" }),
            )],
        )
        .await
        .unwrap();
    let upcasters = Upcasters::default().register("test.named", 1, |p| {
        let name = p["name"].as_str().ok_or("no name")?;
        let (first, last) = name.split_once(' ').unwrap_or((name, ""));
        Ok(json!({ "first": first, "last": last }))
    });
    let reader = PgEventStore::with_upcasters(db.pool.clone(), upcasters);
    let got = reader.read_stream(&s, 0, 10).await.unwrap();
    assert_eq!(got[0].schema_version, 2);
    assert_eq!(
        got[0].payload,
        json!({ "first": "Ada", "last": "Lovelace" })
    );
    let all = reader.read_all(0, 10).await.unwrap();
    assert_eq!(all[0].payload, got[0].payload);
    let stored: serde_json::Value = sqlx::query_scalar("SELECT payload FROM events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(stored, json!({ "name": "Ada Lovelace" }));
}

#[tokio::test]
async fn invalid_appends_are_refused() {
    let db = TestDb::new().await;
    let store = PgEventStore::new(db.pool.clone());
    let s = stream("invalid");
    assert!(matches!(
        store.append(&s, ExpectedVersion::Any, vec![]).await,
        Err(StoreError::Invalid(_))
    ));
    let e = ev(1);
    assert!(matches!(
        store
            .append(&s, ExpectedVersion::Any, vec![e.clone(), e])
            .await,
        Err(StoreError::Invalid(_))
    ));
    assert!(StreamId::new("").is_err());
    assert!(StreamId::new("x".repeat(300)).is_err());
    assert!(StreamId::new("a\u{0000}b").is_err());
}
