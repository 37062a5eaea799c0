//! What the plugin trusts: a server bundle's ca.pem and, once something is
//! revoked, its crl.pem. Both are read again whenever they change on disk
//! (size, modification time), so `docker tlsctx revoke` takes effect within
//! a request, without restarting dockerd (which reads its own TLS files only
//! at start).
//!
//! The CRL is checked when it is read: issued by this CA (same subject, a
//! signature its key made), not past its nextUpdate, and not older than one
//! already accepted: the plugin keeps the highest CRL number it accepted per
//! CA in a state file (`--state-dir`, /var/lib/docker-tlsctx/authz), so an
//! old CRL put back cannot un-revoke anything. A CRL that fails any of these
//! fails closed: every request with a client certificate is refused with the
//! reason, until a good crl.pem is in place. A missing crl.pem means nothing
//! is revoked only while no CRL is required: once the CA has revoked
//! something (the bundle's `crl-required`, written by `revoke`) or this
//! plugin has accepted a CRL of it, a missing one refuses every TLS request.
//!
//! Roles are read strictly (pki::RoleClaim): a service certificate, two
//! role OUs, an unknown or misspelled role are refused. A certificate with
//! no role OU (issued before roles were explicit) is admin only when it
//! looks like the client identities we issued then (clientAuth, no SAN),
//! and refused under `--require-role`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use ::time::OffsetDateTime;
use x509_parser::prelude::{parse_x509_certificate, CertificateRevocationList, FromDer};

use super::policy;
use crate::pki::{CertInfo, Role, RoleClaim};
use crate::text::{date, hex, sha256_hex};

use crate::state::CRL_REQUIRED;

/// How the plugin reads certificates and where it remembers CRL numbers.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Refuse certificates with no role OU (after every identity of the CA
    /// was renewed with an explicit role).
    pub require_role: bool,
    /// Where the highest CRL number accepted per CA is kept; `None` keeps
    /// it in memory only (unit tests).
    pub state_dir: Option<PathBuf>,
}

/// The plugin's answer about one request.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// No client certificate: the local unix socket. dockerd only passes
    /// through requests it already authenticated.
    Local,
    Allow {
        cn: String,
        serial: String,
        role: Role,
    },
    Deny {
        cn: String,
        serial: String,
        msg: String,
    },
}

/// What tells a file changed: its size and modification time, and its
/// device, inode and change time, which a copy with its mtime kept (cp -p,
/// rsync, touch -r) of the same size still changes (found by review).
type Stamp = Option<(u64, SystemTime, u64, u64, i64, i64)>;

fn stamp(path: &Path) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((
        m.len(),
        m.modified().ok()?,
        m.dev(),
        m.ino(),
        m.ctime(),
        m.ctime_nsec(),
    ))
}

enum Crl {
    Missing,
    Valid {
        revoked: HashSet<String>,
        next_update: Option<OffsetDateTime>,
    },
    Invalid(String),
}

struct Loaded {
    ca_stamp: Stamp,
    crl_stamp: Stamp,
    required_stamp: bool,
    ca_der: Result<Vec<u8>, String>,
    crl: Crl,
    /// The highest CRL number accepted for the current CA.
    highest: Option<u64>,
}

pub struct Trust {
    bundle: PathBuf,
    options: Options,
    /// What requests read: held only to look or to swap, never while a file
    /// is read.
    loaded: Mutex<Loaded>,
    /// One reload at a time (so an older read never replaces a newer one);
    /// requests take it only when the files changed.
    reloading: Mutex<()>,
}

/// What the state file holds for one CA.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CrlState {
    ca_sha256: String,
    crl_number: u64,
}

impl Trust {
    /// Reads the bundle; a missing or unreadable ca.pem is an error here,
    /// so the plugin does not start without one.
    pub fn open(bundle: &Path) -> Result<Trust, String> {
        Trust::with_options(bundle, Options::default())
    }

    pub fn with_options(bundle: &Path, options: Options) -> Result<Trust, String> {
        if let Some(dir) = &options.state_dir {
            crate::fsio::create_dir_all(dir, crate::fsio::SECRET_DIR)
                .map_err(|e| format!("cannot create the state folder {}: {e}", dir.display()))?;
        }
        let trust = Trust {
            bundle: bundle.to_path_buf(),
            options,
            loaded: Mutex::new(Loaded {
                ca_stamp: None,
                crl_stamp: None,
                required_stamp: false,
                ca_der: Err("not read yet".into()),
                crl: Crl::Missing,
                highest: None,
            }),
            reloading: Mutex::new(()),
        };
        trust.refresh(OffsetDateTime::now_utc());
        if let Err(e) = &trust.lock().ca_der {
            return Err(e.clone());
        }
        Ok(trust)
    }

    fn state_file(&self, ca_der: &[u8]) -> Option<PathBuf> {
        let dir = self.options.state_dir.as_ref()?;
        Some(dir.join(format!("crl-{}.json", sha256_hex(ca_der))))
    }

    /// The highest CRL number accepted for this CA, from the state file;
    /// a damaged state file is an error (fail closed), a missing one none.
    fn read_highest(&self, ca_der: &[u8]) -> Result<Option<u64>, String> {
        let Some(path) = self.state_file(ca_der) else {
            return Ok(None);
        };
        let text = match read_bounded(&path, MAX_STATE) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let st: CrlState = serde_json::from_slice(&text).map_err(|e| {
            format!(
                "{} is damaged ({e}); nothing is allowed over TLS until it is repaired or removed",
                path.display()
            )
        })?;
        if st.ca_sha256 != sha256_hex(ca_der) {
            return Err(format!("{} belongs to another CA", path.display()));
        }
        Ok(Some(st.crl_number))
    }

    fn write_highest(&self, ca_der: &[u8], n: u64) -> Result<(), String> {
        let Some(path) = self.state_file(ca_der) else {
            return Ok(());
        };
        let st = CrlState {
            ca_sha256: sha256_hex(ca_der),
            crl_number: n,
        };
        let json = serde_json::to_vec(&st).expect("a state serializes");
        crate::fsio::write_atomic(&path, &json, crate::fsio::SECRET_FILE)
            .map_err(|e| format!("cannot record CRL number {n} in {}: {e}", path.display()))
    }

    fn refresh(&self, now: OffsetDateTime) {
        let ca_path = self.bundle.join("ca.pem");
        let crl_path = self.bundle.join("crl.pem");
        let changed = |l: &Loaded| {
            let (ca_now, crl_now) = (stamp(&ca_path), stamp(&crl_path));
            let required_now = std::fs::symlink_metadata(self.bundle.join(CRL_REQUIRED)).is_ok();
            let ca_changed = ca_now != l.ca_stamp || l.ca_der.is_err();
            let crl_changed = ca_changed
                || crl_now != l.crl_stamp
                || required_now != l.required_stamp
                || matches!(l.crl, Crl::Invalid(_));
            (ca_changed, crl_changed)
        };
        if changed(&self.lock()) == (false, false) {
            return;
        }
        let _one = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        // Looked at again: the reload before this one may have read it.
        let (ca_changed, crl_changed, ca_before, highest_before) = {
            let l = self.lock();
            let (a, c) = changed(&l);
            (a, c, l.ca_der.clone(), l.highest)
        };
        if !ca_changed && !crl_changed {
            return;
        }
        // The stamps are taken before reading, so a change during the read
        // is seen by the next request.
        let (ca_now, crl_now) = (stamp(&ca_path), stamp(&crl_path));
        let required_now = std::fs::symlink_metadata(self.bundle.join(CRL_REQUIRED)).is_ok();
        let ca_der = if ca_changed {
            read_ca(&ca_path)
        } else {
            ca_before.clone()
        };
        // Another CA starts from its own state file; the same CA touched
        // or copied again keeps what this process has seen.
        let mut highest = if ca_der.as_ref().ok() == ca_before.as_ref().ok() {
            highest_before
        } else {
            None
        };
        let crl = self.load_crl(&ca_der, crl_now.is_some(), required_now, &mut highest, now);
        let mut l = self.lock();
        l.ca_der = ca_der;
        l.ca_stamp = ca_now;
        l.crl = crl;
        l.highest = highest;
        l.crl_stamp = crl_now;
        l.required_stamp = required_now;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Loaded> {
        self.loaded.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads crl.pem against the CA and the highest number seen, and
    /// records a higher one.
    fn load_crl(
        &self,
        ca: &Result<Vec<u8>, String>,
        present: bool,
        required: bool,
        highest: &mut Option<u64>,
        now: OffsetDateTime,
    ) -> Crl {
        let ca = match ca {
            Ok(ca) => ca,
            Err(e) => return Crl::Invalid(e.clone()),
        };
        let stored = match self.read_highest(ca) {
            Ok(n) => n,
            Err(e) => return Crl::Invalid(e),
        };
        let seen = (*highest).max(stored);
        *highest = seen;
        let crl_path = self.bundle.join("crl.pem");
        if !present {
            return match (required, seen) {
                (false, None) => Crl::Missing,
                (true, _) | (false, Some(_)) => Crl::Invalid(format!(
                    "{} is missing, and this CA has revoked certificates ({}); nothing is allowed over TLS until its CRL is back (docker tlsctx revoke --list shows them; copy the bundle's crl.pem)",
                    crl_path.display(),
                    match seen {
                        Some(n) => format!("CRL number {n} was accepted before"),
                        None => format!("the bundle's {CRL_REQUIRED} says so"),
                    }
                )),
            };
        }
        let (crl, number) = read_crl(&crl_path, ca);
        let Crl::Valid { next_update, .. } = &crl else {
            return crl;
        };
        // An expired CRL is refused before its number counts: otherwise it
        // raised the rollback counter and the current CRL, with a lower
        // number, was refused after it (issue 30).
        if let Some(next) = next_update {
            if *next < now {
                return Crl::Invalid(format!(
                    "{} expired on {} (its nextUpdate); put a current one in place (docker tlsctx revoke writes it)",
                    crl_path.display(),
                    date(*next)
                ));
            }
        }
        let Some(number) = number else {
            return Crl::Invalid(format!(
                "{} has no CRL number, so it cannot be told from an older one; nothing is allowed over TLS until a CRL from docker tlsctx revoke is in place",
                crl_path.display()
            ));
        };
        if let Some(seen) = seen {
            if number < seen {
                return Crl::Invalid(format!(
                    "{} is CRL number {number}, older than number {seen} accepted before: an old CRL would un-revoke certificates; nothing is allowed over TLS until the current one is in place",
                    crl_path.display()
                ));
            }
        }
        // The state file always holds the highest number seen: written when
        // it grows, and again when the file went missing or fell behind
        // what this process remembers.
        let now_highest = seen.map_or(number, |s| s.max(number));
        if stored != Some(now_highest) {
            if let Err(e) = self.write_highest(ca, now_highest) {
                return Crl::Invalid(e);
            }
        }
        *highest = Some(now_highest);
        crl
    }

    /// Decides one request. `peer_pem` is the client certificate dockerd
    /// passes (PEM text), `now` the time to judge validity at.
    pub fn check(
        &self,
        peer_pem: Option<&str>,
        method: &str,
        uri: &str,
        now: OffsetDateTime,
    ) -> Verdict {
        let Some(pem) = peer_pem else {
            return Verdict::Local;
        };
        self.refresh(now);
        let l = self.lock();
        let info = match CertInfo::from_pem(pem) {
            Ok(i) => i,
            Err(e) => {
                return Verdict::Deny {
                    cn: String::new(),
                    serial: String::new(),
                    msg: format!("the client certificate cannot be read: {e}"),
                }
            }
        };
        let deny = |msg: String| Verdict::Deny {
            cn: info.subject_cn.clone(),
            serial: info.serial_hex.clone(),
            msg,
        };
        let ca = match &l.ca_der {
            Ok(ca) => ca,
            Err(e) => return deny(e.clone()),
        };
        if let Err(e) = issued_by(pem, ca) {
            return deny(format!(
                "the certificate of {} is not from this bundle's CA ({}): {e}",
                info.subject_cn,
                self.bundle.join("ca.pem").display()
            ));
        }
        let role = match self.role_of(&info) {
            Ok(role) => role,
            Err(why) => return deny(why),
        };
        match &l.crl {
            Crl::Invalid(why) => return deny(why.clone()),
            Crl::Valid {
                revoked,
                next_update,
            } => {
                if let Some(next) = next_update {
                    if *next < now {
                        return deny(format!(
                            "{} expired on {} (its nextUpdate); put a current one in place (docker tlsctx revoke writes it)",
                            self.bundle.join("crl.pem").display(),
                            date(*next)
                        ));
                    }
                }
                if revoked.contains(&info.serial_hex) {
                    return deny(format!(
                        "the certificate of {} (serial {}) is revoked",
                        info.subject_cn, info.serial_hex
                    ));
                }
            }
            Crl::Missing => {}
        }
        match policy::decide(role, method, uri) {
            Ok(()) => Verdict::Allow {
                cn: info.subject_cn.clone(),
                serial: info.serial_hex.clone(),
                role,
            },
            Err(why) => deny(format!("{} has role {role}, and {why}", info.subject_cn)),
        }
    }

    /// The role a certificate gets, read strictly; the refusal says why.
    fn role_of(&self, info: &CertInfo) -> Result<Role, String> {
        let cn = &info.subject_cn;
        // dockerd already requires clientAuth (or no EKU) of a client
        // certificate (go-connections tlsconfig); checked again here so the
        // decision does not rest on dockerd's configuration alone.
        let ekus = &info.ekus;
        if info.has_eku && !ekus.iter().any(|e| e == "clientAuth") {
            return Err(format!(
                "the certificate of {cn} is not for TLS clients (no clientAuth)"
            ));
        }
        match &info.role_claim {
            RoleClaim::Client(role) => Ok(*role),
            RoleClaim::Service => Err(format!(
                "the certificate of {cn} is a service certificate (OU=role:service): services are not identities of the Docker Engine API; use a client identity (docker tlsctx client NAME)"
            )),
            RoleClaim::Ambiguous(why) => Err(format!(
                "the role of {cn} cannot be read: {why}; issue it again with --role admin or --role read-only"
            )),
            RoleClaim::Unmarked if self.options.require_role => Err(format!(
                "the certificate of {cn} carries no role (issued before roles were explicit) and this plugin requires one; renew it: docker tlsctx renew NAME --role admin (or read-only)"
            )),
            RoleClaim::Unmarked if !info.sans.is_empty() => Err(format!(
                "the certificate of {cn} carries no role and names hosts ({}): a service certificate from before roles were explicit, not a client identity; renew it with docker tlsctx cert renew NAME",
                info.sans.join(", ")
            )),
            RoleClaim::Unmarked => Ok(Role::Admin),
        }
    }
}

/// Size bounds for what the plugin reads (a FIFO, /dev/zero or a huge
/// file in the bundle must neither hang nor exhaust it: issue 30). A CA
/// certificate is a few KiB; a CRL lists about 40 bytes per revoked
/// certificate, so 8 MiB holds some 200,000; the state file is one line.
const MAX_CA: u64 = 64 * 1024;
const MAX_CRL: u64 = 8 * 1024 * 1024;
const MAX_STATE: u64 = 4 * 1024;

/// A regular file of at most `max` bytes (fsio::read_limited: not a FIFO,
/// a device or a link to one).
fn read_bounded(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    crate::fsio::read_limited(path, max).map_err(|e| match e {
        crate::error::Error::Io { source, .. } => source,
        other => std::io::Error::new(std::io::ErrorKind::InvalidData, other.to_string()),
    })
}

fn read_ca(path: &Path) -> Result<Vec<u8>, String> {
    let text =
        read_bounded(path, MAX_CA).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(&text)
        .map_err(|e| format!("{} is not a PEM certificate: {e}", path.display()))?;
    parse_x509_certificate(&pem.contents)
        .map_err(|e| format!("{} is damaged: {e}", path.display()))?;
    Ok(pem.contents)
}

/// Whether the certificate in `pem` was signed by the CA in `ca_der`.
fn issued_by(pem: &str, ca_der: &[u8]) -> Result<(), String> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|e| e.to_string())?;
    let (_, cert) = parse_x509_certificate(&p.contents).map_err(|e| e.to_string())?;
    let (_, ca) = parse_x509_certificate(ca_der).map_err(|e| e.to_string())?;
    if cert.issuer().as_raw() != ca.subject().as_raw() {
        return Err(format!("it was issued by {}", cert.issuer()));
    }
    cert.verify_signature(Some(ca.public_key()))
        .map_err(|e| format!("its signature does not verify ({e})"))
}

/// The CRL in `path` checked against the CA, and its CRL number.
fn read_crl(path: &Path, ca_der: &[u8]) -> (Crl, Option<u64>) {
    let shown = path.display();
    let text = match read_bounded(path, MAX_CRL) {
        Ok(t) => t,
        Err(e) => {
            return (
                Crl::Invalid(format!(
                    "cannot read {shown}: {e}; nothing is allowed over TLS until a good CRL is in place (docker tlsctx revoke writes it)"
                )),
                None,
            )
        }
    };
    let crl = check_crl(&text, path, ca_der);
    let number = x509_parser::pem::parse_x509_pem(&text)
        .ok()
        .and_then(|(_, p)| {
            let (_, c) = CertificateRevocationList::from_der(&p.contents).ok()?;
            let n = c.crl_number()?.to_u64_digits();
            match n.as_slice() {
                [] => Some(0),
                [one] => Some(*one),
                _ => None,
            }
        });
    (crl, number)
}

fn check_crl(text: &[u8], path: &Path, ca_der: &[u8]) -> Crl {
    let shown = path.display();
    let damaged = |why: String| {
        Crl::Invalid(format!(
            "{shown} is damaged ({why}); nothing is allowed over TLS until a good CRL is in place (docker tlsctx revoke writes it)"
        ))
    };
    let pem = match x509_parser::pem::parse_x509_pem(text) {
        Ok((_, p)) if p.label == "X509 CRL" => p,
        Ok((_, p)) => return damaged(format!("it holds a {} block, not an X509 CRL", p.label)),
        Err(e) => return damaged(e.to_string()),
    };
    let crl = match CertificateRevocationList::from_der(&pem.contents) {
        Ok((_, c)) => c,
        Err(e) => return damaged(e.to_string()),
    };
    let Ok((_, ca)) = parse_x509_certificate(ca_der) else {
        return damaged("the CA certificate cannot be read".into());
    };
    let foreign = || {
        Crl::Invalid(format!(
            "{shown} was not issued by this bundle's CA ({}); nothing is allowed over TLS until its own CRL is in place",
            ca.subject()
        ))
    };
    if crl.issuer().as_raw() != ca.subject().as_raw() {
        return foreign();
    }
    if crl.verify_signature(ca.public_key()).is_err() {
        return foreign();
    }
    let revoked = crl
        .iter_revoked_certificates()
        .map(|r| hex(r.raw_serial()))
        .collect();
    let next_update = crl
        .next_update()
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t.timestamp()).ok());
    Crl::Valid {
        revoked,
        next_update,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{self, KeyType, Revoked};

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    struct World {
        dir: tempfile::TempDir,
        ca: pki::Ca,
        admin: String,
        admin_serial: String,
        ro: String,
        other_crl: String,
    }

    fn world() -> World {
        let dir = tempfile::tempdir().unwrap();
        let new = pki::new_ca("t", KeyType::EcdsaP256, 30, now()).unwrap();
        let ca = pki::Ca::load("t", &new.cert_pem, &new.key_der()).unwrap();
        std::fs::write(dir.path().join("ca.pem"), &new.cert_pem).unwrap();
        let admin = ca
            .issue_client("al", Role::Admin, KeyType::EcdsaP256, 10, now())
            .unwrap();
        let ro = ca
            .issue_client("bo", Role::ReadOnly, KeyType::EcdsaP256, 10, now())
            .unwrap();
        // Another CA of the same name: same subject, another key.
        let other = pki::new_ca("t", KeyType::EcdsaP256, 30, now()).unwrap();
        let other = pki::Ca::load("t", &other.cert_pem, &other.key_der()).unwrap();
        let other_crl = other
            .crl(&[], 1, now(), now() + ::time::Duration::days(30))
            .unwrap();
        World {
            dir,
            ca,
            admin_serial: admin.serial_hex.clone(),
            admin: admin.cert_pem,
            ro: ro.cert_pem,
            other_crl,
        }
    }

    fn denied(v: Verdict, want: &str) {
        match v {
            Verdict::Deny { msg, .. } => assert!(msg.contains(want), "{want:?} not in {msg:?}"),
            other => panic!("{other:?} where {want:?} was expected"),
        }
    }

    #[test]
    fn roles_revocation_and_bad_crls() {
        let w = world();
        let t = Trust::open(w.dir.path()).unwrap();
        let at = now() + ::time::Duration::hours(1);
        assert_eq!(
            t.check(None, "POST", "/containers/create", at),
            Verdict::Local
        );
        assert!(matches!(
            t.check(Some(&w.admin), "POST", "/v1.47/containers/create", at),
            Verdict::Allow {
                role: Role::Admin,
                ..
            }
        ));
        assert!(matches!(
            t.check(Some(&w.ro), "GET", "/v1.47/containers/json", at),
            Verdict::Allow {
                role: Role::ReadOnly,
                ..
            }
        ));
        denied(
            t.check(Some(&w.ro), "POST", "/v1.47/containers/x/exec", at),
            "bo has role read-only, and POST /containers/x/exec changes the engine",
        );
        // Revoked: the next request sees the new file.
        let crl =
            w.ca.crl(
                &[Revoked {
                    serial_hex: w.admin_serial.clone(),
                    at,
                    reason: None,
                }],
                1,
                at,
                at + ::time::Duration::days(30),
            )
            .unwrap();
        std::fs::write(w.dir.path().join("crl.pem"), &crl).unwrap();
        denied(t.check(Some(&w.admin), "GET", "/_ping", at), "is revoked");
        assert!(matches!(
            t.check(Some(&w.ro), "GET", "/_ping", at),
            Verdict::Allow { .. }
        ));
        // Past its nextUpdate: refused, whoever asks.
        denied(
            t.check(
                Some(&w.ro),
                "GET",
                "/_ping",
                at + ::time::Duration::days(31),
            ),
            "expired on",
        );
        // Another CA's CRL (same name, other key), a truncated one: closed.
        std::fs::write(w.dir.path().join("crl.pem"), format!("{}\n", w.other_crl)).unwrap();
        denied(
            t.check(Some(&w.ro), "GET", "/_ping", at),
            "was not issued by this bundle's CA",
        );
        std::fs::write(w.dir.path().join("crl.pem"), &crl[..crl.len() / 2]).unwrap();
        denied(t.check(Some(&w.ro), "GET", "/_ping", at), "is damaged");
        // No CRL once one was accepted: refused, not un-revoked.
        std::fs::remove_file(w.dir.path().join("crl.pem")).unwrap();
        denied(t.check(Some(&w.admin), "GET", "/_ping", at), "is missing");
        denied(t.check(Some(&w.ro), "GET", "/_ping", at), "is missing");
        // A certificate from another CA.
        let stranger = pki::new_ca("s", KeyType::EcdsaP256, 30, now()).unwrap();
        let stranger = pki::Ca::load("s", &stranger.cert_pem, &stranger.key_der()).unwrap();
        let mallory = stranger
            .issue_client("al", Role::Admin, KeyType::EcdsaP256, 10, now())
            .unwrap();
        denied(
            t.check(Some(&mallory.cert_pem), "GET", "/_ping", at),
            "is not from this bundle's CA",
        );
    }

    /// Options with a state folder of the test's own (kept alive by the
    /// returned TempDir).
    fn with_state() -> (tempfile::TempDir, Options) {
        let state = tempfile::tempdir().unwrap();
        let options = Options {
            require_role: false,
            state_dir: Some(state.path().join("authz")),
        };
        (state, options)
    }

    fn crl_of(w: &World, serials: &[&str], number: u64) -> String {
        let at = now() + ::time::Duration::hours(1);
        let revoked: Vec<Revoked> = serials
            .iter()
            .map(|s| Revoked {
                serial_hex: s.to_string(),
                at,
                reason: None,
            })
            .collect();
        w.ca.crl(&revoked, number, at, at + ::time::Duration::days(30))
            .unwrap()
    }

    #[test]
    fn an_older_crl_or_a_missing_required_one_is_refused() {
        let w = world();
        let (state, options) = with_state();
        let at = now() + ::time::Duration::hours(2);
        let crl = |path: &str| std::fs::write(w.dir.path().join("crl.pem"), path).unwrap();
        // No CRL and none required: nothing is revoked.
        let t = Trust::with_options(w.dir.path(), options.clone()).unwrap();
        assert!(matches!(
            t.check(Some(&w.admin), "GET", "/_ping", at),
            Verdict::Allow { .. }
        ));
        let one = crl_of(&w, &[], 1);
        let two = crl_of(&w, &[&w.admin_serial], 2);
        crl(&two);
        denied(t.check(Some(&w.admin), "GET", "/_ping", at), "is revoked");
        // Number 1 put back: refused, and by a plugin started afresh too
        // (the number outlives the process in the state folder).
        crl(&one);
        denied(
            t.check(Some(&w.admin), "GET", "/_ping", at),
            "older than number 2",
        );
        drop(t);
        let t = Trust::with_options(w.dir.path(), options.clone()).unwrap();
        denied(
            t.check(Some(&w.ro), "GET", "/_ping", at),
            "older than number 2",
        );
        crl(&two);
        assert!(matches!(
            t.check(Some(&w.ro), "GET", "/_ping", at),
            Verdict::Allow { .. }
        ));
        std::fs::remove_file(w.dir.path().join("crl.pem")).unwrap();
        denied(
            t.check(Some(&w.ro), "GET", "/_ping", at),
            "CRL number 2 was accepted before",
        );
        // A plugin with no memory of it: the bundle's marker says it.
        let fresh = Trust::open(w.dir.path()).unwrap();
        assert!(matches!(
            fresh.check(Some(&w.ro), "GET", "/_ping", at),
            Verdict::Allow { .. }
        ));
        std::fs::write(w.dir.path().join(CRL_REQUIRED), "").unwrap();
        denied(
            fresh.check(Some(&w.ro), "GET", "/_ping", at),
            "the bundle's crl-required says so",
        );
        // A damaged state file fails closed.
        std::fs::write(w.dir.path().join("crl.pem"), &two).unwrap();
        for f in std::fs::read_dir(state.path().join("authz")).unwrap() {
            std::fs::write(f.unwrap().path(), "{").unwrap();
        }
        let t = Trust::with_options(w.dir.path(), options).unwrap();
        denied(t.check(Some(&w.ro), "GET", "/_ping", at), "is damaged");
    }

    #[test]
    fn roles_fail_closed() {
        let w = world();
        let at = now() + ::time::Duration::hours(1);
        let t = Trust::open(w.dir.path()).unwrap();
        let strict = Trust::with_options(
            w.dir.path(),
            Options {
                require_role: true,
                state_dir: None,
            },
        )
        .unwrap();
        let odd = |ous: &[&str], cns: &[&str], sans: &[&str]| {
            let sans: Vec<pki::San> = sans.iter().map(|s| pki::San::parse(s).unwrap()).collect();
            w.ca.issue_odd_client(ous, cns, &sans, now())
                .unwrap()
                .cert_pem
        };
        // Two OUs or two CNs: rcgen writes one of each type, so those are
        // in RoleClaim's own test and, made by openssl, in tests/it/authz.rs.
        for (ous, cns, want) in [
            (&["role:Read-Only"][..], &["x"][..], "cannot be read"),
            (&["role: read-only"], &["x"], "cannot be read"),
            (&["role:root"], &["x"], "is not a role"),
            (&["role:service"], &["svc"], "is a service certificate"),
        ] {
            let pem = odd(ous, cns, &[]);
            denied(t.check(Some(&pem), "GET", "/_ping", at), want);
        }
        // A v0.2 service certificate: no role OU, a SAN.
        let svc = odd(&[], &["svc.example"], &["svc.example"]);
        denied(
            t.check(Some(&svc), "GET", "/_ping", at),
            "a service certificate from before",
        );
        // A v0.2 admin client: no role OU, no SAN. Admin, unless roles are required.
        let legacy = odd(&[], &["old"], &[]);
        assert!(matches!(
            t.check(Some(&legacy), "POST", "/containers/create", at),
            Verdict::Allow {
                role: Role::Admin,
                ..
            }
        ));
        denied(
            strict.check(Some(&legacy), "GET", "/_ping", at),
            "--role admin",
        );
        assert!(matches!(
            strict.check(Some(&w.admin), "POST", "/containers/create", at),
            Verdict::Allow {
                role: Role::Admin,
                ..
            }
        ));
    }

    /// Found by review: the remembered number was dropped when ca.pem was
    /// touched, and a state file removed while the plugin ran was not
    /// written again, so CRL 1 came back after CRL 2.
    #[test]
    fn the_crl_number_survives_a_touched_ca_and_a_lost_state_file() {
        let w = world();
        let (state, options) = with_state();
        let at = now() + ::time::Duration::hours(2);
        let t = Trust::with_options(w.dir.path(), options).unwrap();
        let crl = |text: &str| std::fs::write(w.dir.path().join("crl.pem"), text).unwrap();
        crl(&crl_of(&w, &[&w.admin_serial], 2));
        denied(t.check(Some(&w.admin), "GET", "/_ping", at), "is revoked");
        for f in std::fs::read_dir(state.path().join("authz")).unwrap() {
            std::fs::remove_file(f.unwrap().path()).unwrap();
        }
        crl(&format!("{}\n", crl_of(&w, &[&w.admin_serial], 2)));
        denied(t.check(Some(&w.admin), "GET", "/_ping", at), "is revoked");
        assert_eq!(
            std::fs::read_dir(state.path().join("authz"))
                .unwrap()
                .count(),
            1
        );
        let ca = std::fs::read(w.dir.path().join("ca.pem")).unwrap();
        std::fs::write(w.dir.path().join("ca.pem"), [&ca[..], b"\n"].concat()).unwrap();
        crl(&crl_of(&w, &[], 1));
        denied(
            t.check(Some(&w.admin), "GET", "/_ping", at),
            "older than number 2",
        );
    }

    /// Issue 30: an expired CRL, refused, still raised the rollback
    /// counter, so the current CRL (a lower number) was refused after it.
    #[test]
    fn an_expired_crl_does_not_raise_the_rollback_counter() {
        let w = world();
        let (_state, options) = with_state();
        let at = now() + ::time::Duration::days(2);
        let expired =
            w.ca.crl(&[], 7, now(), now() + ::time::Duration::days(1))
                .unwrap();
        let current =
            w.ca.crl(&[], 3, at, at + ::time::Duration::days(30))
                .unwrap();
        let t = Trust::with_options(w.dir.path(), options).unwrap();
        std::fs::write(w.dir.path().join("crl.pem"), &expired).unwrap();
        denied(t.check(Some(&w.ro), "GET", "/_ping", at), "expired on");
        std::fs::write(w.dir.path().join("crl.pem"), &current).unwrap();
        assert!(matches!(
            t.check(Some(&w.ro), "GET", "/_ping", at),
            Verdict::Allow { .. }
        ));
    }

    /// Issue 30: a FIFO as crl.pem hung every TLS request while holding
    /// the lock they need, and /dev/zero grew until memory ran out. Both
    /// are refused at once, and requests go on being answered.
    #[test]
    fn a_fifo_or_an_endless_crl_is_refused_without_hanging() {
        let w = world();
        let t = Trust::open(w.dir.path()).unwrap();
        let at = now() + ::time::Duration::hours(1);
        let crl = w.dir.path().join("crl.pem");
        let fifo = std::process::Command::new("mkfifo")
            .arg(&crl)
            .status()
            .unwrap();
        assert!(fifo.success());
        let started = std::time::Instant::now();
        denied(
            t.check(Some(&w.ro), "GET", "/_ping", at),
            "not a regular file",
        );
        std::fs::remove_file(&crl).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &crl).unwrap();
        denied(
            t.check(Some(&w.ro), "GET", "/_ping", at),
            "not a regular file",
        );
        std::fs::remove_file(&crl).unwrap();
        // A regular file past the bound.
        let f = std::fs::File::create(&crl).unwrap();
        f.set_len(MAX_CRL + 1).unwrap();
        denied(t.check(Some(&w.ro), "GET", "/_ping", at), "larger than");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        std::fs::write(&crl, crl_of(&w, &[], 1)).unwrap();
        assert!(matches!(
            t.check(Some(&w.ro), "GET", "/_ping", at),
            Verdict::Allow { .. }
        ));
    }
}
