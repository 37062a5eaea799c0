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
use super::refusal::Refusal;
use crate::pki::{CertInfo, Role, RoleClaim};
use crate::text::{hex, sha256_hex};

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
        msg: Refusal,
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
    Invalid(Refusal),
}

struct Loaded {
    ca_stamp: Stamp,
    crl_stamp: Stamp,
    required_stamp: bool,
    ca_der: Result<Vec<u8>, Refusal>,
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
    pub fn open(bundle: &Path) -> Result<Trust, Refusal> {
        Trust::with_options(bundle, Options::default())
    }

    pub fn with_options(bundle: &Path, options: Options) -> Result<Trust, Refusal> {
        if let Some(dir) = &options.state_dir {
            crate::fsio::create_dir_all(dir, crate::fsio::SECRET_DIR).map_err(|e| {
                Refusal::StateDir {
                    dir: dir.clone(),
                    why: e.to_string(),
                }
            })?;
        }
        let trust = Trust {
            bundle: bundle.to_path_buf(),
            options,
            loaded: Mutex::new(Loaded {
                ca_stamp: None,
                crl_stamp: None,
                required_stamp: false,
                ca_der: Err(Refusal::NotReadYet),
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
    fn read_highest(&self, ca_der: &[u8]) -> Result<Option<u64>, Refusal> {
        let Some(path) = self.state_file(ca_der) else {
            return Ok(None);
        };
        let text = match read_bounded(&path, MAX_STATE) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Refusal::Unreadable {
                    path,
                    why: e.to_string(),
                })
            }
        };
        let st: CrlState = serde_json::from_slice(&text).map_err(|e| Refusal::StateDamaged {
            path: path.clone(),
            why: e.to_string(),
        })?;
        if st.ca_sha256 != sha256_hex(ca_der) {
            return Err(Refusal::StateOfAnotherCa { path });
        }
        Ok(Some(st.crl_number))
    }

    fn write_highest(&self, ca_der: &[u8], n: u64) -> Result<(), Refusal> {
        let Some(path) = self.state_file(ca_der) else {
            return Ok(());
        };
        let st = CrlState {
            ca_sha256: sha256_hex(ca_der),
            crl_number: n,
        };
        let json = serde_json::to_vec(&st).expect("a state serializes");
        crate::fsio::write_atomic(&path, &json, crate::fsio::SECRET_FILE).map_err(|e| {
            Refusal::StateUnwritable {
                path: path.clone(),
                number: n,
                why: e.to_string(),
            }
        })
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
        ca: &Result<Vec<u8>, Refusal>,
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
                (true, _) | (false, Some(_)) => Crl::Invalid(Refusal::CrlMissing {
                    path: crl_path,
                    seen,
                    marker: CRL_REQUIRED,
                }),
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
                return Crl::Invalid(Refusal::CrlExpired {
                    path: crl_path,
                    on: *next,
                });
            }
        }
        let Some(number) = number else {
            return Crl::Invalid(Refusal::CrlWithoutNumber { path: crl_path });
        };
        if let Some(seen) = seen {
            if number < seen {
                return Crl::Invalid(Refusal::CrlRolledBack {
                    path: crl_path,
                    number,
                    seen,
                });
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
                    msg: Refusal::CertUnreadable(e.to_string()),
                }
            }
        };
        let deny = |msg: Refusal| Verdict::Deny {
            cn: info.subject_cn.clone(),
            serial: info.serial_hex.clone(),
            msg,
        };
        let ca = match &l.ca_der {
            Ok(ca) => ca,
            Err(e) => return deny(e.clone()),
        };
        if let Err(e) = issued_by(pem, ca) {
            return deny(Refusal::NotFromCa {
                cn: info.subject_cn.clone(),
                ca: self.bundle.join("ca.pem"),
                why: e,
            });
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
                        return deny(Refusal::CrlExpired {
                            path: self.bundle.join("crl.pem"),
                            on: *next,
                        });
                    }
                }
                if revoked.contains(&info.serial_hex) {
                    return deny(Refusal::Revoked {
                        cn: info.subject_cn.clone(),
                        serial: info.serial_hex.clone(),
                    });
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
            Err(why) => deny(Refusal::NotAllowed {
                cn: info.subject_cn.clone(),
                role,
                why: why.to_string(),
            }),
        }
    }

    /// The role a certificate gets, read strictly; the refusal says why.
    fn role_of(&self, info: &CertInfo) -> Result<Role, Refusal> {
        let cn = &info.subject_cn;
        // dockerd already requires clientAuth (or no EKU) of a client
        // certificate (go-connections tlsconfig); checked again here so the
        // decision does not rest on dockerd's configuration alone.
        let ekus = &info.ekus;
        if info.has_eku && !ekus.iter().any(|e| e == "clientAuth") {
            return Err(Refusal::NotClientAuth { cn: cn.clone() });
        }
        match &info.role_claim {
            RoleClaim::Client(role) => Ok(*role),
            RoleClaim::Service => Err(Refusal::ServiceCertificate { cn: cn.clone() }),
            RoleClaim::Ambiguous(why) => Err(Refusal::RoleAmbiguous {
                cn: cn.clone(),
                why: why.to_string(),
            }),
            RoleClaim::Unmarked if self.options.require_role => {
                Err(Refusal::RoleRequired { cn: cn.clone() })
            }
            RoleClaim::Unmarked if !info.sans.is_empty() => Err(Refusal::UnmarkedWithHosts {
                cn: cn.clone(),
                sans: info.sans.clone(),
            }),
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

fn read_ca(path: &Path) -> Result<Vec<u8>, Refusal> {
    let why = |e: &dyn std::fmt::Display| (path.to_path_buf(), e.to_string());
    let text = read_bounded(path, MAX_CA).map_err(|e| {
        let (path, why) = why(&e);
        Refusal::Unreadable { path, why }
    })?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(&text).map_err(|e| {
        let (path, why) = why(&e);
        Refusal::CaNotPem { path, why }
    })?;
    parse_x509_certificate(&pem.contents).map_err(|e| {
        let (path, why) = why(&e);
        Refusal::CaDamaged { path, why }
    })?;
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
    let text = match read_bounded(path, MAX_CRL) {
        Ok(t) => t,
        Err(e) => {
            return (
                Crl::Invalid(Refusal::CrlUnreadable {
                    path: path.to_path_buf(),
                    why: e.to_string(),
                }),
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
    let damaged = |why: String| {
        Crl::Invalid(Refusal::CrlDamaged {
            path: path.to_path_buf(),
            why,
        })
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
        Crl::Invalid(Refusal::CrlOfAnotherCa {
            path: path.to_path_buf(),
            ca_subject: ca.subject().to_string(),
        })
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
mod tests;
