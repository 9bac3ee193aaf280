//! The words around a generated item: its title, excerpts and time codes.

use super::GenerateError;
use crate::error::ErrorCode;

/// The title asked for (checked like any title), or one made from the work.
pub(super) fn title_or(
    title: Option<String>,
    default: impl FnOnce() -> String,
) -> Result<String, GenerateError> {
    match title.map(|t| t.trim().to_owned()) {
        Some(t) => {
            tessera_events::content::validate_title(&t).map_err(|e| {
                GenerateError::invalid("title", ErrorCode::ValidationFailed, e.to_string())
            })?;
            Ok(t)
        }
        None => {
            let t: String = default()
                .chars()
                .filter(|c| !c.is_control())
                .take(tessera_events::content::MAX_TITLE_CHARS)
                .collect();
            Ok(t)
        }
    }
}

/// The first `max` characters of a text on one line, with an ellipsis when cut.
pub(super) fn excerpt(text: &str, max: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= max {
        return line;
    }
    let cut: String = line.chars().take(max).collect();
    format!("{}…", cut.trim_end())
}

/// `m:ss` (or `h:mm:ss`): the time codes the analysis' own timeline uses.
pub use tessera_actors::jobs::pipelines::statements::timecode;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_excerpts_and_time_codes() {
        assert_eq!(excerpt("one\ntwo   three", 60), "one two three");
        assert_eq!(excerpt("abcdef", 3), "abc…");
        assert!(title_or(Some("\u{0}".into()), String::new).is_err());
        assert_eq!(title_or(None, || "x".into()).unwrap(), "x");
        assert_eq!(timecode(65.4), "1:05");
        assert_eq!(timecode(3725.0), "1:02:05");
    }
}
