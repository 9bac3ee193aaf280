//! HTTP routes; the module tree mirrors the URL tree.

use actix_web::web;

pub mod admin_models;
pub mod admin_projections;
pub mod admin_users;
pub mod auth;
pub mod body;
pub mod capped;
pub mod content;
pub mod conversations;
pub mod form;
pub mod generate;
pub mod health;
pub mod jobs;
pub mod json;
pub mod links;
pub mod me;
pub mod multipart;
pub mod openai;
pub mod search;
pub mod ui;
pub mod uploads;
pub mod usage;
pub mod ws;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(health::configure)
        .configure(auth::configure)
        .configure(links::configure)
        .configure(me::configure)
        .configure(admin_users::configure)
        .configure(admin_projections::configure)
        .configure(admin_models::configure)
        .configure(jobs::configure)
        .configure(search::configure)
        .configure(content::configure)
        .configure(generate::configure)
        .configure(uploads::configure)
        .configure(conversations::configure)
        .configure(usage::configure)
        .configure(ws::configure)
        .configure(openai::configure);
}

/// Each route module's part of the OpenAPI document.
pub fn openapi_parts() -> Vec<utoipa::openapi::OpenApi> {
    vec![
        health::openapi(),
        auth::openapi(),
        links::openapi(),
        me::openapi(),
        admin_users::openapi(),
        admin_projections::openapi(),
        admin_models::openapi(),
        content::openapi(),
        search::openapi(),
        generate::openapi(),
        jobs::openapi(),
        uploads::openapi(),
        conversations::openapi(),
        usage::openapi(),
        ws::openapi(),
        openai::openapi(),
    ]
}

/// Unknown paths get the same JSON error shape as everything else.
pub async fn not_found() -> Result<actix_web::HttpResponse, crate::error::ApiError> {
    Err(crate::error::ApiError::not_found("route"))
}
