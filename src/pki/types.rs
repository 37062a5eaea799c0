//! The vocabulary of certificates: key types and kinds, roles and role
//! claims, purposes, SANs, revocations, with their record spellings.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use rcgen::{
    ExtendedKeyUsagePurpose, KeyPair, RsaKeySize, SanType, PKCS_ECDSA_P256_SHA256,
    PKCS_ECDSA_P384_SHA384, PKCS_ED25519, PKCS_RSA_SHA256,
};
use time::OffsetDateTime;

use crate::error::Result;

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
    pub(crate) fn eku(self) -> ExtendedKeyUsagePurpose {
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

    pub(crate) fn to_rcgen(&self) -> Result<SanType> {
        Ok(match self {
            San::Ip(ip) => SanType::IpAddress(*ip),
            San::Dns(d) => SanType::DnsName(d.clone().try_into()?),
        })
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
