//! What the proxy needs from the TLS module, and the certificate files on a server.
//!
//! The TLS module owns certificates; the proxy only asks it which certificate
//! each HTTPS domain serves now ([`CertificateSource::bindings`]) and for a
//! certificate's files by their content id ([`CertificateSource::material`]).
//! Certificate files are content-addressed on the server
//! (`<conf_dir>/gantry/certs/<id>.crt|.key`), so a renewed certificate is a new
//! file name in the rendered configuration: the generation's hash changes,
//! the normal atomic apply rolls it out, and an unchanged certificate never
//! causes a reload. Keys are written with mode 0600 and never stored in a
//! generation (generations hold only the paths).

use async_trait::async_trait;
use gantry_domains::spec::TlsMode;
use secrecy::SecretString;
use std::collections::{BTreeMap, BTreeSet};

/// A domain asking for HTTPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsRequest {
    /// The domain.
    pub domain_id: i64,
    /// Its mode (never `None` here).
    pub mode: TlsMode,
    /// The uploaded certificate, for `Certificate`.
    pub certificate_id: Option<i64>,
}

/// A certificate's files.
pub struct Material {
    /// The chain, leaf first (PEM).
    pub chain_pem: String,
    /// The private key (PEM).
    pub key_pem: SecretString,
}

/// Certificates, as the TLS module provides them.
#[async_trait]
pub trait CertificateSource: Send + Sync {
    /// For each domain whose certificate is ready, its material id; domains without one are left out.
    async fn bindings(&self, requests: &[TlsRequest]) -> Result<BTreeMap<i64, String>, String>;
    /// A certificate's files by material id, if Gantry still has them.
    async fn material(&self, id: &str) -> Result<Option<Material>, String>;
}

/// Material ids a generation's files refer to (from their `ssl_certificate` lines).
pub fn referenced(files: &BTreeMap<String, String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for content in files.values() {
        for line in content.lines() {
            if let Some(path) = line.trim_start().strip_prefix("ssl_certificate ")
                && let Some(name) = path.trim_end_matches(';').rsplit('/').next()
                && let Some(id) = name.strip_suffix(".crt")
                && !id.is_empty()
                && id.chars().all(|c| c.is_ascii_hexdigit())
            {
                out.insert(id.to_string());
            }
        }
    }
    out
}

/// Lists the certificate files present; creates the directory (0700) when missing.
pub(crate) const CERTS_LIST: &str = r#"set -e
D="$1/gantry/certs"
mkdir -p "$D" && chmod 700 "$D"
cd "$D" && for f in *.crt; do [ -e "$f" ] && [ -e "${f%.crt}.key" ] && echo "${f%.crt}"; done; true"#;

/// Removes certificate files no generation kept on the server refers to.
pub(crate) const CERTS_PRUNE: &str = r#"D="$1/gantry/certs"; G="$1/gantry/generations"
cd "$D" 2>/dev/null || exit 0
for f in *.crt; do
  [ -e "$f" ] || continue
  id="${f%.crt}"
  grep -rqsF -- "/certs/$id.crt" "$G" "$1/gantry/staging" || rm -f -- "$id.crt" "$id.key"
done
true"#;

/// Writes an ACME HTTP-01 answer; `$2` is the token (base64url only, checked by the caller).
pub(crate) const CHALLENGE_DIR: &str = r#"set -e
D="$1/gantry/acme-challenge"
mkdir -p "$D" && chmod 755 "$D""#;

/// Whether an ACME token is safe as a file name (RFC 8555 §8.3: base64url).
pub fn valid_token(token: &str) -> bool {
    !token.is_empty() && token.len() <= 256 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_come_from_ssl_certificate_lines_only() {
        let mut files = BTreeMap::new();
        files.insert(
            "group-1.conf".to_string(),
            "    ssl_certificate /etc/nginx/gantry/certs/ab12.crt;\n    ssl_certificate_key /etc/nginx/gantry/certs/ab12.key;\n# ssl_certificate x.crt\n    ssl_certificate /x/../evil.crt;\n".to_string(),
        );
        assert_eq!(referenced(&files).into_iter().collect::<Vec<_>>(), vec!["ab12".to_string()]);
    }

    #[test]
    fn tokens_are_base64url() {
        assert!(valid_token("abc-DEF_123"));
        assert!(!valid_token("../etc/passwd"));
        assert!(!valid_token("a b"));
        assert!(!valid_token(""));
    }
}
