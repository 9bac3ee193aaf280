//! The web UI: the files of `server.web_dir` (Vite's build of `web/`) at `/`.
//!
//! Every path the API does not claim is the UI's: a file of the build when one matches, else
//! `index.html`, so that client-side routes survive a reload. Unknown `/api/…` and `/v1/…` paths
//! keep the API's JSON 404. Hashed assets are cached for a year; `index.html` is revalidated on
//! every load so that a new build is picked up at once.

use std::path::{Path, PathBuf};

use actix_files::{Files, NamedFile};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, Error, HttpRequest, HttpResponse};

/// What the UI may load: its own scripts and styles, media from the API (and `blob:` URLs the
/// browser makes for uploads and recordings), and its own origin for `fetch` and the WebSocket.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; \
                   font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; \
                   frame-ancestors 'none'";

/// Prefixes that belong to the API even when no route matches.
const API_PREFIXES: &[&str] = &["/api/", "/v1/"];

/// The UI's folder when it holds a build, else `None` (and a warning saying how to build it).
pub fn build_dir(dir: &Path) -> Option<PathBuf> {
    if dir.join("index.html").is_file() {
        Some(dir.to_path_buf())
    } else {
        tracing::warn!(
            web_dir = %dir.display(),
            "the web UI is not built there, so only the API is served (run `make web`)"
        );
        None
    }
}

/// Mounts the UI at `/`; register it after every API route.
pub fn configure(cfg: &mut web::ServiceConfig, dir: Option<PathBuf>) {
    let Some(dir) = dir else { return };
    let index = dir.join("index.html");
    cfg.app_data(web::Data::new(IndexFile(index))).service(
        web::scope("").wrap(from_fn(headers)).service(
            Files::new("/", &dir)
                .index_file("index.html")
                .use_etag(true)
                .use_last_modified(true)
                .default_handler(web::to(fallback)),
        ),
    );
}

struct IndexFile(PathBuf);

fn is_api(path: &str) -> bool {
    API_PREFIXES.iter().any(|p| path.starts_with(p)) || path == "/api" || path == "/v1"
}

/// A path no file matched: the API's 404 under its prefixes and for missing assets, else the
/// app's `index.html` for the client-side router.
async fn fallback(
    req: HttpRequest,
    index: web::Data<IndexFile>,
) -> actix_web::Result<HttpResponse> {
    let path = req.path();
    if is_api(path) || path.starts_with("/assets/") {
        return Err(
            crate::error::ApiError::not_found(if is_api(path) { "route" } else { "file" }).into(),
        );
    }
    let path = index.0.clone();
    let file = web::block(move || NamedFile::open(path)).await??;
    Ok(file
        .use_etag(true)
        .use_last_modified(true)
        .into_response(&req))
}

/// Security and caching headers on everything the UI serves.
async fn headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let immutable = req.path().starts_with("/assets/");
    let mut res = next.call(req).await?;
    if is_api(res.request().path()) {
        return Ok(res);
    }
    let found = res.status().is_success() || res.status() == StatusCode::NOT_MODIFIED;
    let h = res.headers_mut();
    let cache = if immutable && found {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    Ok(res)
}
