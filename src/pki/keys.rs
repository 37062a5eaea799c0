//! Private keys: generated, read from PEM (PKCS#8, SEC1, PKCS#1), written
//! as PKCS#8 PEM; public-key names and fingerprints.

use rcgen::{KeyPair, PublicKeyData};

use crate::error::{Error, Result};

use super::*;

/// A key pair's PKCS#8 DER (what the keystore holds).
pub fn key_der_of(key: &KeyPair) -> Vec<u8> {
    pkcs8_v1(key.serialize_der())
}

/// A new key of `key_type` as PKCS#8 DER (what the keystore holds).
pub fn new_key_der(key_type: KeyType) -> Result<Vec<u8>> {
    Ok(pkcs8_v1(key_type.generate()?.serialize_der()))
}

/// SHA-256 of a key's SubjectPublicKeyInfo (hex): the fingerprint a
/// requester reads out to the signer, as `openssl pkey -pubout -outform
/// DER | sha256sum` prints it.
pub fn spki_sha256_of_key(key_der: &[u8]) -> Result<String> {
    let key = KeyPair::try_from(key_der)
        .map_err(|e| Error::Crypto(format!("cannot read the key: {e}")))?;
    Ok(crate::text::sha256_hex(&key.subject_public_key_info()))
}

/// aws-lc writes Ed25519 keys as PKCS#8 v2 (RFC 5958 OneAsymmetricKey with
/// the public key in `[1]`); OpenSSL 3.0 refuses to read that ("Could not
/// read key", observed with 3.0.19). Rewrite it as the v1 form of RFC 8410
/// §7, which every reader accepts: the same seed, without the public key.
pub(crate) fn pkcs8_v1(der: Vec<u8>) -> Vec<u8> {
    // SEQUENCE(81) { INTEGER 1, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING(32) } ...
    const V2: [u8; 16] = hex_literal(b"3051020101300506032b657004220420");
    // SEQUENCE(46) { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING(32) } }
    const V1: [u8; 16] = hex_literal(b"302e020100300506032b657004220420");
    if der.len() >= 48 && der[..16] == V2 {
        let mut v1 = V1.to_vec();
        v1.extend_from_slice(&der[16..48]);
        v1
    } else {
        der
    }
}

const fn hex_literal<const N: usize>(s: &[u8]) -> [u8; N] {
    const fn nib(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            _ => c - b'a' + 10,
        }
    }
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = nib(s[2 * i]) << 4 | nib(s[2 * i + 1]);
        i += 1;
    }
    out
}

/// PEM with 64-column lines (RFC 7468 §2).
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let p = pem::Pem::new(label, der.to_vec());
    pem::encode_config(
        &p,
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// A key's algorithm and size from its SubjectPublicKeyInfo, named as key
/// types are ("ecdsa-p256", "rsa-2048", "ed25519"), or its OID.
pub fn key_name(spki_der: &[u8]) -> String {
    use x509_parser::prelude::FromDer;
    match x509_parser::x509::SubjectPublicKeyInfo::from_der(spki_der) {
        Ok((_, spki)) => key_type_of(&spki),
        Err(_) => "unreadable".into(),
    }
}

pub(crate) fn key_type_of(spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> String {
    use x509_parser::oid_registry as oids;
    use x509_parser::public_key::PublicKey;
    let alg = &spki.algorithm.algorithm;
    if *alg == oids::OID_PKCS1_RSAENCRYPTION {
        if let Ok(PublicKey::RSA(rsa)) = spki.parsed() {
            return format!("rsa-{}", rsa.key_size());
        }
    } else if *alg == oids::OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        if curve == Some(oids::OID_EC_P256) {
            return "ecdsa-p256".into();
        }
        if curve == Some(oids::OID_NIST_EC_P384) {
            return "ecdsa-p384".into();
        }
        if let Some(c) = curve {
            return format!("ecdsa-{c}");
        }
    } else if *alg == oids::OID_SIG_ED25519 {
        return "ed25519".into();
    }
    alg.to_id_string()
}

/// A private key read from PEM: PKCS#8 ("PRIVATE KEY"), PKCS#1
/// ("RSA PRIVATE KEY") or SEC1 ("EC PRIVATE KEY"), as the openssl recipe and
/// docker-machine write them. Returns the DER as found (rcgen's aws-lc
/// backend signs with all three).
pub fn parse_private_key_pem(text: &str) -> std::result::Result<Vec<u8>, KeyPemError> {
    let blocks = pem::parse_many(text).map_err(|_| KeyPemError::NotAKey)?;
    for b in blocks {
        match b.tag() {
            "ENCRYPTED PRIVATE KEY" => return Err(KeyPemError::Encrypted),
            "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" => {
                // Traditional OpenSSL encryption: "Proc-Type: 4,ENCRYPTED" headers.
                if b.headers()
                    .get("Proc-Type")
                    .is_some_and(|v| v.contains("ENCRYPTED"))
                {
                    return Err(KeyPemError::Encrypted);
                }
                return Ok(b.contents().to_vec());
            }
            _ => continue, // e.g. "EC PARAMETERS" before the key (openssl ecparam -genkey)
        }
    }
    Err(KeyPemError::NotAKey)
}

#[derive(Debug, PartialEq)]
pub enum KeyPemError {
    Encrypted,
    NotAKey,
}

/// PEM for a key DER in any of the three forms, with the label its form needs.
pub fn key_pem_from_der(der: &[u8]) -> String {
    use rustls_pki_types::PrivateKeyDer;
    let label = match PrivateKeyDer::try_from(der) {
        Ok(PrivateKeyDer::Pkcs1(_)) => "RSA PRIVATE KEY",
        Ok(PrivateKeyDer::Sec1(_)) => "EC PRIVATE KEY",
        _ => "PRIVATE KEY",
    };
    pem_encode(label, der)
}

pub fn key_matches_cert(key_der: &[u8], cert_pem: &str) -> Result<bool> {
    let key = KeyPair::try_from(key_der)
        .map_err(|e| Error::Crypto(format!("cannot read the key: {e}")))?;
    Ok(CertInfo::from_pem(cert_pem)?.spki_der == key.subject_public_key_info())
}
