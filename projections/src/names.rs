//! Names derived from a projection's name: its schemas and its advisory-lock keys.

use crate::error::ProjectionError;

/// Every projection's live schema is this prefix followed by its name.
pub const SCHEMA_PREFIX: &str = "rm_";
/// Suffix of the shadow schema a rebuild fills.
const SHADOW_SUFFIX: &str = "__rebuild";
/// Suffix the live schema briefly carries while a rebuild swaps it out.
const OLD_SUFFIX: &str = "__old";
/// PostgreSQL silently truncates longer identifiers, which would merge distinct names.
const MAX_IDENTIFIER: usize = 63;

/// First keys of the two-key advisory locks, one per purpose, so the per-projection second key
/// never meets other users of advisory locks (the one-key `bigint` form lives in another space).
pub(crate) const LEASE_LOCK_CLASS: i32 = 0x5445_5301;
pub(crate) const REBUILD_LOCK_CLASS: i32 = 0x5445_5302;
pub(crate) const SETUP_LOCK_CLASS: i32 = 0x5445_5303;

/// The schemas and lock key of one projection.
#[derive(Debug, Clone)]
pub(crate) struct ProjectionNames {
    pub name: &'static str,
    /// `rm_<name>`: what readers query.
    pub live: String,
    /// `rm_<name>__rebuild`: filled by a rebuild, then renamed to `live`.
    pub shadow: String,
    /// `rm_<name>__old`: the previous live schema inside the swap transaction.
    pub old: String,
    /// Second key of this projection's advisory locks.
    pub lock_key: i32,
}

impl ProjectionNames {
    pub fn new(name: &'static str) -> Result<Self, ProjectionError> {
        let invalid = |reason| ProjectionError::InvalidName {
            name: name.to_owned(),
            reason,
        };
        let mut chars = name.chars();
        if !chars.next().is_some_and(|c| c.is_ascii_lowercase()) {
            return Err(invalid("must start with a lowercase ASCII letter"));
        }
        if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            return Err(invalid(
                "only lowercase ASCII letters, digits and '_' are allowed",
            ));
        }
        // `__` is how derived schemas are told apart: `a__rebuild` must not be a live name.
        if name.contains("__") {
            return Err(invalid("must not contain '__'"));
        }
        if SCHEMA_PREFIX.len() + name.len() + SHADOW_SUFFIX.len() > MAX_IDENTIFIER {
            return Err(invalid("too long for PostgreSQL identifiers"));
        }
        let live = format!("{SCHEMA_PREFIX}{name}");
        Ok(Self {
            name,
            shadow: format!("{live}{SHADOW_SUFFIX}"),
            old: format!("{live}{OLD_SUFFIX}"),
            live,
            lock_key: lock_key(name),
        })
    }
}

/// The live schema of a projection, for read-side code that qualifies its table names.
pub fn live_schema(name: &'static str) -> Result<String, ProjectionError> {
    ProjectionNames::new(name).map(|n| n.live)
}

/// FNV-1a, computed here rather than with `hashtext` so the key is fixed by this code alone.
/// Two colliding names would share one lease, so one of them would never run: the unit test
/// below checks the names in use.
fn lock_key(name: &str) -> i32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    i32::from_ne_bytes(h.to_ne_bytes())
}

/// Quotes an identifier for interpolation into SQL (names are validated too, this is defence).
pub(crate) fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_schema_names() {
        let n = ProjectionNames::new("users").expect("valid");
        assert_eq!(n.live, "rm_users");
        assert_eq!(n.shadow, "rm_users__rebuild");
        assert_eq!(n.old, "rm_users__old");
    }

    #[test]
    fn rejects_names_that_could_clash_or_be_truncated() {
        for bad in ["", "Users", "1users", "us-ers", "a__rebuild", "us\"ers"] {
            assert!(ProjectionNames::new(bad).is_err(), "{bad:?} accepted");
        }
        let long: &'static str = "a".repeat(52).leak();
        assert!(ProjectionNames::new(long).is_err());
        let ok: &'static str = "a".repeat(51).leak();
        assert!(ProjectionNames::new(ok).is_ok());
    }

    #[test]
    fn lock_keys_are_stable_and_distinct() {
        assert_eq!(lock_key("users"), lock_key("users"));
        let names = ["users", "content", "jobs", "usage", "quotas", "search"];
        let mut keys: Vec<i32> = names.iter().map(|n| lock_key(n)).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), names.len());
    }

    #[test]
    fn quotes_identifiers() {
        assert_eq!(quote_ident("rm_x"), "\"rm_x\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
