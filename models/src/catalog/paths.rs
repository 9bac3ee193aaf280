//! Where models install and where the user's catalog lives, from the environment.

use std::path::PathBuf;

/// `$TESSERA_MODELS_DIR`, else `$TESSERA_CACHE_DIR/models`, else `~/.cache/tessera/models`.
pub fn default_models_dir() -> PathBuf {
    if let Some(dir) = env_path("TESSERA_MODELS_DIR") {
        return dir;
    }
    cache_dir().join("models")
}

fn cache_dir() -> PathBuf {
    env_path("TESSERA_CACHE_DIR").unwrap_or_else(|| home().join(".cache").join("tessera"))
}

/// `$TESSERA_USER_CATALOG`, else `$XDG_CONFIG_HOME/tessera/models.toml` (or `~/.config/…`).
pub fn user_catalog_path() -> Option<PathBuf> {
    if let Some(path) = env_path("TESSERA_USER_CATALOG") {
        return Some(path);
    }
    let config = env_path("XDG_CONFIG_HOME").unwrap_or_else(|| home().join(".config"));
    Some(config.join("tessera").join("models.toml"))
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

pub(super) fn home() -> PathBuf {
    env_path("HOME").unwrap_or_else(|| PathBuf::from("."))
}
