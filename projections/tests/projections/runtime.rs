//! The projection runtime against a real PostgreSQL: guarantees 5, 6 and 7 of the event log,
//! fencing, version bumps and status. Needs `TESSERA_TEST_DATABASE_URL`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context};
use tessera_events::{EventStore, PgEventStore};
use tessera_projections::{
    rebuild, replay_into, snapshot_schema, status, Projection, ProjectionError, ProjectorOptions,
    ProjectorState, RebuildOptions,
};
use tessera_testkit::TestDb;

use crate::support::*;

/// Guarantee 5: an `apply` that fails half way through a batch leaves nothing of that batch.
/// The projector then applies the batch's events one at a time, quarantines the one at fault
/// and stalls before it (instead of restarting forever); after the fault is gone, a restart
/// counts every event exactly once and marks the quarantined event applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_batch_leaves_nothing_and_restart_counts_each_event_once() -> anyhow::Result<()> {
    init_tracing();
    let db = TestDb::new().await;
    // Batches of 100: (0,100] and (100,200] commit, (200,300] fails at its 52nd event.
    let (_store, counts, running, poisoned) = stalled_on_poison(&db.pool).await?;
    let (position, ..) = checkpoint(&db.pool).await?;
    ensure!(position == poisoned - 1, "checkpoint moved to {position}");
    ensure!(totals(&db.pool).await? == (251, 251));
    assert_exact(&db.pool).await?;
    let newest: i64 =
        sqlx::query_scalar("SELECT coalesce(max(last_position), 0) FROM rm_counts.categories")
            .fetch_one(&db.pool)
            .await?;
    ensure!(
        newest == 251,
        "the event at fault, or one after it, is visible: {newest}"
    );
    // It stays stalled: no restart loop moves anything.
    tokio::time::sleep(Duration::from_millis(300)).await;
    ensure!(*running.state.borrow() == ProjectorState::Stalled { position: poisoned });
    ensure!(checkpoint(&db.pool).await?.0 == poisoned - 1);
    running.stop().await??;

    counts.fault.store(false, Ordering::SeqCst);
    let mut running = start(&db.pool, counts.clone(), fast_options("node-a")).await?;
    running.wait_progress(1000).await?;
    ensure!(totals(&db.pool).await? == (1000, 1000));
    ensure!(assert_exact(&db.pool).await? == 1000);
    let letters = tessera_projections::poison::dead_letters(&db.pool, &[NAME], 10).await?;
    ensure!(letters.len() == 1, "{letters:?}");
    ensure!(letters[0].position == poisoned && letters[0].attempts == 1);
    ensure!(letters[0].resolution == Some(tessera_projections::Resolution::Applied));
    running.stop().await??;
    Ok(())
}

/// Guarantee 6: two nodes (two pools) run the same projection while events are appended.
/// Exactly one holds the lease at any moment and counts are exact; when the holder's node
/// dies, the other takes over and continues with exact counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_node_holds_the_lease_and_the_other_takes_over_when_it_dies() -> anyhow::Result<()> {
    init_tracing();
    let db = TestDb::new().await;
    let pool_a = db.new_pool(4).await;
    let pool_b = db.new_pool(4).await;
    let counts: Arc<dyn Projection> = Arc::new(Counts::new(1));
    let a = start(&pool_a, counts.clone(), fast_options("node-a")).await?;
    let b = start(&pool_b, counts.clone(), fast_options("node-b")).await?;

    // Samples both states all along: two Active at once would be two writers.
    let done = Arc::new(AtomicBool::new(false));
    let overlaps = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (sa, sb) = (a.state.clone(), b.state.clone());
        let (done, overlaps) = (done.clone(), overlaps.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                let both = matches!(*sa.borrow(), ProjectorState::Active { .. })
                    && matches!(*sb.borrow(), ProjectorState::Active { .. });
                if both {
                    overlaps.fetch_add(1, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };

    append_concurrently(&db.pool, "acct-", 40, 25, 4).await?;
    let head = PgEventStore::new(db.pool.clone()).head_position().await?;
    ensure!(event_count(&db.pool).await? == 1000);

    // Whoever holds the lease gets to the head; the other stands by.
    let a_active = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let (pa, pb) = (*a.progress.borrow(), *b.progress.borrow());
            if pa >= head {
                return true;
            }
            if pb >= head {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .context("nobody projected up to the head")?;
    let (holder, survivor, holder_pool, holder_node, survivor_node) = if a_active {
        (a, b, pool_a, "node-a", "node-b")
    } else {
        (b, a, pool_b, "node-b", "node-a")
    };
    ensure!(matches!(
        *holder.state.borrow(),
        ProjectorState::Active { .. }
    ));
    ensure!(*survivor.state.borrow() == ProjectorState::Standby);
    let (position, epoch_before, _, owner) = checkpoint(&db.pool).await?;
    ensure!(position == head && owner.as_deref() == Some(holder_node));
    ensure!(totals(&db.pool).await? == (1000, 1000));
    assert_exact(&db.pool).await?;
    ensure!(
        overlaps.load(Ordering::SeqCst) == 0,
        "both nodes were active at once"
    );

    // The holder's node dies: its task goes away mid-whatever and its connections close.
    holder.task.abort();
    let _ = holder.task.await;
    tokio::time::timeout(Duration::from_secs(10), holder_pool.close())
        .await
        .context("closing the dead node's pool")?;

    let mut survivor = survivor;
    append_concurrently(&db.pool, "order-", 20, 25, 4).await?;
    let head = PgEventStore::new(db.pool.clone()).head_position().await?;
    survivor
        .wait_state("active", |s| matches!(s, ProjectorState::Active { .. }))
        .await?;
    survivor.wait_progress(head).await?;
    let (position, epoch_after, _, owner) = checkpoint(&db.pool).await?;
    ensure!(position == head, "checkpoint {position}, head {head}");
    ensure!(owner.as_deref() == Some(survivor_node), "owner {owner:?}");
    ensure!(epoch_after > epoch_before);
    ensure!(totals(&db.pool).await? == (1500, 1500));
    ensure!(assert_exact(&db.pool).await? == head);

    done.store(true, Ordering::SeqCst);
    sampler.await?;
    ensure!(
        overlaps.load(Ordering::SeqCst) == 0,
        "both nodes were active at once"
    );
    survivor.stop().await??;
    Ok(())
}

/// Fencing: once another holder incremented the epoch, a projector that still believes it
/// holds the lease cannot commit a batch, and it steps down.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fenced_projector_cannot_commit_a_batch() -> anyhow::Result<()> {
    init_tracing();
    let db = TestDb::new().await;
    let store = PgEventStore::new(db.pool.clone());
    append(&store, "acct-1", 100, 10, None).await?;
    let counts: Arc<dyn Projection> = Arc::new(Counts::new(1));
    // Heartbeat and retry far beyond the test: only a batch can notice the fence, and the
    // fenced projector does not come back during the assertions.
    let slow = ProjectorOptions {
        heartbeat: Duration::from_secs(600),
        lease_retry: Duration::from_secs(600),
        ..fast_options("node-a")
    };
    let mut a = start(&db.pool, counts.clone(), slow).await?;
    a.wait_progress(100).await?;
    let ProjectorState::Active { epoch } = *a.state.borrow() else {
        anyhow::bail!("not active");
    };

    // Another holder takes over (as after a network partition): a new epoch.
    sqlx::query("UPDATE projection_checkpoints SET epoch = epoch + 1 WHERE name = 'counts'")
        .execute(&db.pool)
        .await?;
    append(&store, "acct-2", 50, 10, None).await?;
    // Either it steps down, or (the bug this test is for) it commits the new batch.
    tokio::time::timeout(Duration::from_secs(20), async {
        while *a.state.borrow() != ProjectorState::Standby && *a.progress.borrow() < 150 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .context("the fenced projector neither stepped down nor committed")?;

    let (position, current_epoch, ..) = checkpoint(&db.pool).await?;
    ensure!(
        position == 100,
        "fenced projector moved the checkpoint to {position}"
    );
    ensure!(current_epoch == epoch + 1);
    ensure!(totals(&db.pool).await? == (100, 100));
    ensure!(*a.progress.borrow() == 100);

    // It also let go of the lock: another node takes over at once and completes the work.
    let mut b = start(&db.pool, counts.clone(), fast_options("node-b")).await?;
    b.wait_progress(150).await?;
    ensure!(assert_exact(&db.pool).await? == 150);
    ensure!(totals(&db.pool).await? == (150, 150));
    b.stop().await??;
    a.stop().await??;
    Ok(())
}

/// Guarantee 7: a rebuild replays from 0 into a shadow schema and swaps it in while the live
/// projector runs and appends continue. Readers never fail and always see complete tables;
/// the result equals a from-zero replay; the live projector continues after the swap.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rebuild_swaps_in_an_identical_replay_without_downtime() -> anyhow::Result<()> {
    init_tracing();
    let db = TestDb::new().await;
    let store = PgEventStore::new(db.pool.clone());
    let counts = Arc::new(Counts::new(1));
    let mut live = start(&db.pool, counts.clone(), fast_options("node-a")).await?;
    append_concurrently(&db.pool, "acct-", 30, 40, 3).await?;
    let head = store.head_position().await?;
    live.wait_progress(head).await?;
    let live_before = snapshot_schema(&db.pool, LIVE).await?;

    // Deterministic: replaying from 0 gives the same tables as the live projection.
    let options = RebuildOptions {
        batch_size: 100,
        lock_wait: Duration::from_millis(200),
        handover_timeout: Duration::from_secs(20),
        ..RebuildOptions::new("rebuilder")
    };
    let table_oid = || async {
        sqlx::query_scalar::<_, i64>("SELECT 'rm_counts.streams'::regclass::oid::bigint")
            .fetch_one(&db.pool)
            .await
    };
    let oid_before = table_oid().await?;
    let report = rebuild(&db.pool, &store, &*counts, &options).await?;
    ensure!(report.position == head && report.events == head);
    ensure!(
        table_oid().await? != oid_before,
        "the rebuilt tables were not swapped in"
    );
    ensure!(snapshot_schema(&db.pool, LIVE).await? == live_before);
    ensure!(snapshot_schema(&db.pool, "rm_counts__rebuild").await? == "{}");

    // Now under load: appends and a reader run while the rebuild replays and swaps.
    let reading = Arc::new(AtomicBool::new(true));
    let reader = {
        let pool = db.new_pool(2).await;
        let reading = reading.clone();
        tokio::spawn(async move {
            let (mut reads, mut tables) = (0u64, std::collections::BTreeSet::new());
            while reading.load(Ordering::SeqCst) {
                // One statement, one snapshot: the tables must hold exactly the events up to
                // the checkpoint, whether they are the old or the rebuilt ones.
                let (sum, expected, oid): (i64, i64, i64) = sqlx::query_as(
                    "SELECT (SELECT coalesce(sum(events), 0)::bigint FROM rm_counts.streams), \
                       (SELECT count(*) FROM events WHERE global_position <= \
                          (SELECT position FROM projection_checkpoints WHERE name = 'counts')), \
                       'rm_counts.streams'::regclass::oid::bigint",
                )
                .fetch_one(&pool)
                .await
                .context("reader failed during the rebuild")?;
                ensure!(
                    sum == expected,
                    "reader saw {sum} counted for {expected} events"
                );
                reads += 1;
                tables.insert(oid);
            }
            anyhow::Ok((reads, tables.len()))
        })
    };
    let appender = {
        let pool = db.pool.clone();
        tokio::spawn(async move { append_concurrently(&pool, "order-", 30, 40, 3).await })
    };
    let rebuilt = {
        let (pool, counts, options) = (db.pool.clone(), counts.clone(), options.clone());
        tokio::spawn(async move {
            let store = PgEventStore::new(pool.clone());
            rebuild(&pool, &store, &*counts, &options).await
        })
    };
    let report = rebuilt.await??;
    appender.await??;
    // Appended after the swap: only the live projector can pick these up.
    append(&store, "user-1", 60, 6, None).await?;
    let head = store.head_position().await?;
    ensure!(report.position < head);
    live.wait_progress(head).await?;
    reading.store(false, Ordering::SeqCst);
    let (reads, tables_seen) = reader.await??;
    ensure!(reads > 0);
    ensure!(
        tables_seen >= 2,
        "the reader never saw the swap ({tables_seen} tables)"
    );

    let ProjectorState::Active { epoch } = *live.state.borrow() else {
        anyhow::bail!("live projector is not active after the rebuild");
    };
    ensure!(
        epoch > report.epoch,
        "live epoch {epoch}, rebuild {}",
        report.epoch
    );
    let (position, _, version, owner) = checkpoint(&db.pool).await?;
    ensure!(position == head && version == 1 && owner.as_deref() == Some("node-a"));
    ensure!(assert_exact(&db.pool).await? == head);
    ensure!(event_count(&db.pool).await? == 1200 + 1200 + 60);

    let fresh = replay_into(&db.pool, &store, &*counts, "check_counts", None, 250).await?;
    ensure!(fresh == head);
    ensure!(
        snapshot_schema(&db.pool, LIVE).await? == snapshot_schema(&db.pool, "check_counts").await?
    );
    // A replay cut at the first head reproduces the snapshot taken there.
    replay_into(&db.pool, &store, &*counts, "check_first", Some(1200), 250).await?;
    ensure!(snapshot_schema(&db.pool, "check_first").await? == live_before);
    live.stop().await??;
    Ok(())
}

/// A new `version()` rebuilds the read model at start (new tables included); an older node
/// then stands by instead of rebuilding it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn version_bump_rebuilds_at_start_and_older_nodes_stand_by() -> anyhow::Result<()> {
    init_tracing();
    let db = TestDb::new().await;
    let store = PgEventStore::new(db.pool.clone());
    append(&store, "acct-1", 150, 10, None).await?;
    let v1: Arc<dyn Projection> = Arc::new(Counts::new(1));
    let mut a = start(&db.pool, v1.clone(), fast_options("node-a")).await?;
    a.wait_progress(150).await?;
    a.stop().await??;

    let v2: Arc<dyn Projection> = Arc::new(Counts::new(2));
    let mut b = start(&db.pool, v2, fast_options("node-b")).await?;
    b.wait_state("active", |s| matches!(s, ProjectorState::Active { .. }))
        .await?;
    append(&store, "acct-2", 50, 10, None).await?;
    b.wait_progress(200).await?;
    let (position, _, version, _) = checkpoint(&db.pool).await?;
    ensure!(position == 200 && version == 2);
    let typed: i64 = sqlx::query_scalar("SELECT sum(total)::bigint FROM rm_counts.event_types")
        .fetch_one(&db.pool)
        .await?;
    ensure!(typed == 200, "version 2 counted {typed} events by type");
    ensure!(assert_exact(&db.pool).await? == 200);
    b.stop().await??;

    let mut old = start(&db.pool, v1, fast_options("node-old")).await?;
    append(&store, "acct-3", 10, 10, None).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    ensure!(*old.state.borrow() == ProjectorState::Standby);
    let (position, _, version, _) = checkpoint(&db.pool).await?;
    ensure!(
        position == 200 && version == 2,
        "old node touched the read model"
    );
    old.wait_state("standby", |s| *s == ProjectorState::Standby)
        .await?;
    old.stop().await??;
    Ok(())
}

/// `status` reports checkpoint, head and lag, before the first start and while behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn status_reports_position_head_and_lag() -> anyhow::Result<()> {
    init_tracing();
    let db = TestDb::new().await;
    let store = PgEventStore::new(db.pool.clone());
    let counts: Arc<dyn Projection> = Arc::new(Counts::new(1));
    let all = [counts.clone()];

    append(&store, "acct-1", 120, 10, None).await?;
    let [s] = <[_; 1]>::try_from(status(&db.pool, &all).await?)
        .map_err(|_| anyhow::anyhow!("one status"))?;
    ensure!(
        (s.position, s.head, s.lag, s.version, s.epoch) == (0, 120, 120, 0, 0),
        "{s:?}"
    );
    ensure!(s.owner_node.is_none() && s.updated_at.is_none() && s.target_version == 1);

    let mut a = start(&db.pool, counts.clone(), fast_options("node-a")).await?;
    a.wait_progress(120).await?;
    a.stop().await??;
    append(&store, "acct-2", 30, 10, None).await?;

    let s = status(&db.pool, &all).await?.remove(0);
    ensure!(
        (s.position, s.head, s.lag, s.version, s.epoch) == (120, 150, 30, 1, 1),
        "{s:?}"
    );
    ensure!(s.owner_node.as_deref() == Some("node-a") && s.updated_at.is_some());
    let json = serde_json::to_value(&s)?;
    ensure!(json["lag"] == 30 && json["name"] == "counts", "{json}");
    Ok(())
}

/// A second rebuild of the same projection is refused while one runs; a rebuild whose
/// handover times out leaves the live read model as it was, and the fenced live projector
/// recovers. A later rebuild succeeds and clears what a dead rebuild left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rebuilds_are_exclusive_and_a_timed_out_handover_is_harmless() -> anyhow::Result<()> {
    init_tracing();
    let db = TestDb::new().await;
    let store = PgEventStore::new(db.pool.clone());
    append(&store, "acct-1", 300, 10, None).await?;
    let counts = Arc::new(Counts::new(1));
    // An idle live projector with a very long heartbeat notices a fence only at its next batch,
    // so without appends it never hands over.
    let options = ProjectorOptions {
        heartbeat: Duration::from_secs(600),
        ..fast_options("node-a")
    };
    let mut live = start(&db.pool, counts.clone(), options).await?;
    live.wait_progress(300).await?;
    let before = snapshot_schema(&db.pool, LIVE).await?;
    // What a rebuild that died half way leaves behind.
    sqlx::raw_sql("CREATE SCHEMA rm_counts__rebuild; CREATE TABLE rm_counts__rebuild.junk (x int)")
        .execute(&db.pool)
        .await?;

    let impatient = RebuildOptions {
        batch_size: 100,
        lock_wait: Duration::from_millis(100),
        handover_timeout: Duration::from_millis(1500),
        ..RebuildOptions::new("rebuilder-1")
    };
    let first = {
        let (pool, counts, impatient) = (db.pool.clone(), counts.clone(), impatient.clone());
        tokio::spawn(async move {
            let store = PgEventStore::new(pool.clone());
            rebuild(&pool, &store, &*counts, &impatient).await
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let second = rebuild(
        &db.pool,
        &store,
        &*counts,
        &RebuildOptions::new("rebuilder-2"),
    )
    .await;
    ensure!(
        matches!(second, Err(ProjectionError::RebuildInProgress { .. })),
        "second rebuild: {second:?}"
    );
    let first = first.await?;
    ensure!(
        matches!(first, Err(ProjectionError::HandoverTimeout { .. })),
        "first rebuild: {first:?}"
    );
    ensure!(snapshot_schema(&db.pool, LIVE).await? == before);
    ensure!(checkpoint(&db.pool).await?.0 == 300);

    // The timed-out rebuild fenced the live projector: its next batch fails, it steps down,
    // re-acquires with a new epoch and carries on.
    append(&store, "acct-2", 20, 10, None).await?;
    live.wait_progress(320).await?;
    ensure!(assert_exact(&db.pool).await? == 320);

    // A patient rebuild succeeds once appends make the live projector notice the fence.
    let patient = RebuildOptions {
        batch_size: 100,
        lock_wait: Duration::from_millis(100),
        handover_timeout: Duration::from_secs(20),
        ..RebuildOptions::new("rebuilder-3")
    };
    let appending = Arc::new(AtomicBool::new(true));
    let appender = {
        let (pool, appending) = (db.pool.clone(), appending.clone());
        tokio::spawn(async move {
            let store = PgEventStore::new(pool);
            while appending.load(Ordering::SeqCst) {
                append(&store, "acct-3", 1, 1, None).await?;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            anyhow::Ok(())
        })
    };
    let report = rebuild(&db.pool, &store, &*counts, &patient).await;
    appending.store(false, Ordering::SeqCst);
    appender.await??;
    let report = report?;
    ensure!(report.position >= 320);
    let head = store.head_position().await?;
    live.wait_progress(head).await?;
    ensure!(assert_exact(&db.pool).await? == head);
    let leftovers: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_namespace WHERE nspname IN ('rm_counts__rebuild', 'rm_counts__old')",
    )
    .fetch_one(&db.pool)
    .await?;
    ensure!(leftovers == 0, "rebuild left schemas behind");
    live.stop().await??;
    Ok(())
}
