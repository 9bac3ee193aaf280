//! Liveness and readiness.

use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
    pub version: &'static str,
    pub node: String,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    pub ready: bool,
    pub database: bool,
    pub migrations: bool,
}

/// The process is up.
#[utoipa::path(tag = "health", responses((status = 200, body = Health)))]
#[get("/health")]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        node: state.node_id.clone(),
    })
}

/// Ready to serve: the database answers and every migration this build knows has run.
#[utoipa::path(tag = "health", responses(
    (status = 200, body = Readiness),
    (status = 503, body = Readiness, description = "database down or migrations pending")
))]
#[get("/ready")]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let applied: Result<Vec<i64>, sqlx::Error> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&state.pool)
            .await;
    let (database, migrations) = match applied {
        Ok(versions) => (
            true,
            tessera_events::migrations::MIGRATOR
                .iter()
                .all(|m| versions.contains(&m.version)),
        ),
        Err(sqlx::Error::Database(_)) => (true, false),
        Err(_) => (false, false),
    };
    let body = Readiness {
        ready: database && migrations,
        database,
        migrations,
    };
    if body.ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(health).service(ready);
}

#[derive(OpenApi)]
#[openapi(paths(health, ready), components(schemas(Health, Readiness)))]
struct HealthApi;

pub fn openapi() -> utoipa::openapi::OpenApi {
    HealthApi::openapi()
}
