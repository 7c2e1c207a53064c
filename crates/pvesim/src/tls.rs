//! The self-signed certificate every listener serves, like a fresh Proxmox node's
//! `pve-ssl.pem`, with SANs for `localhost`, `127.0.0.1` and each node name.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};

use crate::error::SimError;

/// The generated certificate and the TLS acceptor configuration.
pub(crate) struct ServerCert {
    pub pem: String,
    pub fingerprint: String,
    pub config: Arc<rustls::ServerConfig>,
}

/// SHA-256 of DER bytes as `AB:CD:...` (how Proxmox shows fingerprints).
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// Generates the certificate; TLS uses the aws-lc-rs provider only.
pub(crate) fn generate(node_names: &[String]) -> Result<ServerCert, SimError> {
    let mut sans = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    sans.extend(node_names.iter().cloned());
    let certified = rcgen::generate_simple_self_signed(sans).map_err(|e| SimError::Tls(e.to_string()))?;
    let der: CertificateDer<'static> = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SimError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(vec![der.clone()], key)
        .map_err(|e| SimError::Tls(e.to_string()))?;
    Ok(ServerCert { pem: certified.cert.pem(), fingerprint: fingerprint(&der), config: Arc::new(config) })
}
