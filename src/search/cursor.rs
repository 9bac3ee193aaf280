//! A search page's cursor: how many items earlier pages showed, bound to the query, its filters
//! and its caller, so a cursor from another search, or another user's, is refused.

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tessera_events::UserId;

use super::SearchRequest;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "o")]
    pub offset: usize,
    #[serde(rename = "f")]
    pub fingerprint: String,
}

impl Cursor {
    /// What identifies a search: the caller, the query and every filter (not the page size).
    pub fn fingerprint(user: UserId, r: &SearchRequest) -> String {
        let mut h = Sha256::new();
        let key = serde_json::json!([
            user.0,
            r.text.trim(),
            r.modality.map(|m| m.as_str()),
            r.tag,
            r.from,
            r.to,
            r.item.map(|i| i.0),
            r.everyone,
            format!("{:?}", r.ranking),
        ]);
        h.update(key.to_string().as_bytes());
        h.finalize()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    pub fn encode(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// The cursor, if `s` is one given for the search with `fingerprint`.
    pub fn decode(s: &str, fingerprint: &str) -> Option<Self> {
        if s.len() > 256 {
            return None;
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .ok()?;
        let c: Cursor = serde_json::from_slice(&bytes).ok()?;
        (c.fingerprint == fingerprint && c.offset <= 10_000).then_some(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_fits_only_its_own_search() {
        let me = UserId(uuid::Uuid::from_u128(1));
        let other = UserId(uuid::Uuid::from_u128(2));
        let r = SearchRequest {
            text: "cat".into(),
            ..SearchRequest::default()
        };
        let f = Cursor::fingerprint(me, &r);
        let c = Cursor {
            offset: 20,
            fingerprint: f.clone(),
        }
        .encode();
        assert_eq!(Cursor::decode(&c, &f).map(|c| c.offset), Some(20));
        assert!(Cursor::decode(&c, &Cursor::fingerprint(other, &r)).is_none());
        let dog = SearchRequest {
            text: "dog".into(),
            ..r.clone()
        };
        assert!(Cursor::decode(&c, &Cursor::fingerprint(me, &dog)).is_none());
        assert!(Cursor::decode("not base64!", &f).is_none());
    }
}
