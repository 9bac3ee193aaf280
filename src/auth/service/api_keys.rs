//! API keys: created, listed, revoked by their owner; verified on every request that uses one.

use std::time::{Duration, Instant};

use chrono::Utc;
use subtle::ConstantTimeEq;
use tessera_events::aggregate::execute;
use tessera_events::users::{
    api_key_stream, ApiKey, ApiKeyCommand, ApiKeyEvent, Issued, Role, Scope, DEFAULT_SCOPES,
};
use tessera_events::{ApiKeyId, ExpectedVersion, UserId};
use tessera_projections::read_models::api_keys;
use uuid::Uuid;

use super::{
    AuthMethod, AuthService, CreatedApiKey, NewApiKey, Principal, LAST_USED_EVERY, STATUS_MAX_AGE,
};
use crate::auth::error::AuthError;
use crate::auth::scopes::Scopes;
use crate::auth::{names, tokens};

impl AuthService {
    /// Creates an API key for the caller `by`. The returned key is the only copy there will
    /// ever be.
    ///
    /// No scope means [`DEFAULT_SCOPES`]; `admin` only for an admin. A key may create keys only
    /// with the `keys` scope, and never with a scope it lacks itself. At most
    /// `auth.max_api_keys` are in force at once.
    #[tracing::instrument(name = "auth.api_key.create", skip_all, fields(user_id = %by.user_id))]
    pub async fn create_api_key(
        &self,
        by: Principal,
        new: NewApiKey,
    ) -> Result<CreatedApiKey, AuthError> {
        let user_id = by.user_id.0;
        let name = names::api_key_name(&new.name)?;
        let scopes = if new.scopes.is_empty() {
            Scopes::of(&DEFAULT_SCOPES)
        } else {
            Scopes::of(&new.scopes)
        };
        if let AuthMethod::ApiKey { scopes: own, .. } = by.method {
            if !own.contains(Scope::Keys) {
                return Err(AuthError::InsufficientScope("keys"));
            }
            if !own.covers(scopes) {
                return Err(AuthError::InsufficientScope("every scope it gives"));
            }
        }
        if scopes.contains(Scope::Admin) && by.role != Role::Admin {
            return Err(AuthError::Forbidden);
        }
        let now = Utc::now();
        if new.expires_at.is_some_and(|t| t <= now) {
            return Err(AuthError::InvalidField {
                field: "expires_at",
                message: "must be in the future",
            });
        }
        let limit = self.inner.settings.max_api_keys;
        let active = self.inner.store.api_keys_in_force(user_id, now).await?;
        if active >= u64::from(limit) {
            return Err(AuthError::TooManyApiKeys { limit });
        }
        let key = tokens::new_api_key();
        let ctx = self.context(Some(UserId(user_id)));
        execute::<ApiKey>(
            self.store(),
            &api_key_stream(key.id),
            &ctx,
            Some(UserId(user_id)),
            || ApiKeyCommand::Create {
                user_id: UserId(user_id),
                name: name.clone(),
                key_hash: key.hash.clone(),
                prefix: key.prefix.clone(),
                created_at: Some(now),
                scopes: scopes.to_vec(),
                expires_at: new.expires_at,
            },
        )
        .await?;
        tracing::info!(key_id = %key.id, scopes = ?scopes.to_vec(), "api key created");
        Ok(CreatedApiKey {
            id: key.id,
            name,
            prefix: key.prefix,
            key: key.key,
            created_at: now,
            scopes: scopes.to_vec(),
            expires_at: new.expires_at,
        })
    }

    /// The user's API keys (from the read model; revoked ones included).
    pub async fn list_api_keys(
        &self,
        user_id: UserId,
    ) -> Result<Vec<api_keys::ApiKeyRow>, AuthError> {
        Ok(api_keys::list_for_user(&self.inner.pool, user_id.0).await?)
    }

    /// Revokes one of the user's keys; someone else's key is "not found".
    #[tracing::instrument(name = "auth.api_key.revoke", skip_all, fields(%user_id, %key_id))]
    pub async fn revoke_api_key(&self, user_id: UserId, key_id: ApiKeyId) -> Result<(), AuthError> {
        let (user_id, key_id) = (user_id.0, key_id.0);
        execute::<ApiKey>(
            self.store(),
            &api_key_stream(key_id),
            &self.context(Some(UserId(user_id))),
            Some(UserId(user_id)),
            || ApiKeyCommand::Revoke {
                owner: UserId(user_id),
            },
        )
        .await?;
        self.inner.api_keys.invalidate(key_id);
        Ok(())
    }

    /// Verifies an API key against its stream (consistent: a revoked key stops at once).
    pub async fn verify_api_key(&self, key: &str) -> Result<Principal, AuthError> {
        let key_id = tokens::api_key_id(key).ok_or(AuthError::InvalidToken)?;
        let presented = tokens::sha256_hex(key);
        let state = self
            .inner
            .api_keys
            .read(
                self.store(),
                key_id,
                &api_key_stream(key_id),
                Duration::ZERO,
                |k: &ApiKey| {
                    k.user_id.map(|u| {
                        let scopes = Scopes::of(&k.scopes);
                        (
                            u,
                            k.revoked,
                            k.key_hash.clone(),
                            k.created_at,
                            scopes,
                            k.expires_at,
                        )
                    })
                },
            )
            .await?;
        let Some((user_id, revoked, stored, created_at, scopes, expires_at)) = state else {
            return Err(AuthError::InvalidToken);
        };
        if !bool::from(presented.as_bytes().ct_eq(stored.as_bytes())) || revoked {
            return Err(AuthError::InvalidToken);
        }
        if expires_at.is_some_and(|t| t <= Utc::now()) {
            return Err(AuthError::TokenExpired);
        }
        let issued = Issued::ApiKey(created_at);
        let role = self.user_access(user_id, STATUS_MAX_AGE, issued).await?;
        self.touch_api_key(key_id, user_id.into_inner());
        Ok(Principal {
            user_id,
            role,
            method: AuthMethod::ApiKey { key_id, scopes },
        })
    }

    /// Records the key's use, at most once a minute per key, without delaying the request.
    fn touch_api_key(&self, key_id: Uuid, user_id: Uuid) {
        let now = Instant::now();
        let due = match self.inner.key_last_used.entry(key_id) {
            dashmap::mapref::entry::Entry::Occupied(mut o)
                if now.duration_since(*o.get()) >= LAST_USED_EVERY =>
            {
                o.insert(now);
                true
            }
            dashmap::mapref::entry::Entry::Occupied(_) => false,
            dashmap::mapref::entry::Entry::Vacant(v) => {
                v.insert(now);
                true
            }
        };
        if !due {
            return;
        }
        let this = self.clone();
        let ctx = self.context(Some(UserId(user_id)));
        tokio::spawn(async move {
            let stream = api_key_stream(key_id);
            let events = [ApiKeyEvent::Used { at: Utc::now() }];
            let result = match ctx.to_event_data(&stream, &events, Some(UserId(user_id))) {
                Ok(data) => this
                    .store()
                    .append(&stream, ExpectedVersion::StreamExists, data)
                    .await
                    .map(|_| ()),
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                tracing::warn!(%key_id, error = %e, "recording api key use failed");
            }
        });
    }
}
