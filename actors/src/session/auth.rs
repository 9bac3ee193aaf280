//! How a session learns who is on the other end. The edge implements [`TokenVerifier`] over its
//! token service; the actors only see the verified [`SessionUser`].

use futures_util::future::BoxFuture;
use serde::Serialize;
use uuid::Uuid;

/// The authenticated user behind a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionUser {
    /// The user whose events the session receives.
    pub user_id: Uuid,
    /// The user's role (`admin`, `user`).
    pub role: String,
    /// The sign-in (refresh-token family) the credential belongs to; `None` for an API key.
    /// When it ends, the socket closes.
    #[serde(skip)]
    pub sign_in: Option<Uuid>,
    /// The credential is an API key (which outlives the user's sign-ins unless they end with
    /// its keys too).
    #[serde(skip)]
    pub api_key: bool,
}

/// Checks an access token. Returns `None` for any token that must not open a session (forged,
/// expired, revoked, disabled user); the reason stays with the verifier, never goes to the client.
pub trait TokenVerifier: Send + Sync + 'static {
    /// Verifies `token`, yielding the user it stands for.
    fn verify(&self, token: &str) -> BoxFuture<'static, Option<SessionUser>>;
}
