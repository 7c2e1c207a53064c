//! Encryption of secret columns with the master key.
//!
//! Ciphertexts are self-describing: `gx1:<key id>:<base64url(nonce ‖ ciphertext)>`.
//! The key id is the first 8 hex digits of SHA-256 over the key, so an
//! operator can rotate by making the new key active and keeping the old one
//! in the keyring for decryption; nothing needs to be numbered by hand.
//! XChaCha20-Poly1305's 192-bit random nonces make nonce reuse negligible
//! without a counter. Each ciphertext is bound to a context string (for
//! example `servers.private_key`) as associated data, so a value copied into
//! another column does not decrypt.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};

const PREFIX: &str = "gx1";

/// Why a key or a ciphertext was rejected. Never contains key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    /// The configured key is not 32 bytes of base64.
    #[error("master key must be 32 bytes encoded as base64 (generate one with `openssl rand -base64 32`)")]
    BadKey,
    /// The ciphertext was written with a key that is not in the keyring.
    #[error("secret was encrypted with key {0}, which is not configured")]
    UnknownKey(String),
    /// The ciphertext is malformed or was tampered with.
    #[error("secret cannot be decrypted (corrupt, tampered, or wrong context)")]
    Undecryptable,
    /// The OS random number generator failed.
    #[error("no randomness available for a nonce")]
    NoRandomness,
}

/// One 256-bit key and its derived id.
struct MasterKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl MasterKey {
    fn from_bytes(bytes: &[u8; 32]) -> Self {
        let digest = Sha256::digest(bytes);
        let id = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
        let key = Key::from(*bytes);
        Self { id, cipher: XChaCha20Poly1305::new(&key) }
    }
}

/// The active master key plus older keys kept for decryption during rotation.
pub struct Keyring {
    active: MasterKey,
    previous: Vec<MasterKey>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").field("active", &self.active.id).finish_non_exhaustive()
    }
}

/// Decodes a base64 (standard or url-safe) 32-byte key.
pub fn decode_key(encoded: &str) -> Result<SecretBox<[u8; 32]>, SecretError> {
    let trimmed = encoded.trim();
    let bytes =
        STANDARD.decode(trimmed).or_else(|_| URL_SAFE_NO_PAD.decode(trimmed.trim_end_matches('='))).map_err(|_| SecretError::BadKey)?;
    let arr: [u8; 32] = bytes.as_slice().try_into().map_err(|_| SecretError::BadKey)?;
    Ok(SecretBox::new(Box::new(arr)))
}

/// A fresh random key, base64-encoded, for first start.
pub fn generate_key() -> Result<SecretString, SecretError> {
    let bytes = crate::tokens::random_bytes::<32>().map_err(|_| SecretError::NoRandomness)?;
    Ok(SecretString::from(STANDARD.encode(bytes)))
}

impl Keyring {
    /// Builds a keyring from the active key and any previous keys (all base64).
    pub fn new(active: &SecretString, previous: &[SecretString]) -> Result<Self, SecretError> {
        let active = MasterKey::from_bytes(decode_key(active.expose_secret())?.expose_secret());
        let previous = previous
            .iter()
            .map(|k| decode_key(k.expose_secret()).map(|b| MasterKey::from_bytes(b.expose_secret())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { active, previous })
    }

    /// The id of the key new secrets are encrypted with.
    pub fn active_id(&self) -> &str {
        &self.active.id
    }

    /// Encrypts `plaintext`, bound to `context`.
    pub fn encrypt(&self, context: &str, plaintext: &[u8]) -> Result<String, SecretError> {
        let nonce_bytes = crate::tokens::random_bytes::<24>().map_err(|_| SecretError::NoRandomness)?;
        let nonce = XNonce::from(nonce_bytes);
        let ct = self
            .active
            .cipher
            .encrypt(&nonce, Payload { msg: plaintext, aad: context.as_bytes() })
            .map_err(|_| SecretError::Undecryptable)?;
        let mut blob = nonce_bytes.to_vec();
        blob.extend_from_slice(&ct);
        Ok(format!("{PREFIX}:{}:{}", self.active.id, URL_SAFE_NO_PAD.encode(blob)))
    }

    /// Decrypts a value produced by [`Keyring::encrypt`] with the same context.
    pub fn decrypt(&self, context: &str, stored: &str) -> Result<SecretBox<Vec<u8>>, SecretError> {
        let mut parts = stored.splitn(3, ':');
        let (Some(PREFIX), Some(kid), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(SecretError::Undecryptable);
        };
        let key = std::iter::once(&self.active)
            .chain(self.previous.iter())
            .find(|k| k.id == kid)
            .ok_or_else(|| SecretError::UnknownKey(kid.to_string()))?;
        let blob = URL_SAFE_NO_PAD.decode(body).map_err(|_| SecretError::Undecryptable)?;
        if blob.len() < 24 {
            return Err(SecretError::Undecryptable);
        }
        let (nonce, ct) = blob.split_at(24);
        let nonce = XNonce::try_from(nonce).map_err(|_| SecretError::Undecryptable)?;
        key.cipher
            .decrypt(&nonce, Payload { msg: ct, aad: context.as_bytes() })
            .map(|p| SecretBox::new(Box::new(p)))
            .map_err(|_| SecretError::Undecryptable)
    }

    /// Whether a stored value was written with an older key and should be re-encrypted.
    pub fn needs_rotation(&self, stored: &str) -> bool {
        stored.split(':').nth(1).is_some_and(|kid| kid != self.active.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretString {
        generate_key().unwrap_or_else(|_| SecretString::from(String::new()))
    }

    #[test]
    fn round_trip_with_context() -> Result<(), SecretError> {
        let ring = Keyring::new(&key(), &[])?;
        let ct = ring.encrypt("servers.private_key", b"hunter2")?;
        assert!(ct.starts_with("gx1:"));
        assert!(!ct.contains("hunter2"));
        assert_eq!(ring.decrypt("servers.private_key", &ct)?.expose_secret().as_slice(), b"hunter2");
        assert_eq!(ring.decrypt("other.column", &ct).err(), Some(SecretError::Undecryptable));
        Ok(())
    }

    #[test]
    fn rotation_keeps_old_secrets_readable() -> Result<(), SecretError> {
        let old = key();
        let new = key();
        let old_ring = Keyring::new(&old, &[])?;
        let ct = old_ring.encrypt("c", b"v")?;
        let ring = Keyring::new(&new, std::slice::from_ref(&old))?;
        assert!(ring.needs_rotation(&ct));
        assert_eq!(ring.decrypt("c", &ct)?.expose_secret().as_slice(), b"v");
        let only_new = Keyring::new(&new, &[])?;
        assert!(matches!(only_new.decrypt("c", &ct), Err(SecretError::UnknownKey(_))));
        Ok(())
    }

    #[test]
    fn tampering_is_detected() -> Result<(), SecretError> {
        let ring = Keyring::new(&key(), &[])?;
        let ct = ring.encrypt("c", b"value")?;
        // Flip one character well inside the ciphertext body.
        let mut chars: Vec<char> = ct.chars().collect();
        let i = chars.len() - 10;
        chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        let tampered: String = chars.into_iter().collect();
        assert_eq!(ring.decrypt("c", &tampered).err(), Some(SecretError::Undecryptable));
        assert_eq!(Keyring::new(&SecretString::from("short"), &[]).err(), Some(SecretError::BadKey));
        Ok(())
    }
}
