//! A key's scopes as a small set, and which scope a request needs.

use actix_web::http::Method;
use tessera_events::users::Scope;

/// A set of [`Scope`]s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scopes(u8);

const ALL: [Scope; 4] = [Scope::Read, Scope::Write, Scope::Keys, Scope::Admin];

fn bit(s: Scope) -> u8 {
    match s {
        Scope::Read => 1,
        Scope::Write => 2,
        Scope::Keys => 4,
        Scope::Admin => 8,
    }
}

impl Scopes {
    pub fn of(scopes: &[Scope]) -> Self {
        Self(scopes.iter().fold(0, |acc, s| acc | bit(*s)))
    }

    pub fn contains(self, s: Scope) -> bool {
        self.0 & bit(s) != 0
    }

    /// Whether every scope of `other` is in this set.
    pub fn covers(self, other: Scopes) -> bool {
        other.0 & !self.0 == 0
    }

    pub fn to_vec(self) -> Vec<Scope> {
        ALL.into_iter().filter(|s| self.contains(*s)).collect()
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// The scope a request of `method` needs: reads need `read`, anything else `write`.
pub fn needed_for(method: &Method) -> Scope {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        Scope::Read
    } else {
        Scope::Write
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_hold_what_they_were_made_of() {
        let rw = Scopes::of(&[Scope::Read, Scope::Write, Scope::Read]);
        assert!(rw.contains(Scope::Read) && rw.contains(Scope::Write));
        assert!(!rw.contains(Scope::Admin));
        assert_eq!(rw.to_vec(), [Scope::Read, Scope::Write]);
        assert!(rw.covers(Scopes::of(&[Scope::Read])));
        assert!(!rw.covers(Scopes::of(&[Scope::Read, Scope::Keys])));
        assert!(Scopes::default().is_empty());
        assert_eq!(needed_for(&Method::GET), Scope::Read);
        assert_eq!(needed_for(&Method::DELETE), Scope::Write);
    }
}
