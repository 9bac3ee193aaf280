//! Email addresses: validated and normalised once, at the edge.

use sha2::{Digest, Sha256};

use super::error::AuthError;

/// A syntactically reasonable email address, trimmed and lowercased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// RFC 5321's limit on a forward path.
    pub const MAX_LEN: usize = 254;

    /// Validates and normalises. Deliberately stricter than RFC 5322 (no quoted local parts, no
    /// comments, ASCII only): those forms are almost never real and make addresses ambiguous.
    pub fn parse(raw: &str) -> Result<Self, AuthError> {
        let s = raw.trim().to_lowercase();
        if s.is_empty() {
            return Err(AuthError::InvalidEmail("it is empty"));
        }
        if s.len() > Self::MAX_LEN {
            return Err(AuthError::InvalidEmail("it is longer than 254 characters"));
        }
        let Some((local, domain)) = s.split_once('@') else {
            return Err(AuthError::InvalidEmail("it has no @"));
        };
        check_local(local)?;
        check_domain(domain)?;
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `@`.
    pub fn local_part(&self) -> &str {
        self.0.split_once('@').map_or(self.0.as_str(), |(l, _)| l)
    }

    /// Hex sha256 of the normalised address: the id of its claim stream.
    pub fn sha256_hex(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

fn check_local(local: &str) -> Result<(), AuthError> {
    const SPECIALS: &str = "!#$%&'*+/=?^_`{|}~.-";
    if local.is_empty() || local.len() > 64 {
        return Err(AuthError::InvalidEmail(
            "the part before @ must be 1 to 64 characters",
        ));
    }
    if !local
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || SPECIALS.contains(c))
    {
        return Err(AuthError::InvalidEmail(
            "the part before @ has a character that is not allowed",
        ));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(AuthError::InvalidEmail(
            "the part before @ has a misplaced dot",
        ));
    }
    Ok(())
}

fn check_domain(domain: &str) -> Result<(), AuthError> {
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err(AuthError::InvalidEmail("the domain needs a dot"));
    }
    for label in &labels {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(AuthError::InvalidEmail(
                "the domain is not a valid host name",
            ));
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(AuthError::InvalidEmail(
            "the domain is not a valid host name",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_whitespace() {
        let e = EmailAddress::parse("  Alice.Smith+tag@Example.COM ").expect("valid");
        assert_eq!(e.as_str(), "alice.smith+tag@example.com");
        assert_eq!(e.local_part(), "alice.smith+tag");
        assert_eq!(
            e.sha256_hex(),
            EmailAddress::parse("alice.smith+tag@example.com")
                .expect("valid")
                .sha256_hex()
        );
        assert_eq!(e.sha256_hex().len(), 64);
    }

    #[test]
    fn accepts_ordinary_addresses() {
        for ok in ["a@b.co", "x_y-z@sub.example.org", "1@xn--80ak6aa92e.com"] {
            assert!(EmailAddress::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_malformed_addresses() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        let too_long = format!("{}@{}.com", "a".repeat(60), "b".repeat(200));
        for bad in [
            "",
            "plainaddress",
            "@example.com",
            "a@",
            "a@b",
            "a@@b.com",
            "a@b@c.com",
            "a b@c.com",
            ".a@b.com",
            "a.@b.com",
            "a..b@c.com",
            "a@-b.com",
            "a@b-.com",
            "a@b..com",
            "a@b.123",
            "\"quoted\"@example.com",
            "ünï@example.com",
            "a@exa mple.com",
            long_local.as_str(),
            too_long.as_str(),
        ] {
            assert!(
                matches!(EmailAddress::parse(bad), Err(AuthError::InvalidEmail(_))),
                "{bad:?} must be rejected"
            );
        }
    }
}
