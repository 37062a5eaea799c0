//! Over 600 lines: about 200 of them are unit tests of hostile requests and responses, which call
//! the private checks they test.
//!
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
use crate::pki::{Role, San};
use crate::text::{one_line, sha256_hex};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};

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
    // DER, not BER: one encoding per request, so what is hashed, shown and
    // signed is what every other reader reads (found by review: requests
    // with long-form lengths were accepted).
    strict_der(&der).map_err(|why| invalid(format!("it is not DER ({why})")))?;
    let (rest, csr) = X509CertificationRequest::from_der(&der)
        .map_err(|e| invalid(format!("it is not a PKCS#10 request: {e}")))?;
    if !rest.is_empty() {
        return Err(invalid("bytes follow the request"));
    }
    // RFC 2986 §4.1: version is 0 (v1), the only one defined.
    if csr.certification_request_info.version.0 != 0 {
        return Err(invalid(format!(
            "its version is {}, and PKCS#10 defines only version 0 (v1)",
            csr.certification_request_info.version.0
        )));
    }
    // The key first: aws-lc will not verify with an RSA-1024 key, and
    // "weak key" is the answer the requester can act on.
    let key = key_name(csr.certification_request_info.subject_pki.raw);
    if !key_allowed(&key) {
        return Err(Error::KeyRefused(key));
    }
    // The signature algorithm must be one for that kind of key, with
    // SHA-2 (found by review: an SPKI labelled P-256 that held an Ed25519
    // key verified with the Ed25519 algorithm and was signed; SHA-1
    // requests were accepted).
    // An allow-list: an algorithm not on it is refused, whatever the
    // verifier would make of it (found by review: SHA-1 under OIW's
    // 1.3.14.3.2.29 was verified and signed).
    let alg = csr.signature_algorithm.algorithm.to_id_string();
    // ECDSA and EdDSA algorithm identifiers have no parameters (RFC 5758
    // §3.2, RFC 8410 §3): a NULL there is not DER of them.
    let params_absent = csr.signature_algorithm.parameters.is_none();
    if (key.starts_with("ecdsa-") || key == "ed25519") && !params_absent {
        return Err(invalid(format!(
            "its signature algorithm {alg} carries parameters, which it must omit"
        )));
    }
    // The key's BIT STRING has no unused bits (RFC 5480 §2.2, RFC 8410
    // §4): otherwise the key read out would not be the one certified
    // (found by review: its fingerprint differed from the certificate's).
    if csr
        .certification_request_info
        .subject_pki
        .subject_public_key
        .unused_bits
        != 0
    {
        return Err(invalid("its public key's BIT STRING has unused bits"));
    }
    if !signature_fits(&key, &alg) {
        return Err(invalid(format!(
            "it is signed with algorithm {alg}, which is not a SHA-2 signature for its {key} key (SHA-1 and MD5 are refused)"
        )));
    }
    // An Ed25519 key of small order (the identity, and the other torsion
    // points) makes a signature that verifies for any message: the
    // request proves nothing, and whoever sees the certificate could use
    // it (found by review). Honest keys are a multiple of the base point.
    if key == "ed25519" {
        ed25519_key_is_sound(
            csr.certification_request_info
                .subject_pki
                .subject_public_key
                .data
                .as_ref(),
        )
        .map_err(invalid)?;
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
    let blocks = pem_blocks(text).map_err(|e| bad(e.to_string()))?;
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
/// An Ed25519 public key that only its holder can sign with: 32 bytes, a
/// canonical encoding of a curve point (RFC 8032 §5.1.3), in the prime-order
/// subgroup (no torsion component, so not one of the 8 small-order points).
fn ed25519_key_is_sound(raw: &[u8]) -> std::result::Result<(), &'static str> {
    use curve25519_dalek::edwards::CompressedEdwardsY;
    let bytes: [u8; 32] = raw
        .try_into()
        .map_err(|_| "its Ed25519 key is not 32 bytes")?;
    let point = CompressedEdwardsY(bytes)
        .decompress()
        .ok_or("its Ed25519 key is not a point of the curve")?;
    // decompress takes y modulo p: a non-canonical y (p and above)
    // re-encodes differently.
    if point.compress().0 != bytes {
        return Err("its Ed25519 key is not encoded canonically");
    }
    if point.is_small_order() || !point.is_torsion_free() {
        return Err(
            "its Ed25519 key is a point of small order, for which a signature proves nothing",
        );
    }
    Ok(())
}

/// Whether a request's signature algorithm (its OID) is a SHA-2 (or
/// EdDSA) signature for the kind of key it holds: RFC 5758 §3.2 (ECDSA with
/// SHA-2), RFC 8410 §3 (Ed25519), RFC 4055 §5 (RSA PKCS#1 v1.5 with SHA-2;
/// RSASSA-PSS, whose parameters aws-lc checks when it verifies).
fn signature_fits(key: &str, alg: &str) -> bool {
    const ECDSA_SHA2: [&str; 3] = [
        "1.2.840.10045.4.3.2",
        "1.2.840.10045.4.3.3",
        "1.2.840.10045.4.3.4",
    ];
    const RSA_SHA2: [&str; 4] = [
        "1.2.840.113549.1.1.11",
        "1.2.840.113549.1.1.12",
        "1.2.840.113549.1.1.13",
        "1.2.840.113549.1.1.10",
    ];
    match key {
        "ecdsa-p256" | "ecdsa-p384" => ECDSA_SHA2.contains(&alg),
        "ed25519" => alg == "1.3.101.112",
        k if k.starts_with("rsa-") => RSA_SHA2.contains(&alg),
        _ => false,
    }
}

/// Checks that `der` is DER (X.690 §10): every length in its shortest form
/// (short form below 128, no leading zero octet in the long form, never the
/// indefinite form), every element inside its parent, nothing after the
/// outer one; constructed elements are walked too. Tags are single-octet
/// here (PKCS#10 uses no high tag numbers).
pub fn strict_der(der: &[u8]) -> std::result::Result<(), String> {
    fn walk(mut b: &[u8], depth: usize) -> std::result::Result<(), String> {
        if depth > 32 {
            return Err("nested too deeply".into());
        }
        while !b.is_empty() {
            let tag = b[0];
            if tag & 0x1f == 0x1f {
                return Err("a multi-octet tag".into());
            }
            let (len, head) = match b.get(1) {
                None => return Err("a truncated element".into()),
                Some(&l) if l < 0x80 => (l as usize, 2),
                Some(0x80) => return Err("an indefinite length".into()),
                Some(&l) => {
                    let n = (l & 0x7f) as usize;
                    if n > 4 || b.len() < 2 + n {
                        return Err("a length that does not fit".into());
                    }
                    let bytes = &b[2..2 + n];
                    if bytes[0] == 0 {
                        return Err("a length with a leading zero octet".into());
                    }
                    let len = bytes.iter().fold(0usize, |a, &x| (a << 8) | x as usize);
                    if len < 0x80 {
                        return Err("a long-form length below 128".into());
                    }
                    (len, 2 + n)
                }
            };
            let end = head
                .checked_add(len)
                .filter(|e| *e <= b.len())
                .ok_or("an element longer than its parent")?;
            // Universal types other than SEQUENCE and SET are primitive in
            // DER (X.690 §10.2: strings are never constructed), and a
            // BOOLEAN is one octet, 00 or FF (§11.1).
            if tag & 0xe0 == 0x20 && tag != 0x30 && tag != 0x31 {
                return Err(format!("a constructed universal element (tag {tag:#04x})"));
            }
            if tag == 0x01 && !(len == 1 && matches!(b[head], 0x00 | 0xff)) {
                return Err("a BOOLEAN that is not 00 or FF".into());
            }
            if tag & 0x20 != 0 {
                walk(&b[head..end], depth + 1)?;
            }
            b = &b[end..];
        }
        Ok(())
    }
    walk(der, 0)
}

pub fn key_allowed(name: &str) -> bool {
    match name {
        "ecdsa-p256" | "ecdsa-p384" | "ed25519" => true,
        n => n
            .strip_prefix("rsa-")
            .and_then(|b| b.parse::<u32>().ok())
            .is_some_and(|b| (2048..=8192).contains(&b)),
    }
}

/// A PKCS#10 request (PEM) for `key_der` (PKCS#8) with only a CN: what
/// `request` writes. Nothing else is asked for; the signer decides the rest.
pub fn csr_pem(key_der: &[u8], cn: &str) -> Result<String> {
    csr_pem_with_sans(key_der, cn, &[])
}

/// The same with SANs: what an issuer's server role copies into a daemon's
/// certificate (Vault's roles default to use_csr_sans).
pub fn csr_pem_with_sans(key_der: &[u8], cn: &str, sans: &[San]) -> Result<String> {
    let key = KeyPair::try_from(key_der)
        .map_err(|e| Error::Crypto(format!("cannot read the key: {e}")))?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.subject_alt_names = sans.iter().map(San::to_rcgen).collect::<Result<_>>()?;
    Ok(params.serialize_request(&key)?.pem()?)
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
        let csr = super::csr_pem(&der, "bob").unwrap();
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
        let csr = super::csr_pem(&der, "bob").unwrap();
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

    /// Issue 30: non-minimal DER, SHA-1 and a signature algorithm of
    /// another key type were accepted.
    #[test]
    fn only_der_and_a_sha2_signature_of_the_keys_own_kind() {
        let der = key(KeyType::EcdsaP256);
        let csr = super::csr_pem(&der, "bob").unwrap();
        let good = ::pem::parse(&csr).unwrap().contents().to_vec();
        assert!(read_request(&good).is_ok());
        strict_der(&good).unwrap();
        // The outer length in a longer form than needed: same content, and
        // the signature (over the inner part) still verifies.
        assert_eq!(good[0], 0x30);
        let (len, head) = match good[1] {
            l if l < 0x80 => (l as usize, 2),
            0x81 => (good[2] as usize, 3),
            _ => (((good[2] as usize) << 8) | good[3] as usize, 4),
        };
        let mut long = vec![0x30, 0x84];
        long.extend_from_slice(&(len as u32).to_be_bytes());
        long.extend_from_slice(&good[head..]);
        let e = read_request(&long).unwrap_err().to_string();
        assert!(e.contains("not DER") && e.contains("leading zero"), "{e}");
        for (bad, why) in [
            (&[0x30, 0x03, 0x01, 0x01, 0x01][..], "BOOLEAN"),
            (
                &[0x30, 0x04, 0x2c, 0x02, 0x0c, 0x00][..],
                "constructed universal",
            ),
            (&[0x30, 0x80, 0, 0][..], "indefinite"),
            (
                &[0x30, 0x81, 0x05, 0x02, 0x01, 0x00, 0x05, 0x00][..],
                "below 128",
            ),
            (&[0x30, 0x05, 0x02, 0x01][..], "longer than its parent"),
        ] {
            let e = strict_der(bad).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
        // Algorithms: SHA-2 of the key's own kind only.
        assert!(signature_fits("ecdsa-p256", "1.2.840.10045.4.3.2"));
        assert!(
            !signature_fits("ecdsa-p256", "1.2.840.10045.4.1"),
            "ecdsa-with-SHA1"
        );
        assert!(
            !signature_fits("ecdsa-p256", "1.3.101.112"),
            "Ed25519 for an EC key"
        );
        assert!(signature_fits("ed25519", "1.3.101.112"));
        assert!(!signature_fits("ed25519", "1.2.840.10045.4.3.2"));
        assert!(signature_fits("rsa-2048", "1.2.840.113549.1.1.11"));
        assert!(
            !signature_fits("rsa-2048", "1.2.840.113549.1.1.5"),
            "sha1WithRSA"
        );
        assert!(
            !signature_fits("rsa-2048", "1.2.840.113549.1.1.4"),
            "md5WithRSA"
        );
        assert!(
            !signature_fits("rsa-2048", "1.3.14.3.2.29"),
            "OIW sha1WithRSA"
        );
        assert!(!signature_fits("ecdsa-p256", "1.2.3.4"), "unknown");
        // Ed25519 keys: the identity and other small-order points, a
        // non-canonical encoding and a non-point refused; a real key kept.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(ed25519_key_is_sound(&identity).is_err());
        assert!(ed25519_key_is_sound(&[0u8; 32]).is_err(), "order 4");
        let mut p_minus_1 = [0xffu8; 32];
        p_minus_1[0] = 0xec;
        p_minus_1[31] = 0x7f;
        assert!(ed25519_key_is_sound(&p_minus_1).is_err(), "order 2");
        let mut p_plus_1 = [0xffu8; 32];
        p_plus_1[0] = 0xee;
        p_plus_1[31] = 0x7f;
        assert!(
            ed25519_key_is_sound(&p_plus_1).is_err(),
            "1 written as p + 1"
        );
        assert!(ed25519_key_is_sound(&[1u8; 31]).is_err());
        let der = key(KeyType::Ed25519);
        let csr = super::csr_pem(&der, "ed").unwrap();
        let r = read_request(csr.as_bytes()).unwrap();
        assert_eq!(r.key, "ed25519");
        // Found by review, whole: a request for the identity point whose
        // signature (R = identity, S = 0) verifies for any message.
        fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
            let mut v = vec![tag];
            if body.len() < 0x80 {
                v.push(body.len() as u8);
            } else {
                v.extend([0x81, body.len() as u8]);
            }
            v.extend_from_slice(body);
            v
        }
        let ed_oid = tlv(0x06, &[0x2b, 0x65, 0x70]);
        let alg = tlv(0x30, &ed_oid);
        let mut point = vec![0u8];
        point.extend(identity);
        let spki = tlv(0x30, &[alg.clone(), tlv(0x03, &point)].concat());
        let cn = tlv(
            0x30,
            &[tlv(0x06, &[0x55, 0x04, 0x03]), tlv(0x0c, b"nokey")].concat(),
        );
        let name = tlv(0x30, &tlv(0x31, &cn));
        let info = tlv(0x30, &[tlv(0x02, &[0]), name, spki, vec![0xa0, 0]].concat());
        let mut sig = vec![0u8];
        sig.extend(identity);
        sig.extend([0u8; 32]);
        let req = tlv(0x30, &[info, alg, tlv(0x03, &sig)].concat());
        strict_der(&req).unwrap();
        let e = read_request(&req).unwrap_err().to_string();
        assert!(e.contains("small order"), "{e}");
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
