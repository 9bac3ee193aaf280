//! Building and running the application: the same path in production and in tests.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{from_fn, Compress, Condition, DefaultHeaders};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use tessera_actors::{start_tree, HostJob, HostedJob, Shutdown, TokenVerifier, Tree, TreeConfig};
use tessera_events::migrations::MIGRATOR;
use tessera_events::{EventNotifier, EventStore, PgEventStore};
use tracing_actix_web::TracingLogger;

use crate::auth::{AuthService, SessionVerifier};
use crate::cache::{HotCache, ProjectionEpochs};
use crate::config::Settings;
use crate::ratelimit::{RateLimitPolicy, RateLimiter};
use crate::redis_conn::RedisConn;
use crate::state::AppState;
use crate::telemetry::{self, TesseraRootSpan};

/// A built, listening server with its actor tree.
pub struct Application {
    port: u16,
    server: Server,
    pool: PgPool,
    tree: Tree,
    auth: AuthService,
    /// The job dispatcher and the model instances, when this node processes.
    processing: crate::processing::Processing,
    chat: crate::conversations::ChatService,
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
        .min_connections(
            settings
                .database
                .min_connections
                .min(settings.database.max_connections),
        )
        .acquire_timeout(Duration::from_secs(10))
        .connect_lazy_with(options))
}

/// Applies pending migrations.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR.run(pool).await.context("running migrations")?;
    Ok(())
}

/// Waits (a little) until every read model's tables exist, so the first requests after a fresh
/// start do not meet missing tables. The projector hosts create them at once; on a node whose
/// peers hold the leases they exist already. Past the wait the node serves anyway (queries then
/// fail until the tables appear) and says so.
async fn wait_for_read_models(
    pool: &PgPool,
    projections: &[Arc<dyn tessera_projections::Projection>],
) -> anyhow::Result<()> {
    let schemas = projections
        .iter()
        .map(|p| tessera_projections::live_schema(p.name()))
        .collect::<Result<Vec<String>, _>>()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let present: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = ANY($1)",
        )
        .bind(&schemas)
        .fetch_one(pool)
        .await
        .context("looking for the read models")?;
        if present as usize >= schemas.len() {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            tracing::warn!(
                present,
                expected = schemas.len(),
                "read models are not all set up yet; serving anyway"
            );
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn projection_names(projections: &[Arc<dyn tessera_projections::Projection>]) -> Vec<&'static str> {
    projections.iter().map(|p| p.name()).collect()
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
                format!("binding {}:{}", settings.server.host, settings.server.port)
            })?;
        let port = listener.local_addr()?.port();
        let node_id = settings.node_id();
        let store = PgEventStore::new(pool.clone());
        let workers = match settings.server.workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let json_limit = settings.server.json_limit;
        let mut projections = tessera_projections::read_models::all();
        let notifier = EventNotifier::start(&pool)
            .await
            .context("listening for event notifications")?;
        store.wake_locally(&notifier);
        let tree = start_tree(
            TreeConfig::new(
                pool.clone(),
                Arc::new(store.clone()) as Arc<dyn EventStore>,
                notifier.clone(),
                node_id.clone(),
            )
            .with_projections(projections.clone()),
        )
        .await
        .context("starting the actor tree")?;
        wait_for_read_models(&pool, &projections).await?;
        let auth = AuthService::new(
            store.clone(),
            pool.clone(),
            settings.auth.clone(),
            settings.quotas.clone(),
        );
        let (epochs, announcements) =
            ProjectionEpochs::listen(&pool, &projection_names(&projections))
                .await
                .context("listening for projection announcements")?;
        auth.enable_profile_cache(epochs.clone());
        let redis = RedisConn::from_settings(&settings.redis)?;
        if let Some(conn) = &redis {
            tracing::info!("rate limits, the login throttle and the hot cache are kept in Redis");
            auth.share_throttle(conn.clone());
        }
        let limiter = RateLimiter::from_connection(redis.clone());
        let (cache, cache_watcher) = HotCache::from_connection(
            redis,
            epochs,
            Duration::from_secs(settings.redis.cache_ttl_secs),
        );
        let rate_limits = web::Data::new(RateLimitPolicy::new(
            limiter.clone(),
            &settings.rate_limits,
            &settings.auth,
        ));
        let blobs = crate::blob::from_settings(&settings.storage, &settings.data_dir)
            .await
            .context("opening the blob store")?;
        let processing = crate::processing::start(
            &settings.processing,
            pool.clone(),
            Arc::new(store.clone()) as Arc<dyn EventStore>,
            blobs.clone(),
            &settings.data_dir,
            node_id.clone(),
        )
        .context("starting processing")?;
        let models_data = web::Data::new(crate::processing::ModelsHandle::new(&processing));
        let pipelines = web::Data::new(processing.pipelines.clone());
        let content = crate::content::ContentService::new(
            crate::content::service::Dependencies {
                store: store.clone(),
                pool: pool.clone(),
                blobs,
                auth: auth.clone(),
                cache: cache.clone(),
            },
            settings.content.clone(),
            &settings.data_dir,
            node_id.clone(),
        );
        let chat = crate::conversations::ChatService::new(
            store.clone(),
            pool.clone(),
            content.clone(),
            processing.pipelines.clone(),
            settings.chat.clone(),
            node_id.clone(),
        )
        .map_err(|e| anyhow::anyhow!("chat providers: {e}"))?;
        let chat_data = web::Data::new(chat.clone());
        let inference = web::Data::new(crate::inference::Inference::new(
            content.clone(),
            processing.pipelines.clone(),
        ));
        // Long-lived work built after the tree joins it, so it is restarted when it fails.
        let mut background: Vec<Arc<dyn HostedJob>> = vec![Arc::new(announcements)];
        background.extend(cache_watcher.map(|w| Arc::new(w) as Arc<dyn HostedJob>));
        background.extend(crate::content::background_jobs(&content));
        // The search index embeds as it indexes, so it is hosted once the models are.
        let search = crate::search::projection(&processing);
        background.push(Arc::new(tessera_actors::ProjectionJob::new(
            pool.clone(),
            Arc::new(store.clone()) as Arc<dyn EventStore>,
            Some(notifier),
            search.clone(),
            tessera_projections::ProjectorOptions::new(node_id.clone()),
        )));
        projections.push(search);
        for job in background {
            if !tree.root.send(HostJob(job)).await.unwrap_or(false) {
                anyhow::bail!("the actor tree stopped while the node was starting");
            }
        }
        let search_data = web::Data::new(crate::search::SearchService::new(
            pool.clone(),
            processing.pipelines.clone(),
            content.clone(),
        ));
        let content_data = web::Data::new(content);
        let settings = Arc::new(settings);
        let state = web::Data::new(AppState {
            settings: settings.clone(),
            pool: pool.clone(),
            store: store.clone(),
            node_id: node_id.clone(),
            projections,
            rebuilds: Default::default(),
            last_rebuilds: Default::default(),
            limiter,
            cache,
        });
        let auth_data = web::Data::new(auth.clone());
        let verifier: web::Data<Arc<dyn TokenVerifier>> =
            web::Data::new(Arc::new(SessionVerifier(auth.clone())));
        let sessions = web::Data::new(tree.sessions.clone());
        let session_settings = web::Data::new(settings.ws.session_settings());
        let root = web::Data::new(tree.root.clone());
        let proxies = web::Data::new(crate::client_addr::TrustedProxies::parse(
            &settings.server.trusted_proxies,
        )?);
        let site = crate::site::Site::from_settings(&settings);
        let hsts = site.https;
        let site = web::Data::new(site);
        let web_dir = crate::routes::ui::build_dir(&settings.server.web_dir);
        let server = HttpServer::new(move || {
            App::new()
                // Innermost: a 429 is logged, compressed and carries the request id.
                .wrap(from_fn(crate::ratelimit::limit_requests))
                .wrap(Condition::new(
                    hsts,
                    DefaultHeaders::new().add(("Strict-Transport-Security", crate::site::HSTS)),
                ))
                .wrap(Compress::default())
                .wrap(TracingLogger::<TesseraRootSpan>::new())
                .wrap(from_fn(telemetry::request_id))
                .app_data(state.clone())
                .app_data(rate_limits.clone())
                .app_data(auth_data.clone())
                .app_data(content_data.clone())
                .app_data(search_data.clone())
                .app_data(models_data.clone())
                .app_data(pipelines.clone())
                .app_data(chat_data.clone())
                .app_data(inference.clone())
                .app_data(verifier.clone())
                .app_data(sessions.clone())
                .app_data(session_settings.clone())
                .app_data(root.clone())
                .app_data(proxies.clone())
                .app_data(site.clone())
                .app_data(crate::routes::json::json_config(json_limit))
                .app_data(crate::routes::json::path_config())
                .app_data(crate::routes::json::query_config())
                .configure(crate::openapi::configure)
                .configure(crate::routes::configure)
                .configure(|cfg| crate::routes::ui::configure(cfg, web_dir.clone()))
                .default_service(web::to(crate::routes::not_found))
        })
        .workers(workers)
        .listen(listener)?
        .run();
        tracing::info!(port, node = %node_id, "tessera listening");
        Ok(Self {
            port,
            server,
            pool,
            tree,
            auth,
            processing,
            chat,
        })
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

    /// The node's actor tree.
    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    /// The node's model actors and pipelines (and its job dispatcher, when it runs jobs).
    pub fn processing(&self) -> &crate::processing::Processing {
        &self.processing
    }

    /// The authentication service (tests and the CLI create users through it).
    pub fn auth(&self) -> &AuthService {
        &self.auth
    }

    /// Serves until the server is stopped (signal or handle), then stops the actor tree, which
    /// closes sessions and releases projection leases.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        // Answers being written stop at their next token and record what they have.
        self.chat.stop_all();
        if let Some(dispatcher) = &self.processing.dispatcher {
            // Running attempts end or their leases expire; nothing new is leased.
            let _ = dispatcher.send(Shutdown).await;
        }
        if let Err(e) = self.tree.root.send(Shutdown).await {
            tracing::warn!(error = %e, "actor tree did not acknowledge shutdown");
        }
        result
    }
}
