//! Why the plugin refuses a request, or cannot trust its bundle (issue 32:
//! a type, not strings). dockerd shows the text to the client after
//! "tlsctx: ", and the plugin's log writes it beside the CN and serial;
//! nothing here is computed from the request but what the variant holds.

use std::fmt;
use std::path::PathBuf;

use time::OffsetDateTime;

use crate::pki::Role;
use crate::text::date;

/// The sentence every refusal that fails closed ends with.
const CLOSED: &str = "nothing is allowed over TLS until";

#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The state folder (`--state-dir`) cannot be made.
    StateDir {
        dir: PathBuf,
        why: String,
    },
    /// Before the first read of the bundle.
    NotReadYet,
    /// The CA certificate or the state file cannot be read.
    Unreadable {
        path: PathBuf,
        why: String,
    },
    CaNotPem {
        path: PathBuf,
        why: String,
    },
    CaDamaged {
        path: PathBuf,
        why: String,
    },
    StateDamaged {
        path: PathBuf,
        why: String,
    },
    StateOfAnotherCa {
        path: PathBuf,
    },
    StateUnwritable {
        path: PathBuf,
        number: u64,
        why: String,
    },
    /// crl.pem is gone while this CA has revoked something (`seen`: the
    /// CRL number accepted before; None: the bundle's crl-required says so).
    CrlMissing {
        path: PathBuf,
        seen: Option<u64>,
        marker: &'static str,
    },
    CrlExpired {
        path: PathBuf,
        on: OffsetDateTime,
    },
    CrlWithoutNumber {
        path: PathBuf,
    },
    CrlRolledBack {
        path: PathBuf,
        number: u64,
        seen: u64,
    },
    CrlUnreadable {
        path: PathBuf,
        why: String,
    },
    CrlDamaged {
        path: PathBuf,
        why: String,
    },
    CrlOfAnotherCa {
        path: PathBuf,
        ca_subject: String,
    },
    /// What dockerd passed as the peer certificate cannot be read.
    PeerUnreadable(String),
    CertUnreadable(String),
    NotFromCa {
        cn: String,
        ca: PathBuf,
        why: String,
    },
    NotClientAuth {
        cn: String,
    },
    ServiceCertificate {
        cn: String,
    },
    RoleAmbiguous {
        cn: String,
        why: String,
    },
    RoleRequired {
        cn: String,
    },
    UnmarkedWithHosts {
        cn: String,
        sans: Vec<String>,
    },
    Revoked {
        cn: String,
        serial: String,
    },
    NotAllowed {
        cn: String,
        role: Role,
        why: String,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::StateDir { dir, why } => {
                write!(f, "cannot create the state folder {}: {why}", dir.display())
            }
            Refusal::NotReadYet => f.write_str("not read yet"),
            Refusal::Unreadable { path, why } => write!(f, "cannot read {}: {why}", path.display()),
            Refusal::CaNotPem { path, why } => {
                write!(f, "{} is not a PEM certificate: {why}", path.display())
            }
            Refusal::CaDamaged { path, why } => write!(f, "{} is damaged: {why}", path.display()),
            Refusal::StateDamaged { path, why } => write!(
                f,
                "{} is damaged ({why}); {CLOSED} it is repaired or removed",
                path.display()
            ),
            Refusal::StateOfAnotherCa { path } => {
                write!(f, "{} belongs to another CA", path.display())
            }
            Refusal::StateUnwritable { path, number, why } => write!(
                f,
                "cannot record CRL number {number} in {}: {why}",
                path.display()
            ),
            Refusal::CrlMissing { path, seen, marker } => write!(
                f,
                "{} is missing, and this CA has revoked certificates ({}); {CLOSED} its CRL is back (docker tlsctx revoke --list shows them; copy the bundle's crl.pem)",
                path.display(),
                match seen {
                    Some(n) => format!("CRL number {n} was accepted before"),
                    None => format!("the bundle's {marker} says so"),
                }
            ),
            Refusal::CrlExpired { path, on } => write!(
                f,
                "{} expired on {} (its nextUpdate); put a current one in place (docker tlsctx revoke writes it)",
                path.display(),
                date(*on)
            ),
            Refusal::CrlWithoutNumber { path } => write!(
                f,
                "{} has no CRL number, so it cannot be told from an older one; {CLOSED} a CRL from docker tlsctx revoke is in place",
                path.display()
            ),
            Refusal::CrlRolledBack { path, number, seen } => write!(
                f,
                "{} is CRL number {number}, older than number {seen} accepted before: an old CRL would un-revoke certificates; {CLOSED} the current one is in place",
                path.display()
            ),
            Refusal::CrlUnreadable { path, why } => write!(
                f,
                "cannot read {}: {why}; {CLOSED} a good CRL is in place (docker tlsctx revoke writes it)",
                path.display()
            ),
            Refusal::CrlDamaged { path, why } => write!(
                f,
                "{} is damaged ({why}); {CLOSED} a good CRL is in place (docker tlsctx revoke writes it)",
                path.display()
            ),
            Refusal::CrlOfAnotherCa { path, ca_subject } => write!(
                f,
                "{} was not issued by this bundle's CA ({ca_subject}); {CLOSED} its own CRL is in place",
                path.display()
            ),
            Refusal::PeerUnreadable(why) => f.write_str(why),
            Refusal::CertUnreadable(why) => {
                write!(f, "the client certificate cannot be read: {why}")
            }
            Refusal::NotFromCa { cn, ca, why } => write!(
                f,
                "the certificate of {cn} is not from this bundle's CA ({}): {why}",
                ca.display()
            ),
            Refusal::NotClientAuth { cn } => write!(
                f,
                "the certificate of {cn} is not for TLS clients (no clientAuth)"
            ),
            Refusal::ServiceCertificate { cn } => write!(
                f,
                "the certificate of {cn} is a service certificate (OU=role:service): services are not identities of the Docker Engine API; use a client identity (docker tlsctx client NAME)"
            ),
            Refusal::RoleAmbiguous { cn, why } => write!(
                f,
                "the role of {cn} cannot be read: {why}; issue it again with --role admin or --role read-only"
            ),
            Refusal::RoleRequired { cn } => write!(
                f,
                "the certificate of {cn} carries no role (issued before roles were explicit) and this plugin requires one; renew it: docker tlsctx renew NAME --role admin (or read-only)"
            ),
            Refusal::UnmarkedWithHosts { cn, sans } => write!(
                f,
                "the certificate of {cn} carries no role and names hosts ({}): a service certificate from before roles were explicit, not a client identity; renew it with docker tlsctx cert renew NAME",
                sans.join(", ")
            ),
            Refusal::Revoked { cn, serial } => {
                write!(f, "the certificate of {cn} (serial {serial}) is revoked")
            }
            Refusal::NotAllowed { cn, role, why } => write!(f, "{cn} has role {role}, and {why}"),
        }
    }
}
