//! A refresh-token family, stream `session-<family uuid>`: one sign-in and its rotations.
//!
//! Only sha256 hashes of tokens are stored. Every rotation retires the presented token; seeing a
//! retired token again means it was copied, so the whole family is revoked (the thief's newer
//! token dies with it).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::UsersError;
use crate::aggregate::{Aggregate, DomainEvent};
use crate::ids::UserId;

/// Revocation reason when a retired token was presented again.
pub const REVOKED_REUSE: &str = "reuse_detected";
/// Revocation reason when the user signed out.
pub const REVOKED_LOGOUT: &str = "logout";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum SessionEvent {
    #[serde(rename = "session.started")]
    Started {
        user_id: UserId,
        token_hash: String,
        expires_at: DateTime<Utc>,
        /// No refresh extends the family past this (absent: no absolute limit).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        family_expires_at: Option<DateTime<Utc>>,
        /// When the user signed in (absent in sessions started before it was recorded).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        started_at: Option<DateTime<Utc>>,
    },
    #[serde(rename = "session.refreshed")]
    Refreshed {
        token_hash: String,
        expires_at: DateTime<Utc>,
    },
    #[serde(rename = "session.revoked")]
    Revoked { reason: String },
}

impl DomainEvent for SessionEvent {}

#[derive(Debug, Clone)]
pub enum SessionCommand {
    Start {
        user_id: UserId,
        token_hash: String,
        expires_at: DateTime<Utc>,
        /// The family's absolute end: a sign-in lasts at most this long, however often it is
        /// refreshed.
        family_expires_at: Option<DateTime<Utc>>,
        started_at: Option<DateTime<Utc>>,
    },
    /// Rotate: `presented_hash` must be the current token's. A retired one revokes the family:
    /// the decision is then `[Revoked { reason: REVOKED_REUSE }]`, which the caller appends and
    /// reports as a rejection.
    Refresh {
        presented_hash: String,
        new_hash: String,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    /// Sign out with any token of the family (a retired one too: revoking is always safe).
    Logout {
        presented_hash: String,
    },
    Revoke {
        reason: String,
    },
}

/// A refresh-token family as its stream tells it.
#[derive(Debug, Clone, Default)]
pub struct Session {
    pub user_id: Option<UserId>,
    pub current_hash: Option<String>,
    pub retired_hashes: HashSet<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub family_expires_at: Option<DateTime<Utc>>,
    /// When the user signed in (`None` for sessions older than the record of it).
    pub started_at: Option<DateTime<Utc>>,
    pub revoked: Option<String>,
}

impl Session {
    fn knows(&self, hash: &str) -> bool {
        self.current_hash.as_deref() == Some(hash) || self.retired_hashes.contains(hash)
    }
}

impl Aggregate for Session {
    type Event = SessionEvent;
    type Command = SessionCommand;
    type Error = UsersError;

    fn evolve(&mut self, event: &SessionEvent) {
        match event {
            SessionEvent::Started {
                user_id,
                token_hash,
                expires_at,
                family_expires_at,
                started_at,
            } => {
                self.user_id = Some(*user_id);
                self.current_hash = Some(token_hash.clone());
                self.expires_at = Some(*expires_at);
                self.family_expires_at = *family_expires_at;
                self.started_at = *started_at;
            }
            SessionEvent::Refreshed {
                token_hash,
                expires_at,
            } => {
                if let Some(old) = self.current_hash.replace(token_hash.clone()) {
                    self.retired_hashes.insert(old);
                }
                self.expires_at = Some(*expires_at);
            }
            SessionEvent::Revoked { reason } => self.revoked = Some(reason.clone()),
        }
    }

    // Hashes are compared with `==`: they are sha256 digests of 256-bit random secrets, so timing
    // tells an attacker nothing they could use to build a matching token.
    fn decide(&self, command: SessionCommand) -> Result<Vec<SessionEvent>, UsersError> {
        if let SessionCommand::Start {
            user_id,
            token_hash,
            expires_at,
            family_expires_at,
            started_at,
        } = command
        {
            if self.user_id.is_some() {
                return Err(UsersError::SessionExists);
            }
            return Ok(vec![SessionEvent::Started {
                user_id,
                token_hash,
                expires_at: family_expires_at.map_or(expires_at, |f| f.min(expires_at)),
                family_expires_at,
                started_at,
            }]);
        }
        if self.user_id.is_none() {
            return Err(UsersError::SessionNotFound);
        }
        match command {
            SessionCommand::Start { .. } => Err(UsersError::SessionExists),
            SessionCommand::Refresh {
                presented_hash,
                new_hash,
                expires_at,
                now,
            } => {
                if let Some(reason) = &self.revoked {
                    return Err(UsersError::SessionRevoked {
                        reason: reason.clone(),
                    });
                }
                if self.current_hash.as_deref() == Some(presented_hash.as_str()) {
                    let family_over = self.family_expires_at.is_some_and(|f| f <= now);
                    if family_over || self.expires_at.is_some_and(|e| e <= now) {
                        return Err(UsersError::SessionExpired);
                    }
                    return Ok(vec![SessionEvent::Refreshed {
                        token_hash: new_hash,
                        expires_at: self
                            .family_expires_at
                            .map_or(expires_at, |f| f.min(expires_at)),
                    }]);
                }
                if self.retired_hashes.contains(&presented_hash) {
                    return Ok(vec![SessionEvent::Revoked {
                        reason: REVOKED_REUSE.into(),
                    }]);
                }
                Err(UsersError::UnknownToken)
            }
            SessionCommand::Logout { presented_hash } => {
                if !self.knows(&presented_hash) {
                    return Err(UsersError::UnknownToken);
                }
                Ok(self.revoke(REVOKED_LOGOUT))
            }
            SessionCommand::Revoke { reason } => Ok(self.revoke(&reason)),
        }
    }
}

impl Session {
    fn revoke(&self, reason: &str) -> Vec<SessionEvent> {
        if self.revoked.is_some() {
            return Vec::new();
        }
        vec![SessionEvent::Revoked {
            reason: reason.into(),
        }]
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use uuid::Uuid;

    fn apply(s: &mut Session, c: SessionCommand) -> Result<Vec<SessionEvent>, UsersError> {
        let events = s.decide(c)?;
        for e in &events {
            s.evolve(e);
        }
        Ok(events)
    }

    fn started() -> Session {
        let mut s = Session::default();
        apply(
            &mut s,
            SessionCommand::Start {
                user_id: UserId(Uuid::nil()),
                token_hash: "h1".into(),
                expires_at: Utc::now() + Duration::hours(1),
                family_expires_at: None,
                started_at: None,
            },
        )
        .expect("start");
        s
    }

    fn refresh(presented: &str, new: &str) -> SessionCommand {
        SessionCommand::Refresh {
            presented_hash: presented.into(),
            new_hash: new.into(),
            expires_at: Utc::now() + Duration::hours(1),
            now: Utc::now(),
        }
    }

    #[test]
    fn rotation_retires_the_presented_token() {
        let mut s = started();
        let e = apply(&mut s, refresh("h1", "h2")).expect("rotate");
        assert!(matches!(e[0], SessionEvent::Refreshed { .. }));
        assert_eq!(s.current_hash.as_deref(), Some("h2"));
        assert!(s.retired_hashes.contains("h1"));
    }

    #[test]
    fn a_retired_token_revokes_the_family_and_the_newest_token_dies_too() {
        let mut s = started();
        apply(&mut s, refresh("h1", "h2")).expect("rotate");
        let e = apply(&mut s, refresh("h1", "h3")).expect("decided");
        assert_eq!(
            e,
            vec![SessionEvent::Revoked {
                reason: REVOKED_REUSE.into()
            }]
        );
        assert!(matches!(
            apply(&mut s, refresh("h2", "h4")),
            Err(UsersError::SessionRevoked { .. })
        ));
    }

    #[test]
    fn expired_unknown_and_missing_families_are_refused() {
        let mut s = started();
        let later = SessionCommand::Refresh {
            presented_hash: "h1".into(),
            new_hash: "h2".into(),
            expires_at: Utc::now() + Duration::hours(3),
            now: Utc::now() + Duration::hours(2),
        };
        assert!(matches!(s.decide(later), Err(UsersError::SessionExpired)));
        assert!(matches!(
            s.decide(refresh("nope", "h2")),
            Err(UsersError::UnknownToken)
        ));
        assert!(matches!(
            Session::default().decide(refresh("h1", "h2")),
            Err(UsersError::SessionNotFound)
        ));
        assert!(apply(&mut s, SessionCommand::Revoke { reason: "x".into() }).is_ok());
    }

    #[test]
    fn logout_needs_a_token_of_the_family_and_is_idempotent() {
        let mut s = started();
        assert!(matches!(
            s.decide(SessionCommand::Logout {
                presented_hash: "other".into()
            }),
            Err(UsersError::UnknownToken)
        ));
        let e = apply(
            &mut s,
            SessionCommand::Logout {
                presented_hash: "h1".into(),
            },
        )
        .expect("logout");
        assert_eq!(e.len(), 1);
        let again = apply(
            &mut s,
            SessionCommand::Logout {
                presented_hash: "h1".into(),
            },
        )
        .expect("again");
        assert!(again.is_empty());
    }

    #[test]
    fn events_carry_their_type_names() {
        let names: Vec<String> = [
            SessionEvent::Started {
                user_id: UserId(Uuid::nil()),
                token_hash: "h".into(),
                expires_at: Utc::now(),
                family_expires_at: None,
                started_at: None,
            },
            SessionEvent::Refreshed {
                token_hash: "h".into(),
                expires_at: Utc::now(),
            },
            SessionEvent::Revoked { reason: "r".into() },
        ]
        .iter()
        .map(|e| e.encode().expect("encode").0)
        .collect();
        assert_eq!(
            names,
            ["session.started", "session.refreshed", "session.revoked"]
        );
    }

    #[test]
    fn refreshes_never_carry_a_family_past_its_absolute_end() {
        let now = Utc::now();
        let end = now + Duration::hours(2);
        let mut s = Session::default();
        let started = apply(
            &mut s,
            SessionCommand::Start {
                user_id: UserId(Uuid::nil()),
                token_hash: "h1".into(),
                expires_at: now + Duration::hours(1),
                family_expires_at: Some(end),
                started_at: None,
            },
        )
        .expect("start");
        assert_eq!(started.len(), 1);
        let refreshed = apply(
            &mut s,
            SessionCommand::Refresh {
                presented_hash: "h1".into(),
                new_hash: "h2".into(),
                expires_at: now + Duration::hours(5),
                now: now + Duration::minutes(30),
            },
        )
        .expect("refresh");
        assert_eq!(
            refreshed,
            vec![SessionEvent::Refreshed {
                token_hash: "h2".into(),
                expires_at: end,
            }]
        );
        let late = s.decide(SessionCommand::Refresh {
            presented_hash: "h2".into(),
            new_hash: "h3".into(),
            expires_at: end + Duration::hours(5),
            now: end,
        });
        assert!(matches!(late, Err(UsersError::SessionExpired)));
    }

    #[test]
    fn families_started_before_the_limit_existed_still_decode() {
        let old = serde_json::json!({
            "type": "session.started",
            "data": {"user_id": Uuid::nil(), "token_hash": "h", "expires_at": "2026-01-01T00:00:00Z"}
        });
        let e: SessionEvent = serde_json::from_value(old).expect("decode");
        assert!(matches!(
            e,
            SessionEvent::Started {
                family_expires_at: None,
                ..
            }
        ));
    }
}
