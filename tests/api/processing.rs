//! Processing jobs end to end: an upload requests its analysis, a worker runs the real models,
//! the item shows the findings with their provenance, results are cached across users, a dead
//! worker's job is taken over, and a job that keeps failing is dead-lettered for admins.

use std::sync::Arc;
use std::time::Duration;

use crate::helpers::{email, eventually_within, spawn_app_with, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use tessera_events::jobs::{job_stream, upload_job_id, JobEvent};
use tessera_events::{CommandContext, EventStore, ExpectedVersion, PgEventStore};
use uuid::Uuid;

const PATIENCE: Duration = Duration::from_secs(60);

const TEXT: &str = "The lighthouse keeper climbed the spiral stairs every evening to light the \
                    lamp. Ships far out at sea watched for its beam sweeping across the dark water.";

async fn note(app: &TestApp, access: &str, text: &str) -> Uuid {
    let r = app
        .call_as(
            Method::POST,
            "/api/content/notes",
            access,
            Some(&json!({ "title": "Lighthouse", "text": text })),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["id"].as_str().unwrap().parse().unwrap()
}

/// Waits until the item's analysis is no longer pending; returns the item.
async fn analysed(app: &TestApp, access: &str, id: Uuid) -> Value {
    eventually_within(PATIENCE, "the item's analysis", || async {
        let r = app.get_as(&format!("/api/content/{id}"), access).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        (r.body["analysis"]["state"] != "pending").then_some(r.body)
    })
    .await
}

async fn jobs(app: &TestApp, access: &str, id: Uuid) -> Value {
    let r = app.get_as(&format!("/api/content/{id}/jobs"), access).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body
}

/// The item's jobs once the jobs projection has caught up with every one of them. The content
/// and jobs read models are separate projections, so an item can show its analysis a moment
/// before its job shows as finished.
async fn settled_jobs(app: &TestApp, access: &str, id: Uuid) -> Value {
    eventually_within(PATIENCE, "the item's jobs to settle", || async {
        let listed = jobs(app, access, id).await;
        let settled = listed["jobs"].as_array().is_some_and(|jobs| {
            !jobs.is_empty()
                && jobs
                    .iter()
                    .all(|j| j["status"] == "succeeded" || j["status"] == "dead_lettered")
        });
        settled.then_some(listed)
    })
    .await
}

/// The embedding vectors recorded with the item's analysis (the API shows only their count).
async fn analysed_vectors(app: &TestApp, id: Uuid) -> Vec<Vec<f64>> {
    let store = PgEventStore::new(app.db.pool.clone());
    let events = store
        .read_stream(&tessera_events::content::content_stream(id), 0, 100)
        .await
        .unwrap();
    let analysed = events
        .iter()
        .rev()
        .find(|e| e.event_type == "content.analysed")
        .expect("a content.analysed event");
    analysed.payload["analysis"]["embeddings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c["vector"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect()
}

fn embedding_provenance(item: &Value) -> Value {
    item["analysis"]["result"]["provenance"]
        .as_array()
        .expect("provenance")
        .iter()
        .find(|p| p["step"] == "text.embeddings")
        .cloned()
        .expect("an embeddings step")
}

#[actix_web::test]
async fn a_note_is_analysed_with_provenance_and_the_same_text_elsewhere_comes_from_the_cache() {
    let app = spawn_app_with(&[("processing.enabled", "true")]).await;
    let alice = app.register(&email("alice")).await.access;
    let id = note(&app, &alice, TEXT).await;

    let item = analysed(&app, &alice, id).await;
    assert_eq!(item["analysis"]["state"], "ready", "{item}");
    let result = &item["analysis"]["result"];
    assert_eq!(result["modality"], "text");
    assert_eq!(result["words"], TEXT.split_whitespace().count());
    assert_eq!(
        result["embeddings"]["chunks"], 1,
        "a short note is one window"
    );
    assert_eq!(result["embeddings"]["dimensions"], 384);
    let vectors = analysed_vectors(&app, id).await;
    assert_eq!(vectors.len(), 1);
    let norm: f64 = vectors[0].iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!((norm - 1.0).abs() < 1e-3, "normalised: {norm}");
    let p = embedding_provenance(&item);
    assert_eq!(p["model_id"], "minilm-l6-v2-int8");
    assert_eq!(p["model_version"], "1.0.0");
    assert_eq!(
        p["model_sha256"],
        "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
    );
    assert_eq!(p["cached"], false);
    assert_eq!(p["parameters"]["window_tokens"], 256);

    let listed = settled_jobs(&app, &alice, id).await;
    let job = &listed["jobs"][0];
    assert_eq!(job["status"], "succeeded", "{listed}");
    assert_eq!(job["attempts"], 1);
    assert_eq!(job["reason"], "upload");
    assert_eq!(job["node"], app.node_id.as_str());
    assert_eq!(job["percent"], 100);

    // Another user's copy of the same text: the model does not run again.
    let bob = app.register(&email("bob")).await.access;
    let other = note(&app, &bob, TEXT).await;
    let copy = analysed(&app, &bob, other).await;
    let p = embedding_provenance(&copy);
    assert_eq!(p["cached"], true, "{p}");
    assert_eq!(p["run_ms"], 0);
    assert_eq!(analysed_vectors(&app, other).await, vectors);
    // Nobody sees another user's jobs.
    let r = app.get_as(&format!("/api/content/{id}/jobs"), &bob).await;
    assert_eq!(r.status, 404);

    // An admin sees the models: installed, and the embedding model loaded on this node.
    let admin = app.make_admin(&email("admin")).await.access;
    let r = app.get_as("/api/admin/models", &admin).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["processing"], true);
    let minilm = r.body["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "minilm-l6-v2-int8")
        .cloned()
        .expect("the embedding model is listed");
    assert_eq!(minilm["installed"], true);
    assert_eq!(minilm["loaded"], true);
    assert_eq!(minilm["licence"], "Apache-2.0");
    assert!(minilm["bytes"].as_u64().unwrap() > 20_000_000);
    assert_eq!(app.get_as("/api/admin/models", &alice).await.status, 403);

    // An admin unloads the idle embedding model and loads it again; nobody else may.
    let control = |action: &'static str, who: String, model: &'static str| {
        let app = &app;
        async move {
            app.call_as(
                Method::POST,
                &format!("/api/admin/models/{model}/{action}"),
                &who,
                None,
            )
            .await
        }
    };
    let r = control("unload", admin.clone(), "minilm-l6-v2-int8").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["changed"], true);
    assert_eq!(r.body["model"]["loaded"], false);
    let r = control("unload", admin.clone(), "minilm-l6-v2-int8").await;
    assert_eq!(r.body["changed"], false, "already unloaded: {:?}", r.body);
    let r = control("load", admin.clone(), "minilm-l6-v2-int8").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        (&r.body["changed"], &r.body["model"]["loaded"]),
        (&json!(true), &json!(true))
    );
    let r = control("load", admin.clone(), "minilm-l6-v2-int8").await;
    assert_eq!(r.body["changed"], false, "already loaded: {:?}", r.body);
    let r = app.get_as("/api/admin/models", &admin).await;
    assert!(r.body["loaded_mb"].as_u64().unwrap() > 0, "{:?}", r.body);
    assert_eq!(
        control("load", alice.clone(), "minilm-l6-v2-int8")
            .await
            .status,
        403
    );
    let r = control("load", admin.clone(), "no-such-model").await;
    assert_eq!((r.status.as_u16(), r.code()), (404, "not_found"));
    let r = control("reload", admin.clone(), "minilm-l6-v2-int8").await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (404, "not_found"),
        "an unknown action"
    );

    // An admin reprocesses: a new job, the unchanged model's result from the cache.
    let r = app
        .call_as(
            Method::POST,
            &format!("/api/admin/content/{id}/reprocess"),
            &admin,
            None,
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let job_id = r.body["job_id"].as_str().unwrap().to_owned();
    let done = eventually_within(PATIENCE, "the reprocess job", || async {
        let listed = jobs(&app, &alice, id).await;
        listed["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["id"] == job_id.as_str() && j["status"] == "succeeded")
            .cloned()
    })
    .await;
    assert_eq!(done["reason"], "reprocess");
    let r = app
        .call_as(
            Method::POST,
            &format!("/api/admin/content/{id}/reprocess"),
            &alice,
            None,
        )
        .await;
    assert_eq!(r.status, 403, "only admins reprocess");
    let r = app
        .call_as(
            Method::POST,
            &format!("/api/admin/content/{}/reprocess", Uuid::new_v4()),
            &admin,
            None,
        )
        .await;
    assert_eq!(r.status, 404);
}

#[actix_web::test]
async fn a_job_whose_worker_died_is_taken_over_once_its_lease_expires() {
    // This node only records jobs; a second node runs them.
    let app = spawn_app_with(&[]).await;
    let alice = app.register(&email("alice")).await.access;
    let id = note(&app, &alice, TEXT).await;
    let job_id = upload_job_id(id);
    let store = PgEventStore::new(app.db.pool.clone());
    let stream = job_stream(job_id);
    let requested = eventually_within(PATIENCE, "the job request", || async {
        let events = store.read_stream(&stream, 0, 10).await.unwrap();
        (!events.is_empty()).then_some(events.len() as u64)
    })
    .await;
    // A node leased the job, started attempt 1 and died: its lease runs out in 2 s.
    let started = [JobEvent::Started {
        attempt: 1,
        node: "dead-node".into(),
    }];
    let ctx = CommandContext::new(None);
    store
        .append(
            &stream,
            ExpectedVersion::Exact(requested),
            ctx.to_event_data(&stream, &started, None).unwrap(),
        )
        .await
        .unwrap();
    eventually_within(PATIENCE, "the jobs read model", || async {
        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM rm_jobs.jobs WHERE job_id = $1")
                .bind(job_id)
                .fetch_optional(&app.db.pool)
                .await
                .unwrap();
        (status.as_deref() == Some("running")).then_some(())
    })
    .await;
    sqlx::query(
        "INSERT INTO job_leases (job_id, lease_id, node, expires_at)
         VALUES ($1, $2, 'dead-node', now() + interval '2 seconds')",
    )
    .bind(job_id)
    .bind(Uuid::new_v4())
    .execute(&app.db.pool)
    .await
    .unwrap();

    // The second node.
    let settings = tessera::config::Settings::with_overrides(&[
        ("mode", "dev"),
        ("data_dir", app.data_dir.0.to_str().unwrap()),
        ("processing.lease_ttl_secs", "5"),
    ])
    .unwrap();
    let blobs = tessera::blob::from_settings(&settings.storage, &settings.data_dir)
        .await
        .unwrap();
    let node_b = tessera::processing::start(
        &settings.processing,
        app.db.pool.clone(),
        Arc::new(store.clone()) as Arc<dyn EventStore>,
        blobs,
        &settings.data_dir,
        "node-b".into(),
    )
    .unwrap();

    let item = analysed(&app, &alice, id).await;
    assert_eq!(item["analysis"]["state"], "ready", "{item}");
    let listed = settled_jobs(&app, &alice, id).await;
    let job = &listed["jobs"][0];
    assert_eq!(job["status"], "succeeded", "{listed}");
    assert_eq!(job["attempts"], 2, "the dead node's attempt counts");
    assert_eq!(job["node"], "node-b");
    drop(node_b);
}

#[actix_web::test]
async fn a_job_that_keeps_failing_is_dead_lettered_and_shown_to_admins() {
    // A catalog whose embedding model is not installed: every attempt fails to load it.
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog.toml");
    std::fs::write(
        &catalog,
        r#"schema = 1
[[model]]
id = "minilm-l6-v2-int8"
task = "embeddings"
version = "0.0.0-not-installed"
runtime = "onnx"
path = "nowhere"
[[model.files]]
name = "model.onnx"
"#,
    )
    .unwrap();
    let app = spawn_app_with(&[
        ("processing.enabled", "true"),
        ("processing.catalog", catalog.to_str().unwrap()),
        ("processing.max_attempts", "2"),
        ("processing.backoff_secs", "0"),
    ])
    .await;
    let alice = app.register(&email("alice")).await.access;
    let id = note(&app, &alice, TEXT).await;
    let item = analysed(&app, &alice, id).await;
    assert_eq!(item["analysis"]["state"], "failed", "{item}");
    assert_eq!(item["analysis"]["error"], "model_unavailable");
    let listed = settled_jobs(&app, &alice, id).await;
    let job = &listed["jobs"][0];
    assert_eq!(job["status"], "dead_lettered", "{listed}");
    assert_eq!(job["attempts"], 2);
    assert_eq!(job["error_code"], "model_unavailable");
    assert!(
        job["error"].as_str().unwrap().contains("models fetch"),
        "the reason says what to do: {job}"
    );

    let admin = app.make_admin(&email("admin")).await.access;
    let r = app.get_as("/api/admin/jobs", &admin).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let dead: Vec<&Value> = r.body["jobs"].as_array().unwrap().iter().collect();
    assert!(dead
        .iter()
        .any(|j| j["content_id"] == id.to_string().as_str()));
    let r = app.get_as("/api/admin/jobs?status=nonsense", &admin).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["code"], "invalid_query");
    let r = app.get_as("/api/admin/jobs", &alice).await;
    assert_eq!(r.status, 403);
}
