//! Short-lived access tokens: JWTs signed with HS256 and nothing else.
//!
//! The validation names exactly one algorithm, so tokens claiming `none`, RS256 (the HS/RS key
//! confusion) or any other algorithm are refused before their signature is even considered.
//! Tokens name their audience (`aud`) and the key that signed them (`kid`, derived from the
//! secret): the current secret signs, earlier ones (`auth.jwt_previous_secrets`) still verify,
//! so a secret can be rotated without signing anyone out.

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use tessera_events::users::Role;
use uuid::Uuid;

use super::error::AuthError;
use crate::config::AuthSettings;

/// What an access token says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    /// Who the token is for: this deployment's API.
    pub aud: String,
    /// Unique per token, for audit trails.
    pub jti: Uuid,
    /// When it was issued, in milliseconds (`iat` is whole seconds): what ending a user's
    /// sessions compares against. Absent in tokens issued before it was added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat_ms: Option<i64>,
    /// The sign-in (refresh-token family) the token was issued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
}

impl Claims {
    /// When the token was issued, as precisely as it says.
    pub fn issued_at(&self) -> Option<DateTime<Utc>> {
        match self.iat_ms {
            Some(ms) => DateTime::from_timestamp_millis(ms),
            None => DateTime::from_timestamp(self.iat, 0),
        }
    }
}

/// The id of the key a secret makes: the first 16 hex digits of its sha256 (naming the key
/// without revealing it).
fn key_id(secret: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(&sha2::Sha256::digest(secret)[..8])
}

/// Signs and verifies access tokens.
pub struct JwtKeys {
    kid: String,
    encoding: EncodingKey,
    /// Every key that verifies, by id: the current one and the earlier ones.
    decoding: Vec<(String, DecodingKey)>,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl JwtKeys {
    pub fn new(settings: &AuthSettings) -> Self {
        let secret = settings.jwt_secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&settings.jwt_issuer]);
        validation.set_audience(&[&settings.jwt_audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "sub", "aud"]);
        // We issue and verify on the same clocks; tokens are short-lived, so no grace period.
        validation.leeway = 0;
        let ttl_secs = i64::try_from(settings.access_token_ttl_secs).unwrap_or(i64::MAX);
        let decoding = std::iter::once(&settings.jwt_secret)
            .chain(&settings.jwt_previous_secrets)
            .map(|s| {
                let s = s.expose_secret().as_bytes();
                (key_id(s), DecodingKey::from_secret(s))
            })
            .collect();
        Self {
            kid: key_id(secret),
            encoding: EncodingKey::from_secret(secret),
            decoding,
            validation,
            issuer: settings.jwt_issuer.clone(),
            audience: settings.jwt_audience.clone(),
            ttl: Duration::try_seconds(ttl_secs).unwrap_or(Duration::MAX),
        }
    }

    /// A token for `user_id` of sign-in `sid`, valid from `now`, and when it expires.
    pub fn issue(
        &self,
        user_id: Uuid,
        role: Role,
        now: DateTime<Utc>,
        sid: Option<Uuid>,
    ) -> Result<(String, DateTime<Utc>), AuthError> {
        let expires = now
            .checked_add_signed(self.ttl)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let claims = Claims {
            sub: user_id,
            role,
            iat: now.timestamp(),
            exp: expires.timestamp(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            jti: Uuid::new_v4(),
            iat_ms: Some(now.timestamp_millis()),
            sid,
        };
        let header = Header {
            kid: Some(self.kid.clone()),
            ..Header::new(Algorithm::HS256)
        };
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| AuthError::Internal(format!("signing an access token failed: {e}")))?;
        Ok((token, expires))
    }

    /// The claims of a valid, unexpired token of ours, verified with the key its `kid` names
    /// (the current key when it names none).
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let kid = jsonwebtoken::decode_header(token)
            .map_err(|_| AuthError::InvalidToken)?
            .kid;
        let key = match kid {
            None => &self.decoding[0].1,
            Some(kid) => match self.decoding.iter().find(|(id, _)| *id == kid) {
                Some((_, key)) => key,
                None => return Err(AuthError::InvalidToken),
            },
        };
        match jsonwebtoken::decode::<Claims>(token, key, &self.validation) {
            Ok(data) => Ok(data.claims),
            Err(e) if matches!(e.kind(), ErrorKind::ExpiredSignature) => {
                Err(AuthError::TokenExpired)
            }
            Err(e) => {
                tracing::debug!(reason = ?e.kind(), "access token refused");
                Err(AuthError::InvalidToken)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use secrecy::SecretString;
    use serde_json::json;

    use super::*;

    const SECRET: &str = "a-test-secret-that-is-long-enough-0123456789";

    fn settings(secret: &str) -> AuthSettings {
        AuthSettings {
            jwt_secret: SecretString::from(secret),
            jwt_previous_secrets: Vec::new(),
            jwt_issuer: "tessera".into(),
            jwt_audience: "tessera-api".into(),
            access_token_ttl_secs: 900,
            refresh_token_ttl_secs: 3600,
            session_max_lifetime_secs: 90 * 24 * 3600,
            registrations_per_address: 0,
            login_attempts_per_account: 5,
            login_attempts_per_address: 30,
            login_window_secs: 300,
            open_registration: true,
            approve_new_accounts: false,
            max_api_keys: 25,
        }
    }

    fn b64(v: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn claims(exp_offset: i64) -> serde_json::Value {
        let now = Utc::now().timestamp();
        json!({
            "sub": Uuid::new_v4(), "role": "admin", "iat": now, "exp": now + exp_offset,
            "iss": "tessera", "aud": "tessera-api", "jti": Uuid::new_v4(),
        })
    }

    /// A token with any header, signed with HMAC-SHA256 under `secret`.
    fn hs_signed(header: serde_json::Value, claims: &serde_json::Value, secret: &str) -> String {
        let message = format!("{}.{}", b64(&header), b64(claims));
        let sig = jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &EncodingKey::from_secret(secret.as_bytes()),
            Algorithm::HS256,
        )
        .expect("sign");
        format!("{message}.{sig}")
    }

    #[test]
    fn issued_tokens_verify() {
        let keys = JwtKeys::new(&settings(SECRET));
        let id = Uuid::new_v4();
        let now = Utc::now();
        let (token, exp) = keys.issue(id, Role::Admin, now, None).expect("issue");
        assert_eq!(exp.timestamp(), now.timestamp() + 900);
        let c = keys.verify(&token).expect("valid");
        assert_eq!(
            (c.sub, c.role, c.iss.as_str()),
            (id, Role::Admin, "tessera")
        );
        assert_eq!(c.exp - c.iat, 900);
    }

    #[test]
    fn a_well_formed_hs256_token_of_ours_passes_the_hand_built_check() {
        // Proves the helper below builds tokens the verifier would accept, so the refusals in
        // the other tests are about the one thing each of them changes.
        let keys = JwtKeys::new(&settings(SECRET));
        let t = hs_signed(json!({"alg": "HS256", "typ": "JWT"}), &claims(60), SECRET);
        assert!(keys.verify(&t).is_ok());
    }

    #[test]
    fn expired_tokens_are_refused_as_expired() {
        let keys = JwtKeys::new(&settings(SECRET));
        let t = hs_signed(json!({"alg": "HS256"}), &claims(-1), SECRET);
        assert!(matches!(keys.verify(&t), Err(AuthError::TokenExpired)));
        let (t, _) = keys
            .issue(
                Uuid::new_v4(),
                Role::User,
                Utc::now() - Duration::hours(1),
                None,
            )
            .expect("issue");
        assert!(matches!(keys.verify(&t), Err(AuthError::TokenExpired)));
    }

    #[test]
    fn a_rotated_secret_keeps_its_tokens_valid_and_a_token_for_another_audience_is_refused() {
        let old = JwtKeys::new(&settings(SECRET));
        let (t, _) = old
            .issue(Uuid::new_v4(), Role::User, Utc::now(), None)
            .expect("issue");
        let rotated = JwtKeys::new(&AuthSettings {
            jwt_previous_secrets: vec![SecretString::from(SECRET)],
            ..settings("a-new-secret-that-is-long-enough-0123456789")
        });
        assert!(
            rotated.verify(&t).is_ok(),
            "signed with the previous secret"
        );
        let (fresh, _) = rotated
            .issue(Uuid::new_v4(), Role::User, Utc::now(), None)
            .expect("issue");
        assert!(rotated.verify(&fresh).is_ok());
        assert!(
            matches!(old.verify(&fresh), Err(AuthError::InvalidToken)),
            "unknown kid"
        );
        // Dropped from the list, the old secret verifies nothing.
        let later = JwtKeys::new(&settings("a-new-secret-that-is-long-enough-0123456789"));
        assert!(matches!(later.verify(&t), Err(AuthError::InvalidToken)));

        let mut c = claims(60);
        c["aud"] = json!("another-service");
        let t = hs_signed(json!({"alg": "HS256"}), &c, SECRET);
        assert!(matches!(old.verify(&t), Err(AuthError::InvalidToken)));
        c.as_object_mut().unwrap().remove("aud");
        let t = hs_signed(json!({"alg": "HS256"}), &c, SECRET);
        assert!(
            matches!(old.verify(&t), Err(AuthError::InvalidToken)),
            "aud is required"
        );
    }

    #[test]
    fn tokens_signed_with_another_secret_are_refused() {
        let keys = JwtKeys::new(&settings(SECRET));
        let other = JwtKeys::new(&settings("another-secret-that-is-long-enough-98765"));
        let (t, _) = other
            .issue(Uuid::new_v4(), Role::Admin, Utc::now(), None)
            .expect("issue");
        assert!(matches!(keys.verify(&t), Err(AuthError::InvalidToken)));
    }

    #[test]
    fn alg_none_is_refused() {
        let keys = JwtKeys::new(&settings(SECRET));
        let c = claims(60);
        for alg in ["none", "None", "NONE"] {
            let unsigned = format!("{}.{}.", b64(&json!({"alg": alg, "typ": "JWT"})), b64(&c));
            assert!(matches!(
                keys.verify(&unsigned),
                Err(AuthError::InvalidToken)
            ));
        }
        // A "none" header with a valid HS256 signature attached is refused too.
        let t = hs_signed(json!({"alg": "none"}), &c, SECRET);
        assert!(matches!(keys.verify(&t), Err(AuthError::InvalidToken)));
    }

    #[test]
    fn rs256_headers_are_refused_even_when_hmac_signed_with_our_secret() {
        // The HS/RS confusion: an attacker signs with HMAC but claims RS256, hoping the server
        // verifies with whatever key it has. We only ever accept HS256.
        let keys = JwtKeys::new(&settings(SECRET));
        for alg in ["RS256", "PS256", "ES256", "HS384", "HS512"] {
            let t = hs_signed(json!({"alg": alg, "typ": "JWT"}), &claims(60), SECRET);
            assert!(
                matches!(keys.verify(&t), Err(AuthError::InvalidToken)),
                "{alg}"
            );
        }
    }

    #[test]
    fn a_genuinely_rs256_signed_token_is_refused() {
        let keys = JwtKeys::new(&settings(SECRET));
        let rsa = EncodingKey::from_rsa_pem(TEST_RSA_KEY.as_bytes()).expect("test key");
        let t = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims(60), &rsa)
            .expect("rs256 sign");
        assert!(matches!(keys.verify(&t), Err(AuthError::InvalidToken)));
    }

    #[test]
    fn forged_wrong_issuer_and_tampered_tokens_are_refused() {
        let keys = JwtKeys::new(&settings(SECRET));
        let mut c = claims(60);
        c["iss"] = json!("someone-else");
        let t = hs_signed(json!({"alg": "HS256"}), &c, SECRET);
        assert!(matches!(keys.verify(&t), Err(AuthError::InvalidToken)));

        let (t, _) = keys
            .issue(Uuid::new_v4(), Role::User, Utc::now(), None)
            .expect("issue");
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        let mut forged = claims(60);
        forged["role"] = json!("admin");
        parts[1] = b64(&forged);
        assert!(matches!(
            keys.verify(&parts.join(".")),
            Err(AuthError::InvalidToken)
        ));

        for junk in ["", "a.b.c", "not a token", "....", "eyJhbGciOiJIUzI1NiJ9"] {
            assert!(
                matches!(keys.verify(junk), Err(AuthError::InvalidToken)),
                "{junk:?}"
            );
        }

        let mut no_exp = claims(60);
        no_exp.as_object_mut().map(|o| o.remove("exp"));
        let t = hs_signed(json!({"alg": "HS256"}), &no_exp, SECRET);
        assert!(matches!(keys.verify(&t), Err(AuthError::InvalidToken)));
    }

    /// A throwaway 2048-bit RSA key made for this test only; it protects nothing.
    const TEST_RSA_KEY: &str = include_str!("testdata/rsa_test_key.pem");
}
