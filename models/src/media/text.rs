//! Plain text: UTF-8 (with or without a byte-order mark), no NUL bytes, few control characters.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::{MediaError, MediaLimits, Modality, Probed};

/// How much of the file decides whether it is text at all.
const SNIFF_LEN: u64 = 64 * 1024;

pub(crate) fn probe(path: &Path, len: u64, limits: &MediaLimits) -> Result<Probed, MediaError> {
    let mut file = File::open(path)?;
    let mut head = Vec::new();
    (&mut file).take(SNIFF_LEN).read_to_end(&mut head)?;
    // Binary data with no known signature is an unsupported type, not broken text.
    if looks_binary(strip_bom(&head)) {
        return Err(MediaError::UnsupportedType(
            "the content is not a recognized media type".into(),
        ));
    }
    if len > limits.max_text_bytes {
        return Err(MediaError::TextTooLarge {
            size: len,
            limit: limits.max_text_bytes,
        });
    }
    let mut all = head;
    (&mut file)
        .take(limits.max_text_bytes.saturating_add(1))
        .read_to_end(&mut all)?;
    if all.len() as u64 > limits.max_text_bytes {
        // The file grew while being read.
        return Err(MediaError::TextTooLarge {
            size: all.len() as u64,
            limit: limits.max_text_bytes,
        });
    }
    let body = strip_bom(&all);
    if let Err(e) = std::str::from_utf8(body) {
        return Err(MediaError::InvalidText(format!(
            "not valid UTF-8 (first bad byte at offset {})",
            e.valid_up_to()
        )));
    }
    if body.contains(&0) {
        return Err(MediaError::InvalidText(
            "the text contains NUL bytes".into(),
        ));
    }
    if too_many_controls(body) {
        return Err(MediaError::InvalidText(
            "the text contains too many control characters".into(),
        ));
    }
    Ok(Probed::bare(
        Modality::Text,
        "text/plain; charset=utf-8",
        "txt",
    ))
}

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

fn looks_binary(bytes: &[u8]) -> bool {
    bytes.contains(&0) || too_many_controls(bytes)
}

/// More than 1 % C0 control characters other than tab, line feed, form feed, carriage return and
/// escape (terminal logs) is not text anyone wrote.
fn too_many_controls(bytes: &[u8]) -> bool {
    let controls = bytes
        .iter()
        .filter(|&&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0C | 0x1B)) || b == 0x7F)
        .count();
    controls * 100 > bytes.len()
}
