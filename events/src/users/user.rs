//! The account stream `user-<uuid>`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::UsersError;
use crate::aggregate::{Aggregate, DomainEvent};
use crate::ids::UserId;

/// What a user may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    #[default]
    User,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "user" => Ok(Role::User),
            _ => Err(()),
        }
    }
}

/// An argon2id PHC string. Its `Debug` is redacted so a logged event never carries it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn new(phc: String) -> Self {
        Self(phc)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

/// Per-user limits an admin set; `None` means "the configured default".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaLimits {
    #[serde(default)]
    pub storage_bytes: Option<u64>,
    #[serde(default)]
    pub uploads_per_day: Option<u32>,
    #[serde(default)]
    pub processing_seconds_per_day: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum UserEvent {
    #[serde(rename = "user.registered")]
    Registered {
        user_id: UserId,
        /// Normalised (trimmed, lowercase).
        email: String,
        display_name: String,
        password_hash: PasswordHash,
        role: Role,
        /// A sign-up awaiting an administrator's approval: it cannot sign in until
        /// [`UserEvent::Approved`].
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        pending_approval: bool,
    },
    /// An administrator approved a pending sign-up.
    #[serde(rename = "user.approved")]
    Approved {},
    #[serde(rename = "user.role_changed")]
    RoleChanged { role: Role },
    // Empty struct variants (rather than unit ones) keep the payload an object, like every other.
    #[serde(rename = "user.disabled")]
    Disabled {},
    #[serde(rename = "user.enabled")]
    Enabled {},
    #[serde(rename = "user.password_changed")]
    PasswordChanged { password_hash: PasswordHash },
    /// The complete set of limits after the change (an absent one is the default).
    #[serde(rename = "user.quota_set")]
    QuotaSet(QuotaLimits),
    /// Every sign-in started until `at` ends (its refresh token and access tokens stop working),
    /// and with `api_keys` every key created until then: signing out everywhere, a password
    /// changed or reset, an account disabled. Enabling the account again brings none back.
    #[serde(rename = "user.sessions_ended")]
    SessionsEnded {
        at: DateTime<Utc>,
        /// `signed_out_everywhere`, `password_changed`, `password_reset` or `disabled`.
        reason: String,
        #[serde(default)]
        api_keys: bool,
    },
}

/// Why sessions ended (the `reason` of [`UserEvent::SessionsEnded`]).
pub const ENDED_SIGNED_OUT: &str = "signed_out_everywhere";
pub const ENDED_PASSWORD_CHANGED: &str = "password_changed";
pub const ENDED_PASSWORD_RESET: &str = "password_reset";
pub const ENDED_DISABLED: &str = "disabled";

impl DomainEvent for UserEvent {}

#[derive(Debug, Clone)]
pub enum UserCommand {
    Register {
        user_id: UserId,
        email: String,
        display_name: String,
        password_hash: PasswordHash,
        role: Role,
        pending_approval: bool,
    },
    /// Lets a pending sign-up sign in.
    Approve,
    ChangeRole(Role),
    /// Disables the account and ends its sessions and API keys as of `at`.
    Disable {
        at: DateTime<Utc>,
    },
    Enable,
    /// A new password; every session started until `at` ends (`reason`: changed or reset).
    ChangePassword {
        password_hash: PasswordHash,
        at: DateTime<Utc>,
        reason: &'static str,
    },
    /// Ends every session started until `at`.
    EndSessions {
        at: DateTime<Utc>,
    },
    SetQuota(QuotaLimits),
}

/// A credential of a user, by when it was issued (`None`: before issue times were recorded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Issued {
    /// A sign-in (refresh-token family), or an access token of one.
    Session(Option<DateTime<Utc>>),
    ApiKey(Option<DateTime<Utc>>),
}

/// An account as its stream tells it.
#[derive(Debug, Clone, Default)]
pub struct User {
    /// `None` until registered.
    pub id: Option<UserId>,
    pub email: String,
    pub display_name: String,
    pub password_hash: Option<PasswordHash>,
    pub role: Role,
    pub disabled: bool,
    /// A sign-up no administrator has approved yet.
    pub pending: bool,
    pub quota: QuotaLimits,
    /// Sessions started until then have ended.
    pub sessions_ended_at: Option<DateTime<Utc>>,
    /// API keys created until then have ended.
    pub api_keys_ended_at: Option<DateTime<Utc>>,
}

impl User {
    pub fn exists(&self) -> bool {
        self.id.is_some()
    }

    /// Whether a credential issued as `issued` still stands: not ended by a
    /// [`UserEvent::SessionsEnded`] (one of unknown issue time ends with any).
    pub fn still_valid(&self, issued: Issued) -> bool {
        let (ended, at) = match issued {
            Issued::Session(at) => (self.sessions_ended_at, at),
            Issued::ApiKey(at) => (self.api_keys_ended_at, at),
        };
        match (ended, at) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(ended), Some(at)) => at > ended,
        }
    }
}

impl Aggregate for User {
    type Event = UserEvent;
    type Command = UserCommand;
    type Error = UsersError;

    fn evolve(&mut self, event: &UserEvent) {
        match event {
            UserEvent::Registered {
                user_id,
                email,
                display_name,
                password_hash,
                role,
                pending_approval,
            } => {
                self.id = Some(*user_id);
                self.email.clone_from(email);
                self.display_name.clone_from(display_name);
                self.password_hash = Some(password_hash.clone());
                self.role = *role;
                self.pending = *pending_approval;
            }
            UserEvent::Approved {} => self.pending = false,
            UserEvent::RoleChanged { role } => self.role = *role,
            UserEvent::Disabled {} => self.disabled = true,
            UserEvent::Enabled {} => self.disabled = false,
            UserEvent::PasswordChanged { password_hash } => {
                self.password_hash = Some(password_hash.clone())
            }
            UserEvent::QuotaSet(q) => self.quota = *q,
            UserEvent::SessionsEnded { at, api_keys, .. } => {
                self.sessions_ended_at = self.sessions_ended_at.max(Some(*at));
                if *api_keys {
                    self.api_keys_ended_at = self.api_keys_ended_at.max(Some(*at));
                }
            }
        }
    }

    fn decide(&self, command: UserCommand) -> Result<Vec<UserEvent>, UsersError> {
        if let UserCommand::Register {
            user_id,
            email,
            display_name,
            password_hash,
            role,
            pending_approval,
        } = command
        {
            if self.exists() {
                return Err(UsersError::UserExists);
            }
            return Ok(vec![UserEvent::Registered {
                user_id,
                email,
                display_name,
                password_hash,
                role,
                pending_approval,
            }]);
        }
        if !self.exists() {
            return Err(UsersError::UserNotFound);
        }
        // Commands that change nothing append nothing, so repeating one is harmless.
        Ok(match command {
            UserCommand::Register { .. } => Vec::new(),
            UserCommand::Approve if self.pending => vec![UserEvent::Approved {}],
            UserCommand::ChangeRole(role) if role != self.role => {
                vec![UserEvent::RoleChanged { role }]
            }
            UserCommand::Disable { at } if !self.disabled => vec![
                UserEvent::Disabled {},
                UserEvent::SessionsEnded {
                    at,
                    reason: ENDED_DISABLED.into(),
                    api_keys: true,
                },
            ],
            UserCommand::Enable if self.disabled => vec![UserEvent::Enabled {}],
            UserCommand::ChangePassword {
                password_hash,
                at,
                reason,
            } => vec![
                UserEvent::PasswordChanged { password_hash },
                UserEvent::SessionsEnded {
                    at,
                    reason: reason.into(),
                    api_keys: false,
                },
            ],
            UserCommand::EndSessions { at } => vec![UserEvent::SessionsEnded {
                at,
                reason: ENDED_SIGNED_OUT.into(),
                api_keys: false,
            }],
            UserCommand::SetQuota(q) if q != self.quota => vec![UserEvent::QuotaSet(q)],
            _ => Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::event::RecordedEvent;
    use uuid::Uuid;

    fn registered() -> User {
        let mut u = User::default();
        let events = u
            .decide(UserCommand::Register {
                user_id: UserId(Uuid::nil()),
                email: "a@example.com".into(),
                display_name: "A".into(),
                password_hash: PasswordHash::new("phc".into()),
                role: Role::User,
                pending_approval: false,
            })
            .expect("register");
        for e in &events {
            u.evolve(e);
        }
        u
    }

    fn roundtrip(e: &UserEvent) -> UserEvent {
        let (event_type, payload) = e.encode().expect("encode");
        assert!(payload.is_object(), "{event_type} payload is an object");
        let rec = RecordedEvent {
            global_position: 1,
            event_id: Uuid::nil(),
            stream_id: "user-x".into(),
            stream_version: 1,
            event_type,
            schema_version: 1,
            payload,
            metadata: Default::default(),
            recorded_at: Utc::now(),
        };
        UserEvent::decode(&rec).expect("decode")
    }

    #[test]
    fn every_event_roundtrips_with_its_type_name() {
        let events = [
            UserEvent::Registered {
                user_id: UserId(Uuid::nil()),
                email: "a@example.com".into(),
                display_name: "A".into(),
                password_hash: PasswordHash::new("phc".into()),
                role: Role::Admin,
                pending_approval: true,
            },
            UserEvent::Approved {},
            UserEvent::RoleChanged { role: Role::User },
            UserEvent::Disabled {},
            UserEvent::Enabled {},
            UserEvent::PasswordChanged {
                password_hash: PasswordHash::new("phc2".into()),
            },
            UserEvent::QuotaSet(QuotaLimits {
                storage_bytes: Some(1),
                uploads_per_day: None,
                processing_seconds_per_day: Some(3),
            }),
            UserEvent::SessionsEnded {
                at: Utc::now(),
                reason: ENDED_SIGNED_OUT.into(),
                api_keys: false,
            },
        ];
        let names = [
            "user.registered",
            "user.approved",
            "user.role_changed",
            "user.disabled",
            "user.enabled",
            "user.password_changed",
            "user.quota_set",
            "user.sessions_ended",
        ];
        for (e, name) in events.iter().zip(names) {
            assert_eq!(e.encode().expect("encode").0, name);
            assert_eq!(&roundtrip(e), e);
        }
    }

    #[test]
    fn a_quota_with_fields_left_out_decodes_as_defaults() {
        let rec = RecordedEvent {
            global_position: 1,
            event_id: Uuid::nil(),
            stream_id: "user-x".into(),
            stream_version: 1,
            event_type: "user.quota_set".into(),
            schema_version: 1,
            payload: serde_json::json!({ "uploads_per_day": 7 }),
            metadata: Default::default(),
            recorded_at: Utc::now(),
        };
        assert_eq!(
            UserEvent::decode(&rec).expect("decode"),
            UserEvent::QuotaSet(QuotaLimits {
                uploads_per_day: Some(7),
                ..QuotaLimits::default()
            })
        );
    }

    #[test]
    fn password_hash_is_redacted_in_debug_output() {
        let e = UserEvent::PasswordChanged {
            password_hash: PasswordHash::new("$argon2id$secret".into()),
        };
        assert!(!format!("{e:?}").contains("secret"));
    }

    #[test]
    fn commands_on_a_missing_user_fail_and_registering_twice_fails() {
        assert!(matches!(
            User::default().decide(UserCommand::Disable { at: Utc::now() }),
            Err(UsersError::UserNotFound)
        ));
        let u = registered();
        assert!(matches!(
            u.decide(UserCommand::Register {
                user_id: UserId(Uuid::nil()),
                email: "b@example.com".into(),
                display_name: "B".into(),
                password_hash: PasswordHash::new("phc".into()),
                role: Role::User,
                pending_approval: false,
            }),
            Err(UsersError::UserExists)
        ));
    }

    #[test]
    fn a_pending_sign_up_is_approved_once_and_an_older_registration_reads_as_approved() {
        let mut u = User::default();
        for e in u
            .decide(UserCommand::Register {
                user_id: UserId(Uuid::nil()),
                email: "p@example.com".into(),
                display_name: "P".into(),
                password_hash: PasswordHash::new("phc".into()),
                role: Role::User,
                pending_approval: true,
            })
            .expect("register")
        {
            u.evolve(&e);
        }
        assert!(u.pending);
        let approved = u.decide(UserCommand::Approve).expect("approve");
        assert_eq!(approved, vec![UserEvent::Approved {}]);
        u.evolve(&approved[0]);
        assert!(!u.pending);
        assert!(u.decide(UserCommand::Approve).expect("again").is_empty());
        // Registrations written before approvals existed carry no flag.
        let old: UserEvent = serde_json::from_value(serde_json::json!({
            "type": "user.registered",
            "data": {"user_id": Uuid::nil(), "email": "o@example.com", "display_name": "O",
                     "password_hash": "phc", "role": "user"}
        }))
        .expect("old registration");
        assert!(matches!(
            old,
            UserEvent::Registered {
                pending_approval: false,
                ..
            }
        ));
        let (_, payload) = registered_event(false).encode().expect("encode");
        assert!(payload.get("pending_approval").is_none(), "{payload}");
    }

    fn registered_event(pending_approval: bool) -> UserEvent {
        UserEvent::Registered {
            user_id: UserId(Uuid::nil()),
            email: "a@example.com".into(),
            display_name: "A".into(),
            password_hash: PasswordHash::new("phc".into()),
            role: Role::User,
            pending_approval,
        }
    }

    #[test]
    fn ended_sessions_and_keys_stay_ended_when_the_account_comes_back() {
        let mut u = registered();
        let t = |s: i64| DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap();
        let before = Issued::Session(Some(t(0)));
        assert!(u.still_valid(before), "nothing ended yet");
        assert!(u.still_valid(Issued::Session(None)));
        let apply = |u: &mut User, c| {
            for e in u.decide(c).expect("decide") {
                u.evolve(&e);
            }
        };
        apply(&mut u, UserCommand::EndSessions { at: t(10) });
        assert!(!u.still_valid(before));
        assert!(
            !u.still_valid(Issued::Session(None)),
            "of unknown age: ended"
        );
        assert!(
            u.still_valid(Issued::Session(Some(t(11)))),
            "signed in since"
        );
        assert!(
            u.still_valid(Issued::ApiKey(Some(t(0)))),
            "keys are not sessions"
        );
        apply(&mut u, UserCommand::Disable { at: t(20) });
        apply(&mut u, UserCommand::Enable);
        assert!(!u.disabled);
        assert!(
            !u.still_valid(Issued::ApiKey(Some(t(19)))),
            "enabling brings no key back"
        );
        assert!(!u.still_valid(Issued::Session(Some(t(11)))));
        assert!(u.still_valid(Issued::ApiKey(Some(t(21)))));
        // An older end never moves the line back.
        apply(&mut u, UserCommand::EndSessions { at: t(5) });
        assert!(!u.still_valid(Issued::Session(Some(t(15)))));
    }

    #[test]
    fn repeated_commands_append_nothing() {
        let mut u = registered();
        let at = Utc::now();
        let e = u.decide(UserCommand::Disable { at }).expect("disable");
        assert_eq!(e[0], UserEvent::Disabled {});
        for e in &e {
            u.evolve(e);
        }
        assert!(u.disabled);
        assert!(u
            .decide(UserCommand::Disable { at })
            .expect("again")
            .is_empty());
        assert!(u
            .decide(UserCommand::ChangeRole(Role::User))
            .expect("same role")
            .is_empty());
        assert!(u
            .decide(UserCommand::SetQuota(QuotaLimits::default()))
            .expect("same quota")
            .is_empty());
        let e = u.decide(UserCommand::Enable).expect("enable");
        u.evolve(&e[0]);
        assert!(!u.disabled);
    }
}
