//! Client file names made safe to store and to send back in `Content-Disposition`.

/// The longest name kept, in bytes (common file systems' limit).
const MAX_BYTES: usize = 255;

/// Characters that reorder or hide text: a name like `invoice\u{202E}fdp.exe` must not display
/// as something else.
fn is_bidi_or_invisible(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{061C}')
}

/// Reduces a client-supplied name to its last path segment with no control, bidi or reserved
/// characters, no leading dots, at most 255 bytes (keeping the extension). `None` when nothing
/// usable is left.
pub fn sanitize(raw: &str) -> Option<String> {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && !is_bidi_or_invisible(*c))
        .map(|c| match c {
            ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c => c,
        })
        .collect();
    // Dots and spaces may alternate (". .x"): strip the whole run, not one kind after the other.
    let trimmed = cleaned
        .trim_start_matches(|c: char| c == '.' || c.is_whitespace())
        .trim_end();
    if trimmed.is_empty() {
        return None;
    }
    let kept = truncate_keeping_extension(trimmed, MAX_BYTES);
    // A cut may end on a space.
    Some(kept.trim_end().to_owned())
}

fn truncate_keeping_extension(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() && e.len() <= 16 => (s, Some(e)),
        _ => (name, None),
    };
    let room = max - ext.map_or(0, |e| e.len() + 1);
    let mut cut = room.min(stem.len());
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    match ext {
        Some(e) => format!("{}.{e}", &stem[..cut]),
        None => stem[..cut].to_owned(),
    }
}

/// A title from a file name: the name without its extension.
pub fn title_from(name: &str) -> String {
    match name.rsplit_once('.') {
        Some((stem, _)) if !stem.trim().is_empty() => stem.trim().to_owned(),
        _ => name.to_owned(),
    }
}

/// An ASCII-only stand-in for clients that do not read `filename*`.
pub fn ascii_fallback(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.trim_matches('_').is_empty() {
        "download".to_owned()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_traversal_is_reduced_to_the_last_segment() {
        assert_eq!(sanitize("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(sanitize("..\\..\\boot.ini").as_deref(), Some("boot.ini"));
        assert_eq!(sanitize("../..").as_deref(), None);
    }

    #[test]
    fn control_and_bidi_characters_are_dropped() {
        assert_eq!(sanitize("a\0b.txt").as_deref(), Some("ab.txt"));
        assert_eq!(
            sanitize("invoice\u{202E}fdp.exe").as_deref(),
            Some("invoicefdp.exe")
        );
        assert_eq!(sanitize(".hidden").as_deref(), Some("hidden"));
        assert_eq!(sanitize("  \u{200B} ").as_deref(), None);
        assert_eq!(sanitize(". .").as_deref(), None);
        assert_eq!(sanitize(" . .env").as_deref(), Some("env"));
    }

    #[test]
    fn long_names_keep_their_extension_and_char_boundaries() {
        let long = format!("{}.png", "é".repeat(5000));
        let s = sanitize(&long).unwrap();
        assert!(s.len() <= 255, "{}", s.len());
        assert!(s.ends_with(".png"));
        let no_ext = "x".repeat(10_000);
        assert_eq!(sanitize(&no_ext).unwrap().len(), 255);
    }

    #[test]
    fn ascii_fallback_has_no_quotes_or_non_ascii() {
        assert_eq!(ascii_fallback("naïve \"x\".txt"), "na_ve _x_.txt");
        assert_eq!(ascii_fallback("日本"), "download");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever a client sends, a kept name is one safe path segment that sanitising again
        /// leaves as it is.
        #[test]
        fn kept_names_are_safe_single_segments(raw in "\\PC{0,300}|[./\\\\: \u{202E}\u{0}a-z]{0,40}") {
            if let Some(name) = sanitize(&raw) {
                prop_assert!(!name.is_empty() && name.len() <= MAX_BYTES, "{name:?}");
                prop_assert!(!name.contains(['/', '\\', ':', '*', '?', '"', '<', '>', '|']), "{name:?}");
                prop_assert!(!name.starts_with('.') && name.trim() == name, "{name:?}");
                prop_assert!(!name.chars().any(|c| c.is_control() || is_bidi_or_invisible(c)), "{name:?}");
                prop_assert_eq!(sanitize(&name), Some(name.clone()));
                prop_assert!(ascii_fallback(&name).is_ascii());
            }
        }
    }
}
