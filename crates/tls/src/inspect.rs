//! Reading and checking a PEM certificate chain and its private key.
//!
//! This is the upload boundary: text in, an [`Inspected`] certificate out,
//! or a [`CertProblem`] that names exactly what is wrong (the API answers
//! it as a 422 on the field it concerns). Nothing here ever puts key
//! material into an error.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;

/// Largest chain Gantry accepts (leaf plus intermediates plus an optional root).
const MAX_CHAIN: usize = 8;
/// Largest PEM text accepted for a chain or a key.
pub const MAX_PEM_BYTES: usize = 64 * 1024;

/// What an upload can be rejected for; each names the field and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertProblem {
    /// No `-----BEGIN CERTIFICATE-----` block could be read.
    #[error("not a PEM certificate: expected one or more -----BEGIN CERTIFICATE----- blocks, leaf first")]
    NotPem,
    /// A block is not a certificate (e.g. a key pasted into the certificate field).
    #[error("block {index} is a {label}, not a CERTIFICATE (the private key goes into private_key)")]
    WrongBlock {
        /// 1-based position.
        index: usize,
        /// Its PEM label.
        label: String,
    },
    /// A certificate's DER does not parse.
    #[error("certificate {index} cannot be parsed: {reason}")]
    Unparsable {
        /// 1-based position.
        index: usize,
        /// Parser message.
        reason: String,
    },
    /// Too many certificates.
    #[error("the chain has {0} certificates; at most {MAX_CHAIN} are accepted")]
    TooLong(usize),
    /// Too large.
    #[error("{field} is larger than {MAX_PEM_BYTES} bytes")]
    TooLarge {
        /// `certificate` or `private_key`.
        field: &'static str,
    },
    /// The key field holds no private key.
    #[error("not a PEM private key: expected -----BEGIN PRIVATE KEY----- (PKCS#8), RSA PRIVATE KEY or EC PRIVATE KEY")]
    KeyNotPem,
    /// Encrypted keys cannot be used by nginx unattended.
    #[error("the private key is encrypted with a passphrase; upload it without one (nginx must read it unattended)")]
    KeyEncrypted,
    /// The key does not parse.
    #[error("the private key cannot be read; RSA, ECDSA P-256/P-384 and Ed25519 keys are supported")]
    KeyUnreadable,
    /// The key belongs to another certificate.
    #[error("the private key does not match the certificate: its public key differs from the certificate's")]
    KeyMismatch,
    /// Past `notAfter`.
    #[error("the certificate expired on {0}")]
    Expired(String),
    /// Before `notBefore`.
    #[error("the certificate is not valid yet: it starts on {0}")]
    NotYetValid(String),
    /// The certificates are all there but in the wrong order.
    #[error(
        "the chain is out of order: certificate {index} ({subject}) was issued by {issuer}, which is not the next certificate; put the leaf first, then each issuer after the certificate it signed"
    )]
    OutOfOrder {
        /// 1-based position.
        index: usize,
        /// Its subject.
        subject: String,
        /// Its issuer.
        issuer: String,
    },
    /// The issuer of a certificate is missing.
    #[error(
        "the chain is incomplete: certificate {index} ({subject}) was issued by {issuer}, but no certificate for {issuer} follows it; append the intermediate certificate(s) your CA sent"
    )]
    Incomplete {
        /// 1-based position.
        index: usize,
        /// Its subject.
        subject: String,
        /// Its issuer.
        issuer: String,
    },
    /// An issuer in the chain is not a CA.
    #[error("certificate {index} ({subject}) signs the one before it but is not a CA certificate")]
    NotCa {
        /// 1-based position.
        index: usize,
        /// Its subject.
        subject: String,
    },
    /// A signature does not verify.
    #[error("certificate {index} ({subject}) is not signed by the next certificate in the chain ({issuer})")]
    BadSignature {
        /// 1-based position.
        index: usize,
        /// Its subject.
        subject: String,
        /// The next certificate's subject.
        issuer: String,
    },
    /// The leaf is a CA certificate.
    #[error("the first certificate is a CA certificate; the server's own certificate must come first")]
    LeafIsCa,
    /// No DNS names.
    #[error("the certificate names no DNS host (no subjectAltName DNS entries and no usable common name)")]
    NoNames,
}

impl CertProblem {
    /// The request field this problem is about.
    pub fn field(&self) -> &'static str {
        match self {
            CertProblem::KeyNotPem | CertProblem::KeyEncrypted | CertProblem::KeyUnreadable | CertProblem::KeyMismatch => "private_key",
            CertProblem::TooLarge { field } => field,
            _ => "certificate",
        }
    }
}

/// A checked certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inspected {
    /// DNS names it covers (subjectAltName, else the common name), lowercase, in certificate order.
    pub names: Vec<String>,
    /// The leaf's subject (RFC 4514 text).
    pub subject: String,
    /// The issuer's common name, or its full name when it has none.
    pub issuer: String,
    /// Serial number, hex with colons.
    pub serial: String,
    /// Start of validity.
    pub not_before: DateTime<Utc>,
    /// End of validity.
    pub not_after: DateTime<Utc>,
    /// SHA-256 of the leaf's DER, hex.
    pub fingerprint: String,
    /// Certificates in the chain (leaf included).
    pub chain_length: usize,
    /// The leaf signs itself.
    pub self_signed: bool,
    /// The chain exactly as it will be served: normalised PEM, leaf first.
    pub chain_pem: String,
}

fn time(t: x509_parser::time::ASN1Time) -> DateTime<Utc> {
    Utc.timestamp_opt(t.timestamp(), 0).single().unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn issuer_name(c: &X509Certificate<'_>) -> String {
    c.issuer().iter_common_name().next().and_then(|cn| cn.as_str().ok()).map(str::to_string).unwrap_or_else(|| c.issuer().to_string())
}

fn subject_name(c: &X509Certificate<'_>) -> String {
    c.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok()).map(str::to_string).unwrap_or_else(|| c.subject().to_string())
}

/// Reads every PEM block in `text`.
fn blocks(text: &str) -> Result<Vec<Pem>, ()> {
    let mut out = Vec::new();
    for item in Pem::iter_from_buffer(text.as_bytes()) {
        match item {
            Ok(p) => out.push(p),
            Err(_) => return Err(()),
        }
    }
    Ok(out)
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(&String::from_utf8_lossy(chunk));
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

/// The DNS names a certificate covers.
fn dns_names(c: &X509Certificate<'_>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    if let Ok(Some(san)) = c.subject_alternative_name() {
        for n in &san.value.general_names {
            if let GeneralName::DNSName(d) = n {
                let d = d.trim_end_matches('.').to_ascii_lowercase();
                if !d.is_empty() && !names.contains(&d) {
                    names.push(d);
                }
            }
        }
    }
    if names.is_empty() {
        // Only without subjectAltName: browsers ignore the CN otherwise.
        if let Some(cn) = c.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok()) {
            let cn = cn.trim_end_matches('.').to_ascii_lowercase();
            if cn.contains('.') && !cn.contains(' ') {
                names.push(cn);
            }
        }
    }
    names
}

/// Checks a chain (leaf first) and its key at time `now`.
pub fn inspect(chain_pem: &str, key_pem: &str, now: DateTime<Utc>) -> Result<Inspected, CertProblem> {
    if chain_pem.len() > MAX_PEM_BYTES {
        return Err(CertProblem::TooLarge { field: "certificate" });
    }
    if key_pem.len() > MAX_PEM_BYTES {
        return Err(CertProblem::TooLarge { field: "private_key" });
    }
    let pems = blocks(chain_pem).map_err(|_| CertProblem::NotPem)?;
    if pems.is_empty() {
        return Err(CertProblem::NotPem);
    }
    if pems.len() > MAX_CHAIN {
        return Err(CertProblem::TooLong(pems.len()));
    }
    for (i, p) in pems.iter().enumerate() {
        if p.label != "CERTIFICATE" {
            return Err(CertProblem::WrongBlock { index: i + 1, label: p.label.clone() });
        }
    }
    let mut certs = Vec::with_capacity(pems.len());
    for (i, p) in pems.iter().enumerate() {
        let c = p.parse_x509().map_err(|e| CertProblem::Unparsable { index: i + 1, reason: e.to_string() })?;
        certs.push(c);
    }
    let Some(leaf) = certs.first() else { return Err(CertProblem::NotPem) };

    // The key: readable, unencrypted, and the leaf's.
    let key_blocks = blocks(key_pem).map_err(|_| CertProblem::KeyNotPem)?;
    let Some(key_block) = key_blocks.iter().find(|b| b.label.ends_with("PRIVATE KEY")) else {
        return Err(CertProblem::KeyNotPem);
    };
    if key_block.label.contains("ENCRYPTED") || key_pem.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(CertProblem::KeyEncrypted);
    }
    let key = rcgen::KeyPair::from_pem(&pem_encode(&key_block.label, &key_block.contents)).map_err(|_| CertProblem::KeyUnreadable)?;
    if key.public_key_raw() != leaf.public_key().subject_public_key.data.as_ref() {
        return Err(CertProblem::KeyMismatch);
    }

    // Validity.
    let (not_before, not_after) = (time(leaf.validity().not_before), time(leaf.validity().not_after));
    if now > not_after {
        return Err(CertProblem::Expired(not_after.to_rfc3339()));
    }
    if now < not_before {
        return Err(CertProblem::NotYetValid(not_before.to_rfc3339()));
    }

    // Order and completeness: each certificate is signed by the next one.
    let self_signed = leaf.subject() == leaf.issuer() && leaf.verify_signature(None).is_ok();
    if leaf.is_ca() && !self_signed {
        return Err(CertProblem::LeafIsCa);
    }
    for i in 0..certs.len() {
        let c = &certs[i];
        let is_root = c.subject() == c.issuer();
        match certs.get(i + 1) {
            Some(next) => {
                if c.issuer() != next.subject() {
                    let later = certs.iter().skip(i + 2).any(|x| x.subject() == c.issuer());
                    let (index, subject, issuer) = (i + 1, subject_name(c), issuer_name(c));
                    return Err(if later || is_root {
                        CertProblem::OutOfOrder { index, subject, issuer }
                    } else {
                        CertProblem::Incomplete { index, subject, issuer }
                    });
                }
                if !next.is_ca() {
                    return Err(CertProblem::NotCa { index: i + 2, subject: subject_name(next) });
                }
                if c.verify_signature(Some(next.public_key())).is_err() {
                    return Err(CertProblem::BadSignature { index: i + 1, subject: subject_name(c), issuer: subject_name(next) });
                }
            }
            // The last one: a leaf alone must sign itself; otherwise the chain reaches at least an intermediate.
            None if i == 0 && !self_signed => {
                return Err(CertProblem::Incomplete { index: 1, subject: subject_name(c), issuer: issuer_name(c) });
            }
            None => {}
        }
    }
    let names = dns_names(leaf);
    if names.is_empty() {
        return Err(CertProblem::NoNames);
    }
    let fingerprint = gantry_core::tokens::digest_bytes(leaf.as_raw());
    let chain_pem: String = pems.iter().map(|p| pem_encode("CERTIFICATE", &p.contents)).collect();
    Ok(Inspected {
        names,
        subject: leaf.subject().to_string(),
        issuer: issuer_name(leaf),
        serial: leaf.raw_serial_as_string(),
        not_before,
        not_after,
        fingerprint,
        chain_length: certs.len(),
        self_signed,
        chain_pem,
    })
}

/// What Gantry lists about a certificate it did not check itself (an ACME result).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafFacts {
    /// DNS names.
    pub names: Vec<String>,
    /// Issuer (common name).
    pub issuer: String,
    /// Serial, hex with colons.
    pub serial: String,
    /// Valid from.
    pub not_before: DateTime<Utc>,
    /// Valid until.
    pub not_after: DateTime<Utc>,
    /// SHA-256 of the leaf's DER.
    pub fingerprint: String,
}

/// Reads the leaf of a chain (no key check): for ACME results.
pub fn leaf_facts(chain_pem: &str) -> Option<LeafFacts> {
    let pems = blocks(chain_pem).ok()?;
    let leaf = pems.first()?;
    let c = leaf.parse_x509().ok()?;
    Some(LeafFacts {
        names: dns_names(&c),
        issuer: issuer_name(&c),
        serial: c.raw_serial_as_string(),
        not_before: time(c.validity().not_before),
        not_after: time(c.validity().not_after),
        fingerprint: gantry_core::tokens::digest_bytes(c.as_raw()),
    })
}

/// Whether certificate name `pattern` (possibly `*.example.com`) covers host `name`.
///
/// A wildcard covers exactly one leftmost label (RFC 6125 §6.4.3):
/// `*.example.com` covers `a.example.com`, not `example.com` nor `a.b.example.com`.
pub fn covers(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.to_ascii_lowercase(), name.to_ascii_lowercase());
    if p == n {
        // Also a wildcard domain (`*.example.com`) served with a wildcard certificate.
        return true;
    }
    match p.strip_prefix("*.") {
        Some(rest) => n.split_once('.').is_some_and(|(first, tail)| !first.is_empty() && first != "*" && tail == rest),
        None => p == n,
    }
}

/// Whether a certificate with `names` covers `name`.
pub fn covers_any(names: &[String], name: &str) -> bool {
    names.iter().any(|p| covers(p, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_exactly_one_label() {
        assert!(covers("*.example.com", "a.example.com"));
        assert!(covers("*.EXAMPLE.com", "A.example.COM"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(!covers("*.example.com", "a.b.example.com"));
        assert!(covers("*.example.com", "*.example.com"), "a wildcard domain with a wildcard certificate");
        assert!(!covers("*.example.com", "*.b.example.com"));
        assert!(covers("www.example.com", "www.example.com"));
        assert!(!covers("www.example.com", "example.com"));
        assert!(covers_any(&["example.com".into(), "*.example.com".into()], "example.com"));
    }

    #[test]
    fn problems_name_their_field() {
        assert_eq!(CertProblem::KeyMismatch.field(), "private_key");
        assert_eq!(CertProblem::NotPem.field(), "certificate");
        assert_eq!(CertProblem::TooLarge { field: "private_key" }.field(), "private_key");
    }

    #[test]
    fn a_self_signed_leaf_stands_alone_and_encrypted_keys_are_refused() {
        let key = rcgen::KeyPair::generate().unwrap_or_else(|e| unreachable!("{e}"));
        let cert = rcgen::CertificateParams::new(vec!["solo.example.com".to_string()])
            .and_then(|p| p.self_signed(&key))
            .unwrap_or_else(|e| unreachable!("{e}"));
        let got = inspect(&cert.pem(), &key.serialize_pem(), Utc::now()).unwrap_or_else(|e| unreachable!("{e}"));
        assert!(got.self_signed);
        assert_eq!(got.names, vec!["solo.example.com".to_string()]);
        let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert_eq!(inspect(&cert.pem(), encrypted, Utc::now()), Err(CertProblem::KeyEncrypted));
        let huge = "x".repeat(MAX_PEM_BYTES + 1);
        assert_eq!(inspect(&huge, "", Utc::now()), Err(CertProblem::TooLarge { field: "certificate" }));
    }
}
