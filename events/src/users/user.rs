//! The account stream `user-<uuid>`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::UsersError;
use crate::aggregate::{Aggregate, DomainEvent};

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
        user_id: Uuid,
        /// Normalised (trimmed, lowercase).
        email: String,
        display_name: String,
        password_hash: PasswordHash,
        role: Role,
    },
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
}

impl DomainEvent for UserEvent {}

#[derive(Debug, Clone)]
pub enum UserCommand {
    Register {
        user_id: Uuid,
        email: String,
        display_name: String,
        password_hash: PasswordHash,
        role: Role,
    },
    ChangeRole(Role),
    Disable,
    Enable,
    ChangePassword(PasswordHash),
    SetQuota(QuotaLimits),
}

/// An account as its stream tells it.
#[derive(Debug, Clone, Default)]
pub struct User {
    /// `None` until registered.
    pub id: Option<Uuid>,
    pub email: String,
    pub display_name: String,
    pub password_hash: Option<PasswordHash>,
    pub role: Role,
    pub disabled: bool,
    pub quota: QuotaLimits,
}

impl User {
    pub fn exists(&self) -> bool {
        self.id.is_some()
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
            } => {
                self.id = Some(*user_id);
                self.email.clone_from(email);
                self.display_name.clone_from(display_name);
                self.password_hash = Some(password_hash.clone());
                self.role = *role;
            }
            UserEvent::RoleChanged { role } => self.role = *role,
            UserEvent::Disabled {} => self.disabled = true,
            UserEvent::Enabled {} => self.disabled = false,
            UserEvent::PasswordChanged { password_hash } => {
                self.password_hash = Some(password_hash.clone())
            }
            UserEvent::QuotaSet(q) => self.quota = *q,
        }
    }

    fn decide(&self, command: UserCommand) -> Result<Vec<UserEvent>, UsersError> {
        if let UserCommand::Register {
            user_id,
            email,
            display_name,
            password_hash,
            role,
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
            }]);
        }
        if !self.exists() {
            return Err(UsersError::UserNotFound);
        }
        // Commands that change nothing append nothing, so repeating one is harmless.
        Ok(match command {
            UserCommand::Register { .. } => Vec::new(),
            UserCommand::ChangeRole(role) if role != self.role => {
                vec![UserEvent::RoleChanged { role }]
            }
            UserCommand::Disable if !self.disabled => vec![UserEvent::Disabled {}],
            UserCommand::Enable if self.disabled => vec![UserEvent::Enabled {}],
            UserCommand::ChangePassword(password_hash) => {
                vec![UserEvent::PasswordChanged { password_hash }]
            }
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

    fn registered() -> User {
        let mut u = User::default();
        let events = u
            .decide(UserCommand::Register {
                user_id: Uuid::nil(),
                email: "a@example.com".into(),
                display_name: "A".into(),
                password_hash: PasswordHash::new("phc".into()),
                role: Role::User,
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
                user_id: Uuid::nil(),
                email: "a@example.com".into(),
                display_name: "A".into(),
                password_hash: PasswordHash::new("phc".into()),
                role: Role::Admin,
            },
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
        ];
        let names = [
            "user.registered",
            "user.role_changed",
            "user.disabled",
            "user.enabled",
            "user.password_changed",
            "user.quota_set",
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
            User::default().decide(UserCommand::Disable),
            Err(UsersError::UserNotFound)
        ));
        let u = registered();
        assert!(matches!(
            u.decide(UserCommand::Register {
                user_id: Uuid::nil(),
                email: "b@example.com".into(),
                display_name: "B".into(),
                password_hash: PasswordHash::new("phc".into()),
                role: Role::User,
            }),
            Err(UsersError::UserExists)
        ));
    }

    #[test]
    fn repeated_commands_append_nothing() {
        let mut u = registered();
        let e = u.decide(UserCommand::Disable).expect("disable");
        assert_eq!(e, vec![UserEvent::Disabled {}]);
        u.evolve(&e[0]);
        assert!(u.disabled);
        assert!(u.decide(UserCommand::Disable).expect("again").is_empty());
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
