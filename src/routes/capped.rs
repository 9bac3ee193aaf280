//! Lists in request bodies with a bound kept while the body is parsed.
//!
//! A `Vec<T>` field takes as many items as the body holds: a 16 MiB body of `"a",` is millions
//! of strings, each allocated before any handler could count them. A [`Capped`] list keeps its
//! first `N` items and parses the rest without keeping them (serde's `IgnoredAny`), so a hostile
//! list costs one pass over its bytes and no memory; the handler gets the items only through
//! [`Capped::into_vec`], which refuses a list that had more.

use std::fmt;
use std::marker::PhantomData;

use crate::error::ApiError;
use serde::de::{Deserialize, Deserializer, IgnoredAny, SeqAccess, Visitor};

/// A JSON list of at most `N` items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capped<T, const N: usize> {
    items: Vec<T>,
    /// The body held more than `N` items (the rest were parsed, not kept).
    more: bool,
}

impl<T, const N: usize> Default for Capped<T, N> {
    fn default() -> Self {
        Capped {
            items: Vec::new(),
            more: false,
        }
    }
}

/// A list longer than its bound: `field` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` holds more than {limit} items")]
pub struct TooMany {
    pub field: &'static str,
    pub limit: usize,
}

impl<T, const N: usize> Capped<T, N> {
    /// The items, or [`TooMany`] naming `field` when the list was longer than `N`.
    pub fn into_vec(self, field: &'static str) -> Result<Vec<T>, TooMany> {
        if self.more {
            return Err(TooMany { field, limit: N });
        }
        Ok(self.items)
    }

    /// Whether the list was longer than `N`.
    pub fn overflowed(&self) -> bool {
        self.more
    }
}

impl<T, const N: usize> From<Vec<T>> for Capped<T, N> {
    /// A list built in code: kept whole, refused by `into_vec` past `N`.
    fn from(mut items: Vec<T>) -> Self {
        let more = items.len() > N;
        items.truncate(N);
        Capped { items, more }
    }
}

/// 422 `validation_failed`, naming the list (as the domain's own limits on the same lists).
impl From<TooMany> for ApiError {
    fn from(e: TooMany) -> Self {
        ApiError::validation(e.field, e.to_string())
    }
}

impl<T, const N: usize> Capped<T, N> {
    /// Reads a list being parsed: its first `N` items kept, the rest parsed and dropped.
    pub fn read<'de, A>(mut seq: A) -> Result<Self, A::Error>
    where
        A: SeqAccess<'de>,
        T: Deserialize<'de>,
    {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(N).min(64));
        while items.len() < N {
            match seq.next_element()? {
                Some(item) => items.push(item),
                None => return Ok(Capped { items, more: false }),
            }
        }
        let mut more = false;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            more = true;
        }
        Ok(Capped { items, more })
    }
}

impl<'de, T: Deserialize<'de>, const N: usize> Deserialize<'de> for Capped<T, N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T, const N: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const N: usize> Visitor<'de> for V<T, N> {
            type Value = Capped<T, N>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a list of at most {N} items")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                Capped::read(seq)
            }
        }
        d.deserialize_seq(V::<T, N>(PhantomData))
    }
}

/// A text, or a list of at most `N` items: the shape of OpenAI's `content`, `stop` and
/// `input`, read without buffering (serde's untagged enums copy the whole value first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextOrList<T, const N: usize> {
    Text(String),
    List(Capped<T, N>),
}

impl<'de, T: Deserialize<'de>, const N: usize> Deserialize<'de> for TextOrList<T, N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T, const N: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const N: usize> Visitor<'de> for V<T, N> {
            type Value = TextOrList<T, N>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a string or a list of at most {N} items")
            }

            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(TextOrList::Text(s.to_owned()))
            }

            fn visit_string<E: serde::de::Error>(self, s: String) -> Result<Self::Value, E> {
                Ok(TextOrList::Text(s))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                Capped::read(seq).map(TextOrList::List)
            }
        }
        d.deserialize_any(V::<T, N>(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_events::ErrorCode;

    #[derive(Debug, serde::Deserialize)]
    struct Body {
        #[serde(default)]
        tags: Capped<String, 3>,
    }

    fn tags(json: &str) -> Result<Vec<String>, TooMany> {
        serde_json::from_str::<Body>(json)
            .unwrap()
            .tags
            .into_vec("tags")
    }

    #[test]
    fn a_list_within_its_bound_is_read_whole() {
        assert_eq!(tags(r#"{"tags":["a","b","c"]}"#).unwrap(), ["a", "b", "c"]);
        assert_eq!(tags(r#"{"tags":[]}"#).unwrap(), Vec::<String>::new());
        assert_eq!(tags("{}").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn a_longer_list_is_refused_naming_its_field_and_the_rest_is_not_kept() {
        let e = tags(r#"{"tags":["a","b","c","d"]}"#).unwrap_err();
        assert_eq!(
            e,
            TooMany {
                field: "tags",
                limit: 3
            }
        );
        // The items past the bound are parsed (the body must still be JSON) but not kept, and
        // their type does not matter.
        let body: Body =
            serde_json::from_str(r#"{"tags":["a","b","c",1,{"x":[2]},null]}"#).unwrap();
        assert!(body.tags.overflowed());
        assert_eq!(body.tags.items.len(), 3);
        assert!(serde_json::from_str::<Body>(r#"{"tags":["a","b","c",1,]}"#).is_err());
        // Within the bound, the items' type still holds.
        assert!(serde_json::from_str::<Body>(r#"{"tags":[1]}"#).is_err());
        let api = ApiError::from(e);
        assert_eq!(api.code, ErrorCode::ValidationFailed);
        assert_eq!(api.field.as_deref(), Some("tags"));
    }

    #[test]
    fn a_text_or_a_capped_list() {
        type Stop = TextOrList<String, 2>;
        let one: Stop = serde_json::from_str(r#""end""#).unwrap();
        assert_eq!(one, TextOrList::Text("end".into()));
        let Ok(TextOrList::List(two)) = serde_json::from_str::<Stop>(r#"["a","b"]"#) else {
            panic!("a list")
        };
        assert_eq!(two.into_vec("stop").unwrap(), ["a", "b"]);
        let Ok(TextOrList::List(three)) = serde_json::from_str::<Stop>(r#"["a","b",[1]]"#) else {
            panic!("a list")
        };
        assert!(three.overflowed());
        assert!(serde_json::from_str::<Stop>("5").is_err());
        assert!(serde_json::from_str::<Stop>(r#"{"a":1}"#).is_err());
    }

    #[test]
    fn a_million_items_cost_no_memory() {
        let json = format!(r#"{{"tags":[{}"z"]}}"#, r#""a","#.repeat(1_000_000));
        let body: Body = serde_json::from_str(&json).unwrap();
        assert!(body.tags.overflowed());
        assert_eq!(body.tags.items.len(), 3);
    }
}
