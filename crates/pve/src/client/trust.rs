//! TLS trust for Proxmox endpoints. Clusters use self-signed certificates,
//! so Gantry pins the certificate's SHA-256 fingerprint (what the Proxmox UI
//! shows) or trusts a CA the operator provides; verification is never off.

use crate::model::Fingerprint;
use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use std::sync::Arc;

/// How the server certificate is checked.
#[derive(Debug, Clone)]
pub enum Trust {
    /// The leaf certificate's SHA-256 must equal this (any name, any issuer:
    /// the pin is the identity). Handshake signatures are still verified.
    Fingerprint(Fingerprint),
    /// A PEM bundle of CA certificates; the endpoint's host name must match.
    Ca(String),
}

impl Trust {
    /// The rustls configuration for this trust.
    pub fn client_config(&self) -> Result<rustls::ClientConfig, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        match self {
            Trust::Fingerprint(fp) => Ok(builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Pinned { fp: fp.clone(), algs: provider.signature_verification_algorithms }))
                .with_no_client_auth()),
            Trust::Ca(pem) => {
                let mut roots = rustls::RootCertStore::empty();
                let mut n = 0;
                for c in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                    let c = c.map_err(|e| format!("the CA bundle is not valid PEM: {e}"))?;
                    roots.add(c).map_err(|e| format!("the CA bundle holds an unusable certificate: {e}"))?;
                    n += 1;
                }
                if n == 0 {
                    return Err("the CA bundle holds no certificate".into());
                }
                Ok(builder.with_root_certificates(roots).with_no_client_auth())
            }
        }
    }

    /// Checks a PEM bundle without building a client (input validation).
    pub fn check_ca(pem: &str) -> Result<(), String> {
        Trust::Ca(pem.to_string()).client_config().map(|_| ())
    }
}

#[derive(Debug)]
struct Pinned {
    fp: Fingerprint,
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = Fingerprint::of_der(end_entity.as_ref());
        if got == self.fp {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!("certificate fingerprint {got} does not match the pinned fingerprint")))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algs.supported_schemes()
    }
}
