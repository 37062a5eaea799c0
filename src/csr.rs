//! Certificate requests between two people (ARCHITECTURE.md, "Teams"): the
//! PKCS#10 request a requester's key signs, read and checked here before
//! anything is signed, and the request and response files `request`, `sign`
//! and `accept` exchange. Pure: bytes in, values out.
//!
//! A request file is the PEM request (first, so `openssl req`, easy-rsa,
//! cfssl, step and Vault read it as any other) followed by one line of JSON
//! (the envelope). A response file is one line of JSON, then the
//! certificate and the CA certificate in PEM (`openssl x509` reads the
//! first). The envelopes say what was asked and for whom; nothing in them
//! is trusted: the signer decides from policy, and `accept` checks the
//! certificate itself.

use serde::{Deserialize, Serialize};
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::*;

use crate::error::{Error, Result};
use crate::pki::Role;
use crate::text::{one_line, sha256_hex};

/// Larger files are refused before parsing: a request is under 2 KiB even
/// with an RSA-4096 key, a response under 4 KiB.
pub const MAX_FILE: u64 = 64 * 1024;

const REQUEST_KIND: &str = "docker-tlsctx request";
const RESPONSE_KIND: &str = "docker-tlsctx response";

/// What `request` asked for, beside the CSR.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RequestEnvelope {
    pub kind: String,
    pub version: u32,
    /// The requester's name for the context.
    pub name: String,
    /// The daemon, as tcp://HOST:PORT.
    pub host: String,
    /// The role asked for; the signer grants what it chooses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// SHA-256 of the key's SubjectPublicKeyInfo: read out to the signer.
    pub spki_sha256: String,
    /// RFC 3339.
    pub created: String,
    /// A renewal of an identity this CA signed before.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub renewal: bool,
}

/// What `sign` answers, beside the two certificates.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ResponseEnvelope {
    pub kind: String,
    pub version: u32,
    pub name: String,
    pub host: Option<String>,
    /// SHA-256 of the CA certificate (DER): what the requester confirms.
    pub ca_sha256: String,
    pub cn: String,
    pub role: Role,
    pub serial: String,
    /// RFC 3339.
    pub not_after: String,
}

impl RequestEnvelope {
    pub fn new(
        name: &str,
        host: &str,
        role: Option<Role>,
        spki: &str,
        created: &str,
    ) -> RequestEnvelope {
        RequestEnvelope {
            kind: REQUEST_KIND.into(),
            version: 1,
            name: name.into(),
            host: host.into(),
            role,
            spki_sha256: spki.into(),
            created: created.into(),
            renewal: false,
        }
    }
}

impl ResponseEnvelope {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: &str,
        host: Option<&str>,
        ca_sha256: &str,
        cn: &str,
        role: Role,
        serial: &str,
        not_after: &str,
    ) -> ResponseEnvelope {
        ResponseEnvelope {
            kind: RESPONSE_KIND.into(),
            version: 1,
            name: name.into(),
            host: host.map(str::to_string),
            ca_sha256: ca_sha256.into(),
            cn: cn.into(),
            role,
            serial: serial.into(),
            not_after: not_after.into(),
        }
    }
}

/// The request file's text.
pub fn request_text(csr_pem: &str, env: &RequestEnvelope) -> String {
    format!(
        "{}{}\n",
        csr_pem,
        serde_json::to_string(env).expect("an envelope serializes")
    )
}

/// The response file's text.
pub fn response_text(env: &ResponseEnvelope, cert_pem: &str, ca_pem: &str) -> String {
    format!(
        "{}\n{}{}",
        serde_json::to_string(env).expect("an envelope serializes"),
        cert_pem,
        ca_pem
    )
}

/// A request as read and checked: the signature verified, the key named.
#[derive(Debug, Clone)]
pub struct Request {
    pub envelope: Option<RequestEnvelope>,
    /// The subject's first CN.
    pub cn: Option<String>,
    pub spki_der: Vec<u8>,
    pub spki_sha256: String,
    /// "ecdsa-p256", "rsa-2048", "ed25519", or an OID.
    pub key: String,
    /// Everything the request carries that the certificate will not:
    /// other subject fields, a second CN, every requested extension and
    /// attribute, each as the signer should read it.
    pub ignored: Vec<String>,
}

fn invalid(why: impl Into<String>) -> Error {
    Error::RequestInvalid(why.into())
}

/// Reads a request file: ours, or a bare PEM (or DER) CSR from any other
/// tool. The CSR's signature must verify with its own key (proof that the
/// requester holds the key); a damaged envelope is refused, not skipped.
pub fn read_request(bytes: &[u8]) -> Result<Request> {
    let (der, envelope) = if bytes.first() == Some(&0x30) {
        (bytes.to_vec(), None)
    } else {
        let text =
            std::str::from_utf8(bytes).map_err(|_| invalid("it is neither text (PEM) nor DER"))?;
        let blocks = pem_blocks(text)?;
        let csrs: Vec<&::pem::Pem> = blocks
            .iter()
            .filter(|b| matches!(b.tag(), "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST"))
            .collect();
        let der = match csrs.as_slice() {
            [one] => one.contents().to_vec(),
            [] => return Err(invalid("it holds no CERTIFICATE REQUEST block")),
            _ => return Err(invalid("it holds more than one certificate request")),
        };
        if blocks.len() != 1 {
            return Err(invalid("it holds other PEM blocks beside the request"));
        }
        let envelope = match envelope_line(text) {
            Some(line) => {
                let e: RequestEnvelope = serde_json::from_str(line)
                    .map_err(|e| invalid(format!("its docker-tlsctx envelope is damaged: {e}")))?;
                if e.kind != REQUEST_KIND || e.version != 1 {
                    return Err(invalid(format!(
                        "its envelope is a {:?} version {}, not a request this version reads",
                        e.kind, e.version
                    )));
                }
                Some(e)
            }
            None => None,
        };
        (der, envelope)
    };
    let (rest, csr) = X509CertificationRequest::from_der(&der)
        .map_err(|e| invalid(format!("it is not a PKCS#10 request: {e}")))?;
    if !rest.is_empty() {
        return Err(invalid("bytes follow the request"));
    }
    // The key first: aws-lc will not verify with an RSA-1024 key, and
    // "weak key" is the answer the requester can act on.
    let key = key_name(csr.certification_request_info.subject_pki.raw);
    if !key_allowed(&key) {
        return Err(Error::KeyRefused(key));
    }
    csr.verify_signature().map_err(|_| {
        invalid("its signature does not verify with its own key (damaged, or made by someone without the key)")
    })?;
    let info = &csr.certification_request_info;
    let spki_der = info.subject_pki.raw.to_vec();
    let spki_sha256 = sha256_hex(&spki_der);
    if let Some(e) = &envelope {
        if e.spki_sha256 != spki_sha256 {
            return Err(invalid(
                "its envelope names another key than its request (the two were not made together)",
            ));
        }
    }
    let mut ignored = Vec::new();
    let mut cn = None;
    for attr in info.subject.iter_attributes() {
        let value = attr
            .as_str()
            .map(one_line)
            .unwrap_or_else(|_| "(not text)".into());
        if attr.attr_type() == &x509_parser::oid_registry::OID_X509_COMMON_NAME && cn.is_none() {
            // Kept as sent: validate_cn must see a NUL or an escape
            // sequence to refuse it (shown with one_line, never cleaned).
            let raw = attr.as_str().map_err(|_| invalid("its CN is not text"))?;
            cn = Some(raw.to_string());
            continue;
        }
        ignored.push(format!("subject {}={value}", attr_name(attr.attr_type())));
    }
    for attr in info.iter_attributes() {
        if attr.oid != x509_parser::oid_registry::OID_PKCS9_EXTENSION_REQUEST {
            ignored.push(format!("attribute {}", attr.oid.to_id_string()));
        }
    }
    if let Some(exts) = csr.requested_extensions() {
        for e in exts {
            ignored.push(describe_extension(e));
        }
    }
    Ok(Request {
        envelope,
        cn,
        key,
        spki_der,
        spki_sha256,
        ignored,
    })
}

/// A response as read: the envelope and the two certificates (DER).
#[derive(Debug, Clone)]
pub struct Response {
    pub envelope: ResponseEnvelope,
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
    pub ca_pem: String,
    pub ca_der: Vec<u8>,
}

pub fn read_response(bytes: &[u8]) -> Result<Response> {
    let bad = |why: String| Error::ResponseInvalid(why);
    let text = std::str::from_utf8(bytes).map_err(|_| bad("it is not text".into()))?;
    let line = envelope_line(text).ok_or_else(|| {
        bad("it has no docker-tlsctx envelope (a response comes from docker tlsctx sign)".into())
    })?;
    let envelope: ResponseEnvelope =
        serde_json::from_str(line).map_err(|e| bad(format!("its envelope is damaged: {e}")))?;
    if envelope.kind != RESPONSE_KIND || envelope.version != 1 {
        return Err(bad(format!(
            "its envelope is a {:?} version {}, not a response this version reads",
            envelope.kind, envelope.version
        )));
    }
    let blocks = pem_blocks(text).map_err(|e| bad(e.explain().0))?;
    let [cert, ca] = blocks.as_slice() else {
        return Err(bad(format!(
            "it holds {} PEM blocks, not the certificate and its CA",
            blocks.len()
        )));
    };
    if cert.tag() != "CERTIFICATE" || ca.tag() != "CERTIFICATE" {
        return Err(bad("its PEM blocks are not two certificates".into()));
    }
    Ok(Response {
        envelope,
        cert_pem: pem_of(cert),
        cert_der: cert.contents().to_vec(),
        ca_pem: pem_of(ca),
        ca_der: ca.contents().to_vec(),
    })
}

fn pem_of(b: &::pem::Pem) -> String {
    crate::pki::pem_encode(b.tag(), b.contents())
}

fn pem_blocks(text: &str) -> Result<Vec<::pem::Pem>> {
    // Only the lines of PEM blocks: the envelope (and any comment a tool
    // writes around a block) stays out of the PEM parser.
    let mut inside = false;
    let mut kept = String::new();
    for line in text.lines() {
        let l = line.trim_end();
        if l.starts_with("-----BEGIN ") {
            inside = true;
        }
        if inside {
            kept.push_str(l);
            kept.push('\n');
        }
        if l.starts_with("-----END ") {
            inside = false;
        }
    }
    ::pem::parse_many(&kept).map_err(|e| invalid(format!("its PEM is damaged: {e}")))
}

/// The one line outside PEM blocks that is a JSON object.
fn envelope_line(text: &str) -> Option<&str> {
    let mut inside = false;
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with("-----BEGIN ") {
            inside = true;
        } else if l.starts_with("-----END ") {
            inside = false;
        } else if !inside && l.starts_with('{') {
            return Some(l);
        }
    }
    None
}

fn attr_name(oid: &x509_parser::der_parser::oid::Oid<'_>) -> String {
    x509_parser::objects::oid2abbrev(oid, x509_parser::objects::oid_registry())
        .map(str::to_string)
        .unwrap_or_else(|_| oid.to_id_string())
}

fn describe_extension(e: &ParsedExtension<'_>) -> String {
    let names = |g: &[GeneralName<'_>]| {
        g.iter()
            .map(|n| match n {
                GeneralName::DNSName(d) => format!("DNS:{}", one_line(d)),
                GeneralName::RFC822Name(m) => format!("email:{}", one_line(m)),
                GeneralName::URI(u) => format!("URI:{}", one_line(u)),
                GeneralName::IPAddress(b) => match b.len() {
                    4 => format!(
                        "IP:{}",
                        std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*b).unwrap())
                    ),
                    16 => format!(
                        "IP:{}",
                        std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*b).unwrap())
                    ),
                    _ => "IP:(malformed)".into(),
                },
                other => one_line(&format!("{other:?}")).chars().take(80).collect(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    match e {
        ParsedExtension::SubjectAlternativeName(san) => {
            format!("subjectAltName {}", names(&san.general_names))
        }
        ParsedExtension::BasicConstraints(bc) => format!(
            "basicConstraints CA:{}",
            if bc.ca { "TRUE" } else { "FALSE" }
        ),
        ParsedExtension::ExtendedKeyUsage(eku) => {
            let mut v = Vec::new();
            if eku.any {
                v.push("any".to_string());
            }
            if eku.server_auth {
                v.push("serverAuth".into());
            }
            if eku.client_auth {
                v.push("clientAuth".into());
            }
            if eku.code_signing {
                v.push("codeSigning".into());
            }
            if eku.email_protection {
                v.push("emailProtection".into());
            }
            if eku.time_stamping {
                v.push("timeStamping".into());
            }
            if eku.ocsp_signing {
                v.push("OCSPSigning".into());
            }
            v.extend(eku.other.iter().map(|o| o.to_id_string()));
            format!("extendedKeyUsage {}", v.join(", "))
        }
        ParsedExtension::KeyUsage(ku) => format!("keyUsage {ku}"),
        ParsedExtension::UnsupportedExtension { oid } => {
            format!("extension {}", oid.to_id_string())
        }
        other => format!("extension {other:?}")
            .chars()
            .take(80)
            .collect::<String>(),
    }
}

/// The key's algorithm and size (pki::key_name).
pub use crate::pki::key_name;

/// The keys a signer accepts (what dockerd's Go TLS stack and every
/// keystore here handle): ECDSA P-256 and P-384, Ed25519, RSA of 2048 bits
/// or more (NIST SP 800-131A: below 2048 is disallowed since 2013) and at
/// most 8192 (a larger key is a cost to every handshake, not security).
pub fn key_allowed(name: &str) -> bool {
    match name {
        "ecdsa-p256" | "ecdsa-p384" | "ed25519" => true,
        n => n
            .strip_prefix("rsa-")
            .and_then(|b| b.parse::<u32>().ok())
            .is_some_and(|b| (2048..=8192).contains(&b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::KeyType;

    fn key(kt: KeyType) -> Vec<u8> {
        let k = kt.generate().unwrap();
        k.serialize_der()
    }

    #[test]
    fn our_request_reads_back_with_its_envelope() {
        let der = key(KeyType::EcdsaP256);
        let csr = crate::pki::csr_pem(&der, "bob").unwrap();
        let spki = crate::pki::spki_sha256_of_key(&der).unwrap();
        let env = RequestEnvelope::new(
            "prod",
            "tcp://10.0.0.1:2376",
            Some(Role::ReadOnly),
            &spki,
            "2026-12-01T00:00:00Z",
        );
        let r = read_request(request_text(&csr, &env).as_bytes()).unwrap();
        assert_eq!(r.envelope, Some(env));
        assert_eq!(r.cn.as_deref(), Some("bob"));
        assert_eq!(r.key, "ecdsa-p256");
        assert_eq!(r.spki_sha256, spki);
        assert!(r.ignored.is_empty(), "{:?}", r.ignored);
        // Bare, without the envelope.
        let r = read_request(csr.as_bytes()).unwrap();
        assert!(r.envelope.is_none());
    }

    #[test]
    fn an_envelope_for_another_key_or_a_flipped_byte_is_refused() {
        let der = key(KeyType::EcdsaP256);
        let csr = crate::pki::csr_pem(&der, "bob").unwrap();
        let env = RequestEnvelope::new("prod", "tcp://h:2376", None, &"0".repeat(64), "x");
        let e = read_request(request_text(&csr, &env).as_bytes()).unwrap_err();
        assert!(e.to_string().contains("another key"), "{e}");
        // A signature that does not verify.
        let block = ::pem::parse(&csr).unwrap();
        let mut bytes = block.contents().to_vec();
        let n = bytes.len();
        bytes[n - 3] ^= 1;
        let e = read_request(&bytes).unwrap_err();
        assert!(e.to_string().contains("signature does not verify"), "{e}");
        // A damaged envelope is refused, not skipped.
        let text = format!(
            "{csr}{{\"kind\": \"docker-tlsctx request\", \"version\": 1, \"admin\": true}}\n"
        );
        let e = read_request(text.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("envelope is damaged"), "{e}");
    }

    #[test]
    fn keys_allowed() {
        for ok in [
            "ecdsa-p256",
            "ecdsa-p384",
            "ed25519",
            "rsa-2048",
            "rsa-4096",
        ] {
            assert!(key_allowed(ok), "{ok}");
        }
        for no in [
            "rsa-1024",
            "rsa-2047",
            "rsa-16384",
            "ecdsa-1.3.132.0.10",
            "1.2.3",
            "rsa-",
        ] {
            assert!(!key_allowed(no), "{no}");
        }
    }
}
