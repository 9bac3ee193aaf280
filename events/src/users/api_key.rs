//! An API key, stream `apikey-<uuid>`. Only the sha256 of the key is stored.
//!
//! A key acts only within its scopes, and not past its expiry.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::UsersError;
use crate::aggregate::{Aggregate, DomainEvent};
use crate::ids::UserId;

/// What a key may do.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Reads: `GET` and `HEAD` requests, WebSocket sessions.
    Read,
    /// Every other request of the user's own (uploads, edits, chat, `/v1`).
    Write,
    /// Managing API keys (a key never grants scopes it lacks itself).
    Keys,
    /// The admin API; only an admin's key, asked for explicitly.
    Admin,
}

impl Scope {
    const ALL: [Scope; 4] = [Scope::Read, Scope::Write, Scope::Keys, Scope::Admin];

    /// The scope as the API and the read model name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Keys => "keys",
            Scope::Admin => "admin",
        }
    }

    /// The scope named `name`, if any.
    pub fn parse(name: &str) -> Option<Scope> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// The scopes of a key created without any named, and of keys from before scopes existed.
pub const DEFAULT_SCOPES: [Scope; 2] = [Scope::Read, Scope::Write];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ApiKeyEvent {
    #[serde(rename = "apikey.created")]
    Created {
        user_id: UserId,
        name: String,
        /// Hex sha256 of the whole key.
        key_hash: String,
        /// The key's first characters, shown so a user can tell their keys apart.
        prefix: String,
        /// Absent in keys created before it was recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        created_at: Option<DateTime<Utc>>,
        /// Absent in keys from before scopes: [`DEFAULT_SCOPES`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scopes: Option<Vec<Scope>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires_at: Option<DateTime<Utc>>,
    },
    #[serde(rename = "apikey.revoked")]
    Revoked {},
    #[serde(rename = "apikey.used")]
    Used { at: DateTime<Utc> },
}

impl DomainEvent for ApiKeyEvent {}

#[derive(Debug, Clone)]
pub enum ApiKeyCommand {
    Create {
        user_id: UserId,
        name: String,
        key_hash: String,
        prefix: String,
        created_at: Option<DateTime<Utc>>,
        scopes: Vec<Scope>,
        expires_at: Option<DateTime<Utc>>,
    },
    /// Revoke on behalf of `owner`; a key of someone else is "not found", never "forbidden".
    Revoke {
        owner: UserId,
    },
    MarkUsed {
        at: DateTime<Utc>,
    },
}

/// An API key as its stream tells it.
#[derive(Debug, Clone, Default)]
pub struct ApiKey {
    pub user_id: Option<UserId>,
    pub name: String,
    pub key_hash: String,
    pub prefix: String,
    pub created_at: Option<DateTime<Utc>>,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked: bool,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl Aggregate for ApiKey {
    type Event = ApiKeyEvent;
    type Command = ApiKeyCommand;
    type Error = UsersError;

    fn evolve(&mut self, event: &ApiKeyEvent) {
        match event {
            ApiKeyEvent::Created {
                user_id,
                name,
                key_hash,
                prefix,
                created_at,
                scopes,
                expires_at,
            } => {
                self.user_id = Some(*user_id);
                self.name.clone_from(name);
                self.key_hash.clone_from(key_hash);
                self.prefix.clone_from(prefix);
                self.created_at = *created_at;
                self.scopes = scopes.clone().unwrap_or_else(|| DEFAULT_SCOPES.to_vec());
                self.expires_at = *expires_at;
            }
            ApiKeyEvent::Revoked {} => self.revoked = true,
            ApiKeyEvent::Used { at } => {
                self.last_used_at = Some(self.last_used_at.map_or(*at, |l| l.max(*at)))
            }
        }
    }

    fn decide(&self, command: ApiKeyCommand) -> Result<Vec<ApiKeyEvent>, UsersError> {
        match command {
            ApiKeyCommand::Create {
                user_id,
                name,
                key_hash,
                prefix,
                created_at,
                scopes,
                expires_at,
            } => {
                if self.user_id.is_some() {
                    return Err(UsersError::ApiKeyExists);
                }
                Ok(vec![ApiKeyEvent::Created {
                    user_id,
                    name,
                    key_hash,
                    prefix,
                    created_at,
                    scopes: Some(scopes),
                    expires_at,
                }])
            }
            ApiKeyCommand::Revoke { owner } => {
                if self.user_id != Some(owner) {
                    return Err(UsersError::ApiKeyNotFound);
                }
                Ok(if self.revoked {
                    Vec::new()
                } else {
                    vec![ApiKeyEvent::Revoked {}]
                })
            }
            ApiKeyCommand::MarkUsed { at } => {
                if self.user_id.is_none() {
                    return Err(UsersError::ApiKeyNotFound);
                }
                Ok(if self.revoked {
                    Vec::new()
                } else {
                    vec![ApiKeyEvent::Used { at }]
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn created(owner: Uuid) -> ApiKey {
        let mut k = ApiKey::default();
        for e in k
            .decide(ApiKeyCommand::Create {
                user_id: UserId(owner),
                name: "ci".into(),
                key_hash: "h".into(),
                prefix: "tsk_0000".into(),
                created_at: None,
                scopes: DEFAULT_SCOPES.to_vec(),
                expires_at: None,
            })
            .expect("create")
        {
            k.evolve(&e);
        }
        k
    }

    #[test]
    fn only_the_owner_revokes_and_others_see_not_found() {
        let owner = Uuid::new_v4();
        let mut k = created(owner);
        assert!(matches!(
            k.decide(ApiKeyCommand::Revoke {
                owner: UserId(Uuid::new_v4())
            }),
            Err(UsersError::ApiKeyNotFound)
        ));
        let e = k
            .decide(ApiKeyCommand::Revoke {
                owner: UserId(owner),
            })
            .expect("revoke");
        assert_eq!(e, vec![ApiKeyEvent::Revoked {}]);
        k.evolve(&e[0]);
        assert!(k.revoked);
        assert!(k
            .decide(ApiKeyCommand::Revoke {
                owner: UserId(owner)
            })
            .expect("again")
            .is_empty());
        assert!(k
            .decide(ApiKeyCommand::MarkUsed { at: Utc::now() })
            .expect("used after revoke")
            .is_empty());
    }

    #[test]
    fn last_use_never_goes_backwards() {
        let mut k = created(Uuid::nil());
        let now = Utc::now();
        k.evolve(&ApiKeyEvent::Used { at: now });
        k.evolve(&ApiKeyEvent::Used {
            at: now - chrono::Duration::minutes(5),
        });
        assert_eq!(k.last_used_at, Some(now));
    }

    #[test]
    fn events_carry_their_type_names() {
        let names: Vec<String> = [
            ApiKeyEvent::Created {
                user_id: UserId(Uuid::nil()),
                name: "n".into(),
                key_hash: "h".into(),
                prefix: "p".into(),
                created_at: None,
                scopes: Some(DEFAULT_SCOPES.to_vec()),
                expires_at: None,
            },
            ApiKeyEvent::Revoked {},
            ApiKeyEvent::Used { at: Utc::now() },
        ]
        .iter()
        .map(|e| e.encode().expect("encode").0)
        .collect();
        assert_eq!(names, ["apikey.created", "apikey.revoked", "apikey.used"]);
    }
}
