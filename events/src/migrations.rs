//! The schema migrations of the whole deployment (the `migrations/` folder), embedded.

/// Applies with `MIGRATOR.run(&pool)`; sqlx records what ran in `_sqlx_migrations`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");
