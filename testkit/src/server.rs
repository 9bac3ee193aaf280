//! The application for benchmarks and multi-process tests: on a thread of its own, or as a
//! `tessera serve` child process.

use std::future::Future;
use std::time::Duration;

use tessera::config::Settings;
use tessera::startup::Application;

use crate::app::DataDir;
use crate::db::TestDb;
use crate::ws::WsClient;

/// An application serving on a thread of its own (see [`serve_on_thread`]).
pub struct Served<T> {
    pub port: u16,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// What `prepare` returned.
    pub value: T,
}

/// Starts the application on a fresh database (a pool of `pool_size`) in its own actix system
/// on its own thread, as `tessera serve` runs it, so that a benchmark's load generator does not
/// share its executor. Rate limits are off and logs quiet; `overrides` come on top. `prepare`
/// runs before the server accepts requests (to create users, take handles); the database lives
/// as long as the process.
pub fn serve_on_thread<T, F, Fut>(
    pool_size: u32,
    overrides: &[(&str, &str)],
    prepare: F,
) -> anyhow::Result<Served<T>>
where
    T: Send + 'static,
    F: FnOnce(&Application, sqlx::PgPool) -> Fut + Send + 'static,
    Fut: Future<Output = T>,
{
    let mut all: Vec<(String, String)> = [
        ("mode", "dev"),
        ("server.port", "0"),
        ("log.level", "warn"),
        ("rate_limits.enabled", "false"),
    ]
    .iter()
    .chain(overrides)
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    all.dedup_by(|later, earlier| later.0 == earlier.0);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let db = TestDb::with_pool_size(pool_size).await;
            let pairs: Vec<(&str, &str)> =
                all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let settings = Settings::with_overrides(&pairs).expect("settings");
            let app = Application::build_with_pool(settings, db.pool.clone())
                .await
                .expect("build app");
            let value = prepare(&app, db.pool.clone()).await;
            tx.send((app.port(), value)).expect("send port");
            let _keep = db;
            app.run_until_stopped().await.expect("server");
        });
    });
    let (port, value) = rx
        .recv_timeout(Duration::from_secs(120))
        .map_err(|e| anyhow::anyhow!("server start: {e}"))?;
    Ok(Served {
        port,
        base: format!("http://127.0.0.1:{port}"),
        value,
    })
}

/// A `tessera serve` child process on its own port and data folder; killed when dropped.
pub struct ServerProcess {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub port: u16,
    pub child: tokio::process::Child,
    /// What the process printed on stdout so far (drained as it comes, so it never blocks).
    pub printed: std::sync::Arc<std::sync::Mutex<String>>,
    _data: DataDir,
}

impl ServerProcess {
    /// Starts `binary serve` on `database_url` in dev mode without Redis, model processing or
    /// approval of sign-ups, with `env` on top, and waits until `/ready` answers.
    pub async fn start(
        binary: &str,
        database_url: &str,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let data = DataDir::new();
        let mut command = tokio::process::Command::new(binary);
        command
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("TESSERA_MODE", "dev")
            .env("TESSERA_SERVER__PORT", port.to_string())
            .env("TESSERA_DATA_DIR", &data.0)
            .env("TESSERA_LOG__LEVEL", "warn")
            .env("TESSERA_PROCESSING__ENABLED", "false")
            // Sign-ups go straight in, as the test kit's apps do.
            .env("TESSERA_AUTH__APPROVE_NEW_ACCOUNTS", "false")
            .env_remove("REDIS_URL")
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true);
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn()?;
        let printed = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        if let Some(mut stdout) = child.stdout.take() {
            let printed = printed.clone();
            tokio::spawn(async move {
                use tokio::io::AsyncReadExt as _;
                let mut buf = [0u8; 4096];
                while let Ok(n) = stdout.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut p) = printed.lock() {
                        p.push_str(&String::from_utf8_lossy(&buf[..n]));
                    }
                }
            });
        }
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let started = std::time::Instant::now();
        loop {
            if let Ok(r) = client.get(format!("{base}/ready")).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            if let Some(status) = child.try_wait()? {
                anyhow::bail!("the server exited: {status}");
            }
            if started.elapsed() > Duration::from_secs(120) {
                anyhow::bail!("the server was not ready within 120 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Self {
            base,
            port,
            child,
            printed,
            _data: data,
        })
    }

    /// `ws://127.0.0.1:<port><path>`.
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.port)
    }

    /// A socket on `/api/ws` signed in with `token` (its `ready` frame read).
    pub async fn socket(&self, token: &str) -> WsClient {
        WsClient::signed_in(&self.ws_url("/api/ws"), token).await.0
    }
}
