//! WebSocket sessions authenticate with the same credentials as HTTP requests.

use futures_util::future::BoxFuture;
use tessera_actors::{SessionUser, TokenVerifier};

use super::AuthService;

/// Verifies a session's token (access token or API key) through the [`AuthService`].
pub struct SessionVerifier(pub AuthService);

impl TokenVerifier for SessionVerifier {
    fn verify(&self, token: &str) -> BoxFuture<'static, Option<SessionUser>> {
        let auth = self.0.clone();
        let token = token.to_owned();
        Box::pin(async move {
            let principal = auth.authenticate_bearer(&token).await.ok()?;
            let (sign_in, api_key) = match principal.method {
                crate::auth::AuthMethod::AccessToken { sign_in, .. } => (sign_in, false),
                crate::auth::AuthMethod::ApiKey { .. } => (None, true),
            };
            Some(SessionUser {
                user_id: principal.user_id.into(),
                role: principal.role.as_str().to_owned(),
                sign_in,
                api_key,
            })
        })
    }
}
