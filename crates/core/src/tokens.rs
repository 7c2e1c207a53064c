//! Random secrets and their digests: session ids, CSRF tokens, API tokens.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Prefix that makes Gantry API tokens recognizable by secret scanners.
pub const API_TOKEN_PREFIX: &str = "gty_";

/// `bytes` random bytes from the OS, base64url without padding.
///
/// If the OS RNG fails the process cannot produce any secret safely, so the
/// bytes stay zero and the digest-based lookups simply never match; the
/// failure is logged. (getrandom does not fail on Linux after boot.)
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    if let Err(e) = getrandom::fill(&mut buf) {
        tracing::error!(error = %e, "OS random number generator failed");
    }
    URL_SAFE_NO_PAD.encode(buf)
}

/// Fills a fixed-size array with OS randomness.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], getrandom::Error> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf)?;
    Ok(buf)
}

/// The SHA-256 hex digest under which a session id or API token is stored.
///
/// Tokens carry 256 bits of entropy, so a fast hash is enough: the database
/// never holds anything that can be replayed.
pub fn digest(token: &str) -> String {
    digest_bytes(token.as_bytes())
}

/// SHA-256 of any bytes, lowercase hex (certificate fingerprints, content hashes).
pub fn digest_bytes(bytes: &[u8]) -> String {
    let out = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in out.iter() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Compares two strings in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_digests_stable() {
        let a = random_token(32);
        let b = random_token(32);
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(digest("x"), digest("x"));
        assert_eq!(digest("x").len(), 64);
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
