//! Opaque credentials: refresh tokens and API keys. Only their sha256 is ever stored.
//!
//! - refresh token: `<family uuid>.<32 random bytes, base64url>`; the family names its stream.
//! - API key: `tsk_<key uuid, simple>_<32 random bytes, base64url>`; the uuid names its stream, so
//!   verification reads one stream instead of searching by hash.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::rngs::OsRng;
use rand::RngCore as _;
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use uuid::Uuid;

const SECRET_BYTES: usize = 32;
/// Length of 32 bytes in unpadded base64url.
const SECRET_CHARS: usize = 43;
const API_KEY_TAG: &str = "tsk_";
/// `tsk_` + 32 hex digits + `_` + the secret.
const API_KEY_LEN: usize = 4 + 32 + 1 + SECRET_CHARS;
/// How much of an API key is kept to tell keys apart: `tsk_` and 8 hex digits.
const API_KEY_PREFIX_LEN: usize = 12;

fn random_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn is_secret(s: &str) -> bool {
    s.len() == SECRET_CHARS
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Hex sha256 of a credential, as stored in events.
pub fn sha256_hex(credential: &str) -> String {
    hex::encode(Sha256::digest(credential.as_bytes()))
}

/// A new refresh token of `family`.
pub fn new_refresh_token(family: Uuid) -> SecretString {
    SecretString::from(format!("{}.{}", family.hyphenated(), random_secret()))
}

/// The family of a well-formed refresh token.
pub fn refresh_token_family(token: &str) -> Option<Uuid> {
    let (family, secret) = token.split_once('.')?;
    if family.len() != 36 || !is_secret(secret) {
        return None;
    }
    Uuid::try_parse(family).ok()
}

/// A freshly made API key, shown to its owner once.
pub struct NewKey {
    pub id: Uuid,
    pub key: SecretString,
    pub prefix: String,
    pub hash: String,
}

/// A new API key.
pub fn new_api_key() -> NewKey {
    let id = Uuid::new_v4();
    let key = format!("{API_KEY_TAG}{}_{}", id.simple(), random_secret());
    NewKey {
        id,
        prefix: key[..API_KEY_PREFIX_LEN].to_owned(),
        hash: sha256_hex(&key),
        key: SecretString::from(key),
    }
}

/// Whether a bearer credential is meant as an API key (rather than a JWT).
pub fn looks_like_api_key(credential: &str) -> bool {
    credential.starts_with(API_KEY_TAG)
}

/// The key id of a well-formed API key.
pub fn api_key_id(key: &str) -> Option<Uuid> {
    if key.len() != API_KEY_LEN || !key.starts_with(API_KEY_TAG) {
        return None;
    }
    let id = key.get(4..36)?;
    let secret = key.get(37..)?;
    if key.as_bytes().get(36) != Some(&b'_')
        || !is_secret(secret)
        || !id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    Uuid::try_parse(id).ok()
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn refresh_tokens_roundtrip_their_family() {
        let family = Uuid::new_v4();
        let t = new_refresh_token(family);
        assert_eq!(refresh_token_family(t.expose_secret()), Some(family));
        assert_ne!(
            t.expose_secret(),
            new_refresh_token(family).expose_secret(),
            "each token has its own secret"
        );
    }

    #[test]
    fn malformed_refresh_tokens_are_refused() {
        let family = Uuid::new_v4();
        let good = new_refresh_token(family);
        let good = good.expose_secret();
        let (head, secret) = good.split_once('.').expect("dot");
        for bad in [
            String::new(),
            "no-dot".into(),
            format!("{head}."),
            format!(".{secret}"),
            format!("{head}.{}", &secret[1..]),
            format!("{head}.{secret}x"),
            format!("{head}.{}!", &secret[1..]),
            format!("{}.{secret}", family.simple()),
            format!("not-a-uuid-but-thirty-six-characters.{secret}"),
            format!("{head}.{secret}.{secret}"),
        ] {
            assert_eq!(refresh_token_family(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn api_keys_carry_their_id_prefix_and_hash() {
        let k = new_api_key();
        let key = k.key.expose_secret();
        assert_eq!(key.len(), API_KEY_LEN);
        assert!(looks_like_api_key(key));
        assert_eq!(api_key_id(key), Some(k.id));
        assert!(key.starts_with(&k.prefix));
        assert_eq!(k.prefix.len(), 12);
        assert_eq!(k.hash, sha256_hex(key));
        assert_eq!(k.hash.len(), 64);
    }

    #[test]
    fn malformed_api_keys_are_refused() {
        let k = new_api_key();
        let key = k.key.expose_secret();
        for bad in [
            "tsk_".to_owned(),
            key[..key.len() - 1].to_owned(),
            format!("{key}a"),
            key.replacen("tsk_", "tsx_", 1),
            format!("{}-{}", &key[..36], &key[37..]),
            format!("tsk_{}_{}", "G".repeat(32), &key[37..]),
            format!(
                "tsk_{}_{}",
                k.id.simple().to_string().to_uppercase(),
                &key[37..]
            ),
        ] {
            assert_eq!(api_key_id(&bad), None, "{bad:?}");
        }
    }
}
