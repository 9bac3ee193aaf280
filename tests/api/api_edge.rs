//! The edge of the real application over real HTTP: liveness and readiness, request ids, the JSON
//! error of an unknown route, and an OpenAPI document that matches the routes actually served.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use crate::helpers::{email, eventually, spawn_app, TestApp};
use futures_util::FutureExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tessera_actors::{stop_requested, HostJob, JobFn};
use uuid::Uuid;

#[actix_web::test]
async fn health_answers_with_the_version_and_node() {
    let app = spawn_app().await;
    let reply = app.send(app.get("/health")).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.body["status"], "ok");
    assert_eq!(reply.body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(reply.body["node"], app.node_id.as_str());
}

#[actix_web::test]
async fn ready_only_while_every_migration_is_recorded() {
    let app = spawn_app().await;
    let reply = app.send(app.get("/ready")).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(
        readiness(&reply.body),
        json!({ "ready": true, "database": true, "migrations": true })
    );

    // Forget the newest migration: the check is made per request, against this build's list.
    sqlx::query(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations)",
    )
    .execute(&app.db.pool)
    .await
    .expect("forget a migration");
    let reply = app.send(app.get("/ready")).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{reply:?}");
    assert_eq!(
        readiness(&reply.body),
        json!({ "ready": false, "database": true, "migrations": false })
    );
    // Liveness does not depend on readiness.
    assert_eq!(app.send(app.get("/health")).await.status, StatusCode::OK);
}

#[actix_web::test]
async fn ready_is_false_when_the_migrations_table_is_missing() {
    let app = spawn_app().await;
    sqlx::query("DROP TABLE _sqlx_migrations")
        .execute(&app.db.pool)
        .await
        .expect("drop the migrations table");
    let reply = app.send(app.get("/ready")).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{reply:?}");
    assert_eq!(reply.body["ready"], false);
    assert_eq!(reply.body["migrations"], false);
}

/// The readiness verdict of a `/ready` body, without the list of workers.
fn readiness(body: &Value) -> Value {
    json!({
        "ready": body["ready"],
        "database": body["database"],
        "migrations": body["migrations"],
    })
}

/// The entry of `/ready`'s workers named `name`.
fn worker<'a>(body: &'a Value, name: &str) -> Option<&'a Value> {
    body["workers"]
        .as_array()?
        .iter()
        .find(|w| w["name"] == name)
}

#[actix_web::test]
async fn ready_lists_the_supervised_workers() {
    let app = spawn_app().await;
    let reply = app.send(app.get("/ready")).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.body["degraded"], false, "{reply:?}");
    for (name, kind) in [
        ("users", "projector"),
        ("previews", "worker"),
        ("sweeper", "worker"),
        ("cache-announcements", "worker"),
    ] {
        let w = worker(&reply.body, name).unwrap_or_else(|| panic!("{name} in {reply:?}"));
        assert_eq!(
            (w["kind"].as_str(), w["running"].as_bool()),
            (Some(kind), Some(true)),
            "{w}"
        );
        assert_eq!(
            (w["down"].as_bool(), w["restarts"].as_u64()),
            (Some(false), Some(0)),
            "{w}"
        );
    }
}

#[actix_web::test]
async fn a_worker_that_panics_is_reported_down_by_ready_and_restarted() {
    let app = spawn_app().await;
    // Panics on every run until it is fixed, the way a bug in a worker's loop would.
    let fixed = Arc::new(AtomicBool::new(false));
    let runs = Arc::new(AtomicU32::new(0));
    let job = {
        let (fixed, runs) = (fixed.clone(), runs.clone());
        JobFn::new("flaky-worker", move |mut shutdown| {
            let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
            let fixed = fixed.load(Ordering::SeqCst);
            async move {
                assert!(fixed, "worker bug in run {run}");
                stop_requested(&mut shutdown).await;
                Ok(())
            }
            .boxed()
        })
    };
    assert!(app
        .tree
        .root
        .send(HostJob(Arc::new(job)))
        .await
        .expect("the root answers"));

    // Between a panic and its restart the worker is down: the node still serves, degraded.
    let down = eventually("/ready to report the worker down", || async {
        let reply = app.send(app.get("/ready")).await;
        let w = worker(&reply.body, "flaky-worker")?.clone();
        (reply.status == StatusCode::OK && reply.body["degraded"] == true && w["down"] == true)
            .then_some(w)
    })
    .await;
    assert_eq!(down["running"], false);
    // `/ready` answers anyone, so it names no error text; the admin listing does.
    assert!(down.get("last_error").is_none(), "{down}");
    let admin = app.make_admin(&email("flaky-admin")).await;
    let listed = app.get_as("/api/admin/workers", &admin.access).await;
    let error = worker(&listed.body, "flaky-worker")
        .and_then(|w| w["last_error"].as_str())
        .unwrap_or_default()
        .to_owned();
    assert!(error.contains("worker bug in run"), "{listed:?}");

    fixed.store(true, Ordering::SeqCst);
    let up = eventually("the restarted worker to run", || async {
        let reply = app.send(app.get("/ready")).await;
        let w = worker(&reply.body, "flaky-worker")?.clone();
        (reply.body["degraded"] == false && w["running"] == true).then_some(w)
    })
    .await;
    assert_eq!(up["down"], false);
    let restarts = up["restarts"].as_u64().unwrap_or_default();
    assert!(restarts >= 1, "{up}");
    assert_eq!(u64::from(runs.load(Ordering::SeqCst)), restarts + 1);
}

#[actix_web::test]
async fn admins_see_the_workers_of_the_node() {
    let app = spawn_app().await;
    let admin = app.make_admin(&email("workers-admin")).await;
    let user = app.register(&email("workers-user")).await;
    let reply = app.get_as("/api/admin/workers", &admin.access).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.body["node"], app.node_id.as_str());
    assert_eq!(reply.body["degraded"], false, "{reply:?}");
    for name in ["users", "previews", "sweeper", "cache-announcements"] {
        let w = worker(&reply.body, name).unwrap_or_else(|| panic!("{name} in {reply:?}"));
        assert_eq!(w["running"], true, "{w}");
    }
    let reply = app.get_as("/api/admin/workers", &user.access).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{reply:?}");
}

fn is_generated_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

#[actix_web::test]
async fn every_response_carries_a_request_id_and_well_formed_ones_are_echoed() {
    let app = spawn_app().await;

    // Generated when absent, and different per request.
    let a = app.send(app.get("/health")).await;
    let b = app.send(app.get("/health")).await;
    let (a, b) = (
        a.header("x-request-id").expect("an id").to_owned(),
        b.header("x-request-id").expect("an id").to_owned(),
    );
    assert!(is_generated_id(&a), "{a}");
    assert_ne!(a, b);

    // A caller's well-formed id is echoed, on success and on errors alike, and errors quote it.
    let mine = "client-Req_42";
    for path in ["/health", "/api/me", "/nope"] {
        let reply = app.send(app.get(path).header("x-request-id", mine)).await;
        assert_eq!(
            reply.header("x-request-id"),
            Some(mine),
            "{path}: {reply:?}"
        );
        if !reply.status.is_success() {
            assert_eq!(reply.body["error"]["request_id"], mine, "{path}");
        }
    }
    let longest = "a".repeat(64);
    let reply = app
        .send(app.get("/health").header("x-request-id", &longest))
        .await;
    assert_eq!(reply.header("x-request-id"), Some(longest.as_str()));

    // Malformed ones are replaced, not reflected.
    for bad in [
        "a".repeat(65),
        "a".repeat(200),
        "has space".into(),
        "semi;colon".into(),
    ] {
        let reply = app
            .send(app.get("/api/me").header("x-request-id", &bad))
            .await;
        let id = reply.header("x-request-id").expect("an id");
        assert!(is_generated_id(id), "{bad:?} gave {id:?}");
        assert_eq!(reply.body["error"]["request_id"], id, "{bad:?}");
    }

    // Errors produced by extractors and by the router carry it too.
    for reply in [
        app.send(app.post_json("/api/auth/login", &json!({}))).await,
        app.send(app.request(Method::GET, "/api/admin/users")).await,
        app.send(app.request(Method::DELETE, "/api/me/api-keys/not-a-uuid"))
            .await,
    ] {
        let id = reply.header("x-request-id").expect("an id");
        assert_eq!(reply.body["error"]["request_id"], id, "{reply:?}");
    }
}

#[actix_web::test]
async fn unknown_routes_get_the_json_not_found_error() {
    let app = spawn_app().await;
    for (method, path) in [
        (Method::GET, "/no/such/route"),
        (Method::POST, "/api/nothing-here"),
        (Method::GET, "/api/admin"),
        (Method::GET, "/api/me/api-keys/x/y"),
    ] {
        let reply = app.send(app.request(method.clone(), path)).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method} {path}");
        assert!(
            reply
                .header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "{reply:?}"
        );
        assert_eq!(reply.code(), "not_found", "{reply:?}");
        assert!(reply.body["error"]["message"].is_string());
        assert_eq!(
            reply.body["error"]["request_id"].as_str(),
            reply.header("x-request-id")
        );
        assert!(reply.is_unknown_route());
    }
}

/// Every route the application serves; the OpenAPI document must list exactly these.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/ready"),
    ("post", "/api/auth/register"),
    ("post", "/api/auth/login"),
    ("post", "/api/auth/refresh"),
    ("post", "/api/auth/logout"),
    ("post", "/api/auth/logout-all"),
    ("post", "/api/auth/setup"),
    ("post", "/api/auth/password-reset"),
    ("get", "/api/me"),
    ("post", "/api/me/password"),
    ("get", "/api/me/sessions"),
    ("delete", "/api/me/sessions/{id}"),
    ("get", "/api/me/api-keys"),
    ("post", "/api/me/api-keys"),
    ("delete", "/api/me/api-keys/{id}"),
    ("get", "/api/admin/users"),
    ("post", "/api/admin/users/{id}/disable"),
    ("post", "/api/admin/users/{id}/reset-link"),
    ("post", "/api/admin/users/{id}/enable"),
    ("post", "/api/admin/users/{id}/approve"),
    ("put", "/api/admin/users/{id}/role"),
    ("put", "/api/admin/users/{id}/quota"),
    ("get", "/api/admin/projections"),
    ("post", "/api/admin/projections/{name}/rebuild"),
    (
        "post",
        "/api/admin/projections/{name}/dead-letters/{position}/retry",
    ),
    (
        "post",
        "/api/admin/projections/{name}/dead-letters/{position}/skip",
    ),
    ("get", "/api/ws"),
    ("post", "/api/content"),
    ("get", "/api/content"),
    ("post", "/api/content/notes"),
    ("get", "/api/content/tags"),
    ("get", "/api/content/{id}"),
    ("patch", "/api/content/{id}"),
    ("delete", "/api/content/{id}"),
    ("post", "/api/content/{id}/restore"),
    ("get", "/api/content/{id}/file"),
    ("get", "/api/content/{id}/previews/{name}"),
    ("get", "/api/content/{id}/keyframes/{index}"),
    ("get", "/api/content/{id}/similar"),
    ("get", "/api/search"),
    ("get", "/api/content/{id}/similar"),
    ("get", "/api/search"),
    ("get", "/api/content/{id}/jobs"),
    ("get", "/api/admin/jobs"),
    ("post", "/api/admin/content/{id}/reprocess"),
    ("get", "/api/admin/workers"),
    ("get", "/api/admin/models"),
    ("post", "/api/admin/models/{id}/{action}"),
    ("post", "/api/uploads"),
    ("get", "/api/uploads/{id}"),
    ("patch", "/api/uploads/{id}"),
    ("delete", "/api/uploads/{id}"),
    ("get", "/api/usage"),
    ("get", "/api/admin/usage"),
    ("get", "/api/generate/voices"),
    ("post", "/api/generate/speech"),
    ("post", "/api/generate/narration"),
    ("post", "/api/generate/transcript"),
    ("post", "/api/generate/description"),
    ("post", "/api/generate/summary"),
    ("post", "/api/conversations"),
    ("get", "/api/conversations"),
    ("get", "/api/conversations/{id}"),
    ("patch", "/api/conversations/{id}"),
    ("delete", "/api/conversations/{id}"),
    ("post", "/api/conversations/{id}/messages"),
    ("post", "/api/conversations/{id}/answers/{answer_id}/cancel"),
    ("get", "/api/providers"),
    ("get", "/api/admin/providers"),
    ("post", "/api/admin/providers/{id}/{action}"),
    ("get", "/v1/models"),
    ("get", "/v1/models/{model}"),
    ("post", "/v1/chat/completions"),
    ("post", "/v1/embeddings"),
    ("post", "/v1/audio/transcriptions"),
    ("post", "/v1/audio/speech"),
];

fn documented_operations(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("`paths` is an object");
    let mut out = BTreeSet::new();
    for (path, item) in paths {
        for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
            if item.get(method).is_some() {
                out.insert((method.to_owned(), path.clone()));
            }
        }
    }
    out
}

/// What an anonymous call to a served route answers: anything but "no such route".
async fn probe(app: &TestApp, method: &str, path: &str) -> (StatusCode, String) {
    let concrete = path
        .replace("{id}", &Uuid::new_v4().to_string())
        .replace("{name}", "users");
    let method: Method = method.to_uppercase().parse().expect("method");
    let with_body = method == Method::POST || method == Method::PUT || method == Method::PATCH;
    let mut request = app.request(method, &concrete);
    if with_body {
        request = request.json(&json!({}));
    }
    let reply = app.send(request).await;
    assert!(
        !reply.is_unknown_route(),
        "{path} is documented but not served: {reply:?}"
    );
    assert_ne!(
        reply.status,
        StatusCode::METHOD_NOT_ALLOWED,
        "{path} is documented with a method it does not serve"
    );
    (reply.status, reply.code().to_owned())
}

#[actix_web::test]
async fn the_openapi_document_lists_exactly_the_routes_that_are_served() {
    let app = spawn_app().await;
    let reply = app.send(app.get("/api/openapi.json")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json")));
    let doc = reply.body;
    let version = doc["openapi"].as_str().expect("`openapi` is a string");
    assert!(version.starts_with("3."), "{version}");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());

    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    let documented = documented_operations(&doc);
    let undocumented: Vec<_> = expected.difference(&documented).collect();
    let unexpected: Vec<_> = documented.difference(&expected).collect();
    assert!(undocumented.is_empty(), "not documented: {undocumented:?}");
    assert!(
        unexpected.is_empty(),
        "documented but not in this test's list (add them, and make sure they are served): \
         {unexpected:?}"
    );

    // Each documented operation is served: anonymous calls reach the route and get its answer.
    let mut answers = Vec::new();
    for (method, path) in ROUTES {
        let (status, code) = probe(&app, method, path).await;
        answers.push(((*method, *path), status.as_u16(), code));
    }
    let answer = |m: &str, p: &str| {
        answers
            .iter()
            .find(|((am, ap), _, _)| *am == m && *ap == p)
            .map(|(_, s, c)| (*s, c.as_str()))
            .expect("probed")
    };
    assert_eq!(answer("get", "/health").0, 200);
    assert_eq!(answer("get", "/ready").0, 200);
    assert_eq!(answer("post", "/api/auth/register"), (400, "invalid_json"));
    assert_eq!(answer("post", "/api/auth/login"), (400, "invalid_json"));
    assert_eq!(
        answer("post", "/api/auth/refresh"),
        (401, "unauthenticated")
    );
    assert_eq!(answer("post", "/api/auth/logout").0, 204);
    assert_eq!(
        answer("post", "/api/auth/logout-all"),
        (401, "unauthenticated")
    );
    assert_eq!(answer("post", "/api/auth/setup"), (400, "invalid_json"));
    assert_eq!(
        answer("post", "/api/auth/password-reset"),
        (400, "invalid_json")
    );
    assert_eq!(answer("get", "/api/ws"), (400, "not_a_websocket"));
    for (method, path) in ROUTES {
        let private = [
            "/api/me",
            "/api/admin",
            "/api/content",
            "/api/uploads",
            "/api/usage",
            "/api/generate",
            "/api/conversations",
            "/api/providers",
        ];
        if path.starts_with("/v1/") {
            // OpenAI's code for a request without a key.
            assert_eq!(
                answer(method, path),
                (401, "missing_api_key"),
                "{method} {path} must demand credentials"
            );
        }
        if private.iter().any(|p| path.starts_with(p)) {
            assert_eq!(
                answer(method, path),
                (401, "unauthenticated"),
                "{method} {path} must demand credentials"
            );
        }
    }

    // Every documented operation states its responses.
    for (method, path) in ROUTES {
        let responses = &doc["paths"][*path][*method]["responses"];
        assert!(
            responses.as_object().is_some_and(|r| !r.is_empty()),
            "{method} {path} documents no responses"
        );
    }
}
