//! The roster of active administrators: one stream (`admins-roster`) that every change to who can
//! administer goes through, so "never remove the last active admin" is decided on the log, with an
//! expected version, instead of on a read model that may lag.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, DomainEvent};
use crate::event::StreamId;

use super::error::UsersError;
use crate::ids::UserId;

/// The single roster stream.
pub fn roster_stream() -> StreamId {
    StreamId::for_entity("admins", "roster")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum AdminRosterEvent {
    /// The user became an active admin (promoted, created as admin, or re-enabled as admin).
    #[serde(rename = "admins.added")]
    Added { user_id: UserId },
    /// The user stopped being an active admin (demoted or disabled).
    #[serde(rename = "admins.removed")]
    Removed { user_id: UserId },
}

impl DomainEvent for AdminRosterEvent {}

pub enum AdminRosterCommand {
    Add(UserId),
    Remove(UserId),
}

/// Who can administer right now.
#[derive(Debug, Clone, Default)]
pub struct AdminRoster {
    pub active: BTreeSet<UserId>,
}

impl Aggregate for AdminRoster {
    type Event = AdminRosterEvent;
    type Command = AdminRosterCommand;
    type Error = UsersError;

    fn evolve(&mut self, event: &AdminRosterEvent) {
        match event {
            AdminRosterEvent::Added { user_id } => {
                self.active.insert(*user_id);
            }
            AdminRosterEvent::Removed { user_id } => {
                self.active.remove(user_id);
            }
        }
    }

    fn decide(&self, command: AdminRosterCommand) -> Result<Vec<AdminRosterEvent>, UsersError> {
        match command {
            AdminRosterCommand::Add(user_id) if !self.active.contains(&user_id) => {
                Ok(vec![AdminRosterEvent::Added { user_id }])
            }
            AdminRosterCommand::Remove(user_id) if self.active.contains(&user_id) => {
                if self.active.len() <= 1 {
                    return Err(UsersError::LastAdmin);
                }
                Ok(vec![AdminRosterEvent::Removed { user_id }])
            }
            _ => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn the_last_active_admin_cannot_be_removed() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut roster = AdminRoster::default();
        for e in roster.decide(AdminRosterCommand::Add(UserId(a))).unwrap() {
            roster.evolve(&e);
        }
        assert!(matches!(
            roster.decide(AdminRosterCommand::Remove(UserId(a))),
            Err(UsersError::LastAdmin)
        ));
        for e in roster.decide(AdminRosterCommand::Add(UserId(b))).unwrap() {
            roster.evolve(&e);
        }
        assert_eq!(
            roster
                .decide(AdminRosterCommand::Remove(UserId(a)))
                .unwrap(),
            vec![AdminRosterEvent::Removed { user_id: UserId(a) }]
        );
        // Removing someone who is not on the roster, or adding twice, changes nothing.
        assert!(roster
            .decide(AdminRosterCommand::Remove(UserId(Uuid::new_v4())))
            .unwrap()
            .is_empty());
        assert!(roster
            .decide(AdminRosterCommand::Add(UserId(b)))
            .unwrap()
            .is_empty());
    }
}
