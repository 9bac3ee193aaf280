//! Poison events: quarantined, the projection stalled before them, and an administrator's retry
//! or skip (events in the log) honoured live and by rebuilds. Needs `TESSERA_TEST_DATABASE_URL`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context};
use tessera_events::aggregate::execute;
use tessera_events::projection_ops::{self, ProjectionOps, ProjectionOpsCommand};
use tessera_events::{CommandContext, EventStore, PgEventStore, UserId};
use tessera_projections::poison::dead_letters;
use tessera_projections::{
    rebuild, status, DeadLetter, Projection, ProjectionError, ProjectorState, RebuildOptions,
    Resolution,
};
use tessera_testkit::TestDb;

use crate::support::*;

async fn decide(store: &PgEventStore, command: ProjectionOpsCommand) -> anyhow::Result<()> {
    let ctx = CommandContext::new(Some(UserId(uuid::Uuid::now_v7())));
    execute::<ProjectionOps>(store, &projection_ops::stream(NAME), &ctx, None, || {
        command.clone()
    })
    .await?;
    Ok(())
}

async fn letter(pool: &sqlx::PgPool, position: u64) -> anyhow::Result<DeadLetter> {
    dead_letters(pool, &[NAME], 10)
        .await?
        .into_iter()
        .find(|d| d.position == position)
        .context("no dead letter")
}

/// A retry while the cause remains counts one more attempt and stays stalled; once the cause
/// is gone, a retry applies the event and the projection catches up, each event once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retry_applies_the_quarantined_event_once_its_cause_is_gone() -> anyhow::Result<()> {
    init_tracing();
    let db = TestDb::new().await;
    let (store, counts, mut running, poisoned) = stalled_on_poison(&db.pool).await?;
    let stalled = ProjectorState::Stalled { position: poisoned };

    let first = letter(&db.pool, poisoned).await?;
    ensure!(first.is_open() && first.attempts == 1 && !first.during_rebuild);
    ensure!(first.event_type == "thing.changed" && first.stream_id == "acct-5");
    ensure!(first.error.contains("injected fault"), "{}", first.error);
    let report = status(&db.pool, &[counts.clone() as Arc<dyn Projection>]).await?;
    ensure!(report[0].stalled_at == Some(poisoned), "{report:?}");
    ensure!(report[0].position == poisoned - 1);

    let retry = ProjectionOpsCommand::Retry {
        position: poisoned,
        version: 1,
    };
    decide(&store, retry.clone()).await?;
    let started = tokio::time::Instant::now();
    while letter(&db.pool, poisoned).await?.attempts < 2 {
        ensure!(
            started.elapsed() < Duration::from_secs(20),
            "retry never ran"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ensure!(*running.state.borrow() == stalled);
    ensure!(checkpoint(&db.pool).await?.0 == poisoned - 1);

    counts.fault.store(false, Ordering::SeqCst);
    decide(&store, retry).await?;
    let head = store.head_position().await?;
    running.wait_progress(head).await?;
    ensure!(assert_exact(&db.pool).await? == head);
    let resolved = letter(&db.pool, poisoned).await?;
    ensure!(resolved.resolution == Some(Resolution::Applied) && resolved.resolved_at.is_some());
    ensure!(matches!(
        *running.state.borrow(),
        ProjectorState::Active { .. }
    ));
    let report = status(&db.pool, &[counts.clone() as Arc<dyn Projection>]).await?;
    ensure!(report[0].stalled_at.is_none(), "{report:?}");

    // A rebuild of the same version that meets the fault again stops and quarantines the event
    // anew, but stalls nothing: the live tables keep following.
    counts.fault.store(true, Ordering::SeqCst);
    let options = RebuildOptions {
        lock_wait: Duration::from_millis(200),
        ..RebuildOptions::new("node-b")
    };
    let failed = rebuild(&db.pool, &store, &*counts, &options).await;
    ensure!(
        matches!(failed, Err(ProjectionError::Poisoned { position, .. }) if position == poisoned),
        "{failed:?}"
    );
    let again = letter(&db.pool, poisoned).await?;
    ensure!(
        again.is_open() && again.during_rebuild && again.attempts == 3,
        "{again:?}"
    );
    let report = status(&db.pool, &[counts.clone() as Arc<dyn Projection>]).await?;
    ensure!(report[0].stalled_at.is_none(), "{report:?}");
    ensure!(tessera_projections::poison::stalled(&db.pool)
        .await?
        .is_empty());
    running.stop().await??;
    Ok(())
}

/// A skip moves the projection past the event without applying it, live and in a rebuild of the
/// same version; a new version decides afresh: its rebuild quarantines the event again and
/// stops, leaving the live tables serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_skip_holds_live_and_in_rebuilds_of_the_same_version() -> anyhow::Result<()> {
    init_tracing();
    let db = TestDb::new().await;
    let (store, counts, mut running, poisoned) = stalled_on_poison(&db.pool).await?;

    let event_id = letter(&db.pool, poisoned).await?.event_id;
    decide(
        &store,
        ProjectionOpsCommand::Skip {
            position: poisoned,
            version: 1,
            event_id,
            reason: Some("payload written by a broken client".into()),
        },
    )
    .await?;
    let head = store.head_position().await?;
    running.wait_progress(head).await?;
    // Every event but the skipped one (the skip itself is an event the projection counts).
    ensure!(totals(&db.pool).await? == (head as i64 - 1, head as i64 - 1));
    let skipped = letter(&db.pool, poisoned).await?;
    ensure!(skipped.resolution == Some(Resolution::Skipped));
    ensure!(matches!(
        *running.state.borrow(),
        ProjectorState::Active { .. }
    ));

    // A rebuild of version 1, with the fault still there, passes over it too.
    let options = RebuildOptions {
        lock_wait: Duration::from_millis(200),
        ..RebuildOptions::new("node-b")
    };
    let report = rebuild(&db.pool, &store, &*counts, &options).await?;
    ensure!(report.position == head);
    running.wait_progress(head).await?;
    ensure!(totals(&db.pool).await? == (head as i64 - 1, head as i64 - 1));

    // Version 2 replays the log afresh: its rebuild meets the event, quarantines it for
    // version 2 and fails; the live version-1 tables are untouched.
    let v2 = Counts::new(2);
    v2.fault.store(true, Ordering::SeqCst);
    let failed = rebuild(&db.pool, &store, &v2, &options).await;
    ensure!(
        matches!(failed, Err(ProjectionError::Poisoned { position, .. }) if position == poisoned),
        "{failed:?}"
    );
    let letters = dead_letters(&db.pool, &[NAME], 10).await?;
    ensure!(
        letters
            .iter()
            .any(|d| d.version == 2 && d.during_rebuild && d.is_open()),
        "{letters:?}"
    );
    ensure!(checkpoint(&db.pool).await?.2 == 1);
    ensure!(totals(&db.pool).await? == (head as i64 - 1, head as i64 - 1));
    running.stop().await??;
    Ok(())
}
