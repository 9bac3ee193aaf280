//! Layered configuration: built-in defaults, then a TOML file, then `TESSERA_…` variables
//! (`__` separates levels: `TESSERA_AUTH__JWT_SECRET`). `DATABASE_URL` is honoured too.

use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The JWT secret every fresh install shares; refused outside dev mode.
pub const DEFAULT_JWT_SECRET: &str = "tessera-dev-secret-change-me";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Dev,
    Production,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub mode: Mode,
    pub data_dir: PathBuf,
    /// This node's name in event metadata and projection leases (default: host name + pid).
    pub node_id: Option<String>,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub quotas: QuotaDefaults,
    pub log: LogSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// Largest JSON body accepted, in bytes.
    pub json_limit: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: Option<SecretString>,
    pub max_connections: u32,
    /// Run pending migrations at start-up.
    pub migrate: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub jwt_secret: SecretString,
    pub jwt_issuer: String,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    /// Failed logins allowed per account per window before it is throttled.
    pub login_attempts_per_account: u32,
    /// Failed logins allowed per client address per window.
    pub login_attempts_per_address: u32,
    pub login_window_secs: u64,
    /// Allow anyone to register (otherwise only admins create users).
    pub open_registration: bool,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaDefaults {
    pub storage_bytes: u64,
    pub uploads_per_day: u32,
    pub processing_seconds_per_day: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `json` (default) or `pretty`.
    pub format: String,
    /// An `EnvFilter` directive, e.g. `info,tessera=debug`; `RUST_LOG` wins when set.
    pub level: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration could not be read: {0}")]
    Load(#[from] config::ConfigError),
    #[error("refusing to start: {0}")]
    Unsafe(String),
}

impl Settings {
    /// Loads defaults, then `file` (or `$TESSERA_CONFIG`, or `tessera.toml` if present), then env.
    pub fn load(file: Option<PathBuf>) -> Result<Self, ConfigError> {
        let mut b = config::Config::builder()
            .set_default("mode", "production")?
            .set_default("data_dir", "data")?
            .set_default("server.host", "127.0.0.1")?
            .set_default("server.port", 8080)?
            .set_default("server.workers", 0)?
            .set_default("server.json_limit", 256 * 1024)?
            .set_default("database.max_connections", 32)?
            .set_default("database.migrate", true)?
            .set_default("auth.jwt_secret", DEFAULT_JWT_SECRET)?
            .set_default("auth.jwt_issuer", "tessera")?
            .set_default("auth.access_token_ttl_secs", 900)?
            .set_default("auth.refresh_token_ttl_secs", 30 * 24 * 3600)?
            .set_default("auth.login_attempts_per_account", 5)?
            .set_default("auth.login_attempts_per_address", 30)?
            .set_default("auth.login_window_secs", 300)?
            .set_default("auth.open_registration", true)?
            .set_default("quotas.storage_bytes", 10u64 * 1024 * 1024 * 1024)?
            .set_default("quotas.uploads_per_day", 1000)?
            .set_default("quotas.processing_seconds_per_day", 3600)?
            .set_default("log.format", "json")?
            .set_default("log.level", "info")?;
        let file = file
            .or_else(|| std::env::var_os("TESSERA_CONFIG").map(PathBuf::from))
            .or_else(|| {
                let p = PathBuf::from("tessera.toml");
                p.exists().then_some(p)
            });
        if let Some(f) = file {
            b = b.add_source(config::File::from(f).required(true));
        }
        b = b.add_source(
            config::Environment::with_prefix("TESSERA")
                .prefix_separator("_")
                .separator("__")
                .ignore_empty(true),
        );
        if let Ok(url) = std::env::var("DATABASE_URL") {
            if std::env::var_os("TESSERA_DATABASE__URL").is_none() && !url.is_empty() {
                b = b.set_override("database.url", url)?;
            }
        }
        let settings: Settings = b.build()?.try_deserialize()?;
        settings.check()?;
        Ok(settings)
    }

    /// Refuses configurations that would be unsafe in production.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.mode != Mode::Dev {
            let secret = self.auth.jwt_secret.expose_secret();
            if secret == DEFAULT_JWT_SECRET {
                return Err(ConfigError::Unsafe(
                    "the JWT secret is the built-in default; set TESSERA_AUTH__JWT_SECRET \
                     (or TESSERA_MODE=dev for local development)"
                        .into(),
                ));
            }
            if secret.len() < 32 {
                return Err(ConfigError::Unsafe(
                    "the JWT secret is shorter than 32 characters".into(),
                ));
            }
        }
        Ok(())
    }

    pub fn node_id(&self) -> String {
        self.node_id.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "node".into());
            format!("{host}-{}", std::process::id())
        })
    }
}
