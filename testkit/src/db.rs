//! Per-test databases: a migrated template is built once per schema version, and each test gets
//! `CREATE DATABASE … TEMPLATE …`, dropped again when the test ends.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Executor, PgConnection};

use tessera_events::migrations::MIGRATOR;

/// The variable that points the tests at a PostgreSQL server (with pgvector).
pub const TEST_DATABASE_URL: &str = "TESSERA_TEST_DATABASE_URL";

/// A fresh, migrated database for one test. Dropped (with force) when this value is dropped.
pub struct TestDb {
    pub pool: PgPool,
    pub name: String,
    pub options: PgConnectOptions,
    admin: PgConnectOptions,
}

fn admin_options() -> PgConnectOptions {
    let url = std::env::var(TEST_DATABASE_URL).unwrap_or_else(|_| {
        panic!(
            "{TEST_DATABASE_URL} is not set. Run the tests with `make test`, which provisions \
             PostgreSQL with pgvector, or point {TEST_DATABASE_URL} at such a server."
        )
    });
    PgConnectOptions::from_str(&url)
        .unwrap_or_else(|e| panic!("{TEST_DATABASE_URL} is not a valid URL: {e}"))
        .log_statements(tracing::log::LevelFilter::Trace)
}

fn template_name() -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for m in MIGRATOR.iter() {
        for b in m.checksum.iter().chain(m.version.to_le_bytes().iter()) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    format!("tessera_tpl_{h:016x}")
}

async fn ensure_template(admin: &PgConnectOptions) -> String {
    let name = template_name();
    let mut conn = PgConnection::connect_with(admin)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL ({TEST_DATABASE_URL}): {e}"));
    conn.execute("SELECT pg_advisory_lock(hashtext('tessera_test_template'))")
        .await
        .expect("template lock");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await
            .expect("look up template");
    if !exists {
        let building = format!("{name}_building");
        conn.execute(format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)").as_str())
            .await
            .expect("drop stale template");
        conn.execute(format!("CREATE DATABASE {building}").as_str())
            .await
            .expect("create template");
        {
            let pool = PgPool::connect_with(admin.clone().database(&building))
                .await
                .expect("connect template");
            sqlx::query("CREATE EXTENSION IF NOT EXISTS vector")
                .execute(&pool)
                .await
                .expect("pgvector must be available on the test server");
            MIGRATOR.run(&pool).await.expect("migrate template");
            pool.close().await;
        }
        conn.execute(format!("ALTER DATABASE {building} RENAME TO {name}").as_str())
            .await
            .expect("rename template");
        conn.execute(format!("ALTER DATABASE {name} IS_TEMPLATE true").as_str())
            .await
            .expect("mark template");
    }
    conn.execute("SELECT pg_advisory_unlock(hashtext('tessera_test_template'))")
        .await
        .expect("template unlock");
    name
}

impl TestDb {
    /// A new database with every migration applied.
    pub async fn new() -> Self {
        Self::with_pool_size(10).await
    }

    /// A new database whose pool holds up to `max_connections`.
    pub async fn with_pool_size(max_connections: u32) -> Self {
        let admin = admin_options();
        let template = ensure_template(&admin).await;
        let name = format!("tessera_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect_with(&admin).await.expect("connect");
        conn.execute(format!("CREATE DATABASE {name} TEMPLATE {template}").as_str())
            .await
            .expect("create test database");
        conn.close().await.ok();
        let options = admin.clone().database(&name);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .connect_with(options.clone())
            .await
            .expect("connect test database");
        Self {
            pool,
            name,
            options,
            admin,
        }
    }

    /// Another, independent pool on the same database (a second "node").
    pub async fn new_pool(&self, max_connections: u32) -> PgPool {
        PgPoolOptions::new()
            .max_connections(max_connections)
            .connect_with(self.options.clone())
            .await
            .expect("connect test database")
    }

    /// The URL of this database, for child processes.
    pub fn url(&self) -> String {
        let base = std::env::var(TEST_DATABASE_URL).expect("checked in new()");
        match base.rsplit_once('/') {
            Some((head, tail)) => {
                let query = tail
                    .split_once('?')
                    .map(|(_, q)| format!("?{q}"))
                    .unwrap_or_default();
                format!("{head}/{}{query}", self.name)
            }
            None => base,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        // Drop runs outside async context: use a thread with its own small runtime.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect_with(&admin).await {
                    let _ = conn
                        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                        .await;
                }
            });
        })
        .join();
    }
}
