//! Building and running the application: the same path in production and in tests.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{from_fn, Compress};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use tessera_events::migrations::MIGRATOR;
use tessera_events::PgEventStore;
use tracing_actix_web::TracingLogger;

use crate::config::Settings;
use crate::state::AppState;
use crate::telemetry::{self, TesseraRootSpan};

/// A built, listening server.
pub struct Application {
    port: u16,
    server: Server,
    pool: PgPool,
}

/// Connects to the configured database (without checking it is reachable yet).
pub fn connect_pool(settings: &Settings) -> anyhow::Result<PgPool> {
    let url = settings.database.url.as_ref().context(
        "no database configured: set DATABASE_URL (or TESSERA_DATABASE__URL); \
         `make run` provisions a local PostgreSQL and sets it for you",
    )?;
    let options: PgConnectOptions = url
        .expose_secret()
        .parse()
        .context("DATABASE_URL is not a valid PostgreSQL URL")?;
    Ok(PgPoolOptions::new()
        .max_connections(settings.database.max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_lazy_with(options))
}

/// Applies pending migrations.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR.run(pool).await.context("running migrations")?;
    Ok(())
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let pool = connect_pool(&settings)?;
        if settings.database.migrate {
            migrate(&pool).await?;
        }
        Self::build_with_pool(settings, pool).await
    }

    /// Builds on an existing pool (tests pass their per-test database).
    pub async fn build_with_pool(settings: Settings, pool: PgPool) -> anyhow::Result<Self> {
        let listener = TcpListener::bind((settings.server.host.as_str(), settings.server.port))
            .with_context(|| {
                format!(
                    "binding {}:{}",
                    settings.server.host, settings.server.port
                )
            })?;
        let port = listener.local_addr()?.port();
        let node_id = settings.node_id();
        let store = PgEventStore::new(pool.clone());
        let workers = match settings.server.workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let json_limit = settings.server.json_limit;
        let settings = Arc::new(settings);
        let state = web::Data::new(AppState {
            settings: settings.clone(),
            pool: pool.clone(),
            store: store.clone(),
            node_id: node_id.clone(),
        });
        let server = HttpServer::new(move || {
            App::new()
                .wrap(Compress::default())
                .wrap(TracingLogger::<TesseraRootSpan>::new())
                .wrap(from_fn(telemetry::request_id))
                .app_data(state.clone())
                .app_data(web::JsonConfig::default().limit(json_limit))
                .configure(crate::openapi::configure)
                .configure(crate::routes::configure)
        })
        .workers(workers)
        .listen(listener)?
        .run();
        tracing::info!(port, node = %node_id, "tessera listening");
        Ok(Self { port, server, pool })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A handle to stop the server gracefully.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
