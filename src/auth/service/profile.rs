//! The signed-in user's profile and the quota in force for them.

use std::sync::Arc;

use tessera_events::users::{user_stream, QuotaLimits, Role, User};
use tessera_events::{Aggregate, UserId};
use tessera_projections::read_models::{profile, quotas, users};
use uuid::Uuid;

use super::{AuthService, EffectiveQuota, Profile};
use crate::auth::error::AuthError;
use crate::cache::{ProjectionEpochs, ReadThrough};

impl AuthService {
    /// Serves profiles from a read-through cache invalidated by the users and quotas projections'
    /// announcements (`GET /api/me` is the hottest read).
    pub fn enable_profile_cache(&self, epochs: Arc<ProjectionEpochs>) {
        let _ = self.inner.profiles.set(ReadThrough::new(
            epochs,
            &[users::NAME, quotas::NAME],
            100_000,
        ));
    }

    /// The user's profile with the quota in force.
    pub async fn profile(&self, user_id: UserId) -> Result<Profile, AuthError> {
        let user_id = user_id.0;
        let Some(cache) = self.inner.profiles.get() else {
            return self.read_profile(user_id).await;
        };
        if let Some(profile) = cache.get(&user_id) {
            return Ok(profile);
        }
        let token = cache.token();
        let profile = self.read_profile(user_id).await?;
        cache.put(user_id, token, profile.clone());
        Ok(profile)
    }

    async fn read_profile(&self, user_id: Uuid) -> Result<Profile, AuthError> {
        if let Some(row) = profile::get(&self.inner.pool, user_id).await? {
            let set = QuotaLimits {
                storage_bytes: row.storage_bytes.and_then(|v| u64::try_from(v).ok()),
                uploads_per_day: row.uploads_per_day.and_then(|v| u32::try_from(v).ok()),
                processing_seconds_per_day: row
                    .processing_seconds_per_day
                    .and_then(|v| u64::try_from(v).ok()),
            };
            return Ok(Profile {
                id: row.id,
                role: row.role.parse().unwrap_or(Role::User),
                email: row.email,
                display_name: row.display_name,
                created_at: row.created_at,
                updated_at: row.updated_at,
                quota: self.effective_quota(&set),
            });
        }
        // Right after registering, the read model may not have the row yet; the stream has.
        self.profile_from_stream(user_id).await
    }

    async fn profile_from_stream(&self, user_id: Uuid) -> Result<Profile, AuthError> {
        let stream = user_stream(user_id);
        let events = self.store().read_stream(&stream, 0, 10_000).await?;
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            return Err(AuthError::NotFound("user"));
        };
        let mut user = User::default();
        for e in &events {
            user.evolve(&tessera_events::DomainEvent::decode(e)?);
        }
        Ok(Profile {
            id: user_id,
            email: user.email,
            display_name: user.display_name,
            role: user.role,
            created_at: first.recorded_at,
            updated_at: last.recorded_at,
            quota: self.effective_quota(&user.quota),
        })
    }

    /// Set limits over configured defaults.
    pub fn effective_quota(&self, set: &QuotaLimits) -> EffectiveQuota {
        let d = &self.inner.quotas;
        EffectiveQuota {
            storage_bytes: set.storage_bytes.unwrap_or(d.storage_bytes),
            uploads_per_day: set.uploads_per_day.unwrap_or(d.uploads_per_day),
            processing_seconds_per_day: set
                .processing_seconds_per_day
                .unwrap_or(d.processing_seconds_per_day),
        }
    }
}
