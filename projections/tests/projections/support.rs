//! Shared pieces of the projection runtime tests: a small projection, appends, assertions.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use async_trait::async_trait;
use sqlx::{PgConnection, PgPool};
use tessera_events::{
    EventData, EventNotifier, EventStore, ExpectedVersion, PgEventStore, RecordedEvent, StreamId,
};
use tessera_projections::{
    Projection, ProjectionError, Projector, ProjectorOptions, ProjectorState,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub const NAME: &str = "counts";
pub const LIVE: &str = "rm_counts";

/// Shows the runtime's logs when `TEST_LOG` is set, e.g. `TEST_LOG=debug`.
pub fn init_tracing() {
    if let Ok(filter) = std::env::var("TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

/// Counts events per stream and per category. Version 2 also counts per event type, so a
/// version bump changes the tables. With `fault` on, fails on events whose payload says
/// `"poison": true`.
pub struct Counts {
    pub version: i32,
    pub fault: Arc<AtomicBool>,
}

impl Counts {
    pub fn new(version: i32) -> Self {
        Self {
            version,
            fault: Arc::new(AtomicBool::new(false)),
        }
    }
}

const SETUP_V1: &str = "
CREATE TABLE streams (
    stream_id    text PRIMARY KEY,
    category     text NOT NULL,
    events       bigint NOT NULL,
    last_version bigint NOT NULL,
    first_at     timestamptz NOT NULL,
    last_at      timestamptz NOT NULL
);
CREATE TABLE categories (
    category      text PRIMARY KEY,
    total         bigint NOT NULL,
    last_position bigint NOT NULL
);
";

const SETUP_V2: &str = "
CREATE TABLE streams (
    stream_id    text PRIMARY KEY,
    category     text NOT NULL,
    events       bigint NOT NULL,
    last_version bigint NOT NULL,
    first_at     timestamptz NOT NULL,
    last_at      timestamptz NOT NULL
);
CREATE TABLE categories (
    category      text PRIMARY KEY,
    total         bigint NOT NULL,
    last_position bigint NOT NULL
);
CREATE TABLE event_types (
    event_type text PRIMARY KEY,
    total      bigint NOT NULL
);
";

#[async_trait]
impl Projection for Counts {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> i32 {
        self.version
    }

    fn setup_sql(&self) -> &'static str {
        if self.version >= 2 {
            SETUP_V2
        } else {
            SETUP_V1
        }
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let poisoned = event
            .payload
            .get("poison")
            .and_then(serde_json::Value::as_bool);
        if self.fault.load(Ordering::SeqCst) && poisoned == Some(true) {
            return Err(ProjectionError::Decode(format!(
                "injected fault at position {}",
                event.global_position
            )));
        }
        let category = event
            .stream_id
            .split_once('-')
            .map_or(event.stream_id.as_str(), |(c, _)| c);
        // Times come from the event, so a replay reproduces them.
        sqlx::query(
            "INSERT INTO streams (stream_id, category, events, last_version, first_at, last_at) \
             VALUES ($1, $2, 1, $3, $4, $4) \
             ON CONFLICT (stream_id) DO UPDATE SET events = streams.events + 1, \
               last_version = EXCLUDED.last_version, last_at = EXCLUDED.last_at",
        )
        .bind(&event.stream_id)
        .bind(category)
        .bind(event.stream_version as i64)
        .bind(event.recorded_at)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "INSERT INTO categories (category, total, last_position) VALUES ($1, 1, $2) \
             ON CONFLICT (category) DO UPDATE SET total = categories.total + 1, \
               last_position = EXCLUDED.last_position",
        )
        .bind(category)
        .bind(event.global_position as i64)
        .execute(&mut *conn)
        .await?;
        if self.version >= 2 {
            sqlx::query(
                "INSERT INTO event_types (event_type, total) VALUES ($1, 1) \
                 ON CONFLICT (event_type) DO UPDATE SET total = event_types.total + 1",
            )
            .bind(&event.event_type)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}

/// Short intervals so tests run in well under a second per handover.
pub fn fast_options(node: &str) -> ProjectorOptions {
    ProjectorOptions {
        batch_size: 100,
        lease_retry: Duration::from_millis(20),
        heartbeat: Duration::from_millis(50),
        poll_interval: Duration::from_millis(20),
        handover_lock_wait: Duration::from_millis(200),
        handover_timeout: Duration::from_secs(20),
        ..ProjectorOptions::new(node)
    }
}

/// A projector running on its own task.
pub struct Running {
    pub task: JoinHandle<Result<(), ProjectionError>>,
    pub stop: watch::Sender<bool>,
    pub progress: watch::Receiver<u64>,
    pub state: watch::Receiver<ProjectorState>,
}

impl Running {
    /// Asks it to stop and returns what `run` returned.
    pub async fn stop(self) -> anyhow::Result<Result<(), ProjectionError>> {
        self.stop.send_replace(true);
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .context("projector did not stop within 10 s")?
            .context("projector task panicked")
    }

    /// Waits until the projector has committed up to `position`.
    pub async fn wait_progress(&mut self, position: u64) -> anyhow::Result<()> {
        let waited = tokio::time::timeout(
            Duration::from_secs(20),
            self.progress.wait_for(|p| *p >= position),
        )
        .await
        .map(|r| r.map(drop));
        match waited {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => bail!("projector gone while waiting for {position}"),
            Err(_) => bail!(
                "projector stuck at {} (state {:?}), waiting for {position}",
                *self.progress.borrow(),
                *self.state.borrow()
            ),
        }
    }

    /// Waits until the state satisfies `f`.
    pub async fn wait_state(
        &mut self,
        what: &str,
        f: impl FnMut(&ProjectorState) -> bool,
    ) -> anyhow::Result<ProjectorState> {
        let state = tokio::time::timeout(Duration::from_secs(20), self.state.wait_for(f))
            .await
            .with_context(|| format!("projector never became {what}"))?
            .context("projector gone")?;
        Ok(*state)
    }
}

/// Starts a projector for `projection` on `pool` (its own store and notifier, like a node).
pub async fn start(
    pool: &PgPool,
    projection: Arc<dyn Projection>,
    options: ProjectorOptions,
) -> anyhow::Result<Running> {
    let store: Arc<dyn EventStore> = Arc::new(PgEventStore::new(pool.clone()));
    let notifier = EventNotifier::start(pool).await?;
    let projector = Projector::new(pool.clone(), store, Some(notifier), projection, options);
    let (stop, shutdown) = watch::channel(false);
    let progress = projector.progress();
    let state = projector.state();
    let task = tokio::spawn(projector.run(shutdown));
    Ok(Running {
        task,
        stop,
        progress,
        state,
    })
}

/// Appends `n` events to stream `<category>-<id>` in appends of `per_append`; the event with
/// index `poison` (0-based, in this call) is marked. Returns the poisoned event's position.
pub async fn append(
    store: &dyn EventStore,
    stream: &str,
    n: usize,
    per_append: usize,
    poison: Option<usize>,
) -> anyhow::Result<Option<u64>> {
    let stream = StreamId::new(stream)?;
    let mut poisoned_at = None;
    let mut i = 0;
    while i < n {
        let take = per_append.min(n - i);
        let events = (i..i + take)
            .map(|k| {
                let kind = if k % 3 == 0 {
                    "thing.made"
                } else {
                    "thing.changed"
                };
                EventData::new(
                    kind,
                    serde_json::json!({ "k": k, "poison": Some(k) == poison }),
                )
            })
            .collect();
        let r = store.append(&stream, ExpectedVersion::Any, events).await?;
        if let Some(p) = poison.filter(|p| (i..i + take).contains(p)) {
            // Appends of one stream get contiguous positions ending at `last_position`.
            poisoned_at = Some(r.last_position - (i + take - 1 - p) as u64);
        }
        i += take;
    }
    Ok(poisoned_at)
}

/// Appends `per_stream` events to each of `streams` streams named `<prefix><i>`, from
/// `tasks` concurrent tasks.
pub async fn append_concurrently(
    pool: &PgPool,
    prefix: &str,
    streams: usize,
    per_stream: usize,
    tasks: usize,
) -> anyhow::Result<()> {
    let mut handles = Vec::new();
    for t in 0..tasks {
        let store = PgEventStore::new(pool.clone());
        let prefix = prefix.to_owned();
        handles.push(tokio::spawn(async move {
            for s in (t..streams).step_by(tasks) {
                append(&store, &format!("{prefix}{s}"), per_stream, 3, None).await?;
            }
            anyhow::Ok(())
        }));
    }
    for h in handles {
        h.await??;
    }
    Ok(())
}

/// The checkpoint's (position, epoch, version, owner_node).
pub async fn checkpoint(pool: &PgPool) -> anyhow::Result<(u64, u64, i32, Option<String>)> {
    let (p, e, v, o): (i64, i64, i32, Option<String>) = sqlx::query_as(
        "SELECT position, epoch, version, owner_node FROM projection_checkpoints WHERE name = $1",
    )
    .bind(NAME)
    .fetch_one(pool)
    .await?;
    Ok((p as u64, e as u64, v, o))
}

/// Sum of the per-stream counts and of the per-category totals in the live schema.
pub async fn totals(pool: &PgPool) -> anyhow::Result<(i64, i64)> {
    Ok(sqlx::query_as(
        "SELECT (SELECT coalesce(sum(events), 0)::bigint FROM rm_counts.streams), \
                (SELECT coalesce(sum(total), 0)::bigint FROM rm_counts.categories)",
    )
    .fetch_one(pool)
    .await?)
}

/// Checks, in one snapshot, that the live tables hold exactly the events up to the
/// checkpoint: every stream's count and last version, every category's total. Returns the
/// checkpoint position.
pub async fn assert_exact(pool: &PgPool) -> anyhow::Result<u64> {
    let (position, bad_streams, bad_categories): (i64, i64, i64) = sqlx::query_as(
        "WITH cp AS (SELECT position FROM projection_checkpoints WHERE name = 'counts'), \
              ev AS (SELECT * FROM events WHERE global_position <= (SELECT position FROM cp)) \
         SELECT (SELECT position FROM cp), \
           (SELECT count(*) FROM \
              (SELECT stream_id, count(*) AS n, max(stream_version) AS v FROM ev GROUP BY 1) e \
              FULL JOIN rm_counts.streams s USING (stream_id) \
              WHERE s.events IS DISTINCT FROM e.n OR s.last_version IS DISTINCT FROM e.v), \
           (SELECT count(*) FROM \
              (SELECT split_part(stream_id, '-', 1) AS category, count(*) AS n FROM ev GROUP BY 1) e \
              FULL JOIN rm_counts.categories c USING (category) \
              WHERE c.total IS DISTINCT FROM e.n)",
    )
    .fetch_one(pool)
    .await?;
    if bad_streams != 0 || bad_categories != 0 {
        bail!(
            "read model differs from the log up to {position}: {bad_streams} streams, \
             {bad_categories} categories"
        );
    }
    Ok(position as u64)
}

pub async fn event_count(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await?)
}

/// 1000 events in 20 streams; the 252nd of the log (stream `acct-5`, index 1) is poisoned.
/// Returns its position.
pub async fn append_with_poison(store: &dyn EventStore) -> anyhow::Result<u64> {
    let mut poisoned = None;
    for s in 0..10 {
        let poison = (s == 5).then_some(1);
        if let Some(p) = append(store, &format!("acct-{s}"), 50, 7, poison).await? {
            poisoned = Some(p);
        }
    }
    for s in 0..10 {
        append(store, &format!("order-{s}"), 50, 10, None).await?;
    }
    let poisoned = poisoned.context("poisoned event appended")?;
    anyhow::ensure!(poisoned == 252, "poisoned event at {poisoned}");
    anyhow::ensure!(store.head_position().await? == 1000);
    Ok(poisoned)
}

/// A projector stalled before the poisoned event of [`append_with_poison`]'s log, its fault
/// still on. Returns the store, the projection (turn its fault off to let it through), the
/// running projector and the poisoned position.
pub async fn stalled_on_poison(
    pool: &PgPool,
) -> anyhow::Result<(PgEventStore, Arc<Counts>, Running, u64)> {
    let store = PgEventStore::new(pool.clone());
    let poisoned = append_with_poison(&store).await?;
    let counts = Arc::new(Counts::new(1));
    counts.fault.store(true, Ordering::SeqCst);
    let mut running = start(pool, counts.clone(), fast_options("node-a")).await?;
    let stalled = ProjectorState::Stalled { position: poisoned };
    running.wait_state("stalled", |s| *s == stalled).await?;
    Ok((store, counts, running, poisoned))
}
