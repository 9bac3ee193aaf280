//! Projection rebuild: the `users` read model, and a no-op projection for the runtime's floor.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use async_trait::async_trait;
use serde_json::{json, Value};
use sqlx::PgConnection;
use tessera_events::{PgEventStore, RecordedEvent};
use tessera_projections::read_models::UsersProjection;
use tessera_projections::{rebuild, Projection, ProjectionError, RebuildOptions};
use tessera_testkit::TestDb;

use crate::fill::fill_log;
use crate::measure::{best, checkpoint, verdict, Measurement};
use crate::Config;

/// Goal from issue 2.
const GOAL_REBUILD: f64 = 20_000.0;

/// `$1..=$2` → `user.*` events of `$3` users: first every registration, then a password
/// change, a quota and a role change for each (positions `k * users + j`).
const USER_ROWS: &str = "
SELECT gen_random_uuid(), 'user-' || u.id, k + 1,
       (ARRAY['user.registered', 'user.password_changed', 'user.quota_set',
              'user.role_changed'])[(k + 1)::int], 1,
       CASE k
         WHEN 0 THEN jsonb_build_object('user_id', u.id, 'email', 'user' || j || '@example.com',
                                        'display_name', 'User ' || j, 'password_hash', u.hash,
                                        'role', 'user')
         WHEN 1 THEN jsonb_build_object('password_hash', u.hash)
         WHEN 2 THEN jsonb_build_object('storage_bytes', 1073741824, 'uploads_per_day', 100,
                                        'processing_seconds_per_day', 3600)
         ELSE jsonb_build_object('role', CASE WHEN j % 100 = 0 THEN 'admin' ELSE 'user' END)
       END,
       jsonb_build_object('actor', u.id, 'owner', u.id, 'correlation_id', gen_random_uuid(),
                          'request_id', 'req-' || lpad(i::text, 12, '0'), 'node', 'bench')
FROM generate_series($1::bigint, $2::bigint) AS i,
     LATERAL (SELECT i / $3 AS k, i % $3 AS j) AS p,
     LATERAL (SELECT md5('bench-user-' || p.j)::uuid AS id,
                     '$argon2id$v=19$m=19456,t=2,p=1$' || md5('salt' || p.j) || '$'
                       || md5('hash' || p.j) AS hash) AS u
ORDER BY i";

/// A projection that writes nothing per event: what the runtime itself costs.
struct NoopProjection {
    applied: AtomicU64,
}

#[async_trait]
impl Projection for NoopProjection {
    fn name(&self) -> &'static str {
        "bench_noop"
    }

    fn version(&self) -> i32 {
        1
    }

    fn setup_sql(&self) -> &'static str {
        "CREATE TABLE applied (n bigint NOT NULL);"
    }

    async fn apply(
        &self,
        _conn: &mut PgConnection,
        _event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        self.applied.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

async fn timed<T>(f: impl Future<Output = Result<T>>) -> Result<(T, Duration)> {
    let started = Instant::now();
    let value = f.await?;
    Ok((value, started.elapsed()))
}

pub(crate) async fn rebuild_bench(config: &Config) -> Result<Value> {
    let users = config.rebuild_events / 4;
    let total = users * 4;
    println!("\n== projection rebuild: `users` over {total} user.* events ({users} users) ==");
    let db = TestDb::with_pool_size(8).await;
    let options = RebuildOptions::new("bench");
    fill_log(&db.pool, total, USER_ROWS, Some(users as i64)).await?;
    let store = PgEventStore::new(db.pool.clone());
    let mut users_runs = Vec::new();
    let mut noop_runs = Vec::new();
    let mut batches = 0;
    for round in 0..config.rounds {
        checkpoint(&db.pool).await;
        let (report, elapsed) =
            timed(async { Ok(rebuild(&db.pool, &store, &UsersProjection, &options).await?) })
                .await?;
        ensure!(
            report.events == total,
            "rebuild applied {} events",
            report.events
        );
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM rm_users.users")
            .fetch_one(&db.pool)
            .await?;
        ensure!(
            rows as u64 == users,
            "users read model has {rows} rows, not {users}"
        );
        batches = total.div_ceil(options.batch_size as u64);
        let m = Measurement::new(report.events, elapsed, vec![]);
        println!(
            "{}",
            m.line(&format!("users rebuild (round {})", round + 1))
        );
        users_runs.push(m);

        checkpoint(&db.pool).await;
        let noop = NoopProjection {
            applied: AtomicU64::new(0),
        };
        let (report, elapsed) =
            timed(async { Ok(rebuild(&db.pool, &store, &noop, &options).await?) }).await?;
        ensure!(
            report.events == total && noop.applied.load(Ordering::Relaxed) == total,
            "no-op rebuild applied {} events",
            report.events
        );
        let m = Measurement::new(report.events, elapsed, vec![]);
        println!(
            "{}",
            m.line(&format!("no-op rebuild (round {})", round + 1))
        );
        noop_runs.push(m);
    }
    db.pool.close().await;
    let (u, n) = (best(&users_runs), best(&noop_runs));
    let pass = u.events_per_s >= GOAL_REBUILD;
    // Time per event beyond the runtime's own: what the read model's SQL costs.
    let apply_us = (u.seconds - n.seconds) / total as f64 * 1e6;
    println!("{}", u.line("users rebuild (best)"));
    println!("{}", n.line("runtime floor: no-op projection"));
    println!(
        "  batch size {}; the users read model's SQL costs {apply_us:.1} µs per event; goal \
         {GOAL_REBUILD:.0} events/s: {}",
        options.batch_size,
        verdict(pass)
    );
    Ok(json!({
        "events": total,
        "users": users,
        "batch_size": options.batch_size,
        "batches": batches,
        "users_rebuild": u,
        "runtime_floor_noop_projection": n,
        "apply_us_per_event": apply_us,
        "goal_events_per_s": GOAL_REBUILD,
        "pass": pass,
        "rounds": {"users": users_runs, "noop": noop_runs},
    }))
}
