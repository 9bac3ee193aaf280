//! The email claim stream `email-<digest>`: its first event decides who owns the address.

use serde::{Deserialize, Serialize};

use super::error::UsersError;
use crate::aggregate::{Aggregate, DomainEvent};
use crate::ids::UserId;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum EmailClaimEvent {
    #[serde(rename = "email.claimed")]
    Claimed { user_id: UserId },
}

impl DomainEvent for EmailClaimEvent {}

#[derive(Debug, Clone)]
pub enum EmailClaimCommand {
    Claim { user_id: UserId },
}

/// Which user, if any, owns an email address.
#[derive(Debug, Clone, Default)]
pub struct EmailClaim {
    pub user_id: Option<UserId>,
}

impl Aggregate for EmailClaim {
    type Event = EmailClaimEvent;
    type Command = EmailClaimCommand;
    type Error = UsersError;

    fn evolve(&mut self, event: &EmailClaimEvent) {
        match event {
            EmailClaimEvent::Claimed { user_id } => self.user_id = Some(*user_id),
        }
    }

    fn decide(&self, command: EmailClaimCommand) -> Result<Vec<EmailClaimEvent>, UsersError> {
        match command {
            EmailClaimCommand::Claim { .. } if self.user_id.is_some() => {
                Err(UsersError::EmailTaken)
            }
            EmailClaimCommand::Claim { user_id } => Ok(vec![EmailClaimEvent::Claimed { user_id }]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn an_address_is_claimed_once() {
        let mut c = EmailClaim::default();
        let e = c
            .decide(EmailClaimCommand::Claim {
                user_id: UserId(Uuid::nil()),
            })
            .expect("first claim");
        assert_eq!(e[0].encode().expect("encode").0, "email.claimed");
        c.evolve(&e[0]);
        assert!(matches!(
            c.decide(EmailClaimCommand::Claim {
                user_id: UserId(Uuid::new_v4())
            }),
            Err(UsersError::EmailTaken)
        ));
    }
}
