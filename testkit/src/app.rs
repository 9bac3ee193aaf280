//! The real application, started in the test's own runtime exactly as production starts it
//! (`Application::build_with_pool` on port 0) over a fresh database, with an HTTP client and
//! helpers to sign in.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};
use tessera::auth::AuthService;
use tessera::config::Settings;
use tessera::startup::Application;
use uuid::Uuid;

use crate::db::TestDb;
use crate::signin::{registration, tokens_of, Tokens, PASSWORD};
use crate::wait::{eventually, PATIENCE};
use crate::ws::WsClient;

/// The JWT secret every test app signs with (tests craft tokens with it).
pub const SECRET: &str = "api-test-secret-api-test-secret-0123456789";
/// Quota defaults of every test app, distinct so a test can tell which one it sees.
pub const DEFAULT_STORAGE_BYTES: u64 = 1_000_000;
pub const DEFAULT_UPLOADS_PER_DAY: u64 = 77;
pub const DEFAULT_PROCESSING_SECONDS: u64 = 3_600;
/// A running application and what a test needs to talk to it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    pub port: u16,
    pub node_id: String,
    pub client: reqwest::Client,
    pub auth: AuthService,
    pub handle: actix_web::dev::ServerHandle,
    /// The node's actor tree (tests host jobs of their own under its root).
    pub tree: tessera_actors::Tree,
    /// The app's data folder (blobs, temporary files), removed with the app.
    pub data_dir: DataDir,
    /// Declared last: the database is dropped after everything that uses it (shared by the
    /// other nodes of a multi-node test).
    pub db: std::sync::Arc<TestDb>,
}

/// A fresh folder under the system's temporary directory, deleted on drop.
pub struct DataDir(pub std::path::PathBuf);

impl DataDir {
    /// Creates the folder.
    pub fn new() -> Self {
        let p = std::env::temp_dir().join(format!("tessera-test-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&p).expect("creating a test data folder");
        Self(p)
    }
}

impl Default for DataDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
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

    /// A response header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// True when the router found no route (as opposed to a route answering 404 for a resource).
    pub fn is_unknown_route(&self) -> bool {
        self.status == StatusCode::NOT_FOUND && self.body["error"]["message"] == "route not found"
    }
}

/// Starts the application on a fresh, migrated database.
/// `s` percent-encoded as a query-string value (letters and digits stay as they are).
pub fn query_value(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

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
        tessera::telemetry::init(
            tessera::config::LogFormat::Pretty,
            "info,tessera=debug,sqlx::postgres::notice=warn",
        );
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
        // Tests sign up and sign in at once; those about approval turn it on.
        ("auth.approve_new_accounts", "false"),
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
    let tree = app.tree().clone();
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
        tree,
        data_dir,
        db,
    }
}

impl TestApp {
    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// `ws://127.0.0.1:<port><path>`.
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.port)
    }

    /// A socket on `/api/ws` signed in with `token` (its `ready` frame read).
    pub async fn socket(&self, token: &str) -> WsClient {
        WsClient::signed_in(&self.ws_url("/api/ws"), token).await.0
    }

    /// A request to `path` on this app.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, path)
    }

    /// `POST path` with a JSON body.
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
            .send(self.post_json("/api/auth/register", &registration(email, PASSWORD)))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "register: {reply:?}");
        tokens_of(&reply.body).expect("tokens")
    }

    /// Logs in over HTTP (200 expected).
    pub async fn login(&self, email: &str) -> Tokens {
        let reply = self.try_login(email, PASSWORD).await;
        assert_eq!(reply.status, StatusCode::OK, "login: {reply:?}");
        tokens_of(&reply.body).expect("tokens")
    }

    /// Tries to log in over HTTP; the reply, whatever it is.
    pub async fn try_login(&self, email: &str, password: &str) -> Reply {
        self.send(self.post_json(
            "/api/auth/login",
            &json!({ "email": email, "password": password }),
        ))
        .await
    }

    /// Tries to refresh a sign-in over HTTP; the reply, whatever it is.
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
