//! Password policy and argon2id hashing. Hashing is deliberately slow, so it runs on the blocking
//! thread pool, a bounded number at a time (each one also takes ~19 MiB).

use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tessera_events::users::PasswordHash;
use tokio::sync::Semaphore;

use super::email::EmailAddress;
use super::error::AuthError;

pub const MIN_CHARS: usize = 10;
pub const MAX_CHARS: usize = 256;

/// Checks a new password against the policy.
pub fn check_policy(password: &str, email: &EmailAddress) -> Result<(), AuthError> {
    let n = password.chars().count();
    if n < MIN_CHARS {
        return Err(AuthError::WeakPassword(
            "it must be at least 10 characters long",
        ));
    }
    if n > MAX_CHARS {
        return Err(AuthError::InvalidField {
            field: "password",
            message: "the password must be at most 256 characters long",
        });
    }
    let folded = password.to_lowercase();
    if folded == email.as_str() || folded == email.local_part() {
        return Err(AuthError::WeakPassword("it must not be your email address"));
    }
    // How many guesses a cracker would need, by zxcvbn's estimate (common passwords, words,
    // names, dates, keyboard walks, repeats, l33t; the email counts as known to the attacker).
    // Only the first characters are estimated: the estimate's cost grows with the length, and
    // a password whose first 64 characters are strong is strong.
    let prefix: String = password.chars().take(ESTIMATED_CHARS).collect();
    let local = email.local_part();
    let joined: String = local.chars().filter(|c| c.is_alphanumeric()).collect();
    let mut known = vec![email.as_str(), local, joined.as_str()];
    known.extend(
        local
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.len() > 2),
    );
    let estimate = zxcvbn::zxcvbn(&prefix, &known);
    if estimate.score() < MIN_SCORE {
        return Err(AuthError::WeakPassword(
            "it is too easy to guess: avoid common words, names, dates, keyboard patterns and \
             your email address, or make it longer",
        ));
    }
    Ok(())
}

/// zxcvbn's score a new password needs: 3 means about 10^10 guesses.
const MIN_SCORE: zxcvbn::Score = zxcvbn::Score::Three;
/// How much of a password the strength estimate reads.
const ESTIMATED_CHARS: usize = 64;

/// Hashes and verifies passwords off the async executor.
#[derive(Clone)]
pub struct Hasher {
    argon: Argon2<'static>,
    permits: Arc<Semaphore>,
}

impl Default for Hasher {
    fn default() -> Self {
        Self::new()
    }
}

impl Hasher {
    /// OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane.
    pub fn new() -> Self {
        let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            argon: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
            permits: Arc::new(Semaphore::new(cores * 2)),
        }
    }

    /// An argon2id PHC string for `password`.
    pub async fn hash(&self, password: SecretString) -> Result<PasswordHash, AuthError> {
        let argon = self.argon.clone();
        self.blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            argon
                .hash_password(password.expose_secret().as_bytes(), &salt)
                .map(|h| PasswordHash::new(h.to_string()))
                .map_err(|e| AuthError::Internal(format!("argon2 hashing failed: {e}")))
        })
        .await
    }

    /// Whether `password` matches `phc`. The parameters come from the PHC string, so hashes made
    /// with older parameters keep verifying.
    pub async fn verify(&self, password: SecretString, phc: String) -> Result<bool, AuthError> {
        let argon = self.argon.clone();
        self.blocking(move || {
            let parsed = argon2::password_hash::PasswordHash::new(&phc).map_err(|e| {
                AuthError::Internal(format!("stored password hash unreadable: {e}"))
            })?;
            Ok(argon
                .verify_password(password.expose_secret().as_bytes(), &parsed)
                .is_ok())
        })
        .await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, AuthError> + Send + 'static,
    ) -> Result<T, AuthError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f()
        })
        .await
        .map_err(|e| AuthError::Internal(format!("hashing task failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> EmailAddress {
        EmailAddress::parse("Someone.Long@example.com").expect("valid")
    }

    #[test]
    fn policy_accepts_passwords_hard_to_guess_whatever_their_characters() {
        for strong in [
            "correct horse battery staple",
            "Correct-Horse-42",
            "Another-Horse-77",
            "a long admin passphrase",
            "vq8 lmz 2kp ra9",
            "zwiebelkuchen mit speck",
        ] {
            assert!(
                check_policy(strong, &email()).is_ok(),
                "{strong:?} is strong"
            );
        }
    }

    #[test]
    fn policy_rejects_short_guessable_and_email_passwords() {
        for weak in [
            "Short1!",
            "Password123!",
            "qwertyuiopasdf",
            "1234567890123",
            "aaaaaaaaaaaaaaaa",
            "P@ssw0rd2024",
            "someone.long@example.com",
            "SOMEONE.LONG",
            "someonelong2024",
        ] {
            assert!(
                matches!(
                    check_policy(weak, &email()),
                    Err(AuthError::WeakPassword(_))
                ),
                "{weak:?} must be weak"
            );
        }
    }

    #[test]
    fn policy_rejects_overlong_passwords_and_counts_characters_not_bytes() {
        let long = format!("{}A", "a".repeat(256));
        assert!(matches!(
            check_policy(&long, &email()),
            Err(AuthError::InvalidField {
                field: "password",
                ..
            })
        ));
        // 10 two-byte characters: long enough (and unlike any word).
        assert!(check_policy("éÆøßçðñþüÉ", &email()).is_ok());
        // 5 two-byte characters are 10 bytes but too short.
        assert!(check_policy("éÆøßç", &email()).is_err());
    }

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let h = Hasher::new();
        let phc = h
            .hash(SecretString::from("correct horse battery"))
            .await
            .expect("hash");
        assert!(phc.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(h
            .verify(
                SecretString::from("correct horse battery"),
                phc.as_str().into()
            )
            .await
            .expect("verify"));
        assert!(!h
            .verify(
                SecretString::from("correct horse batterz"),
                phc.as_str().into()
            )
            .await
            .expect("verify"));
    }
}
