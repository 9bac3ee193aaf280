//! Signing up and in over HTTP, for tests and benchmarks that talk to a running server.

use anyhow::{Context, Result};
use serde_json::{json, Value};
use uuid::Uuid;

/// A password the policy accepts.
pub const PASSWORD: &str = "Correct-Horse-42";

/// A signed-in user's tokens.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub user_id: Uuid,
    pub access: String,
    pub refresh: String,
}

/// A JSON body for `/api/auth/register`.
pub fn registration(email: &str, password: &str) -> Value {
    json!({ "email": email, "password": password, "display_name": "Test User" })
}

/// The tokens of a `register`, `login` or `refresh` response body.
pub fn tokens_of(body: &Value) -> Result<Tokens> {
    Ok(Tokens {
        user_id: body["user_id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("no user_id in {body}"))?,
        access: body["access_token"]
            .as_str()
            .with_context(|| format!("no access_token in {body}"))?
            .to_owned(),
        refresh: body["refresh_token"]
            .as_str()
            .with_context(|| format!("no refresh_token in {body}"))?
            .to_owned(),
    })
}

async fn post(client: &reqwest::Client, url: String, body: &Value) -> Result<Tokens> {
    let reply: Value = client
        .post(url)
        .json(body)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    tokens_of(&reply)
}

/// Registers `email` on the server at `base` (`http://host:port`).
pub async fn register(
    client: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> Result<Tokens> {
    post(
        client,
        format!("{base}/api/auth/register"),
        &registration(email, password),
    )
    .await
}

/// Signs in on the server at `base`.
pub async fn login(
    client: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> Result<Tokens> {
    post(
        client,
        format!("{base}/api/auth/login"),
        &json!({ "email": email, "password": password }),
    )
    .await
}

/// A new account on the server at `base` and an API key of its own (`/v1` calls take one).
pub async fn api_key(client: &reqwest::Client, base: &str, email: &str) -> Result<String> {
    let access = register(client, base, email, "bench passphrase 12345")
        .await?
        .access;
    let created: serde_json::Value = client
        .post(format!("{base}/api/me/api-keys"))
        .bearer_auth(&access)
        .json(&json!({ "name": "bench" }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    created["key"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no key in {created}"))
}

/// A unique email address for this test run.
pub fn email(name: &str) -> String {
    format!(
        "{name}-{}@example.com",
        &Uuid::new_v4().simple().to_string()[..8]
    )
}
