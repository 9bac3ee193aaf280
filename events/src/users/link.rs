//! A one-time link, stream `link-<uuid>`: the setup link that lets the first person create the
//! administrator, or a password-reset link an admin hands a user. Only the sha256 of its secret
//! is stored; it works once, until it expires.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::UsersError;
use crate::aggregate::{Aggregate, DomainEvent};
use crate::ids::UserId;

/// What a link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LinkPurpose {
    /// Create the first administrator of a fresh install.
    Setup,
    /// Set a new password for `user_id`.
    PasswordReset { user_id: UserId },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum LinkEvent {
    #[serde(rename = "link.issued")]
    Issued {
        purpose: LinkPurpose,
        /// Hex sha256 of the whole link token.
        token_hash: String,
        expires_at: DateTime<Utc>,
        /// The admin who issued it; `None` for the setup link a starting node prints.
        by: Option<UserId>,
    },
    #[serde(rename = "link.used")]
    Used { at: DateTime<Utc> },
}

impl DomainEvent for LinkEvent {}

#[derive(Debug, Clone)]
pub enum LinkCommand {
    Issue {
        purpose: LinkPurpose,
        token_hash: String,
        expires_at: DateTime<Utc>,
        by: Option<UserId>,
    },
    /// Use the link for `purpose`, presenting a token whose hash is `presented_hash`.
    Use {
        purpose: LinkPurpose,
        presented_hash: String,
        now: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, Default)]
pub struct Link {
    pub purpose: Option<LinkPurpose>,
    pub token_hash: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub used: bool,
}

impl Link {
    /// Whether `presented_hash` opens this link for `purpose` at `now`.
    pub fn opens(&self, purpose: LinkPurpose, presented_hash: &str, now: DateTime<Utc>) -> bool {
        // Hashes of 256-bit random secrets: comparing them in plain time reveals nothing useful.
        self.purpose == Some(purpose)
            && self.token_hash == presented_hash
            && !self.used
            && self.expires_at.is_some_and(|t| t > now)
    }
}

impl Aggregate for Link {
    type Event = LinkEvent;
    type Command = LinkCommand;
    type Error = UsersError;

    fn evolve(&mut self, event: &LinkEvent) {
        match event {
            LinkEvent::Issued {
                purpose,
                token_hash,
                expires_at,
                ..
            } => {
                self.purpose = Some(*purpose);
                self.token_hash.clone_from(token_hash);
                self.expires_at = Some(*expires_at);
            }
            LinkEvent::Used { .. } => self.used = true,
        }
    }

    fn decide(&self, command: LinkCommand) -> Result<Vec<LinkEvent>, UsersError> {
        match command {
            LinkCommand::Issue {
                purpose,
                token_hash,
                expires_at,
                by,
            } => {
                if self.purpose.is_some() {
                    return Err(UsersError::LinkInvalid);
                }
                Ok(vec![LinkEvent::Issued {
                    purpose,
                    token_hash,
                    expires_at,
                    by,
                }])
            }
            LinkCommand::Use {
                purpose,
                presented_hash,
                now,
            } => {
                if !self.opens(purpose, &presented_hash, now) {
                    return Err(UsersError::LinkInvalid);
                }
                Ok(vec![LinkEvent::Used { at: now }])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn issued(purpose: LinkPurpose, now: DateTime<Utc>) -> Link {
        let mut l = Link::default();
        for e in l
            .decide(LinkCommand::Issue {
                purpose,
                token_hash: "h".into(),
                expires_at: now + chrono::Duration::hours(1),
                by: None,
            })
            .unwrap()
        {
            l.evolve(&e);
        }
        l
    }

    #[test]
    fn a_link_opens_once_for_its_purpose_until_it_expires() {
        let now = Utc::now();
        let mut l = issued(LinkPurpose::Setup, now);
        let use_it = |l: &Link, purpose, hash: &str, at| {
            l.decide(LinkCommand::Use {
                purpose,
                presented_hash: hash.into(),
                now: at,
            })
        };
        assert!(use_it(&l, LinkPurpose::Setup, "other", now).is_err());
        let reset = LinkPurpose::PasswordReset {
            user_id: UserId(Uuid::nil()),
        };
        assert!(use_it(&l, reset, "h", now).is_err(), "another purpose");
        let later = now + chrono::Duration::hours(2);
        assert!(
            use_it(&l, LinkPurpose::Setup, "h", later).is_err(),
            "expired"
        );
        let used = use_it(&l, LinkPurpose::Setup, "h", now).unwrap();
        l.evolve(&used[0]);
        assert!(
            use_it(&l, LinkPurpose::Setup, "h", now).is_err(),
            "only once"
        );
    }
}
