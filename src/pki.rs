//! Issuance on rcgen: inputs and `now` in, certificates and keys out; no I/O.
//!
//! The profiles follow what Go's crypto/x509 (used by both the docker CLI and
//! dockerd through go-connections) checks: SANs, never a CN fallback; EKU on
//! leaves, none on the CA because EKU constraints nest down the chain.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, RsaKeySize, SanType, SerialNumber,
    PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519, PKCS_RSA_SHA256,
};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::error::{Error, Result};

/// CA default lifetime: 10 years (ARCHITECTURE.md, "Numbers and where they come from").
pub const CA_DAYS: u32 = 3650;
/// Server default: 397 days, the CA/Browser Forum limit and well below
/// Apple's 825-day rule for TLS server certificates (support.apple.com/HT210176),
/// which applies to user-added roots too.
pub const SERVER_DAYS: u32 = 397;
/// Apple's 825-day rule: macOS and iOS reject TLS server certificates valid longer.
pub const SERVER_MAX_DAYS: u32 = 825;
/// Client default: 90 days. dockerd has no revocation list, so the lifetime
/// is the only limit on a leaked key; renewal is one command.
pub const CLIENT_DAYS: u32 = 90;
/// Ceiling for CA and client lifetimes (10 years).
pub const MAX_DAYS: u32 = 3650;
/// notBefore is set this far in the past so a client whose clock is a little
/// behind the issuer's still accepts a fresh certificate.
pub const CLOCK_SKEW: Duration = Duration::minutes(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    EcdsaP256,
    EcdsaP384,
    Ed25519,
    Rsa2048,
    Rsa3072,
    Rsa4096,
}

impl KeyType {
    pub const ALL: [KeyType; 6] = [
        KeyType::EcdsaP256,
        KeyType::EcdsaP384,
        KeyType::Ed25519,
        KeyType::Rsa2048,
        KeyType::Rsa3072,
        KeyType::Rsa4096,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::EcdsaP384 => "ecdsa-p384",
            KeyType::Ed25519 => "ed25519",
            KeyType::Rsa2048 => "rsa-2048",
            KeyType::Rsa3072 => "rsa-3072",
            KeyType::Rsa4096 => "rsa-4096",
        }
    }

    pub fn is_rsa(self) -> bool {
        matches!(self, KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096)
    }

    /// Generates a fresh key pair. RSA comes from aws-lc (rcgen's `aws_lc_rs`
    /// backend): ring, rcgen's other backend, cannot generate RSA keys.
    pub fn generate(self) -> Result<KeyPair> {
        let rsa = |size| KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, size);
        Ok(match self {
            KeyType::EcdsaP256 => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?,
            KeyType::EcdsaP384 => KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384)?,
            KeyType::Ed25519 => KeyPair::generate_for(&PKCS_ED25519)?,
            KeyType::Rsa2048 => rsa(RsaKeySize::_2048)?,
            KeyType::Rsa3072 => rsa(RsaKeySize::_3072)?,
            KeyType::Rsa4096 => rsa(RsaKeySize::_4096)?,
        })
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Records keep today's strings ("ecdsa-p256"), so existing stores read back.
impl serde::Serialize for KeyType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for KeyType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The key algorithm of a CA: one of ours, or what an imported CA uses
/// (an RSA-8192 or brainpool key from the openssl recipe), kept as its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Known(KeyType),
    Other(String),
}

impl KeyKind {
    pub fn from_name(s: &str) -> KeyKind {
        s.parse()
            .map(KeyKind::Known)
            .unwrap_or_else(|_| KeyKind::Other(s.to_string()))
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyKind::Known(k) => f.write_str(k.as_str()),
            KeyKind::Other(s) => f.write_str(s),
        }
    }
}

impl serde::Serialize for KeyKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for KeyKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(KeyKind::from_name(&String::deserialize(d)?))
    }
}

impl FromStr for KeyType {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        KeyType::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let all: Vec<_> = KeyType::ALL.iter().map(|k| k.as_str()).collect();
                format!("unknown key type {s:?}; choose one of {}", all.join(", "))
            })
    }
}

/// What a client identity may do on a daemon whose authorization plugin is
/// `docker tlsctx authz serve` (authz/policy.rs). Carried in the
/// certificate's subject as an organizational unit, `OU=role:read-only`:
/// the plugin gets the certificate itself from dockerd on every request, so
/// the role cannot drift from a record; a subject field is visible to every
/// tool (`openssl x509 -subject`, nginx's `$ssl_client_s_dn`, HAProxy) where a
/// private extension would need our parser; and a certificate without one
/// (v0.1) reads as admin, as it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Role {
    #[default]
    Admin,
    ReadOnly,
    /// Lists and versions only (issue 30): for engines whose containers,
    /// volumes or services carry secrets that read-only's inspect and logs
    /// would show.
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::ReadOnly => "read-only",
            Role::Viewer => "viewer",
        }
    }

    /// The organizational unit that carries it.
    pub fn ou(self) -> String {
        format!("role:{}", self.as_str())
    }
}

/// The organizational unit of a service certificate (`cert NAME`): the
/// plugin refuses it, since services are not people at the Engine API.
pub const SERVICE_OU: &str = "role:service";

/// What a certificate's subject says about its role, read strictly: the
/// plugin decides on this (authz/trust.rs), so anything it cannot read as
/// exactly one role fails closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoleClaim {
    /// Exactly one `OU=role:admin` or `OU=role:read-only`.
    Client(Role),
    /// Exactly one `OU=role:service`: a service certificate.
    Service,
    /// No OU that looks like a role: issued before roles were explicit
    /// (admin clients of v0.1/v0.2, and v0.2's service certificates).
    Unmarked,
    /// Two role OUs, an unknown or misspelled role, an OU that is not text,
    /// two CNs: why it cannot be read.
    Ambiguous(String),
}

impl RoleClaim {
    /// Reads a subject: its OUs, its number of CNs, and how many of its
    /// attributes are neither (O, C, …). An OU is a role claim when it
    /// mentions "role" anywhere, in any case, or is not plain ASCII (a
    /// look-alike letter, a zero-width space before "role"); a claim must
    /// be spelled exactly as we write it. A subject with no claim is
    /// Unmarked (admin, as v0.2 issued them) only when it is exactly what
    /// v0.2 wrote: one CN and nothing else.
    pub fn read(ous: &[Option<&str>], cns: usize, others: usize) -> RoleClaim {
        if cns > 1 {
            return RoleClaim::Ambiguous(format!("its subject has {cns} common names"));
        }
        let mut claims = Vec::new();
        for ou in ous {
            let Some(ou) = ou else {
                return RoleClaim::Ambiguous("an organizational unit is not text".into());
            };
            if !ou.is_ascii() || ou.to_ascii_lowercase().contains("role") {
                claims.push(*ou);
            }
        }
        match claims.as_slice() {
            [] if ous.is_empty() && others == 0 && cns == 1 => RoleClaim::Unmarked,
            [] => RoleClaim::Ambiguous(
                "its subject has other fields than a CN and no role OU (role:admin, role:read-only or role:viewer)".into(),
            ),
            ["role:admin"] => RoleClaim::Client(Role::Admin),
            ["role:read-only"] => RoleClaim::Client(Role::ReadOnly),
            ["role:viewer"] => RoleClaim::Client(Role::Viewer),
            [SERVICE_OU] => RoleClaim::Service,
            [one] => RoleClaim::Ambiguous(format!(
                "OU={one:?} is not a role (role:admin, role:read-only, role:viewer or role:service)"
            )),
            many => RoleClaim::Ambiguous(format!(
                "it names {} roles ({})",
                many.len(),
                many.iter()
                    .map(|m| format!("OU={m:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "admin" => Ok(Role::Admin),
            "read-only" => Ok(Role::ReadOnly),
            "viewer" => Ok(Role::Viewer),
            _ => Err(format!(
                "unknown role {s:?}; choose admin, read-only or viewer"
            )),
        }
    }
}

impl serde::Serialize for Role {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Role {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// What a certificate of a bundle is for: the daemon's own (`server`,
/// `new`), or a service behind it (`cert`), as a TLS server or a TLS client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Purpose {
    #[default]
    Daemon,
    Service,
    ServiceClient,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Daemon => "daemon",
            Purpose::Service => "service",
            Purpose::ServiceClient => "service-client",
        }
    }

    pub fn is_daemon(&self) -> bool {
        *self == Purpose::Daemon
    }

    /// EKU nests down the chain (RFC 5280 §4.2.1.12, as Go checks it), so a
    /// leaf carries exactly the one its peer checks.
    fn eku(self) -> ExtendedKeyUsagePurpose {
        match self {
            Purpose::Daemon | Purpose::Service => ExtendedKeyUsagePurpose::ServerAuth,
            Purpose::ServiceClient => ExtendedKeyUsagePurpose::ClientAuth,
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Purpose {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Purpose {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        [Purpose::Daemon, Purpose::Service, Purpose::ServiceClient]
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown purpose {s:?}")))
    }
}

/// One revoked certificate, as a CRL lists it.
#[derive(Clone, Debug)]
pub struct Revoked {
    pub serial_hex: String,
    pub at: OffsetDateTime,
    pub reason: Option<rcgen::RevocationReason>,
}

/// A subjectAltName entry: what a client will type to reach the daemon.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum San {
    Ip(IpAddr),
    Dns(String),
}

impl San {
    /// An IP literal (brackets allowed for IPv6) or a DNS name (RFC 1035 §2.3.1
    /// letters/digits/hyphens, labels up to 63 octets, names up to 253; a
    /// leading `*.` wildcard label is allowed).
    pub fn parse(s: &str) -> Option<San> {
        let t = s.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = t.parse::<IpAddr>() {
            return Some(San::Ip(ip));
        }
        let lower = s.to_ascii_lowercase();
        let name = lower.strip_suffix('.').unwrap_or(&lower);
        let body = name.strip_prefix("*.").unwrap_or(name);
        let valid_label = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        // A name made only of digits and dots is a mistyped IPv4 address, not a host name.
        let all_numeric = body.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        if name.len() <= 253 && !all_numeric && body.split('.').all(valid_label) {
            Some(San::Dns(name.to_string()))
        } else {
            None
        }
    }

    /// The name or address as a client types it (no "IP:"/"DNS:" prefix).
    pub fn host(&self) -> String {
        match self {
            San::Ip(ip) => ip.to_string(),
            San::Dns(d) => d.clone(),
        }
    }

    fn to_rcgen(&self) -> Result<SanType> {
        Ok(match self {
            San::Ip(ip) => SanType::IpAddress(*ip),
            San::Dns(d) => SanType::DnsName(d.clone().try_into()?),
        })
    }
}

/// Records keep today's "IP:…"/"DNS:…" strings.
impl serde::Serialize for San {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for San {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let bare = text
            .strip_prefix("IP:")
            .or_else(|| text.strip_prefix("DNS:"))
            .unwrap_or(&text);
        San::parse(bare).ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a SAN")))
    }
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            San::Ip(ip) => write!(f, "IP:{ip}"),
            San::Dns(d) => write!(f, "DNS:{d}"),
        }
    }
}

/// A leaf certificate (server or client) and its key. A CA is a `NewCa`:
/// the two never mix, as rustls-cert-gen keeps `Ca` and `EndEntity` apart.
pub struct Leaf {
    pub cert_pem: String,
    pub key: KeyPair,
    pub serial_hex: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// The lifetime asked for would have outlived the CA, so it ends with the
    /// CA instead (a verifier rejects the chain past that day anyway).
    pub clamped_to_ca: bool,
}

impl Leaf {
    /// PKCS#8 DER of the private key: what the keystore holds.
    pub fn key_der(&self) -> Vec<u8> {
        pkcs8_v1(self.key.serialize_der())
    }
    /// PKCS#8 PEM ("PRIVATE KEY"): what Docker and dockerd read
    /// (Go's tls.X509KeyPair accepts it for RSA, ECDSA and Ed25519).
    pub fn key_pem(&self) -> String {
        pem_encode("PRIVATE KEY", &self.key_der())
    }
}

/// A certificate signed for a key that is not here (`sign`).
pub struct Signed {
    pub cert_pem: String,
    pub serial_hex: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub clamped_to_ca: bool,
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

/// A new self-signed CA certificate and its key, before it is stored.
pub struct NewCa {
    pub cert_pem: String,
    pub key: KeyPair,
    pub not_after: OffsetDateTime,
}

impl NewCa {
    /// PKCS#8 DER of the CA key: what the keystore holds.
    pub fn key_der(&self) -> Vec<u8> {
        pkcs8_v1(self.key.serialize_der())
    }
}

/// aws-lc writes Ed25519 keys as PKCS#8 v2 (RFC 5958 OneAsymmetricKey with
/// the public key in `[1]`); OpenSSL 3.0 refuses to read that ("Could not
/// read key", observed with 3.0.19). Rewrite it as the v1 form of RFC 8410
/// §7, which every reader accepts: the same seed, without the public key.
fn pkcs8_v1(der: Vec<u8>) -> Vec<u8> {
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

/// Random 16-byte positive serial (RFC 5280 §4.1.2.2 allows up to 20 octets).
/// rcgen's default serial is a hash of the key, so two certificates for the
/// same key (a renewal) would repeat it.
fn random_serial() -> (SerialNumber, String) {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("the OS random number generator failed");
    // Clear the sign bit (a DER INTEGER is signed) and set the next one so the
    // encoding keeps all 16 octets.
    b[0] = (b[0] & 0x7f) | 0x40;
    (SerialNumber::from_slice(&b), crate::text::hex(&b))
}

fn validity(params: &mut CertificateParams, now: OffsetDateTime, days: u32) {
    params.not_before = now - CLOCK_SKEW;
    params.not_after = now + Duration::days(days as i64);
}

/// A new self-signed CA: CA:TRUE with pathlen 0 (it signs leaves only),
/// keyCertSign + cRLSign, no EKU, SKI for the AKI of what it issues.
pub fn new_ca(cn: &str, key_type: KeyType, days: u32, now: OffsetDateTime) -> Result<NewCa> {
    let key = key_type.generate()?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "docker-tlsctx");
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.serial_number = Some(random_serial().0);
    validity(&mut params, now, days);
    let cert = params.self_signed(&key)?;
    Ok(NewCa {
        cert_pem: cert.pem(),
        key,
        not_after: params.not_after,
    })
}

/// A loaded CA, ready to sign. Built only from a certificate and the key that
/// matches it; it knows its own name, for the errors it returns.
pub struct Ca {
    name: String,
    issuer: Issuer<'static, KeyPair>,
    pub cert_pem: String,
    pub not_after: OffsetDateTime,
}

impl Ca {
    pub fn load(name: &str, cert_pem: &str, key_der: &[u8]) -> Result<Ca> {
        let key = KeyPair::try_from(key_der)
            .map_err(|e| Error::Crypto(format!("cannot read the CA key: {e}")))?;
        let info = CertInfo::from_pem(cert_pem)?;
        // rcgen signs with any key it is given: check the pairing ourselves, or
        // we would issue certificates that no verifier can chain to this CA.
        if info.spki_der != key.subject_public_key_info() {
            return Err(Error::Crypto(
                "the CA key does not match the CA certificate".into(),
            ));
        }
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)?;
        Ok(Ca {
            name: name.to_string(),
            issuer,
            cert_pem: cert_pem.to_string(),
            not_after: info.not_after,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Days from `now` until this CA expires (rounded down).
    pub fn days_left(&self, now: OffsetDateTime) -> i64 {
        (self.not_after - now).whole_days()
    }

    fn check_alive(&self, now: OffsetDateTime) -> Result<()> {
        if self.not_after <= now {
            return Err(Error::CaExpired {
                ca: self.name.clone(),
                on: self.not_after,
            });
        }
        Ok(())
    }

    /// A client certificate with any subject, for tests of readers that
    /// must refuse what we never issue (odd role OUs, two CNs, SANs): the
    /// plugin's, which is built on Unix only.
    #[cfg(all(test, unix))]
    pub(crate) fn issue_odd_client(
        &self,
        ous: &[&str],
        cns: &[&str],
        sans: &[San],
        now: OffsetDateTime,
    ) -> Result<Leaf> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        for ou in ous {
            dn.push(DnType::OrganizationalUnitName, *ou);
        }
        for cn in cns {
            dn.push(DnType::CommonName, *cn);
        }
        params.distinguished_name = dn;
        params.subject_alt_names = sans.iter().map(San::to_rcgen).collect::<Result<_>>()?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.leaf(params, KeyType::EcdsaP256, 10, now)
    }

    fn leaf(
        &self,
        params: CertificateParams,
        key_type: KeyType,
        days: u32,
        now: OffsetDateTime,
    ) -> Result<Leaf> {
        // Before generating: an RSA-4096 key takes a second to find out nothing.
        self.check_alive(now)?;
        let key = key_type.generate()?;
        self.sign_leaf(params, key, key_type, days, now)
    }

    /// Signs `params` for `key`; callers have checked that the CA is alive.
    fn sign_leaf(
        &self,
        params: CertificateParams,
        key: KeyPair,
        key_type: KeyType,
        days: u32,
        now: OffsetDateTime,
    ) -> Result<Leaf> {
        let s = self.sign_public(params, &key, key_type.is_rsa(), days, now)?;
        Ok(Leaf {
            cert_pem: s.cert_pem,
            key,
            serial_hex: s.serial_hex,
            not_before: s.not_before,
            not_after: s.not_after,
            clamped_to_ca: s.clamped_to_ca,
        })
    }

    /// A client certificate for a public key whose private key is
    /// elsewhere (`sign`: a request's). Built from policy only: the CN and
    /// role the signer chose, clientAuth, this CA's profile; nothing of the
    /// request but its key (ARCHITECTURE.md, "Teams").
    pub fn sign_client_key(
        &self,
        cn: &str,
        role: Role,
        spki_der: &[u8],
        days: u32,
        now: OffsetDateTime,
    ) -> Result<Signed> {
        self.check_alive(now)?;
        let key = rcgen::SubjectPublicKeyInfo::from_der(spki_der)
            .map_err(|e| Error::Crypto(format!("cannot use the request's key: {e}")))?;
        let is_rsa = key_name(spki_der).starts_with("rsa-");
        self.sign_public(client_params(cn, role), &key, is_rsa, days, now)
    }

    fn sign_public(
        &self,
        mut params: CertificateParams,
        key: &impl PublicKeyData,
        is_rsa: bool,
        days: u32,
        now: OffsetDateTime,
    ) -> Result<Signed> {
        let (serial, serial_hex) = random_serial();
        params.serial_number = Some(serial);
        params.use_authority_key_identifier_extension = true;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if is_rsa {
            // TLS 1.2 RSA key exchange needs it; the openssl recipe sets it too.
            params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
        }
        validity(&mut params, now, days);
        let clamped_to_ca = params.not_after > self.not_after;
        if clamped_to_ca {
            params.not_after = self.not_after;
        }
        let cert = params.signed_by(key, &self.issuer)?;
        Ok(Signed {
            cert_pem: cert.pem(),
            serial_hex,
            not_before: params.not_before,
            not_after: params.not_after,
            clamped_to_ca,
        })
    }

    /// The daemon's certificate: every name and address clients use, as SANs
    /// (Go ignores the CN since 1.15), EKU serverAuth.
    pub fn issue_server(
        &self,
        sans: &[San],
        key_type: KeyType,
        days: u32,
        now: OffsetDateTime,
    ) -> Result<Leaf> {
        self.issue_for(Purpose::Daemon, sans, key_type, days, now)
    }

    /// A certificate for `purpose` with these SANs (the first is also the
    /// CN): serverAuth for the daemon and for services behind it (an nginx
    /// or registry site), clientAuth for a service that is a TLS client.
    pub fn issue_for(
        &self,
        purpose: Purpose,
        sans: &[San],
        key_type: KeyType,
        days: u32,
        now: OffsetDateTime,
    ) -> Result<Leaf> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        // A service certificate says so, and the plugin refuses it at the
        // Engine API; the daemon's own certificate needs nothing (serverAuth
        // only: dockerd refuses it as a client certificate).
        if purpose != Purpose::Daemon {
            dn.push(DnType::OrganizationalUnitName, SERVICE_OU);
        }
        if let Some(first) = sans.first() {
            dn.push(DnType::CommonName, first.host());
        }
        params.distinguished_name = dn;
        params.subject_alt_names = sans.iter().map(San::to_rcgen).collect::<Result<_>>()?;
        params.extended_key_usages = vec![purpose.eku()];
        self.leaf(params, key_type, days, now)
    }

    /// A client identity: EKU clientAuth, the CN names the person or job,
    /// the OU its role.
    pub fn issue_client(
        &self,
        cn: &str,
        role: Role,
        key_type: KeyType,
        days: u32,
        now: OffsetDateTime,
    ) -> Result<Leaf> {
        let params = client_params(cn, role);
        self.leaf(params, key_type, days, now)
    }

    /// A client certificate for a key that already exists (renewal without
    /// --rekey): `key_der` is its PKCS#8 DER.
    pub fn reissue_client(
        &self,
        cn: &str,
        role: Role,
        key_der: &[u8],
        key_type: KeyType,
        days: u32,
        now: OffsetDateTime,
    ) -> Result<Leaf> {
        let key = KeyPair::try_from(key_der)
            .map_err(|e| Error::Crypto(format!("cannot read the client key: {e}")))?;
        let params = client_params(cn, role);
        self.check_alive(now)?;
        self.sign_leaf(params, key, key_type, days, now)
    }
}

impl Ca {
    /// An X.509 CRL (RFC 5280 §5) of `revoked`, signed by this CA, in PEM:
    /// the format dockerd's authorization plugin here, nginx, HAProxy and
    /// ghostunnel read. `number` must grow with each CRL of this CA.
    pub fn crl(
        &self,
        revoked: &[Revoked],
        number: u64,
        now: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<String> {
        let revoked_certs = revoked
            .iter()
            .map(|r| {
                let bytes = (0..r.serial_hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&r.serial_hex[i..i + 2], 16))
                    .collect::<std::result::Result<Vec<u8>, _>>()
                    .map_err(|_| Error::Crypto(format!("serial {:?} is not hex", r.serial_hex)))?;
                Ok(rcgen::RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&bytes),
                    revocation_time: r.at,
                    reason_code: r.reason,
                    invalidity_date: None,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let params = rcgen::CertificateRevocationListParams {
            this_update: now - CLOCK_SKEW,
            next_update,
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        Ok(params.signed_by(&self.issuer)?.pem()?)
    }
}

fn client_params(cn: &str, role: Role) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    // Every role is written, admin included: the plugin can then refuse
    // certificates without one (`authz serve --require-role`), which is how
    // a CA's older admin certificates are retired (ARCHITECTURE.md, "Roles
    // and revocation").
    dn.push(DnType::OrganizationalUnitName, role.ou());
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params
}

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

/// A key's algorithm and size from its SubjectPublicKeyInfo, named as key
/// types are ("ecdsa-p256", "rsa-2048", "ed25519"), or its OID.
pub fn key_name(spki_der: &[u8]) -> String {
    use x509_parser::prelude::FromDer;
    match x509_parser::x509::SubjectPublicKeyInfo::from_der(spki_der) {
        Ok((_, spki)) => key_type_of(&spki),
        Err(_) => "unreadable".into(),
    }
}

fn key_type_of(spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> String {
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

pub fn key_matches_cert(key_der: &[u8], cert_pem: &str) -> Result<bool> {
    let key = KeyPair::try_from(key_der)
        .map_err(|e| Error::Crypto(format!("cannot read the key: {e}")))?;
    Ok(CertInfo::from_pem(cert_pem)?.spki_der == key.subject_public_key_info())
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::extensions::GeneralName;
    use x509_parser::oid_registry;
    use x509_parser::prelude::*;

    fn now() -> OffsetDateTime {
        // A fixed clock: the tests do not depend on when they run.
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    fn parse(pem_text: &str) -> Vec<u8> {
        let (_, pem) = parse_x509_pem(pem_text.as_bytes()).unwrap();
        pem.contents
    }

    #[test]
    fn san_parsing() {
        assert_eq!(
            San::parse("203.0.113.7"),
            Some(San::Ip("203.0.113.7".parse().unwrap()))
        );
        assert_eq!(
            San::parse("[2001:db8::1]"),
            Some(San::Ip("2001:db8::1".parse().unwrap()))
        );
        assert_eq!(
            San::parse("Docker.Example.com."),
            Some(San::Dns("docker.example.com".into()))
        );
        assert_eq!(
            San::parse("*.example.com"),
            Some(San::Dns("*.example.com".into()))
        );
        for bad in [
            "",
            "-a.com",
            "a..b",
            "under_score.com",
            "300.1.1.1",
            "a b",
            "x.*.com",
            &"a".repeat(64),
        ] {
            assert_eq!(San::parse(bad), None, "{bad:?} must be refused");
        }
    }

    #[test]
    fn key_type_names_round_trip() {
        for k in KeyType::ALL {
            assert_eq!(k.as_str().parse::<KeyType>().unwrap(), k);
        }
        let err = "dsa".parse::<KeyType>().unwrap_err();
        assert!(
            err.contains("ecdsa-p256, ecdsa-p384, ed25519, rsa-2048, rsa-3072, rsa-4096"),
            "{err}"
        );
    }

    #[test]
    fn ca_server_client_profiles() {
        let ca = new_ca("test CA", KeyType::EcdsaP256, CA_DAYS, now()).unwrap();
        let der = parse(&ca.cert_pem);
        let (_, c) = X509Certificate::from_der(&der).unwrap();
        let bc = c.basic_constraints().unwrap().unwrap();
        assert!(bc.critical && bc.value.ca && bc.value.path_len_constraint == Some(0));
        let ku = c.key_usage().unwrap().unwrap();
        assert!(ku.critical && ku.value.key_cert_sign() && ku.value.crl_sign());
        assert!(
            c.extended_key_usage().unwrap().is_none(),
            "a CA must not carry an EKU"
        );
        assert!(c.validity().not_before.to_datetime() < now());
        assert_eq!(
            c.validity().not_after.to_datetime(),
            now() + Duration::days(3650)
        );
        let ski = match c
            .get_extension_unique(&oid_registry::OID_X509_EXT_SUBJECT_KEY_IDENTIFIER)
            .unwrap()
            .unwrap()
            .parsed_extension()
        {
            ParsedExtension::SubjectKeyIdentifier(k) => k.0.to_vec(),
            other => panic!("{other:?}"),
        };

        let signer = Ca::load("t", &ca.cert_pem, &ca.key_der()).unwrap();
        let sans = [
            San::Ip("127.0.0.1".parse().unwrap()),
            San::Dns("docker.example.com".into()),
        ];
        let server = signer
            .issue_server(&sans, KeyType::EcdsaP256, 397, now())
            .unwrap();
        let der = parse(&server.cert_pem);
        let (_, s) = X509Certificate::from_der(&der).unwrap();
        assert!(s.verify_signature(Some(c.public_key())).is_ok());
        let eku = s.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && !eku.client_auth);
        let names: Vec<String> = s
            .subject_alternative_name()
            .unwrap()
            .unwrap()
            .value
            .general_names
            .iter()
            .map(|g| match g {
                GeneralName::DNSName(d) => format!("DNS:{d}"),
                GeneralName::IPAddress(ip) => format!("IP:{ip:?}"),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(names, ["IP:[127, 0, 0, 1]", "DNS:docker.example.com"]);
        let aki = match s
            .get_extension_unique(&oid_registry::OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER)
            .unwrap()
            .unwrap()
            .parsed_extension()
        {
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                a.key_identifier.as_ref().unwrap().0.to_vec()
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(aki, ski, "AKI of a leaf must be the SKI of its CA");
        assert!(!s.basic_constraints().unwrap().unwrap().value.ca);

        let client = signer
            .issue_client("alice", Role::Admin, KeyType::Ed25519, 90, now())
            .unwrap();
        let der = parse(&client.cert_pem);
        let (_, cl) = X509Certificate::from_der(&der).unwrap();
        assert!(cl.verify_signature(Some(c.public_key())).is_ok());
        let eku = cl.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth);
        assert_eq!(
            CertInfo::from_pem(&client.cert_pem).unwrap().subject_cn,
            "alice"
        );
    }

    #[test]
    fn serials_are_random_and_positive() {
        let ca = new_ca("c", KeyType::EcdsaP256, 10, now()).unwrap();
        let signer = Ca::load("t", &ca.cert_pem, &ca.key_der()).unwrap();
        let a = signer
            .issue_client("x", Role::Admin, KeyType::EcdsaP256, 1, now())
            .unwrap();
        let b = signer
            .issue_client("x", Role::Admin, KeyType::EcdsaP256, 1, now())
            .unwrap();
        assert_ne!(a.serial_hex, b.serial_hex);
        let info = CertInfo::from_pem(&a.cert_pem).unwrap();
        assert_eq!(info.serial_hex, a.serial_hex);
        assert_eq!(info.serial_hex.len(), 32);
    }

    #[test]
    fn a_key_that_does_not_match_is_refused() {
        let ca = new_ca("c", KeyType::EcdsaP256, 10, now()).unwrap();
        let other = KeyType::EcdsaP256.generate().unwrap();
        let err = Ca::load("t", &ca.cert_pem, &other.serialize_der())
            .err()
            .unwrap();
        assert!(err.to_string().contains("does not match"), "{err}");
    }

    #[test]
    fn leaves_end_with_their_ca() {
        let ca = new_ca("c", KeyType::EcdsaP256, 30, now()).unwrap();
        let signer = Ca::load("t", &ca.cert_pem, &ca.key_der()).unwrap();
        let leaf = signer
            .issue_client("x", Role::Admin, KeyType::EcdsaP256, 31, now())
            .unwrap();
        assert!(leaf.clamped_to_ca);
        assert_eq!(leaf.not_after, ca.not_after);
        assert_eq!(
            CertInfo::from_pem(&leaf.cert_pem).unwrap().not_after,
            ca.not_after
        );
        let leaf = signer
            .issue_client("x", Role::Admin, KeyType::EcdsaP256, 29, now())
            .unwrap();
        assert!(!leaf.clamped_to_ca);
        // An expired CA issues nothing.
        let later = now() + Duration::days(31);
        let err = signer
            .issue_client("x", Role::Admin, KeyType::EcdsaP256, 1, later)
            .err()
            .unwrap();
        assert!(matches!(err, Error::CaExpired { .. }), "{err}");
    }

    #[test]
    fn every_key_type_signs_and_reloads() {
        for kt in [KeyType::EcdsaP384, KeyType::Ed25519, KeyType::Rsa2048] {
            let ca = new_ca("c", kt, 10, now()).unwrap();
            let signer = Ca::load("t", &ca.cert_pem, &ca.key_der()).unwrap();
            let leaf = signer.issue_client("x", Role::Admin, kt, 1, now()).unwrap();
            assert!(
                leaf.key_pem().starts_with("-----BEGIN PRIVATE KEY-----"),
                "{kt}"
            );
            // What the keystore holds loads back into a signing key.
            KeyPair::try_from(leaf.key_der().as_slice()).unwrap();
        }
        // Ed25519 comes out as PKCS#8 v1 (RFC 8410 §7): 48 bytes, version 0.
        let ed = new_ca("c", KeyType::Ed25519, 10, now()).unwrap();
        assert_eq!(ed.key_der().len(), 48);
        assert_eq!(ed.key_der()[4], 0);
        let signer = Ca::load("t", &ed.cert_pem, &ed.key_der()).unwrap();
        signer
            .issue_client("x", Role::Admin, KeyType::Ed25519, 1, now())
            .unwrap();
    }

    #[test]
    fn role_claims_are_read_exactly() {
        let read =
            |ous: &[&str]| RoleClaim::read(&ous.iter().map(|o| Some(*o)).collect::<Vec<_>>(), 1, 0);
        assert_eq!(read(&[]), RoleClaim::Unmarked);
        // Anything but v0.2's bare CN needs a role.
        assert!(matches!(read(&["ops"]), RoleClaim::Ambiguous(_)));
        assert!(matches!(
            RoleClaim::read(&[], 1, 1),
            RoleClaim::Ambiguous(_)
        ));
        assert!(matches!(
            RoleClaim::read(&[], 0, 0),
            RoleClaim::Ambiguous(_)
        ));
        assert_eq!(read(&["role:read-only"]), RoleClaim::Client(Role::ReadOnly));
        assert_eq!(read(&["ops", "role:admin"]), RoleClaim::Client(Role::Admin));
        assert_eq!(read(&["role:service"]), RoleClaim::Service);
        for odd in [
            &["role:Read-Only"][..],
            &["role: read-only"],
            &[" role:read-only"],
            &["Role:admin"],
            &["role:read-only "],
            &["role:root"],
            &["role"],
            &["role:admin", "role:read-only"],
            &["role:read-only", "role:read-only"],
            &["ROLES:x"],
            &["\u{200b}role:read-only"],
            &["r\u{43e}le:read-only"],
            &["my-role"],
        ] {
            assert!(
                matches!(read(odd), RoleClaim::Ambiguous(_)),
                "{odd:?}: {:?}",
                read(odd)
            );
        }
        assert!(matches!(
            RoleClaim::read(&[None], 1, 0),
            RoleClaim::Ambiguous(_)
        ));
        assert!(matches!(
            RoleClaim::read(&[Some("role:read-only")], 2, 0),
            RoleClaim::Ambiguous(_)
        ));
    }

    #[test]
    fn roles_ride_in_the_subject_and_crls_list_serials() {
        let ca = new_ca("c", KeyType::EcdsaP256, 30, now()).unwrap();
        let signer = Ca::load("c", &ca.cert_pem, &ca.key_der()).unwrap();
        let ro = signer
            .issue_client("bob", Role::ReadOnly, KeyType::EcdsaP256, 1, now())
            .unwrap();
        let info = CertInfo::from_pem(&ro.cert_pem).unwrap();
        assert_eq!(info.role, Role::ReadOnly);
        assert!(
            info.subject.contains("OU=role:read-only"),
            "{}",
            info.subject
        );
        let admin = signer
            .issue_client("al", Role::Admin, KeyType::EcdsaP256, 1, now())
            .unwrap();
        let info = CertInfo::from_pem(&admin.cert_pem).unwrap();
        assert_eq!(info.role, Role::Admin);
        assert_eq!(info.role_claim, RoleClaim::Client(Role::Admin));
        assert!(
            info.subject.contains("OU=role:admin"),
            "admin is written: {}",
            info.subject
        );
        // A service certificate says so; the daemon's own says nothing.
        let san = San::parse("svc.example").unwrap();
        for (purpose, claim) in [
            (Purpose::Service, RoleClaim::Service),
            (Purpose::ServiceClient, RoleClaim::Service),
            (Purpose::Daemon, RoleClaim::Unmarked),
        ] {
            let leaf = signer
                .issue_for(
                    purpose,
                    std::slice::from_ref(&san),
                    KeyType::EcdsaP256,
                    1,
                    now(),
                )
                .unwrap();
            assert_eq!(
                CertInfo::from_pem(&leaf.cert_pem).unwrap().role_claim,
                claim
            );
        }
        let crl = signer
            .crl(
                &[Revoked {
                    serial_hex: ro.serial_hex.clone(),
                    at: now(),
                    reason: Some(rcgen::RevocationReason::KeyCompromise),
                }],
                1,
                now(),
                now() + Duration::days(30),
            )
            .unwrap();
        let (_, pem) = parse_x509_pem(crl.as_bytes()).unwrap();
        let (_, parsed) =
            x509_parser::revocation_list::CertificateRevocationList::from_der(&pem.contents)
                .unwrap();
        let serials: Vec<String> = parsed
            .iter_revoked_certificates()
            .map(|r| crate::text::hex(r.raw_serial()))
            .collect();
        assert_eq!(serials, std::slice::from_ref(&ro.serial_hex));
    }
}
