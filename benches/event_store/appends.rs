//! Appends by the store against the same rows inserted by one plain statement per call.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{ensure, Result};
use serde_json::{json, Value};
use sqlx::{Executor, PgPool};
use tessera_events::{
    EventData, EventStore, ExpectedVersion, Metadata, PgEventStore, StreamId, UserId,
};
use tessera_testkit::TestDb;
use uuid::Uuid;

use crate::measure::{best, checkpoint, verdict, Measurement};
use crate::Config;

// Goals from issue 2.
const GOAL_SINGLE: f64 = 3_000.0;
const GOAL_BATCHED: f64 = 30_000.0;
const GOAL_RATIO: f64 = 0.5;

/// A payload shaped like a real one (an upload): about 300 bytes of JSON.
fn payload(seq: u64) -> Value {
    json!({
        "content_id": Uuid::new_v4(),
        "seq": seq,
        "filename": format!("upload-{seq:08}.jpg"),
        "mime": "image/jpeg",
        "bytes": seq.wrapping_mul(7919) % 10_000_000,
        "sha256": format!("{:032x}{:032x}", u128::from(seq).wrapping_mul(0x9e37_79b9_7f4a_7c15), seq),
        "tags": ["bench", "load"],
    })
}

/// Metadata like a request's: about 250 bytes.
fn metadata(seq: u64) -> Metadata {
    let user = Uuid::from_u128(0x0192_0000_0000_7000_8000_0000_0000_0000 | u128::from(seq % 1000));
    Metadata {
        actor: Some(UserId(user)),
        owner: Some(UserId(user)),
        correlation_id: Some(Uuid::new_v4()),
        causation_id: Some(Uuid::new_v4()),
        request_id: Some(format!("req-{seq:012}")),
        node: Some("bench".into()),
    }
}

fn event(seq: u64) -> EventData {
    EventData::new("content.uploaded", payload(seq)).with_metadata(metadata(seq))
}

/// Who receives the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sink {
    /// `PgEventStore::append`.
    Store,
    /// One multi-row INSERT into `bench_plain` (no indexes, no checks).
    Plain,
    /// One multi-row INSERT into `bench_indexed` (the event table's indexes and checks).
    Indexed,
}

impl Sink {
    fn label(self) -> &'static str {
        match self {
            Sink::Store => "store",
            Sink::Plain => "baseline",
            Sink::Indexed => "indexed_insert",
        }
    }
}

const BASELINE_TABLES: &str = "
CREATE SEQUENCE bench_plain_seq AS bigint START 1 CACHE 1 NO CYCLE;
CREATE TABLE bench_plain (LIKE events INCLUDING DEFAULTS);
ALTER TABLE bench_plain ALTER COLUMN global_position SET DEFAULT nextval('bench_plain_seq');
CREATE SEQUENCE bench_indexed_seq AS bigint START 1 CACHE 1 NO CYCLE;
CREATE TABLE bench_indexed (LIKE events INCLUDING ALL);
ALTER TABLE bench_indexed ALTER COLUMN global_position SET DEFAULT nextval('bench_indexed_seq');
";

fn insert_sql(table: &str) -> String {
    format!(
        "INSERT INTO {table} (event_id, stream_id, stream_version, event_type, schema_version, \
         payload, metadata) \
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::int[], \
                              $6::jsonb[], $7::jsonb[])"
    )
}

/// Appends `total` events in calls of `per_call` by `writers` concurrent writers.
/// `per_call == 1`: each call a new stream, expecting none. Otherwise: one stream per writer,
/// each call expecting its exact version.
async fn append_run(
    sink: Sink,
    pool: &PgPool,
    writers: usize,
    total: u64,
    per_call: usize,
) -> Result<Measurement> {
    let store = PgEventStore::new(pool.clone());
    let calls = total.div_ceil(per_call as u64);
    let next = Arc::new(AtomicU64::new(0));
    let run_id = Uuid::new_v4().simple().to_string();
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(writers);
    for w in 0..writers {
        let store = store.clone();
        let pool = pool.clone();
        let next = next.clone();
        let run_id = run_id.clone();
        tasks.push(tokio::spawn(async move {
            let table_sql = match sink {
                Sink::Store => String::new(),
                Sink::Plain => insert_sql("bench_plain"),
                Sink::Indexed => insert_sql("bench_indexed"),
            };
            let writer_stream = format!("bench-{run_id}-w{w}");
            let mut version = 0u64;
            let mut latencies = Vec::new();
            let mut events = 0u64;
            loop {
                let call = next.fetch_add(1, Ordering::Relaxed);
                if call >= calls {
                    break;
                }
                let n = (total - call * per_call as u64).min(per_call as u64);
                let first_seq = call * per_call as u64;
                let batch: Vec<EventData> = (first_seq..first_seq + n).map(event).collect();
                let (stream, expected) = if per_call == 1 {
                    (format!("bench-{run_id}-{call}"), ExpectedVersion::NoStream)
                } else if version == 0 {
                    (writer_stream.clone(), ExpectedVersion::NoStream)
                } else {
                    (writer_stream.clone(), ExpectedVersion::Exact(version))
                };
                let t = Instant::now();
                match sink {
                    Sink::Store => {
                        let stream = StreamId::new(stream)?;
                        let r = store.append(&stream, expected, batch).await?;
                        ensure!(!r.replayed, "append was taken as a replay");
                        ensure!(r.next_expected_version == version + n, "unexpected version");
                    }
                    Sink::Plain | Sink::Indexed => {
                        plain_insert(&pool, &table_sql, &stream, version, &batch).await?;
                    }
                }
                latencies.push(t.elapsed());
                if per_call > 1 {
                    version += n;
                }
                events += n;
            }
            Ok::<_, anyhow::Error>((events, latencies))
        }));
    }
    let mut events = 0;
    let mut latencies = Vec::new();
    for t in tasks {
        let (n, l) = t.await??;
        events += n;
        latencies.extend(l);
    }
    let elapsed = started.elapsed();
    ensure!(events == total, "appended {events} of {total} events");
    Ok(Measurement::new(events, elapsed, latencies))
}

/// The baseline's one statement: the same column values the store would write.
async fn plain_insert(
    pool: &PgPool,
    sql: &str,
    stream: &str,
    version: u64,
    batch: &[EventData],
) -> Result<()> {
    let ids: Vec<Uuid> = batch.iter().map(|e| e.event_id).collect();
    let streams: Vec<&str> = batch.iter().map(|_| stream).collect();
    let versions: Vec<i64> = (1..=batch.len() as i64)
        .map(|i| version as i64 + i)
        .collect();
    let types: Vec<&str> = batch.iter().map(|e| e.event_type.as_str()).collect();
    let schema_versions: Vec<i32> = batch.iter().map(|e| e.schema_version).collect();
    let payloads: Vec<&Value> = batch.iter().map(|e| &e.payload).collect();
    let metadata = batch
        .iter()
        .map(|e| serde_json::to_value(&e.metadata))
        .collect::<Result<Vec<_>, _>>()?;
    sqlx::query(sql)
        .bind(&ids)
        .bind(&streams)
        .bind(&versions)
        .bind(&types)
        .bind(&schema_versions)
        .bind(&payloads)
        .bind(&metadata)
        .execute(pool)
        .await?;
    Ok(())
}

pub(crate) async fn appends(config: &Config) -> Result<Value> {
    println!(
        "\n== appends: {} writers; single-event appends ({} events) and {}-event batches ({} \
         events) ==",
        config.writers, config.single_events, config.batch_size, config.batched_events
    );
    let mut out = serde_json::Map::new();
    let modes = [
        ("single", config.single_events, 1usize, GOAL_SINGLE),
        (
            "batched",
            config.batched_events,
            config.batch_size,
            GOAL_BATCHED,
        ),
    ];
    for (mode, total, per_call, goal) in modes {
        println!("{mode}:");
        let mut runs: Vec<(Sink, Vec<Measurement>)> = vec![
            (Sink::Store, vec![]),
            (Sink::Plain, vec![]),
            (Sink::Indexed, vec![]),
        ];
        for round in 0..config.rounds {
            // A fresh database per round; the order of the three rotates between rounds.
            let db = TestDb::with_pool_size(config.writers as u32 + 2).await;
            db.pool.execute(BASELINE_TABLES).await?;
            for k in 0..runs.len() {
                let i = (k + round) % runs.len();
                let sink = runs[i].0;
                checkpoint(&db.pool).await;
                let m = append_run(sink, &db.pool, config.writers, total, per_call).await?;
                println!(
                    "{}",
                    m.line(&format!("{} (round {})", sink.label(), round + 1))
                );
                runs[i].1.push(m);
            }
            db.pool.close().await;
        }
        let store = best(&runs[0].1);
        let baseline = best(&runs[1].1);
        let indexed = best(&runs[2].1);
        let ratio = store.events_per_s / baseline.events_per_s;
        let pass = store.events_per_s >= goal && ratio >= GOAL_RATIO;
        println!("{}", store.line("store (best)"));
        println!("{}", baseline.line("baseline: plain INSERT (best)"));
        println!("{}", indexed.line("diagnostic: INSERT w/ indexes"));
        println!(
            "  ratio store/baseline {ratio:.2} (goal ≥ {GOAL_RATIO}); goal {goal:.0} events/s: {}",
            verdict(pass)
        );
        out.insert(
            mode.into(),
            json!({
                "writers": config.writers,
                "events_per_call": per_call,
                "store": store,
                "baseline": baseline,
                "diagnostic_indexed_insert": indexed,
                "ratio_vs_baseline": ratio,
                "ratio_vs_indexed_insert": store.events_per_s / indexed.events_per_s,
                "goal_events_per_s": goal,
                "goal_ratio": GOAL_RATIO,
                "pass": pass,
                "rounds": runs.iter().map(|(s, m)| (s.label().to_string(), json!(m)))
                    .collect::<serde_json::Map<_, _>>(),
            }),
        );
    }
    out.insert(
        "baseline_table".into(),
        json!(
            "CREATE TABLE bench_plain (LIKE events INCLUDING DEFAULTS): same columns, types, \
               NOT NULLs and defaults (own CACHE 1 sequence); no primary key, unique indexes, \
               CHECKs or triggers. One autocommit INSERT … SELECT FROM unnest(…) per call."
        ),
    );
    out.insert(
        "indexed_table".into(),
        json!(
            "CREATE TABLE bench_indexed (LIKE events INCLUDING ALL): also the primary key, \
               both unique indexes and the CHECKs; no triggers."
        ),
    );
    Ok(Value::Object(out))
}
