//! SSH private keys: parsed from what an operator pastes, or generated.

use russh::keys::ssh_key::private::{Ed25519Keypair, KeypairData};
use russh::keys::ssh_key::{HashAlg, LineEnding};
use russh::keys::{PrivateKey, decode_secret_key};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

/// Why a key was rejected. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not a private key in a format we read.
    #[error("not a private key in OpenSSH or PEM format (Ed25519, ECDSA or RSA)")]
    Unreadable,
    /// The key is encrypted and no passphrase was given.
    #[error("the key is encrypted; give its passphrase")]
    NeedsPassphrase,
    /// The passphrase does not open the key.
    #[error("the passphrase does not open this key")]
    WrongPassphrase,
    /// A key type we do not accept (e.g. DSA).
    #[error("key type {0} is not supported; use Ed25519, ECDSA or RSA")]
    Unsupported(String),
    /// The OS random generator failed.
    #[error("no randomness available to generate a key")]
    NoRandomness,
}

/// A parsed private key, held in memory only.
#[derive(Clone)]
pub struct SshKey {
    key: Arc<PrivateKey>,
}

impl std::fmt::Debug for SshKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SshKey({} {})", self.kind(), self.fingerprint())
    }
}

fn looks_encrypted(text: &str) -> bool {
    text.contains("ENCRYPTED") || {
        // OpenSSH format marks encryption inside the base64 body.
        let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
        body.contains("YWVzMjU2LWN0cg") || body.contains("YmNyeXB0")
    }
}

impl SshKey {
    /// Parses an OpenSSH or PEM private key, opening it with `passphrase` if encrypted.
    pub fn parse(text: &SecretString, passphrase: Option<&SecretString>) -> Result<Self, KeyError> {
        let raw = text.expose_secret();
        if !raw.contains("PRIVATE KEY-----") {
            return Err(KeyError::Unreadable);
        }
        let encrypted = looks_encrypted(raw);
        let pass = passphrase.map(|p| p.expose_secret().to_string()).filter(|p| !p.is_empty());
        if encrypted && pass.is_none() {
            return Err(KeyError::NeedsPassphrase);
        }
        let key = decode_secret_key(raw, pass.as_deref())
            .map_err(|_| if encrypted { KeyError::WrongPassphrase } else { KeyError::Unreadable })?;
        let kind = key.algorithm().as_str().to_string();
        if !(kind.starts_with("ssh-ed25519") || kind.starts_with("ecdsa-") || kind.starts_with("ssh-rsa") || kind.starts_with("rsa")) {
            return Err(KeyError::Unsupported(kind));
        }
        Ok(Self { key: Arc::new(key) })
    }

    /// Generates a fresh Ed25519 key.
    pub fn generate(comment: &str) -> Result<Self, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|_| KeyError::NoRandomness)?;
        let pair = Ed25519Keypair::from_seed(&seed);
        let key = PrivateKey::new(KeypairData::from(pair), comment).map_err(|_| KeyError::NoRandomness)?;
        Ok(Self { key: Arc::new(key) })
    }

    /// The private key in OpenSSH format, for encrypted storage.
    pub fn to_openssh(&self) -> Result<SecretString, KeyError> {
        self.key.to_openssh(LineEnding::LF).map(|z| SecretString::from(z.to_string())).map_err(|_| KeyError::Unreadable)
    }

    /// `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, ….
    pub fn kind(&self) -> String {
        self.key.algorithm().as_str().to_string()
    }

    /// `SHA256:…`, as `ssh-keygen -lf` prints it.
    pub fn fingerprint(&self) -> String {
        self.key.fingerprint(HashAlg::Sha256).to_string()
    }

    /// The `authorized_keys` line for this key.
    pub fn public_line(&self) -> String {
        self.key.public_key().to_openssh().unwrap_or_default()
    }

    pub(crate) fn inner(&self) -> Arc<PrivateKey> {
        self.key.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_round_trip_through_openssh_text() -> Result<(), KeyError> {
        let k = SshKey::generate("gantry@test")?;
        assert_eq!(k.kind(), "ssh-ed25519");
        assert!(k.fingerprint().starts_with("SHA256:"));
        assert!(k.public_line().starts_with("ssh-ed25519 AAAA"));
        let text = k.to_openssh()?;
        let again = SshKey::parse(&text, None)?;
        assert_eq!(again.fingerprint(), k.fingerprint());
        assert!(!format!("{k:?}").contains("PRIVATE"), "Debug must not print the key");
        Ok(())
    }

    #[test]
    fn garbage_is_rejected() {
        assert_eq!(SshKey::parse(&SecretString::from("hello"), None).err(), Some(KeyError::Unreadable));
        let fake = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
        assert_eq!(SshKey::parse(&SecretString::from(fake), None).err(), Some(KeyError::Unreadable));
    }
}
