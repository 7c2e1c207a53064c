//! Argon2id password hashing.
//!
//! Hashing is deliberately slow (tens of milliseconds), so callers on the
//! async runtime must run these functions in `spawn_blocking`; the auth
//! service does.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use secrecy::{ExposeSecret, SecretString};

/// Hashing failed (only on an internal error of the hasher).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// Hashes a password into an Argon2id PHC string with a random salt.
pub fn hash(password: &SecretString) -> Result<String, HashError> {
    Argon2::default().hash_password(password.expose_secret().as_bytes()).map(|h| h.to_string()).map_err(|e| HashError(e.to_string()))
}

/// Checks a password against a stored PHC string. A malformed hash never matches.
pub fn verify(password: &SecretString, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default().verify_password(password.expose_secret().as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// A valid hash of a random password, used to spend the same time on unknown
/// usernames as on known ones so response timing does not reveal which exist.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let random = crate::tokens::random_token(24);
        hash(&SecretString::from(random)).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() -> Result<(), HashError> {
        let pw = SecretString::from("correct horse battery");
        let h = hash(&pw)?;
        assert!(h.starts_with("$argon2id$"));
        assert!(verify(&pw, &h));
        assert!(!verify(&SecretString::from("wrong"), &h));
        assert!(!verify(&pw, "not a hash"));
        Ok(())
    }
}
