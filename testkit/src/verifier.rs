//! A token verifier for session tests: a token is a user's name.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use tessera_actors::{SessionUser, TokenVerifier};
use uuid::Uuid;

/// Tokens are user names: `alice` → the id given for `alice`; anything else is refused.
pub struct TestVerifier(pub HashMap<String, SessionUser>);

impl TestVerifier {
    /// A verifier for `(token, user id)` pairs, every user with the `user` role.
    pub fn shared(users: &[(&str, Uuid)]) -> Arc<dyn TokenVerifier> {
        Arc::new(Self(
            users
                .iter()
                .map(|(token, id)| {
                    (
                        (*token).to_owned(),
                        SessionUser {
                            user_id: *id,
                            role: "user".into(),
                            sign_in: None,
                            api_key: false,
                        },
                    )
                })
                .collect(),
        ))
    }
}

impl TokenVerifier for TestVerifier {
    fn verify(&self, token: &str) -> BoxFuture<'static, Option<SessionUser>> {
        let user = self.0.get(token).cloned();
        Box::pin(async move { user })
    }
}
