//! HTTP routes; the module tree mirrors the URL tree.

use actix_web::web;

pub mod health;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(health::configure);
}

/// Each route module's part of the OpenAPI document.
pub fn openapi_parts() -> Vec<utoipa::openapi::OpenApi> {
    vec![health::openapi()]
}
