//! Users and access: accounts, email claims, refresh-token families and API keys.
//!
//! Each concept is its own stream, so the rules that must hold under concurrency (one account per
//! email, one winner per refresh) are enforced by the event store's expected versions.

mod api_key;
mod email;
mod error;
mod link;
mod roster;
mod session;
mod user;

pub use api_key::{ApiKey, ApiKeyCommand, ApiKeyEvent, Scope, DEFAULT_SCOPES};
pub use email::{EmailClaim, EmailClaimCommand, EmailClaimEvent};
pub use error::UsersError;
pub use link::{Link, LinkCommand, LinkEvent, LinkPurpose};
pub use roster::{roster_stream, AdminRoster, AdminRosterCommand, AdminRosterEvent};
pub use session::{Session, SessionCommand, SessionEvent, REVOKED_LOGOUT, REVOKED_REUSE};
pub use user::{
    Issued, PasswordHash, QuotaLimits, Role, User, UserCommand, UserEvent, ENDED_DISABLED,
    ENDED_PASSWORD_CHANGED, ENDED_PASSWORD_RESET, ENDED_SIGNED_OUT,
};

use uuid::Uuid;

use crate::aggregate::{Aggregate, CommandContext};
use crate::error::StoreError;
use crate::event::StreamId;
use crate::ids::{ApiKeyId, UserId};
use crate::store::{AppendRequest, ExpectedVersion};

/// `user-<uuid>`: the account itself.
pub fn user_stream(user_id: impl Into<UserId>) -> StreamId {
    StreamId::for_entity("user", user_id.into())
}

/// `email-<hex sha256 of the normalised email>`: who owns an address. The edge computes the
/// digest, so this crate stays free of hashing dependencies and the address never appears in a
/// stream id.
pub fn email_stream(email_sha256_hex: &str) -> Result<StreamId, StoreError> {
    let ok = email_sha256_hex.len() == 64
        && email_sha256_hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !ok {
        return Err(StoreError::Invalid(
            "email stream ids take a lowercase hex sha256 digest".into(),
        ));
    }
    Ok(StreamId::for_entity("email", email_sha256_hex))
}

/// `session-<family uuid>`: one refresh-token family (one sign-in and its rotations).
pub fn session_stream(family_id: Uuid) -> StreamId {
    StreamId::for_entity("session", family_id)
}

/// `link-<uuid>`: a one-time link (setup, password reset).
pub fn link_stream(link_id: Uuid) -> StreamId {
    StreamId::for_entity("link", link_id)
}

/// `apikey-<uuid>`.
pub fn api_key_stream(key_id: impl Into<ApiKeyId>) -> StreamId {
    StreamId::for_entity("apikey", key_id.into())
}

/// A new account: the user's first event and the claim of its email, to be appended together
/// with `append_many` so that a taken email fails the whole registration.
#[derive(Debug, Clone)]
pub struct Registration {
    pub user_id: UserId,
    pub email: String,
    pub email_sha256_hex: String,
    pub display_name: String,
    pub password_hash: PasswordHash,
    pub role: Role,
    /// A sign-up that waits for an administrator's approval.
    pub pending_approval: bool,
    /// For an admin, what the roster must be at: `Any`, or (for the first administrator) the
    /// version at which it had none, so that two first administrators cannot both be made.
    pub roster: ExpectedVersion,
}

impl Registration {
    /// The email stream of this registration (a conflict on it means the address is taken).
    pub fn email_stream(&self) -> Result<StreamId, StoreError> {
        email_stream(&self.email_sha256_hex)
    }

    /// Both appends, each expecting its stream not to exist yet; an admin also joins the roster.
    pub fn append_requests(&self, ctx: &CommandContext) -> Result<Vec<AppendRequest>, UsersError> {
        let user_events = User::default().decide(UserCommand::Register {
            user_id: self.user_id,
            email: self.email.clone(),
            display_name: self.display_name.clone(),
            password_hash: self.password_hash.clone(),
            role: self.role,
            pending_approval: self.pending_approval,
        })?;
        let claim_events = EmailClaim::default().decide(EmailClaimCommand::Claim {
            user_id: self.user_id,
        })?;
        let user = user_stream(self.user_id);
        let email = self.email_stream()?;
        let mut requests = vec![
            AppendRequest {
                events: ctx.to_event_data(&user, &user_events, Some(self.user_id))?,
                stream: user,
                expected: ExpectedVersion::NoStream,
            },
            AppendRequest {
                events: ctx.to_event_data(&email, &claim_events, Some(self.user_id))?,
                stream: email,
                expected: ExpectedVersion::NoStream,
            },
        ];
        if self.role == Role::Admin {
            // Adding can never break the last-admin rule, so it need not serialise with others,
            // unless the caller asks for it (the first administrator).
            let roster = roster_stream();
            let added = [AdminRosterEvent::Added {
                user_id: self.user_id,
            }];
            requests.push(AppendRequest {
                events: ctx.to_event_data(&roster, &added, None)?,
                stream: roster,
                expected: self.roster,
            });
        }
        Ok(requests)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_have_their_categories() {
        let id = Uuid::nil();
        assert_eq!(user_stream(id).category(), "user");
        assert_eq!(session_stream(id).category(), "session");
        assert_eq!(api_key_stream(id).category(), "apikey");
        let hex = "ab".repeat(32);
        assert_eq!(
            email_stream(&hex).map(|s| s.to_string()).ok(),
            Some(format!("email-{hex}"))
        );
    }

    #[test]
    fn email_stream_rejects_anything_but_a_hex_digest() {
        assert!(email_stream("someone@example.com").is_err());
        assert!(email_stream(&"AB".repeat(32)).is_err());
        assert!(email_stream(&"ab".repeat(31)).is_err());
    }

    #[test]
    fn registration_claims_the_email_in_the_same_command() {
        let reg = Registration {
            user_id: UserId(Uuid::now_v7()),
            email: "a@example.com".into(),
            email_sha256_hex: "0".repeat(64),
            display_name: "A".into(),
            password_hash: PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
            role: Role::User,
            pending_approval: false,
            roster: ExpectedVersion::Any,
        };
        let ctx = CommandContext::new(None);
        let reqs = reg.append_requests(&ctx).expect("requests");
        assert_eq!(reqs.len(), 2);
        assert!(reqs.iter().all(|r| r.expected == ExpectedVersion::NoStream));
        assert_eq!(reqs[0].events[0].event_type, "user.registered");
        assert_eq!(reqs[1].events[0].event_type, "email.claimed");
        assert!(reqs
            .iter()
            .all(|r| r.events[0].metadata.owner == Some(reg.user_id)));
    }
}
