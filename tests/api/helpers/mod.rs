//! The real application, started exactly as production starts it (`Application::build_with_pool`
//! on port 0) over a fresh database, and an HTTP client with helpers to sign in.
//!
//! Each `tests/api_*.rs` file uses a different part of this module.
#![allow(dead_code)]

pub mod media;
pub mod s3;

use std::future::Future;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};
use tessera::auth::AuthService;
use tessera::config::Settings;
use tessera::startup::Application;
use tessera_events::testing::TestDb;
use uuid::Uuid;

/// The JWT secret every test app signs with (tests craft tokens with it).
pub const SECRET: &str = "api-test-secret-api-test-secret-0123456789";
/// A password the policy accepts.
pub const PASSWORD: &str = "Correct-Horse-42";
/// Quota defaults of every test app, distinct so a test can tell which one it sees.
pub const DEFAULT_STORAGE_BYTES: u64 = 1_000_000;
pub const DEFAULT_UPLOADS_PER_DAY: u64 = 77;
pub const DEFAULT_PROCESSING_SECONDS: u64 = 3_600;
/// How long anything eventually consistent may take before a test gives up.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A running application and what a test needs to talk to it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    pub port: u16,
    pub node_id: String,
    pub client: reqwest::Client,
    pub auth: AuthService,
    pub handle: actix_web::dev::ServerHandle,
    /// The app's data folder (blobs, temporary files), removed with the app.
    pub data_dir: DataDir,
    /// Declared last: the database is dropped after everything that uses it (shared by the
    /// other nodes of a multi-node test).
    pub db: std::sync::Arc<TestDb>,
}

/// A fresh folder under the system's temporary directory, deleted on drop.
pub struct DataDir(pub std::path::PathBuf);

impl DataDir {
    pub fn new() -> Self {
        let p = std::env::temp_dir().join(format!("tessera-test-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&p).expect("creating a test data folder");
        Self(p)
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A signed-in user's tokens.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub user_id: Uuid,
    pub access: String,
    pub refresh: String,
}

/// A response: status, headers and the JSON body (`Null` when empty; `{"raw": …}` when the
/// body is not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The stable error code, or `<none>`.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("<none>")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// True when the router found no route (as opposed to a route answering 404 for a resource).
    pub fn is_unknown_route(&self) -> bool {
        self.status == StatusCode::NOT_FOUND && self.body["error"]["message"] == "route not found"
    }
}

/// Starts the application on a fresh, migrated database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts the application with configuration overrides on top of the test defaults.
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    spawn_app_on(TestDb::new().await, overrides).await
}

/// Starts the application on `db` as it is (a test may have altered it first).
pub async fn spawn_app_on(db: TestDb, overrides: &[(&str, &str)]) -> TestApp {
    let pool = db.pool.clone();
    spawn_node_on(std::sync::Arc::new(db), pool, overrides).await
}

/// Starts another node of `app`'s deployment: the same database and secrets, its own pool,
/// data folder and node id.
#[allow(dead_code)]
pub async fn spawn_node_of(app: &TestApp, overrides: &[(&str, &str)]) -> TestApp {
    let pool = app.db.new_pool(10).await;
    spawn_node_on(app.db.clone(), pool, overrides).await
}

async fn spawn_node_on(
    db: std::sync::Arc<TestDb>,
    pool: sqlx::PgPool,
    overrides: &[(&str, &str)],
) -> TestApp {
    if std::env::var_os("TEST_LOG").is_some() {
        tessera::telemetry::init("pretty", "info,tessera=debug,sqlx::postgres::notice=warn");
    }
    let node_id = format!("test-node-{}", Uuid::new_v4().simple());
    // Each app its own Redis namespace (when a test gives it a Redis), as with its own database.
    let redis_prefix = format!("tessera-test-{}", Uuid::new_v4().simple());
    let data_dir = DataDir::new();
    let data_path = data_dir.0.display().to_string();
    // No web UI unless a test gives it one (a checkout may hold a build in web/dist).
    let no_ui = data_dir.0.join("no-web-ui").display().to_string();
    let storage = DEFAULT_STORAGE_BYTES.to_string();
    let uploads = DEFAULT_UPLOADS_PER_DAY.to_string();
    let processing = DEFAULT_PROCESSING_SECONDS.to_string();
    let mut all: Vec<(&str, &str)> = vec![
        ("mode", "dev"),
        ("server.host", "127.0.0.1"),
        ("server.port", "0"),
        ("data_dir", &data_path),
        ("server.web_dir", &no_ui),
        ("server.workers", "2"),
        ("node_id", &node_id),
        ("auth.jwt_secret", SECRET),
        ("quotas.storage_bytes", &storage),
        ("quotas.uploads_per_day", &uploads),
        ("quotas.processing_seconds_per_day", &processing),
        ("redis.key_prefix", &redis_prefix),
        // Only the tests about processing run models.
        ("processing.enabled", "false"),
    ];
    all.extend_from_slice(overrides);
    let settings = Settings::with_overrides(&all).expect("test settings");
    let app = Application::build_with_pool(settings, pool)
        .await
        .expect("the application starts");
    let port = app.port();
    let auth = app.auth().clone();
    let handle = app.handle();
    actix_web::rt::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(PATIENCE)
        // Under the server's 5 s keep-alive, so a pooled connection is never reused just as the
        // server closes it (a slow step between two requests would otherwise fail the second).
        .pool_idle_timeout(Duration::from_secs(2))
        .build()
        .expect("HTTP client");
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        node_id,
        client,
        auth,
        handle,
        data_dir,
        db,
    }
}

/// A JSON body for `/api/auth/register`.
pub fn registration(email: &str) -> Value {
    json!({ "email": email, "password": PASSWORD, "display_name": "Test User" })
}

/// The tokens of a `register`, `login` or `refresh` response body.
pub fn tokens_of(body: &Value) -> Tokens {
    Tokens {
        user_id: body["user_id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no user_id in {body}")),
        access: body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access_token in {body}"))
            .to_owned(),
        refresh: body["refresh_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no refresh_token in {body}"))
            .to_owned(),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// `ws://127.0.0.1:<port><path>`.
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.port)
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, path)
    }

    pub fn post_json(&self, path: &str, body: &Value) -> RequestBuilder {
        self.request(Method::POST, path).json(body)
    }

    /// Sends and reads the whole reply.
    pub async fn send(&self, request: RequestBuilder) -> Reply {
        let res = request.send().await.expect("the server answers");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.expect("the body is readable");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| json!({ "raw": String::from_utf8_lossy(&bytes) }))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// `GET path` with a bearer credential.
    pub async fn get_as(&self, path: &str, credential: &str) -> Reply {
        self.send(self.get(path).bearer_auth(credential)).await
    }

    /// `method path` with a bearer credential and an optional JSON body.
    pub async fn call_as(
        &self,
        method: Method,
        path: &str,
        credential: &str,
        body: Option<&Value>,
    ) -> Reply {
        let mut request = self.request(method, path).bearer_auth(credential);
        if let Some(body) = body {
            request = request.json(body);
        }
        self.send(request).await
    }

    /// Registers `email` over HTTP (201 expected) and returns the tokens.
    pub async fn register(&self, email: &str) -> Tokens {
        let reply = self
            .send(self.post_json("/api/auth/register", &registration(email)))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "register: {reply:?}");
        tokens_of(&reply.body)
    }

    /// Logs in over HTTP (200 expected).
    pub async fn login(&self, email: &str) -> Tokens {
        let reply = self.try_login(email, PASSWORD).await;
        assert_eq!(reply.status, StatusCode::OK, "login: {reply:?}");
        tokens_of(&reply.body)
    }

    pub async fn try_login(&self, email: &str, password: &str) -> Reply {
        self.send(self.post_json(
            "/api/auth/login",
            &json!({ "email": email, "password": password }),
        ))
        .await
    }

    pub async fn try_refresh(&self, refresh_token: &str) -> Reply {
        self.send(self.post_json(
            "/api/auth/refresh",
            &json!({ "refresh_token": refresh_token }),
        ))
        .await
    }

    /// Creates an admin the way `tessera users create-admin` does, then logs in over HTTP.
    pub async fn make_admin(&self, email: &str) -> Tokens {
        self.auth
            .create_admin(email, SecretString::from(PASSWORD), "Admin")
            .await
            .expect("create admin");
        self.login(email).await
    }

    /// Creates an API key over HTTP; returns its id and the key.
    pub async fn create_api_key(&self, access: &str, name: &str) -> (Uuid, String) {
        let reply = self
            .call_as(
                Method::POST,
                "/api/me/api-keys",
                access,
                Some(&json!({ "name": name })),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "create key: {reply:?}");
        let id = reply.body["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("key id");
        let key = reply.body["key"].as_str().expect("key").to_owned();
        (id, key)
    }

    /// Waits until every projection has applied the whole log (lag 0), as an admin sees it.
    pub async fn projections_settled(&self, admin_access: &str) -> Value {
        eventually("projections catch up with the log", || async {
            let reply = self.get_as("/api/admin/projections", admin_access).await;
            assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
            let all = reply.body["projections"].as_array()?;
            let settled = !all.is_empty()
                && all
                    .iter()
                    .all(|p| p["lag"] == 0 && p["position"] == p["head"]);
            settled.then_some(reply.body)
        })
        .await
    }
}

/// Polls `probe` until it yields a value; panics after [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_within(PATIENCE, what, probe).await
}

/// [`eventually`] with its own patience, for background work that takes longer (media tools).
pub async fn eventually_within<T, F, Fut>(patience: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The Redis that tests of the Redis-backed paths use: `TESSERA_TEST_REDIS_URL`, or else the
/// one `deploy/local/redis.sh` keeps on port 56379 (started, and installed where it is missing,
/// on first use). Panics, never skips, when there is none.
pub fn redis_url() -> String {
    static URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("TESSERA_TEST_REDIS_URL") {
            if !url.is_empty() {
                return url;
            }
        }
        let root = env!("CARGO_MANIFEST_DIR");
        let out = std::process::Command::new(format!("{root}/deploy/local/redis.sh"))
            .args(["ensure", "56379", &format!("{root}/target/redis-data")])
            .output()
            .unwrap_or_else(|e| panic!("running deploy/local/redis.sh: {e}"));
        assert!(
            out.status.success(),
            "no Redis for the tests: set TESSERA_TEST_REDIS_URL, or make \
             `deploy/local/redis.sh ensure 56379 target/redis-data` work (it needs redis-server; \
             as root it installs it):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    })
    .clone()
}

/// A unique email address for this test run.
pub fn email(name: &str) -> String {
    format!(
        "{name}-{}@example.com",
        &Uuid::new_v4().simple().to_string()[..8]
    )
}
