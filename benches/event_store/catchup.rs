//! Catch-up read: a subscription from position 0 against a raw keyset scan.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::PgPool;
use tessera_events::{EventStore, PgEventStore, Subscription};
use tessera_testkit::TestDb;
use uuid::Uuid;

use crate::fill::fill_log;
use crate::measure::{best, verdict, Measurement};
use crate::Config;

/// Goal from issue 2.
const GOAL_CATCHUP: f64 = 50_000.0;

/// The columns an event row has, in the order the store reads them.
const COLUMNS: &str = "global_position, event_id, stream_id, stream_version, event_type, \
                       schema_version, payload, metadata, recorded_at";

/// `$1..=$2` → events like the append benchmark's: 10 per stream.
const CATCHUP_ROWS: &str = "
SELECT gen_random_uuid(), 'bench-' || (i / 10), (i % 10) + 1, 'content.uploaded', 1,
       jsonb_build_object('content_id', gen_random_uuid(), 'seq', i,
                          'filename', 'upload-' || lpad(i::text, 8, '0') || '.jpg',
                          'mime', 'image/jpeg', 'bytes', (i * 7919) % 10000000,
                          'sha256', md5(i::text) || md5((i + 1)::text),
                          'tags', jsonb_build_array('bench', 'load')),
       jsonb_build_object('actor', md5((i % 1000)::text)::uuid,
                          'owner', md5((i % 1000)::text)::uuid,
                          'correlation_id', gen_random_uuid(), 'causation_id', gen_random_uuid(),
                          'request_id', 'req-' || lpad(i::text, 12, '0'), 'node', 'bench')
FROM generate_series($1::bigint, $2::bigint) AS i
ORDER BY i";

type RawRow = (
    i64,
    Uuid,
    String,
    i64,
    String,
    i32,
    Value,
    Value,
    DateTime<Utc>,
);

/// Baseline: the keyset scan with no store logic.
async fn raw_scan(pool: &PgPool, total: u64, batch: usize) -> Result<Measurement> {
    let sql = format!(
        "SELECT {COLUMNS} FROM events WHERE global_position > $1 ORDER BY global_position LIMIT $2"
    );
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut position = 0i64;
    let mut seen = 0u64;
    while seen < total {
        let t = Instant::now();
        let rows: Vec<RawRow> = sqlx::query_as(&sql)
            .bind(position)
            .bind(batch as i64)
            .fetch_all(pool)
            .await?;
        latencies.push(t.elapsed());
        let Some(last) = rows.last() else {
            bail!("raw scan ended after {seen} of {total} events");
        };
        ensure!(
            last.0 == position + rows.len() as i64,
            "raw scan out of order"
        );
        position = last.0;
        seen += rows.len() as u64;
        std::hint::black_box(&rows);
    }
    Ok(Measurement::new(seen, started.elapsed(), latencies))
}

/// The store: a catch-up subscription from position 0.
async fn subscription_scan(pool: &PgPool, total: u64, batch: usize) -> Result<Measurement> {
    let store: Arc<dyn EventStore> = Arc::new(PgEventStore::new(pool.clone()));
    let mut subscription = Subscription::new(store, None, 0);
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut seen = 0u64;
    while seen < total {
        let t = Instant::now();
        let events = tokio::time::timeout(Duration::from_secs(60), subscription.next_batch(batch))
            .await
            .context("subscription stalled")??;
        latencies.push(t.elapsed());
        ensure!(
            events.first().map(|e| e.global_position) == Some(seen + 1)
                && subscription.position() == seen + events.len() as u64,
            "subscription skipped or repeated events"
        );
        seen += events.len() as u64;
        std::hint::black_box(&events);
    }
    Ok(Measurement::new(seen, started.elapsed(), latencies))
}

pub(crate) async fn catchup(config: &Config) -> Result<Value> {
    let total = config.catchup_events;
    println!(
        "\n== catch-up read: {total} events, batches of {} ==",
        config.read_batch
    );
    let db = TestDb::with_pool_size(4).await;
    fill_log(&db.pool, total, CATCHUP_ROWS, None).await?;
    let mut raw = Vec::new();
    let mut store = Vec::new();
    for round in 0..config.rounds {
        let m = raw_scan(&db.pool, total, config.read_batch).await?;
        println!("{}", m.line(&format!("baseline (round {})", round + 1)));
        raw.push(m);
        let m = subscription_scan(&db.pool, total, config.read_batch).await?;
        println!("{}", m.line(&format!("store (round {})", round + 1)));
        store.push(m);
    }
    db.pool.close().await;
    let (s, b) = (best(&store), best(&raw));
    let ratio = s.events_per_s / b.events_per_s;
    let pass = s.events_per_s >= GOAL_CATCHUP;
    println!("{}", s.line("Subscription::next_batch (best)"));
    println!("{}", b.line("baseline: raw keyset SELECT (best)"));
    println!(
        "  ratio store/baseline {ratio:.2}; goal {GOAL_CATCHUP:.0} events/s: {}",
        verdict(pass)
    );
    Ok(json!({
        "events": total,
        "batch": config.read_batch,
        "store": s,
        "baseline": b,
        "ratio_vs_baseline": ratio,
        "goal_events_per_s": GOAL_CATCHUP,
        "pass": pass,
        "rounds": {"store": store, "baseline": raw},
        "baseline_query": format!("SELECT {COLUMNS} FROM events WHERE global_position > $1 \
                                   ORDER BY global_position LIMIT $2"),
    }))
}
