//! Layered configuration: built-in defaults, then a TOML file, then `TESSERA_…` variables
//! (`__` separates levels: `TESSERA_AUTH__JWT_SECRET`). `DATABASE_URL` and `REDIS_URL` are
//! honoured too.

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
    pub storage: crate::blob::StorageSettings,
    pub content: crate::content::ContentSettings,
    pub processing: crate::processing::ProcessingSettings,
    pub chat: crate::conversations::ChatSettings,
    pub log: LogSettings,
    pub rate_limits: RateLimitSettings,
    pub redis: RedisSettings,
    pub ws: WsSettings,
}

/// Limits of live WebSocket sessions (`/api/ws`; `docs/websocket.md` describes each).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WsSettings {
    pub heartbeat_interval_secs: u64,
    pub idle_timeout_secs: u64,
    pub auth_timeout_secs: u64,
    /// Largest client frame (or reassembled message), in bytes.
    pub max_frame_bytes: usize,
    /// Frames that may wait for a slow client before it is disconnected (`slow_consumer`).
    pub outbound_queue: usize,
    /// Sustained client messages per second and burst (token bucket), per session.
    pub messages_per_second: u32,
    pub message_burst: u32,
    /// Refused messages in a row before the session is closed (`rate_limited`).
    pub flood_close_after: u32,
}

impl WsSettings {
    /// The session actors' settings.
    pub fn session_settings(&self) -> tessera_actors::SessionSettings {
        use std::time::Duration;
        tessera_actors::SessionSettings {
            heartbeat_interval: Duration::from_secs(self.heartbeat_interval_secs.max(1)),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs.max(1)),
            auth_timeout: Duration::from_secs(self.auth_timeout_secs.max(1)),
            max_frame_bytes: self.max_frame_bytes.max(1024),
            outbound_queue: self.outbound_queue.max(1),
            messages_per_second: self.messages_per_second.max(1),
            message_burst: self.message_burst.max(1),
            flood_close_after: self.flood_close_after.max(1),
            ..tessera_actors::SessionSettings::default()
        }
    }
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
    /// The built web UI (`web/dist`); served at `/` when it holds an `index.html`.
    pub web_dir: PathBuf,
    /// Where people reach Tessera (`https://tessera.example.com`), when it is known. An
    /// `https` URL makes cookies `Secure` and sends HSTS; it is also the origin that
    /// cookie-authenticated requests must come from.
    pub public_url: Option<String>,
    /// Reverse proxies whose forwarding headers are believed (addresses or CIDR blocks, a
    /// list or one comma-separated string); empty: the socket's peer is the client.
    #[serde(deserialize_with = "list_or_commas")]
    pub trusted_proxies: Vec<String>,
}

/// A list, or one comma-separated string (as environment variables and overrides give it).
fn list_or_commas<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrCommas {
        List(Vec<String>),
        Commas(String),
    }
    Ok(match ListOrCommas::deserialize(d)? {
        ListOrCommas::List(v) => v,
        ListOrCommas::Commas(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: Option<SecretString>,
    pub max_connections: u32,
    /// Connections kept open while idle, so that a burst after a quiet spell does not wait for
    /// new ones (each costs PostgreSQL a process and its caches).
    pub min_connections: u32,
    /// Run pending migrations at start-up.
    pub migrate: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub jwt_secret: SecretString,
    /// Earlier secrets whose tokens still verify (never sign), so that a new `jwt_secret`
    /// signs no one out: keep an old one here for one access-token lifetime after rotating.
    /// A list, or one comma-separated string.
    #[serde(default, deserialize_with = "secret_list")]
    pub jwt_previous_secrets: Vec<SecretString>,
    pub jwt_issuer: String,
    /// The `aud` claim of access tokens, checked on every token.
    #[serde(default = "default_audience")]
    pub jwt_audience: String,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    /// A sign-in lasts at most this long, however often its refresh token is rotated.
    pub session_max_lifetime_secs: u64,
    /// Login attempts allowed per account from one address per window before that pair is
    /// throttled (a stranger's guesses never lock the owner out of their own address).
    pub login_attempts_per_account: u32,
    /// Failed logins allowed per client address per window.
    pub login_attempts_per_address: u32,
    pub login_window_secs: u64,
    /// Sign-ups allowed per client address per login window (0: unlimited).
    pub registrations_per_address: u32,
    /// Allow anyone to register (otherwise only admins create users).
    pub open_registration: bool,
    /// Sign-ups wait for an administrator's approval before they can sign in, and signing up
    /// answers the same whether or not the address is registered. Without it, a sign-up is
    /// signed in at once, which necessarily tells whether the address was free.
    #[serde(default = "default_true")]
    pub approve_new_accounts: bool,
    /// API keys one user may hold at once (neither revoked nor expired).
    #[serde(default = "default_max_api_keys")]
    pub max_api_keys: u32,
}

fn default_true() -> bool {
    true
}

fn default_max_api_keys() -> u32 {
    25
}

fn default_audience() -> String {
    "tessera-api".to_owned()
}

fn secret_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<SecretString>, D::Error> {
    Ok(list_or_commas(d)?
        .into_iter()
        .map(SecretString::from)
        .collect())
}

#[derive(Debug, Clone, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaDefaults {
    pub storage_bytes: u64,
    pub uploads_per_day: u32,
    pub processing_seconds_per_day: u64,
}

/// Request rate limits on `/api/*`: each class allows its limit per window, sustained, and a
/// burst of up to the limit at once. A limit of 0 turns that class off.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    pub enabled: bool,
    pub window_secs: u64,
    /// Requests per window of one signed-in user (access token).
    pub per_user: u32,
    /// Requests per window from one client address (IPv6: its /64), signed in or not.
    pub per_address: u32,
    /// Uploads (`POST /api/content`, `/api/uploads/…`) per window of one user.
    pub uploads_per_user: u32,
}

/// Redis, when configured, holds rate-limit buckets and the read-through cache, shared by every
/// node; without it both stay in process.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://[:password@]host:port[/db]`.
    pub url: Option<SecretString>,
    /// Prefix of every key, so several deployments (or test apps) can share one server.
    pub key_prefix: String,
    /// How long a cache entry lives at most (entries of old generations expire this way).
    pub cache_ttl_secs: u64,
    /// Longest wait for one Redis operation before the request goes on without it.
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    /// An `EnvFilter` directive, e.g. `info,tessera=debug`; `RUST_LOG` wins when set.
    pub level: String,
}

/// How log lines are written (`log.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable when the log goes to a terminal, JSON lines otherwise (the default).
    Auto,
    /// One JSON object per line, for log collectors.
    Json,
    /// Human-readable lines.
    Pretty,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration could not be read: {0}")]
    Load(#[from] config::ConfigError),
    #[error("refusing to start: {0}")]
    Unsafe(String),
}

/// `TESSERA_…` variables that are not configuration keys (tools and tests read them).
const NOT_CONFIG: &[&str] = &[
    "TESSERA_CONFIG",
    "TESSERA_ADMIN_PASSWORD",
    "TESSERA_CACHE_DIR",
    "TESSERA_TEST_",
    "TESSERA_BENCH_",
    "TESSERA_E2E_",
];

fn config_variables() -> config::Map<String, String> {
    std::env::vars()
        .filter(|(k, _)| !NOT_CONFIG.iter().any(|n| k.starts_with(n)))
        .collect()
}

impl Settings {
    /// Loads defaults, then `file` (or `$TESSERA_CONFIG`, or `tessera.toml` if present), then env,
    /// and refuses unsafe settings (see [`Settings::check`]).
    pub fn load(file: Option<PathBuf>) -> Result<Self, ConfigError> {
        let settings = Self::load_unchecked(file)?;
        settings.check()?;
        Ok(settings)
    }

    /// Like [`Settings::load`] without the safety check, for commands that serve nothing and
    /// issue no tokens (migrations, user and projection administration).
    pub fn load_unchecked(file: Option<PathBuf>) -> Result<Self, ConfigError> {
        let mut b = Self::defaults()?;
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
                .ignore_empty(true)
                .source(Some(config_variables())),
        );
        if let Ok(url) = std::env::var("DATABASE_URL") {
            if std::env::var_os("TESSERA_DATABASE__URL").is_none() && !url.is_empty() {
                b = b.set_override("database.url", url)?;
            }
        }
        if let Ok(url) = std::env::var("REDIS_URL") {
            if std::env::var_os("TESSERA_REDIS__URL").is_none() && !url.is_empty() {
                b = b.set_override("redis.url", url)?;
            }
        }
        Ok(b.build()?.try_deserialize()?)
    }

    /// Defaults plus the given overrides, ignoring files and the environment (tests, tools).
    pub fn with_overrides(overrides: &[(&str, &str)]) -> Result<Self, ConfigError> {
        let mut b = Self::defaults()?;
        for (k, v) in overrides {
            b = b.set_override(*k, *v)?;
        }
        let settings: Settings = b.build()?.try_deserialize()?;
        settings.check()?;
        Ok(settings)
    }

    fn defaults() -> Result<config::ConfigBuilder<config::builder::DefaultState>, ConfigError> {
        let b = crate::content::settings::defaults(config::Config::builder())?;
        let b = crate::processing::settings::defaults(b)?;
        let b = crate::conversations::settings::defaults(b)?;
        Ok(b.set_default("mode", "production")?
            .set_default("data_dir", "data")?
            .set_default("server.host", "127.0.0.1")?
            .set_default("server.port", 8080)?
            .set_default("server.workers", 0)?
            .set_default("server.json_limit", 256 * 1024)?
            .set_default("server.web_dir", "web/dist")?
            .set_default("server.trusted_proxies", Vec::<String>::new())?
            .set_default("database.max_connections", 32)?
            .set_default("database.min_connections", 4)?
            .set_default("database.migrate", true)?
            .set_default("auth.jwt_secret", DEFAULT_JWT_SECRET)?
            .set_default("auth.jwt_issuer", "tessera")?
            .set_default("auth.access_token_ttl_secs", 900)?
            .set_default("auth.refresh_token_ttl_secs", 30 * 24 * 3600)?
            .set_default("auth.session_max_lifetime_secs", 90 * 24 * 3600)?
            .set_default("auth.login_attempts_per_account", 5)?
            .set_default("auth.login_attempts_per_address", 30)?
            .set_default("auth.login_window_secs", 300)?
            .set_default("auth.registrations_per_address", 20)?
            .set_default("auth.open_registration", true)?
            .set_default("auth.approve_new_accounts", true)?
            .set_default("quotas.storage_bytes", 10u64 * 1024 * 1024 * 1024)?
            .set_default("quotas.uploads_per_day", 1000)?
            .set_default("quotas.processing_seconds_per_day", 3600)?
            .set_default("storage.backend", "fs")?
            .set_default("storage.s3.endpoint", "")?
            .set_default("storage.s3.region", "us-east-1")?
            .set_default("storage.s3.bucket", "tessera")?
            .set_default("storage.s3.access_key", "")?
            .set_default("storage.s3.secret_key", "")?
            .set_default("storage.s3.path_style", true)?
            .set_default("storage.s3.create_bucket", true)?
            .set_default("rate_limits.enabled", true)?
            .set_default("rate_limits.window_secs", 60)?
            .set_default("rate_limits.per_user", 600)?
            .set_default("rate_limits.per_address", 1200)?
            .set_default("rate_limits.uploads_per_user", 120)?
            .set_default("ws.heartbeat_interval_secs", 15)?
            .set_default("ws.idle_timeout_secs", 45)?
            .set_default("ws.auth_timeout_secs", 10)?
            .set_default("ws.max_frame_bytes", 64 * 1024)?
            .set_default("ws.outbound_queue", 256)?
            .set_default("ws.messages_per_second", 20)?
            .set_default("ws.message_burst", 40)?
            .set_default("ws.flood_close_after", 20)?
            .set_default("redis.key_prefix", "tessera")?
            .set_default("redis.cache_ttl_secs", 300)?
            .set_default("redis.timeout_ms", 500)?
            .set_default("log.format", "auto")?
            .set_default("log.level", "info,sqlx::postgres::notice=warn")?)
    }

    /// Refuses configurations that would be unsafe in production.
    pub fn check(&self) -> Result<(), ConfigError> {
        crate::client_addr::TrustedProxies::parse(&self.server.trusted_proxies)
            .map_err(|e| ConfigError::Unsafe(e.to_string()))?;
        if let Some(url) = &self.server.public_url {
            let ok = ["https://", "http://"].iter().any(|s| {
                url.strip_prefix(s)
                    .is_some_and(|host| !host.is_empty() && !host.contains(['?', '#', ' ']))
            });
            if !ok {
                return Err(ConfigError::Unsafe(format!(
                    "server.public_url {url:?} is not an http(s) URL such as https://tessera.example.com"
                )));
            }
        }
        for (id, p) in &self.chat.providers {
            crate::conversations::providers::check_provider(id, p).map_err(ConfigError::Unsafe)?;
        }
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

    /// Whether people reach this deployment over HTTPS (`server.public_url` says so).
    pub fn serves_https(&self) -> bool {
        self.server
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
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

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "0123456789abcdef0123456789abcdef-long-enough";

    #[test]
    fn the_default_secret_is_refused_outside_dev_mode() {
        let err = Settings::with_overrides(&[]).unwrap_err();
        assert!(matches!(err, ConfigError::Unsafe(m) if m.contains("TESSERA_AUTH__JWT_SECRET")));
        assert!(Settings::with_overrides(&[("mode", "dev")]).is_ok());
        assert!(Settings::with_overrides(&[("auth.jwt_secret", GOOD)]).is_ok());
    }

    #[test]
    fn a_short_secret_is_refused() {
        let err = Settings::with_overrides(&[("auth.jwt_secret", "short")]).unwrap_err();
        assert!(matches!(err, ConfigError::Unsafe(_)));
    }

    #[test]
    fn secrets_do_not_appear_in_debug_output() {
        let s = Settings::with_overrides(&[
            ("auth.jwt_secret", GOOD),
            ("database.url", "postgres://u:hunter2@db/x"),
            ("redis.url", "redis://:swordfish@cache:6379/0"),
        ])
        .unwrap();
        let printed = format!("{s:?}");
        assert!(!printed.contains(GOOD));
        assert!(!printed.contains("hunter2"));
        assert!(!printed.contains("swordfish"));
    }

    #[test]
    fn websocket_limits_default_to_the_sessions_own_and_can_be_set() {
        let s = Settings::load_unchecked(None).unwrap();
        assert_eq!(
            s.ws.session_settings(),
            tessera_actors::SessionSettings::default()
        );
        let s = Settings::with_overrides(&[
            ("mode", "dev"),
            ("ws.messages_per_second", "5"),
            ("ws.outbound_queue", "32"),
        ])
        .unwrap();
        let session = s.ws.session_settings();
        assert_eq!(
            (session.messages_per_second, session.outbound_queue),
            (5, 32)
        );
    }

    #[test]
    fn sign_ups_wait_for_approval_unless_turned_off() {
        let s = Settings::load_unchecked(None).unwrap();
        assert!(s.auth.open_registration && s.auth.approve_new_accounts);
        let s =
            Settings::with_overrides(&[("mode", "dev"), ("auth.approve_new_accounts", "false")])
                .unwrap();
        assert!(!s.auth.approve_new_accounts);
    }

    #[test]
    fn redis_url_is_honoured_unless_the_tessera_variable_is_set() {
        // Each test runs in its own process under nextest, so the environment is ours.
        std::env::set_var("REDIS_URL", "redis://plain:6379");
        let s = Settings::load_unchecked(None).unwrap();
        assert_eq!(
            s.redis.url.as_ref().map(|u| u.expose_secret().to_owned()),
            Some("redis://plain:6379".to_owned())
        );
        std::env::set_var("TESSERA_REDIS__URL", "redis://prefixed:6379");
        let s = Settings::load_unchecked(None).unwrap();
        assert_eq!(
            s.redis.url.as_ref().map(|u| u.expose_secret().to_owned()),
            Some("redis://prefixed:6379".to_owned())
        );
        std::env::remove_var("REDIS_URL");
        std::env::remove_var("TESSERA_REDIS__URL");
        let s = Settings::load_unchecked(None).unwrap();
        assert!(s.redis.url.is_none());
        assert!(s.rate_limits.enabled, "rate limits are on by default");
    }

    #[test]
    fn log_format_is_auto_json_or_pretty() {
        let format = |overrides: &[(&str, &str)]| {
            let mut all = vec![("mode", "dev")];
            all.extend_from_slice(overrides);
            Settings::with_overrides(&all).map(|s| s.log.format)
        };
        assert_eq!(format(&[]).unwrap(), LogFormat::Auto);
        assert_eq!(format(&[("log.format", "json")]).unwrap(), LogFormat::Json);
        assert_eq!(
            format(&[("log.format", "pretty")]).unwrap(),
            LogFormat::Pretty
        );
        assert_eq!(format(&[("log.format", "auto")]).unwrap(), LogFormat::Auto);
        assert!(matches!(
            format(&[("log.format", "fancy")]),
            Err(ConfigError::Load(_))
        ));
    }

    #[test]
    fn file_then_environment_override_defaults() {
        let dir = std::env::temp_dir().join(format!("tessera-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("tessera.toml");
        std::fs::write(
            &file,
            format!("[server]\nport = 9999\nhost = \"0.0.0.0\"\n[auth]\njwt_secret = \"{GOOD}\"\n"),
        )
        .unwrap();
        // Each test runs in its own process under nextest, so the environment is ours.
        std::env::set_var("TESSERA_SERVER__PORT", "7777");
        std::env::set_var("TESSERA_TEST_DATABASE_URL", "postgres://ignored");
        let s = Settings::load(Some(file.clone())).unwrap();
        std::env::remove_var("TESSERA_SERVER__PORT");
        assert_eq!(s.server.port, 7777, "environment wins over the file");
        assert_eq!(s.server.host, "0.0.0.0", "the file wins over defaults");
        assert_eq!(s.auth.access_token_ttl_secs, 900, "defaults fill the rest");

        std::fs::write(&file, "[server]\nprot = 1\n").unwrap();
        assert!(matches!(
            Settings::load(Some(file)),
            Err(ConfigError::Load(_))
        ));
        std::fs::remove_dir_all(dir).ok();
    }
}
