//! The web UI is served from `server.web_dir`, and the committed OpenAPI document the UI's
//! types are generated from is the server's own.

use crate::helpers::{spawn_app_with, DataDir};
use reqwest::StatusCode;

/// A stand-in for Vite's output: an `index.html` and one hashed asset.
fn fake_build() -> DataDir {
    let dir = DataDir::new();
    std::fs::write(
        dir.0.join("index.html"),
        "<!doctype html><title>Tessera</title><div id=root></div>",
    )
    .unwrap();
    std::fs::create_dir_all(dir.0.join("assets")).unwrap();
    std::fs::write(dir.0.join("assets/index-AbC123.js"), "console.log(1)").unwrap();
    dir
}

#[actix_web::test]
async fn the_ui_is_served_with_client_side_routes_and_the_api_keeps_its_404s() {
    let build = fake_build();
    let dir = build.0.display().to_string();
    let app = spawn_app_with(&[("server.web_dir", &dir)]).await;

    let root = app.send(app.get("/")).await;
    assert_eq!(root.status, StatusCode::OK);
    assert!(root.body["raw"].as_str().unwrap().contains("<div id=root>"));
    assert!(root
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(root.header("cache-control"), Some("no-cache"));
    let csp = root.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(root.header("x-content-type-options"), Some("nosniff"));

    // A client-side route survives a reload: the server answers with the app.
    for path in [
        "/library",
        "/content/0190c6f2-0000-7000-8000-000000000000",
        "/chat/x?y=1",
    ] {
        let page = app.send(app.get(path)).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(
            page.body["raw"].as_str().unwrap().contains("<div id=root>"),
            "{path}"
        );
    }

    let js = app.send(app.get("/assets/index-AbC123.js")).await;
    assert_eq!(js.status, StatusCode::OK);
    assert!(js.header("content-type").unwrap().contains("javascript"));
    assert_eq!(
        js.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let etag = js.header("etag").expect("an ETag").to_owned();
    let again = app
        .send(
            app.get("/assets/index-AbC123.js")
                .header("if-none-match", etag),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);

    // A missing asset is a 404 (never the app, which a browser would run as a script), and not
    // cached for a year.
    let missing = app.send(app.get("/assets/index-gone.js")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.code(), "not_found");
    assert_ne!(
        missing.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );

    // The API's unknown routes stay JSON 404s (OpenAI-shaped under /v1).
    let r = app.send(app.get("/api/nope")).await;
    assert!(r.is_unknown_route(), "{r:?}");
    let r = app.send(app.get("/v1/nope")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["error"]["code"], "unknown_url");
    // The API itself is untouched.
    let health = app.send(app.get("/health")).await;
    assert_eq!(health.body["status"], "ok");

    // Nothing outside the build is reachable.
    let outside = app.send(app.get("/..%2f..%2fetc%2fpasswd")).await;
    assert!(!outside.body["raw"]
        .as_str()
        .unwrap_or_default()
        .contains("root:"));
}

#[actix_web::test]
async fn without_a_build_only_the_api_is_served() {
    let app = spawn_app_with(&[]).await;
    let r = app.send(app.get("/library")).await;
    assert!(r.is_unknown_route(), "{r:?}");
}

/// `web/openapi.json` is what the UI's API types are generated from; it must be the document
/// this server serves. `make openapi` rewrites it.
#[test]
fn the_committed_openapi_document_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web/openapi.json");
    let current = format!(
        "{}\n",
        tessera::openapi::document()
            .to_pretty_json()
            .expect("the document serialises")
    );
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == current,
        "{} is not the server's OpenAPI document; run `make openapi` and commit it",
        path.display()
    );
}

/// Generated clients name their calls after operation ids, so no two operations may share one.
#[test]
fn every_operation_has_its_own_id() {
    let doc = serde_json::to_value(tessera::openapi::document()).unwrap();
    let mut seen = std::collections::HashMap::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let Some(id) = op["operationId"].as_str() else {
                continue;
            };
            if let Some(other) = seen.insert(id.to_owned(), format!("{method} {path}")) {
                panic!("operationId {id} is used by {other} and {method} {path}");
            }
        }
    }
}
