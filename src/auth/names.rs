//! Free-text names users choose: display names and API key names.

use super::error::AuthError;

/// A display name: trimmed, 1–100 characters, no control characters.
pub fn display_name(raw: &str) -> Result<String, AuthError> {
    bounded_text(raw).map_err(|message| AuthError::InvalidField {
        field: "display_name",
        message,
    })
}

/// An API key's label: trimmed, 1–100 characters, no control characters.
pub fn api_key_name(raw: &str) -> Result<String, AuthError> {
    bounded_text(raw).map_err(|message| AuthError::InvalidField {
        field: "name",
        message,
    })
}

/// Longest name accepted, in characters.
pub const MAX_CHARS: usize = 100;

fn bounded_text(raw: &str) -> Result<String, &'static str> {
    let s = raw.trim();
    if s.is_empty() {
        return Err("must not be empty");
    }
    if s.chars().count() > MAX_CHARS {
        return Err("must be at most 100 characters");
    }
    if s.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_bounds() {
        assert_eq!(
            display_name("  Ada Lovelace ").ok().as_deref(),
            Some("Ada Lovelace")
        );
        assert!(display_name(&"é".repeat(100)).is_ok());
        assert!(display_name(&"é".repeat(101)).is_err());
        assert!(display_name("   ").is_err());
        assert!(display_name("a\u{0}b").is_err());
        assert!(matches!(
            api_key_name(""),
            Err(AuthError::InvalidField { field: "name", .. })
        ));
    }
}
