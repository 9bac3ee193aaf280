//! Model instances: lazy loading, dynamic batching on the real embedding model, a clear "busy"
//! past the queue bound, recovery from a crashing model, idle unloading and the registry's
//! memory budget.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use futures_util::future::join_all;
use tessera_actors::models::{
    GetInstanceStatus, GetRegistryReport, Infer, InferError, InstanceOptions, ModelInstance,
    ModelRegistry,
};
use tessera_models::catalog::Catalog;
use tessera_models::runtime::{Model, RuntimeError, SessionOptions};
use tessera_models::text::{cosine, Embedder};
use tokio::sync::Semaphore;

fn budget() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(2))
}

fn embedder_loader() -> tessera_actors::models::Loader<Embedder> {
    Arc::new(|| {
        let dir = Catalog::shipped()
            .require("minilm-l6-v2-int8")
            .unwrap_or_else(|e| panic!("{e}"));
        Embedder::load(&dir, &SessionOptions::default())
    })
}

#[actix_web::test]
async fn requests_arriving_together_share_batches_and_get_their_own_answers() {
    let instance = ModelInstance::start(
        "minilm",
        embedder_loader(),
        InstanceOptions {
            batch_window: Duration::from_millis(20),
            ..InstanceOptions::default()
        },
        budget(),
        None,
    );
    let status = instance.send(GetInstanceStatus).await.unwrap();
    assert!(!status.loaded, "nothing is loaded before the first request");

    // The first request loads the model.
    let first = instance
        .send(Infer::<Embedder>("A man is eating food.".into()))
        .await
        .unwrap()
        .unwrap();
    let status = instance.send(GetInstanceStatus).await.unwrap();
    assert!(status.loaded);
    assert_eq!(status.loads, 1);

    let sentences: Vec<String> = (0..16)
        .map(|i| {
            if i % 2 == 0 {
                "A man is eating food.".to_owned()
            } else {
                "The stock market crashed today.".to_owned()
            }
        })
        .collect();
    let answers = join_all(
        sentences
            .iter()
            .map(|s| instance.send(Infer::<Embedder>(s.clone()))),
    )
    .await;
    for (i, a) in answers.into_iter().enumerate() {
        let v = a.unwrap().unwrap();
        let same = cosine(&v, &first);
        if i % 2 == 0 {
            assert!(same > 0.999, "request {i} got its own answer ({same})");
        } else {
            assert!(same < 0.5, "request {i} got its own answer ({same})");
        }
    }
    let status = instance.send(GetInstanceStatus).await.unwrap();
    assert_eq!(status.requests, 17);
    assert!(
        status.batches <= 4,
        "16 requests at once went in {} batches",
        status.batches - 1
    );
    assert!(status.largest_batch >= 8, "{status:?}");
}

/// A model for the failure paths: it panics on "crash", sleeps on "slow", counts its loads.
struct Flaky;

static LOADS: AtomicUsize = AtomicUsize::new(0);

impl Model for Flaky {
    type Request = String;
    type Response = String;

    fn run_batch(&mut self, requests: Vec<String>) -> Vec<Result<String, RuntimeError>> {
        requests
            .into_iter()
            .map(|r| match r.as_str() {
                "crash" => panic!("the model fell over"),
                "slow" => {
                    std::thread::sleep(Duration::from_millis(300));
                    Ok(r)
                }
                "bad" => Err(RuntimeError::Inference {
                    model: "flaky".into(),
                    message: "bad input".into(),
                }),
                _ => Ok(r.to_uppercase()),
            })
            .collect()
    }
}

fn flaky(options: InstanceOptions) -> Addr<ModelInstance<Flaky>> {
    ModelInstance::start(
        "flaky",
        Arc::new(|| {
            LOADS.fetch_add(1, Ordering::SeqCst);
            Ok(Flaky)
        }),
        options,
        budget(),
        None,
    )
}

#[actix_web::test]
async fn a_crash_fails_its_batch_and_the_next_request_gets_a_fresh_model() {
    LOADS.store(0, Ordering::SeqCst);
    let instance = flaky(InstanceOptions::default());
    let ok = instance.send(Infer::<Flaky>("hi".into())).await.unwrap();
    assert_eq!(ok.unwrap(), "HI");
    let crashed = instance.send(Infer::<Flaky>("crash".into())).await.unwrap();
    assert!(
        matches!(crashed, Err(InferError::Crashed { .. })),
        "{crashed:?}"
    );
    let bad = instance.send(Infer::<Flaky>("bad".into())).await.unwrap();
    assert!(matches!(bad, Err(InferError::Runtime(_))), "{bad:?}");
    let again = instance.send(Infer::<Flaky>("again".into())).await.unwrap();
    assert_eq!(again.unwrap(), "AGAIN");
    assert_eq!(
        LOADS.load(Ordering::SeqCst),
        2,
        "reloaded once after the crash"
    );
}

#[actix_web::test]
async fn past_the_queue_bound_requests_are_refused_as_busy() {
    let instance = flaky(InstanceOptions {
        max_queue: 2,
        ..InstanceOptions::default()
    });
    let answers = join_all((0..6).map(|_| instance.send(Infer::<Flaky>("slow".into())))).await;
    let busy = answers
        .iter()
        .filter(|a| matches!(a, Ok(Err(InferError::Busy { .. }))))
        .count();
    let served = answers.iter().filter(|a| matches!(a, Ok(Ok(_)))).count();
    assert!(busy >= 3, "{busy} refused");
    assert_eq!(busy + served, 6);
    let e = answers
        .iter()
        .find_map(|a| a.as_ref().ok().and_then(|r| r.as_ref().err()))
        .unwrap();
    assert_eq!(e.code(), "model_busy");
}

#[actix_web::test]
async fn idle_models_unload_and_the_registry_keeps_the_memory_budget() {
    let instance = flaky(InstanceOptions {
        idle_unload: Duration::from_millis(300),
        ..InstanceOptions::default()
    });
    instance
        .send(Infer::<Flaky>("x".into()))
        .await
        .unwrap()
        .unwrap();
    assert!(instance.send(GetInstanceStatus).await.unwrap().loaded);
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(
        !instance.send(GetInstanceStatus).await.unwrap().loaded,
        "unloaded after its idle time"
    );

    // Two 150 MB models under a 200 MB budget: loading the second unloads the first.
    let registry = ModelRegistry::new(200).start();
    let start = |name: &'static str| {
        ModelInstance::start(
            name,
            Arc::new(|| Ok(Flaky)),
            InstanceOptions {
                memory_mb: 150,
                ..InstanceOptions::default()
            },
            budget(),
            Some(registry.clone()),
        )
    };
    let a = start("a");
    let b = start("b");
    a.send(Infer::<Flaky>("x".into())).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    b.send(Infer::<Flaky>("x".into())).await.unwrap().unwrap();
    let mut report = registry.send(GetRegistryReport).await.unwrap();
    for _ in 0..40 {
        if report.loaded == ["b"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        report = registry.send(GetRegistryReport).await.unwrap();
    }
    assert_eq!(report.loaded, ["b"], "{report:?}");
    assert_eq!(report.unloads_for_memory, 1);
    assert!(!a.send(GetInstanceStatus).await.unwrap().loaded);
    assert!(b.send(GetInstanceStatus).await.unwrap().loaded);
    // The unloaded model comes back on demand.
    assert_eq!(
        a.send(Infer::<Flaky>("y".into())).await.unwrap().unwrap(),
        "Y"
    );
}
