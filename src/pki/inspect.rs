//! Reading certificates back: what `inspect`, `ls` and the checks show, and
//! whether a client chain holds.

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::error::{Error, Result};

use super::*;

/// What we read back from a certificate.
#[derive(Debug)]
pub struct CertInfo {
    pub subject_cn: String,
    /// The role its subject carries (`OU=role:…`); admin without one.
    pub role: Role,
    /// The strict reading the plugin decides on.
    pub role_claim: RoleClaim,
    /// RFC 4514-style text, as OpenSSL prints it.
    pub subject: String,
    pub issuer: String,
    /// "DNS:name" and "IP:address" entries.
    pub sans: Vec<String>,
    pub ekus: Vec<String>,
    /// It has an extendedKeyUsage extension (without one it is good for
    /// any use, RFC 5280 §4.2.1.12).
    pub has_eku: bool,
    pub serial_hex: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub sha256: String,
    pub spki_der: Vec<u8>,
    /// basicConstraints CA:TRUE.
    pub is_ca: bool,
    /// keyCertSign allowed (true when there is no keyUsage extension at all).
    pub can_sign_certs: bool,
    /// Our key type names ("rsa-4096", "ecdsa-p256", …), or the OID.
    pub key_type: String,
}

impl CertInfo {
    pub fn from_pem(pem_text: &str) -> Result<CertInfo> {
        let (_, pem) = x509_parser::pem::parse_x509_pem(pem_text.as_bytes())
            .map_err(|e| Error::Crypto(format!("not a PEM certificate: {e}")))?;
        CertInfo::from_der(&pem.contents)
    }

    pub fn from_der(der: &[u8]) -> Result<CertInfo> {
        use x509_parser::extensions::GeneralName;
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| Error::Crypto(format!("cannot parse the certificate: {e}")))?;
        let subject_cn = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .unwrap_or("")
            .to_string();
        let ous: Vec<Option<&str>> = cert
            .subject()
            .iter_organizational_unit()
            .map(|ou| ou.as_str().ok())
            .collect();
        let others = cert
            .subject()
            .iter_attributes()
            .filter(|a| {
                let t = a.attr_type();
                *t != x509_parser::oid_registry::OID_X509_COMMON_NAME
                    && *t != x509_parser::oid_registry::OID_X509_ORGANIZATIONAL_UNIT
            })
            .count();
        let role_claim = RoleClaim::read(&ous, cert.subject().iter_common_name().count(), others);
        let role = match role_claim {
            RoleClaim::Client(r) => r,
            _ => Role::Admin,
        };
        let is_ca = cert
            .basic_constraints()
            .ok()
            .flatten()
            .is_some_and(|bc| bc.value.ca);
        let can_sign_certs = match cert.key_usage() {
            Ok(Some(ku)) => ku.value.key_cert_sign(),
            Ok(None) => true,
            Err(_) => false,
        };
        let sans = match cert.subject_alternative_name() {
            Ok(Some(san)) => san
                .value
                .general_names
                .iter()
                .map(|g| match g {
                    GeneralName::DNSName(d) => format!("DNS:{d}"),
                    GeneralName::IPAddress(b) => match b.len() {
                        4 => format!("IP:{}", std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3])),
                        16 => format!(
                            "IP:{}",
                            std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*b).unwrap())
                        ),
                        _ => "IP:?".into(),
                    },
                    other => format!("{other}"),
                })
                .collect(),
            _ => Vec::new(),
        };
        let has_eku = !matches!(cert.extended_key_usage(), Ok(None));
        let ekus = match cert.extended_key_usage() {
            Ok(Some(e)) => {
                let v = &e.value;
                let mut out = Vec::new();
                if v.server_auth {
                    out.push("serverAuth".to_string());
                }
                if v.client_auth {
                    out.push("clientAuth".to_string());
                }
                out
            }
            _ => Vec::new(),
        };
        Ok(CertInfo {
            subject_cn,
            role,
            role_claim,
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            sans,
            ekus,
            has_eku,
            is_ca,
            can_sign_certs,
            key_type: key_type_of(cert.public_key()),
            serial_hex: crate::text::hex(cert.raw_serial()),
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
            sha256: crate::text::hex(&Sha256::digest(der)),
            spki_der: cert.public_key().raw.to_vec(),
        })
    }
}

/// Whether `key_der` is the private half of the certificate's public key.
/// Whether `cert_der` is a client certificate (clientAuth, not a CA,
/// valid at `now`) signed by `ca_der`, a CA certificate: what `accept`
/// requires of a response before anything is written. Err says why not.
pub fn check_client_chain(
    cert_der: &[u8],
    ca_der: &[u8],
    now: OffsetDateTime,
) -> std::result::Result<(), String> {
    use x509_parser::prelude::*;
    let (_, cert) = X509Certificate::from_der(cert_der)
        .map_err(|e| format!("its certificate cannot be read: {e}"))?;
    let (_, ca) = X509Certificate::from_der(ca_der)
        .map_err(|e| format!("its CA certificate cannot be read: {e}"))?;
    if !ca.is_ca() {
        return Err("the certificate given as its CA is not a CA certificate".into());
    }
    if cert.issuer() != ca.subject() || cert.verify_signature(Some(ca.public_key())).is_err() {
        return Err("its certificate was not signed by the CA it came with".into());
    }
    if cert.is_ca() {
        return Err("its certificate is a CA certificate, not a client's".into());
    }
    let client = cert
        .extended_key_usage()
        .ok()
        .flatten()
        .is_some_and(|e| e.value.client_auth);
    if !client {
        return Err("its certificate is not for TLS clients (no clientAuth)".into());
    }
    let t = now.unix_timestamp();
    let v = cert.validity();
    // A few minutes of clock difference between signer and requester.
    if v.not_before.timestamp() > t + CLOCK_SKEW.whole_seconds() || v.not_after.timestamp() <= t {
        return Err(
            "its certificate is not valid now (expired, or not yet valid: compare the clocks)"
                .into(),
        );
    }
    if ca.validity().not_after.timestamp() <= t {
        return Err("its CA certificate has expired".into());
    }
    Ok(())
}
