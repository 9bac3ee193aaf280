//! What every handler may reach.

use std::sync::Arc;

use sqlx::PgPool;
use tessera_events::PgEventStore;
use tessera_projections::Projection;

use crate::config::Settings;

/// Shared application state, registered as `web::Data<AppState>`.
pub struct AppState {
    pub settings: Arc<Settings>,
    pub pool: PgPool,
    pub store: PgEventStore,
    pub node_id: String,
    /// The read models this build maintains.
    pub projections: Vec<Arc<dyn Projection>>,
    /// Rebuilds started from this node and still running, by projection name.
    pub rebuilds: dashmap::DashSet<&'static str>,
    /// How the last rebuild started from this node ended, by projection name.
    pub last_rebuilds:
        dashmap::DashMap<&'static str, crate::routes::admin_projections::LastRebuild>,
    /// Request rate limits (Redis-backed when configured).
    pub limiter: crate::ratelimit::RateLimiter,
    /// Read-through cache of hot read-model queries (Redis-backed when configured).
    pub cache: crate::cache::HotCache,
}
