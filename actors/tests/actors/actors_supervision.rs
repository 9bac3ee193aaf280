//! Projector hosts keep their jobs alive: a panicking or failing job is restarted with backoff,
//! and a graceful shutdown stops it for good. Runs against a real PostgreSQL.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use async_trait::async_trait;
use futures_util::FutureExt;
use tessera_actors::{
    start_tree, GetHostStatus, GetTreeStatus, HostJob, HostStatus, HostedJob, JobFn, JobKind,
    ProjectorHost, RestartPolicy, RootSupervisor, Shutdown, TreeConfig, TASK_RUNS,
};
use tessera_events::{EventNotifier, EventStore, PgEventStore, RecordedEvent, Subscription};
use tessera_projections::{Projection, ProjectionError, ProjectorOptions};
use tessera_testkit::TestDb;
use tokio::sync::watch;
use uuid::Uuid;

use crate::helpers::{append_owned, eventually_within, WAIT};

fn fast_policy() -> RestartPolicy {
    RestartPolicy {
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        stable_after: Duration::from_secs(30),
        shutdown_grace: Duration::from_secs(2),
    }
}

/// A stand-in projector: follows the log from 0 and records how far it got. Its first run
/// panics, the way a bug in projection code would.
struct PanickyFollower {
    store: Arc<dyn EventStore>,
    notifier: EventNotifier,
    runs: Arc<AtomicU32>,
    position: Arc<AtomicU64>,
    stopped_cleanly: Arc<AtomicBool>,
}

impl HostedJob for PanickyFollower {
    fn name(&self) -> &str {
        "panicky"
    }

    fn run(
        &self,
        mut shutdown: watch::Receiver<bool>,
    ) -> futures_util::future::BoxFuture<'static, Result<(), String>> {
        let run = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        let mut subscription = Subscription::new(self.store.clone(), Some(&self.notifier), 0);
        let position = self.position.clone();
        let stopped_cleanly = self.stopped_cleanly.clone();
        async move {
            if run == 1 {
                panic!("projection bug on first run");
            }
            loop {
                tokio::select! {
                    _ = shutdown.wait_for(|stop| *stop) => {
                        stopped_cleanly.store(true, Ordering::SeqCst);
                        return Ok(());
                    }
                    batch = subscription.next_batch(100) => {
                        let batch = batch.map_err(|e| e.to_string())?;
                        if let Some(last) = batch.last() {
                            position.store(last.global_position, Ordering::SeqCst);
                        }
                    }
                }
            }
        }
        .boxed()
    }
}

#[actix_web::test]
async fn a_panicking_projector_is_restarted_and_reaches_the_head() {
    let db = TestDb::new().await;
    let store: Arc<dyn EventStore> = Arc::new(PgEventStore::new(db.pool.clone()));
    let notifier = EventNotifier::start(&db.pool).await.expect("notifier");
    let head = append_owned(store.as_ref(), Some(Uuid::now_v7()), 5, "before").await;

    let runs = Arc::new(AtomicU32::new(0));
    let position = Arc::new(AtomicU64::new(0));
    let stopped_cleanly = Arc::new(AtomicBool::new(false));
    let job = PanickyFollower {
        store: store.clone(),
        notifier: notifier.clone(),
        runs: runs.clone(),
        position: position.clone(),
        stopped_cleanly: stopped_cleanly.clone(),
    };
    let config = TreeConfig::new(db.pool.clone(), store.clone(), notifier, "node-a")
        .with_jobs(vec![Arc::new(job)])
        .with_restart_policy(fast_policy());
    let tree = start_tree(config).await.expect("tree");

    eventually_within(WAIT, "the restarted projector to reach the head", || {
        let position = position.clone();
        async move { position.load(Ordering::SeqCst) >= head }
    })
    .await;
    // It keeps following after the restart: new events are projected too.
    let head = append_owned(store.as_ref(), Some(Uuid::now_v7()), 3, "after").await;
    eventually_within(WAIT, "the projector to follow new events", || {
        let position = position.clone();
        async move { position.load(Ordering::SeqCst) >= head }
    })
    .await;

    let status = tree.root.send(GetTreeStatus).await.expect("status");
    let host = &status.hosts[0];
    assert_eq!(host.name, "panicky");
    assert!(host.running);
    assert_eq!(host.restarts, 1);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    let error = host.last_error.as_deref().unwrap_or_default();
    assert!(error.contains("projection bug on first run"), "{error}");

    tree.root.send(Shutdown).await.expect("shutdown");
    assert!(
        stopped_cleanly.load(Ordering::SeqCst),
        "the job saw the shutdown signal"
    );
    let status = tree.root.send(GetTreeStatus).await.expect("status");
    assert!(!status.hosts[0].running);
    assert!(status.hosts[0].stopped);
    assert!(status.sessions.expect("registry answers").stopped);
    // Stopped means stopped: no restart after a graceful shutdown.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

/// A read model whose `apply` panics the first `panics` times it is called.
struct SeenProjection {
    panics: AtomicU32,
}

#[async_trait]
impl Projection for SeenProjection {
    fn name(&self) -> &'static str {
        "seen"
    }

    fn version(&self) -> i32 {
        1
    }

    fn setup_sql(&self) -> &'static str {
        "CREATE TABLE seen (position BIGINT PRIMARY KEY)"
    }

    async fn apply(
        &self,
        conn: &mut sqlx::PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let left = self.panics.load(Ordering::SeqCst);
        if left > 0 {
            self.panics.store(left - 1, Ordering::SeqCst);
            panic!("bug in apply");
        }
        sqlx::query("INSERT INTO seen (position) VALUES ($1)")
            .bind(i64::try_from(event.global_position).expect("position fits"))
            .execute(conn)
            .await?;
        Ok(())
    }
}

async fn seen(pool: &sqlx::PgPool) -> (i64, Option<i64>) {
    sqlx::query_as("SELECT count(*), max(position) FROM rm_seen.seen")
        .fetch_one(pool)
        .await
        .unwrap_or((0, None))
}

/// A panic in a projection's `apply` neither kills its projector nor loops: the batch is applied
/// again event by event, the event at fault is quarantined (the projector stalls, still hosted
/// and holding its lease), and an administrator's retry applies it once the fault is gone.
#[actix_web::test]
async fn a_projection_that_panics_is_quarantined_not_restarted_and_catches_up_on_retry() {
    let db = TestDb::new().await;
    let store: Arc<dyn EventStore> = Arc::new(PgEventStore::new(db.pool.clone()));
    let notifier = EventNotifier::start(&db.pool).await.expect("notifier");
    append_owned(store.as_ref(), None, 5, "before").await;
    let mut options = ProjectorOptions::new("ignored");
    options.lease_retry = Duration::from_millis(100);
    options.heartbeat = Duration::from_millis(100);
    options.poll_interval = Duration::from_millis(50);
    // The batch panics, then its first event on its own: that one is quarantined.
    let config = TreeConfig::new(db.pool.clone(), store.clone(), notifier, "node-a")
        .with_projections(vec![Arc::new(SeenProjection {
            panics: AtomicU32::new(2),
        })])
        .with_projector_options(options)
        .with_restart_policy(fast_policy());
    let tree = start_tree(config).await.expect("tree");

    let detail = eventually_within(WAIT, "the projector to stall", || {
        let root = tree.root.clone();
        async move {
            let status = root.send(GetTreeStatus).await.expect("status");
            let detail = status.hosts[0].detail.clone().unwrap_or_default();
            (detail["projector"]["state"] == "stalled").then_some(detail)
        }
    })
    .await;
    assert_eq!(detail["projector"]["position"], 1, "{detail}");
    let letters = tessera_projections::poison::dead_letters(&db.pool, &["seen"], 5)
        .await
        .expect("dead letters");
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert!(letters[0].error.contains("bug in apply"), "{letters:?}");
    let status = tree.root.send(GetTreeStatus).await.expect("status");
    let host = &status.hosts[0];
    assert_eq!((host.name.as_str(), host.restarts), ("seen", 0));
    assert!(host.running);

    let head = append_owned(store.as_ref(), None, 3, "after").await;
    let ctx = tessera_events::CommandContext::new(None);
    let stream = tessera_events::projection_ops::stream("seen");
    let retry = || tessera_events::projection_ops::ProjectionOpsCommand::Retry {
        position: 1,
        version: 1,
    };
    tessera_events::aggregate::execute::<tessera_events::projection_ops::ProjectionOps>(
        store.as_ref(),
        &stream,
        &ctx,
        None,
        retry,
    )
    .await
    .expect("retry recorded");
    // The retry is itself an event the read model sees.
    let head = head + 1;
    eventually_within(WAIT, "the read model to reach the head", || {
        let pool = db.pool.clone();
        async move { seen(&pool).await == (9, i64::try_from(head).ok()) }
    })
    .await;
    eventually_within(WAIT, "the host to report the projector's progress", || {
        let root = tree.root.clone();
        async move {
            let status = root.send(GetTreeStatus).await.expect("status");
            let detail = status.hosts[0].detail.clone().unwrap_or_default();
            detail["position"].as_u64() == Some(head) && detail["projector"]["state"] == "active"
        }
    })
    .await;
    let status = tree.root.send(GetTreeStatus).await.expect("status");
    assert_eq!(status.hosts[0].restarts, 0);

    // A graceful shutdown ends the projector and frees its lease.
    tree.root.send(Shutdown).await.expect("shutdown");
    eventually_within(WAIT, "the lease's advisory lock to be released", || {
        let pool = db.pool.clone();
        async move {
            let held: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = \
                 (SELECT oid FROM pg_database WHERE datname = current_database())",
            )
            .fetch_one(&pool)
            .await
            .expect("pg_locks");
            held == 0
        }
    })
    .await;
    let status = tree.root.send(GetTreeStatus).await.expect("status");
    assert!(!status.hosts[0].running && status.hosts[0].stopped);
}

fn failing_job(fail_times: u32, runs: Arc<AtomicU32>) -> Arc<dyn HostedJob> {
    Arc::new(JobFn::new(
        "flaky",
        move |mut shutdown: watch::Receiver<bool>| {
            let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if run <= fail_times {
                    return Err(format!("failure {run}"));
                }
                let _ = shutdown.wait_for(|stop| *stop).await;
                Ok(())
            }
            .boxed()
        },
    ))
}

#[actix_web::test]
async fn errors_are_restarted_with_growing_backoff() {
    let runs = Arc::new(AtomicU32::new(0));
    let policy = RestartPolicy {
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(400),
        ..fast_policy()
    };
    let started = tokio::time::Instant::now();
    let job = failing_job(4, runs.clone());
    let host: Addr<ProjectorHost> =
        actix::Supervisor::start(move |_| ProjectorHost::new(job, policy));
    eventually_within(WAIT, "the fifth run", || {
        let runs = runs.clone();
        async move { runs.load(Ordering::SeqCst) >= 5 }
    })
    .await;
    // Delays 50 + 100 + 200 + 400 ms before runs 2..5.
    assert!(
        started.elapsed() >= Duration::from_millis(750),
        "{:?}",
        started.elapsed()
    );
    let status = host.send(GetHostStatus).await.expect("status");
    assert_eq!(status.restarts, 4);
    assert_eq!(status.last_error.as_deref(), Some("failure 4"));
    assert!(status.running);
    host.send(Shutdown).await.expect("shutdown");
    let status = host.send(GetHostStatus).await.expect("status");
    assert!(!status.running && status.stopped);
    assert_eq!(runs.load(Ordering::SeqCst), 5);
}

#[actix_web::test]
async fn a_job_that_ignores_shutdown_is_aborted_after_the_grace_period() {
    let policy = RestartPolicy {
        shutdown_grace: Duration::from_millis(200),
        ..fast_policy()
    };
    let job: Arc<dyn HostedJob> = Arc::new(JobFn::new("stubborn", |_shutdown| {
        std::future::pending::<Result<(), String>>().boxed()
    }));
    let host: Addr<ProjectorHost> =
        actix::Supervisor::start(move |_| ProjectorHost::new(job, policy));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = tokio::time::Instant::now();
    host.send(Shutdown).await.expect("shutdown");
    assert!(started.elapsed() < Duration::from_secs(2));
    eventually_within(WAIT, "the aborted run to be noticed", || {
        let host = host.clone();
        async move {
            let status = host.send(GetHostStatus).await.expect("status");
            !status.running
        }
    })
    .await;
    let status = host.send(GetHostStatus).await.expect("status");
    assert_eq!(status.restarts, 0);
    assert!(status.stopped);
}

/// A job that panics on each of its first `panics` runs, then runs until asked to stop.
fn panicking_job(
    name: &str,
    kind: JobKind,
    panics: u32,
    runs: Arc<AtomicU32>,
) -> Arc<dyn HostedJob> {
    Arc::new(
        JobFn::new(name, move |mut shutdown: watch::Receiver<bool>| {
            let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if run <= panics {
                    panic!("worker bug in run {run}");
                }
                if kind == JobKind::Task {
                    return Ok(());
                }
                let _ = shutdown.wait_for(|stop| *stop).await;
                Ok(())
            }
            .boxed()
        })
        .of_kind(kind),
    )
}

async fn host_named(root: &Addr<RootSupervisor>, name: &str) -> Option<HostStatus> {
    let status = root.send(GetTreeStatus).await.expect("status");
    status.hosts.into_iter().find(|h| h.name == name)
}

#[actix_web::test]
async fn a_worker_hosted_later_is_restarted_and_reported_down_meanwhile() {
    let db = TestDb::new().await;
    let store: Arc<dyn EventStore> = Arc::new(PgEventStore::new(db.pool.clone()));
    let notifier = EventNotifier::start(&db.pool).await.expect("notifier");
    let policy = RestartPolicy {
        // Long enough to see the worker down between its failure and its restart.
        initial_backoff: Duration::from_millis(400),
        ..fast_policy()
    };
    let config =
        TreeConfig::new(db.pool.clone(), store, notifier, "node-a").with_restart_policy(policy);
    let tree = start_tree(config).await.expect("tree");
    let runs = Arc::new(AtomicU32::new(0));
    let job = panicking_job("worker", JobKind::Worker, 1, runs.clone());
    assert!(tree.root.send(HostJob(job)).await.expect("hosted"));

    let down = eventually_within(WAIT, "the worker to be down after its panic", || {
        let root = tree.root.clone();
        async move {
            host_named(&root, "worker")
                .await
                .filter(HostStatus::is_down)
        }
    })
    .await;
    assert_eq!(down.kind, JobKind::Worker);
    let error = down.last_error.as_deref().unwrap_or_default();
    assert!(error.contains("worker bug in run 1"), "{error}");
    let status = tree.root.send(GetTreeStatus).await.expect("status");
    assert_eq!(status.down().count(), 1);

    let up = eventually_within(WAIT, "the worker to run again", || {
        let root = tree.root.clone();
        async move { host_named(&root, "worker").await.filter(|h| h.running) }
    })
    .await;
    assert_eq!((up.restarts, runs.load(Ordering::SeqCst)), (1, 2));
    assert!(!up.is_down());

    tree.root.send(Shutdown).await.expect("shutdown");
    let job = panicking_job("late", JobKind::Worker, 0, Arc::new(AtomicU32::new(0)));
    assert!(
        !tree.root.send(HostJob(job)).await.expect("answered"),
        "nothing new is hosted once the tree stops"
    );
}

#[actix_web::test]
async fn a_task_is_retried_after_a_panic_and_leaves_the_tree_when_done() {
    let db = TestDb::new().await;
    let store: Arc<dyn EventStore> = Arc::new(PgEventStore::new(db.pool.clone()));
    let notifier = EventNotifier::start(&db.pool).await.expect("notifier");
    let config = TreeConfig::new(db.pool.clone(), store, notifier, "node-a")
        .with_restart_policy(fast_policy());
    let tree = start_tree(config).await.expect("tree");

    let runs = Arc::new(AtomicU32::new(0));
    let job = panicking_job("task", JobKind::Task, 1, runs.clone());
    assert!(tree.root.send(HostJob(job)).await.expect("hosted"));
    eventually_within(WAIT, "the task to end and leave the tree", || {
        let root = tree.root.clone();
        async move { host_named(&root, "task").await.is_none() }
    })
    .await;
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "one panic, one run that finished"
    );

    // A task that always fails is given up after its last run, and says why.
    let gave_up = Arc::new(std::sync::Mutex::new(None::<String>));
    struct Doomed(Arc<std::sync::Mutex<Option<String>>>, Arc<AtomicU32>);
    impl HostedJob for Doomed {
        fn name(&self) -> &str {
            "doomed"
        }
        fn kind(&self) -> JobKind {
            JobKind::Task
        }
        fn run(
            &self,
            _shutdown: watch::Receiver<bool>,
        ) -> futures_util::future::BoxFuture<'static, Result<(), String>> {
            let run = self.1.fetch_add(1, Ordering::SeqCst) + 1;
            async move { Err(format!("failure {run}")) }.boxed()
        }
        fn gave_up(&self, error: &str) {
            *self.0.lock().expect("not poisoned") = Some(error.to_owned());
        }
    }
    let runs = Arc::new(AtomicU32::new(0));
    let job = Arc::new(Doomed(gave_up.clone(), runs.clone()));
    assert!(tree.root.send(HostJob(job)).await.expect("hosted"));
    eventually_within(WAIT, "the doomed task to be given up", || {
        let gave_up = gave_up.clone();
        async move { gave_up.lock().expect("not poisoned").clone() }
    })
    .await;
    assert_eq!(runs.load(Ordering::SeqCst) as u64, TASK_RUNS);
    assert_eq!(
        gave_up.lock().expect("not poisoned").as_deref(),
        Some(format!("failure {TASK_RUNS}").as_str())
    );
    eventually_within(WAIT, "the doomed task to leave the tree", || {
        let root = tree.root.clone();
        async move { host_named(&root, "doomed").await.is_none() }
    })
    .await;
}
