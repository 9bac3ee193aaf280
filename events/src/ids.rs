//! Typed ids: one newtype per kind of entity, so that a user's id cannot be passed where a content
//! item's is expected.
//!
//! Each is a transparent wrapper of a [`Uuid`]: it serialises, binds in SQL and prints exactly as
//! the bare Uuid did, so events, JSON and read models are unchanged.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
            sqlx::Type, utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(pub Uuid);

        // No `Default`: a struct deriving it would get a random id silently.
        #[allow(clippy::new_without_default)]
        impl $name {
            /// A fresh, time-ordered (v7) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// The bare Uuid, for the SQL and stream edges.
            pub const fn into_inner(self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::from_str(s).map(Self)
            }
        }

        impl PartialEq<Uuid> for $name {
            fn eq(&self, other: &Uuid) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<$name> for Uuid {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    };
}

id_newtype!(
    /// An account.
    UserId
);
id_newtype!(
    /// One item of a user's library (an upload, a note or a generated item).
    ContentId
);
id_newtype!(
    /// A chat conversation.
    ConversationId
);
id_newtype!(
    /// A processing job.
    JobId
);
id_newtype!(
    /// A user's message in a conversation.
    MessageId
);
id_newtype!(
    /// An assistant's answer in a conversation.
    AnswerId
);
id_newtype!(
    /// An API key.
    ApiKeyId
);
id_newtype!(
    /// A resumable upload session.
    UploadId
);

#[cfg(test)]
mod tests {
    use super::*;

    fn same_as_uuid<T>(wrap: fn(Uuid) -> T)
    where
        T: Serialize + for<'de> Deserialize<'de> + fmt::Display + FromStr + PartialEq + fmt::Debug,
        <T as FromStr>::Err: fmt::Debug,
    {
        let raw = Uuid::now_v7();
        let id = wrap(raw);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, serde_json::to_string(&raw).unwrap());
        assert_eq!(serde_json::from_str::<T>(&json).unwrap(), id);
        assert_eq!(id.to_string(), raw.to_string());
        assert_eq!(raw.to_string().parse::<T>().unwrap(), id);
        assert!("not-a-uuid".parse::<T>().is_err());
    }

    #[test]
    fn every_id_serialises_and_parses_like_a_bare_uuid() {
        same_as_uuid(UserId);
        same_as_uuid(ContentId);
        same_as_uuid(ConversationId);
        same_as_uuid(JobId);
        same_as_uuid(MessageId);
        same_as_uuid(AnswerId);
        same_as_uuid(ApiKeyId);
        same_as_uuid(UploadId);
    }

    #[test]
    fn ids_inside_a_payload_keep_the_wire_format() {
        #[derive(Serialize)]
        struct Typed {
            owner: UserId,
            items: Vec<ContentId>,
        }
        #[derive(Serialize)]
        struct Bare {
            owner: Uuid,
            items: Vec<Uuid>,
        }
        let (u, c) = (Uuid::new_v4(), Uuid::now_v7());
        let typed = serde_json::to_string(&Typed {
            owner: UserId(u),
            items: vec![ContentId(c)],
        })
        .unwrap();
        let bare = serde_json::to_string(&Bare {
            owner: u,
            items: vec![c],
        })
        .unwrap();
        assert_eq!(typed, bare);
    }
}
