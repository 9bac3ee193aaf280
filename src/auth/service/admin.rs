//! What admins do to accounts: list them, disable and enable them, change roles and quotas.

use chrono::Utc;
use tessera_events::aggregate::load;
use tessera_events::users::{
    roster_stream, user_stream, AdminRoster, AdminRosterCommand, QuotaLimits, Role, User,
    UserCommand,
};
use tessera_events::{Aggregate, AppendRequest, ExpectedVersion, UserId};
use tessera_projections::read_models::users;
use uuid::Uuid;

use super::{AuthService, UserPage, MAX_PAGE};
use crate::auth::error::AuthError;

impl AuthService {
    /// Users by id, `limit` (1..=100) at a time after the `after` cursor.
    pub async fn list_users(&self, after: Option<Uuid>, limit: u32) -> Result<UserPage, AuthError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let users = users::list(&self.inner.pool, after, i64::from(limit)).await?;
        let next_after = if users.len() == limit as usize {
            users.last().map(|u| u.id)
        } else {
            None
        };
        Ok(UserPage { users, next_after })
    }

    #[tracing::instrument(name = "auth.admin.disable", skip_all, fields(%actor, %target))]
    pub async fn disable_user(&self, actor: UserId, target: UserId) -> Result<(), AuthError> {
        self.admin_command(actor, target, || UserCommand::Disable { at: Utc::now() })
            .await
    }

    #[tracing::instrument(name = "auth.admin.enable", skip_all, fields(%actor, %target))]
    pub async fn enable_user(&self, actor: UserId, target: UserId) -> Result<(), AuthError> {
        self.admin_command(actor, target, || UserCommand::Enable)
            .await
    }

    /// Lets a sign-up that waits for approval sign in (nothing changes for any other account).
    #[tracing::instrument(name = "auth.admin.approve", skip_all, fields(%actor, %target))]
    pub async fn approve_user(&self, actor: UserId, target: UserId) -> Result<(), AuthError> {
        self.admin_command(actor, target, || UserCommand::Approve)
            .await
    }

    #[tracing::instrument(name = "auth.admin.set_role", skip_all, fields(%actor, %target, role = role.as_str()))]
    pub async fn set_role(
        &self,
        actor: UserId,
        target: UserId,
        role: Role,
    ) -> Result<(), AuthError> {
        self.admin_command(actor, target, || UserCommand::ChangeRole(role))
            .await
    }

    #[tracing::instrument(name = "auth.admin.set_quota", skip_all, fields(%actor, %target))]
    pub async fn set_quota(
        &self,
        actor: UserId,
        target: UserId,
        quota: QuotaLimits,
    ) -> Result<(), AuthError> {
        // Read models store limits as bigint.
        let too_big = |v: Option<u64>| v.is_some_and(|v| i64::try_from(v).is_err());
        if too_big(quota.storage_bytes) {
            return Err(AuthError::InvalidField {
                field: "storage_bytes",
                message: "must be at most 9223372036854775807",
            });
        }
        if too_big(quota.processing_seconds_per_day) {
            return Err(AuthError::InvalidField {
                field: "processing_seconds_per_day",
                message: "must be at most 9223372036854775807",
            });
        }
        self.admin_command(actor, target, || UserCommand::SetQuota(quota))
            .await
    }

    /// Runs an admin's command on a user. When it changes whether the user is an active admin,
    /// the roster changes in the same atomic append, with both streams' versions expected, so the
    /// last active admin can never be removed, not even by two admins acting at once.
    async fn admin_command(
        &self,
        actor: UserId,
        target: UserId,
        command: impl Fn() -> UserCommand,
    ) -> Result<(), AuthError> {
        let result = self.admin_command_once(actor.0, target.0, &command).await;
        // Whatever happened, the next check of this user reads their stream.
        self.inner.users.invalidate(target.0);
        result
    }

    async fn admin_command_once(
        &self,
        actor: Uuid,
        target: Uuid,
        command: &impl Fn() -> UserCommand,
    ) -> Result<(), AuthError> {
        let stream = user_stream(target);
        let ctx = self.context(Some(UserId(actor)));
        let mut attempts = 0;
        loop {
            attempts += 1;
            let loaded = load::<User>(self.store(), &stream).await?;
            let events = loaded.state.decide(command())?;
            if events.is_empty() {
                return Ok(());
            }
            let mut after = loaded.state.clone();
            for e in &events {
                after.evolve(e);
            }
            let is_active_admin = |u: &User| u.role == Role::Admin && !u.disabled;
            let mut requests = vec![AppendRequest {
                events: ctx.to_event_data(&stream, &events, Some(UserId(target)))?,
                stream: stream.clone(),
                expected: ExpectedVersion::Exact(loaded.version),
            }];
            match (is_active_admin(&loaded.state), is_active_admin(&after)) {
                (before, now) if before == now => {}
                (_, now) => {
                    let roster_stream = roster_stream();
                    let roster = load::<AdminRoster>(self.store(), &roster_stream).await?;
                    let change = if now {
                        AdminRosterCommand::Add(UserId(target))
                    } else {
                        AdminRosterCommand::Remove(UserId(target))
                    };
                    let roster_events = roster.state.decide(change)?;
                    if !roster_events.is_empty() {
                        requests.push(AppendRequest {
                            events: ctx.to_event_data(&roster_stream, &roster_events, None)?,
                            stream: roster_stream,
                            expected: match roster.version {
                                0 => ExpectedVersion::NoStream,
                                v => ExpectedVersion::Exact(v),
                            },
                        });
                    }
                }
            }
            match self.store().append_many(requests).await {
                Ok(_) => return Ok(()),
                Err(e) if e.is_concurrency_conflict() && attempts < 5 => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}
