//! Load benchmarks of the event log (issue 2, "Benchmarks"), each against a fresh database and
//! each with its baseline measured in the same run:
//!
//! - `appends`: W concurrent writers (default 16) appending single events to distinct streams
//!   (`ExpectedVersion::NoStream`), and 100-event batches to one stream per writer
//!   (`ExpectedVersion::Exact`). Baseline: the same rows, with the same concurrency and
//!   batching, inserted by one plain multi-row `INSERT … SELECT FROM unnest(…)` per call
//!   (autocommit) into `bench_plain`, made with `CREATE TABLE bench_plain (LIKE events INCLUDING
//!   DEFAULTS)`: the same columns, types, NOT NULLs and defaults (its own `CACHE 1` sequence for
//!   `global_position`), and nothing else: no primary key, no unique indexes, no CHECKs, no
//!   triggers. A second, diagnostic table `bench_indexed (LIKE events INCLUDING ALL)` has the
//!   event table's primary key, unique indexes and CHECKs too (triggers are never copied; the
//!   event table's only fire on UPDATE/DELETE/TRUNCATE), which separates the cost of the indexes
//!   from the cost of the store's own work.
//! - `catchup`: 1,000,000 events written by one `generate_series` INSERT per 100,000 in the
//!   store's column layout, then read from position 0 by a [`Subscription`] in batches of 5,000.
//!   Baseline: a raw keyset scan, `SELECT <the same columns> FROM events WHERE global_position >
//!   $1 ORDER BY global_position LIMIT 5000`, decoded into the same Rust types.
//! - `rebuild`: the `users` read model rebuilt by `tessera_projections::rebuild` over 200,000
//!   `user.*` events (50,000 users × registered, password changed, quota set, role changed), with
//!   the runtime's default batch size. For scale, a no-op projection (no SQL per event) rebuilt
//!   over the same log gives the runtime's floor (reading, batch transactions, lease and swap).
//!
//! Run with `make bench`, or `TESSERA_BENCH_DATABASE_URL=postgres://… cargo bench --bench
//! event_store [-- appends|catchup|rebuild …]` (filters, as for tests: a section runs when its
//! name contains one). The URL names a PostgreSQL server (pgvector installed) on which this
//! creates and drops its own databases. Sizes can be changed with `TESSERA_BENCH_*` variables
//! (see `Config`). Figures are printed and written to `target/bench-results/event_store.json`
//! (under `CARGO_TARGET_DIR` when that is set).
//!
//! Under a test harness (`cargo test --benches`, `cargo nextest run --all-targets`, which lists
//! tests with `--list`) this binary lists no tests and exits at once.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::{Executor, PgConnection, PgPool};
use tessera_events::{
    EventData, EventStore, ExpectedVersion, Metadata, PgEventStore, RecordedEvent, StreamId,
    Subscription,
};
use tessera_projections::read_models::UsersProjection;
use tessera_projections::{rebuild, Projection, ProjectionError, RebuildOptions};
use tessera_testkit::{TestDb, TEST_DATABASE_URL};
use uuid::Uuid;

/// The server the benchmarks create their databases on.
const BENCH_DATABASE_URL: &str = "TESSERA_BENCH_DATABASE_URL";
const NAME: &str = "event_store";
const SECTIONS: [&str; 3] = ["appends", "catchup", "rebuild"];

// Goals from issue 2.
const GOAL_SINGLE: f64 = 3_000.0;
const GOAL_BATCHED: f64 = 30_000.0;
const GOAL_RATIO: f64 = 0.5;
const GOAL_CATCHUP: f64 = 50_000.0;
const GOAL_REBUILD: f64 = 20_000.0;

/// The columns an event row has, in the order the store reads them.
const COLUMNS: &str = "global_position, event_id, stream_id, stream_version, event_type, \
                       schema_version, payload, metadata, recorded_at";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // A test harness asking for the list of tests: there are none.
    if args.iter().any(|a| a == "--list") {
        return;
    }
    // Run by `cargo test` or nextest rather than `cargo bench`: nothing to do.
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    // Like a test harness's filters: a section runs when its name contains one of them.
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let selected: Vec<&'static str> = SECTIONS
        .into_iter()
        .filter(|s| filters.is_empty() || filters.iter().any(|f| s.contains(f.as_str())))
        .collect();
    if selected.is_empty() {
        println!("no benchmark matches {filters:?} (sections: {SECTIONS:?})");
        return;
    }
    let Ok(url) = std::env::var(BENCH_DATABASE_URL) else {
        eprintln!(
            "{BENCH_DATABASE_URL} is not set. Run `make bench`, which provisions PostgreSQL, or \
             point {BENCH_DATABASE_URL} at a PostgreSQL server with pgvector."
        );
        std::process::exit(2);
    };
    // The test kit's per-test databases read this variable; no other
    // thread exists yet.
    std::env::set_var(TEST_DATABASE_URL, url);

    let config = Config::from_env();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = runtime.block_on(run(config, selected)) {
        eprintln!("benchmark failed: {e:#}");
        std::process::exit(1);
    }
}

/// Sizes of the runs; each can be set with the variable named beside it.
#[derive(Debug, Clone, serde::Serialize)]
struct Config {
    /// `TESSERA_BENCH_WRITERS`: concurrent writers in the append benchmarks.
    writers: usize,
    /// `TESSERA_BENCH_SINGLE_EVENTS`: events appended one per call.
    single_events: u64,
    /// `TESSERA_BENCH_BATCHED_EVENTS`: events appended in batches.
    batched_events: u64,
    /// `TESSERA_BENCH_BATCH_SIZE`: events per batched append.
    batch_size: usize,
    /// `TESSERA_BENCH_CATCHUP_EVENTS`: events in the log read by the catch-up benchmark.
    catchup_events: u64,
    /// `TESSERA_BENCH_READ_BATCH`: events per catch-up read.
    read_batch: usize,
    /// `TESSERA_BENCH_REBUILD_EVENTS`: `user.*` events replayed by the rebuild benchmark.
    rebuild_events: u64,
    /// `TESSERA_BENCH_ROUNDS`: measurements of each figure; the best is reported.
    rounds: usize,
}

impl Config {
    fn from_env() -> Self {
        fn var<T: std::str::FromStr>(name: &str, default: T) -> T {
            match std::env::var(name) {
                Ok(v) => v.trim().parse().unwrap_or_else(|_| {
                    eprintln!("ignoring {name}={v:?}: not a number");
                    default
                }),
                Err(_) => default,
            }
        }
        Self {
            writers: var("TESSERA_BENCH_WRITERS", 16usize).max(1),
            single_events: var("TESSERA_BENCH_SINGLE_EVENTS", 20_000u64).max(1),
            batched_events: var("TESSERA_BENCH_BATCHED_EVENTS", 200_000u64).max(1),
            batch_size: var("TESSERA_BENCH_BATCH_SIZE", 100usize).max(1),
            catchup_events: var("TESSERA_BENCH_CATCHUP_EVENTS", 1_000_000u64).max(1),
            read_batch: var("TESSERA_BENCH_READ_BATCH", 5_000usize).max(1),
            rebuild_events: var("TESSERA_BENCH_REBUILD_EVENTS", 200_000u64).max(4),
            rounds: var("TESSERA_BENCH_ROUNDS", 2usize).max(1),
        }
    }
}

async fn run(config: Config, selected: Vec<&'static str>) -> Result<()> {
    let wanted = |s: &str| selected.contains(&s);
    let mut report = json!({
        "benchmark": NAME,
        "started_at": Utc::now(),
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "config": config,
    });
    {
        let db = TestDb::with_pool_size(1).await;
        let version: String = sqlx::query_scalar("SELECT version()")
            .fetch_one(&db.pool)
            .await?;
        let settings: Vec<(String, String)> = sqlx::query_as(
            "SELECT name, setting FROM pg_settings WHERE name IN ('shared_buffers', \
             'synchronous_commit', 'fsync', 'wal_level', 'max_connections') ORDER BY name",
        )
        .fetch_all(&db.pool)
        .await?;
        println!("{version}");
        println!("settings: {settings:?}");
        report["postgres"] = json!(version);
        report["postgres_settings"] = Value::Object(
            settings
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        );
        db.pool.close().await;
    }
    let path = results_path();
    report["load_average_at_start"] = load_average();
    if wanted("appends") {
        report["appends"] = appends(&config).await.context("appends")?;
        write_report(&path, &report)?;
    }
    if wanted("catchup") {
        report["catchup"] = catchup(&config).await.context("catch-up read")?;
        write_report(&path, &report)?;
    }
    if wanted("rebuild") {
        report["rebuild"] = rebuild_bench(&config).await.context("projection rebuild")?;
        write_report(&path, &report)?;
    }
    report["load_average_at_end"] = load_average();
    write_report(&path, &report)?;
    println!("\nresults written to {}", path.display());
    Ok(())
}

/// The machine's 1, 5 and 15 minute load averages where the OS tells them (Linux): figures
/// taken while other work ran are not comparable.
fn load_average() -> Value {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map_or(Value::Null, |s| {
            json!(s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        })
}

fn results_path() -> PathBuf {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| "target".into(), PathBuf::from);
    target.join("bench-results").join(format!("{NAME}.json"))
}

fn write_report(path: &PathBuf, report: &Value) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    std::fs::write(path, serde_json::to_string_pretty(report)? + "\n")
        .with_context(|| format!("write {}", path.display()))
}

// ------------------------------------------------------------------------------------------
// Shared helpers

/// One timed run.
#[derive(Debug, Clone, serde::Serialize)]
struct Measurement {
    events: u64,
    seconds: f64,
    events_per_s: f64,
    /// Per call (one append, one INSERT, one read), in milliseconds.
    calls: u64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

impl Measurement {
    fn new(events: u64, elapsed: Duration, mut latencies: Vec<Duration>) -> Self {
        latencies.sort_unstable();
        let pct = |p: f64| -> f64 {
            if latencies.is_empty() {
                return 0.0;
            }
            let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
            ms(latencies[i])
        };
        let seconds = elapsed.as_secs_f64();
        Self {
            events,
            seconds,
            events_per_s: events as f64 / seconds.max(1e-9),
            calls: latencies.len() as u64,
            p50_ms: pct(0.50),
            p99_ms: pct(0.99),
            max_ms: latencies.last().copied().map_or(0.0, ms),
        }
    }

    fn line(&self, label: &str) -> String {
        if self.calls == 0 {
            return format!(
                "  {label:<34} {:>10.0} events/s  ({} events in {:.2} s)",
                self.events_per_s, self.events, self.seconds
            );
        }
        format!(
            "  {label:<34} {:>10.0} events/s  ({} events in {:.2} s; per call p50 {:.2} ms, \
             p99 {:.2} ms, max {:.2} ms)",
            self.events_per_s, self.events, self.seconds, self.p50_ms, self.p99_ms, self.max_ms
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn best(runs: &[Measurement]) -> Measurement {
    runs.iter()
        .max_by(|a, b| a.events_per_s.total_cmp(&b.events_per_s))
        .cloned()
        .expect("at least one round")
}

/// Flushes dirty buffers so one measurement does not pay for the previous one's writes.
async fn checkpoint(pool: &PgPool) {
    if let Err(e) = pool.execute("CHECKPOINT").await {
        eprintln!("  (CHECKPOINT refused, continuing without: {e})");
    }
}

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
        actor: Some(user),
        owner: Some(user),
        correlation_id: Some(Uuid::new_v4()),
        causation_id: Some(Uuid::new_v4()),
        request_id: Some(format!("req-{seq:012}")),
        node: Some("bench".into()),
    }
}

fn event(seq: u64) -> EventData {
    EventData::new("content.uploaded", payload(seq)).with_metadata(metadata(seq))
}

// ------------------------------------------------------------------------------------------
// 1. Appends

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

async fn appends(config: &Config) -> Result<Value> {
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

fn verdict(pass: bool) -> &'static str {
    if pass {
        "MET"
    } else {
        "MISSED"
    }
}

// ------------------------------------------------------------------------------------------
// 2. Catch-up read

/// Fills the event log with `total` events in the store's layout: `select` yields the rows
/// `$1..=$2` (and takes `extra` as `$3` when given), run once per 100,000. Positions are
/// contiguous from 1 (one writer, nothing rolls back).
async fn fill_log(pool: &PgPool, total: u64, select: &str, extra: Option<i64>) -> Result<()> {
    const CHUNK: u64 = 100_000;
    let sql = format!(
        "INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, \
         payload, metadata) {select}"
    );
    let started = Instant::now();
    let mut from = 0u64;
    while from < total {
        let to = (from + CHUNK).min(total);
        let mut query = sqlx::query(&sql).bind(from as i64).bind(to as i64 - 1);
        if let Some(extra) = extra {
            query = query.bind(extra);
        }
        query.execute(pool).await?;
        from = to;
    }
    pool.execute("VACUUM (ANALYZE) events").await?;
    checkpoint(pool).await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await?;
    ensure!(
        count as u64 == total,
        "log holds {count} events, not {total}"
    );
    println!(
        "  wrote {total} events in {:.1} s (generate_series, VACUUM ANALYZE, CHECKPOINT)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

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

async fn catchup(config: &Config) -> Result<Value> {
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

// ------------------------------------------------------------------------------------------
// 3. Projection rebuild

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

async fn rebuild_bench(config: &Config) -> Result<Value> {
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
