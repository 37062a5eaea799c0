//! What the plugin trusts: a server bundle's ca.pem and, once something is
//! revoked, its crl.pem. Both are read again whenever they change on disk
//! (size, modification time), so `docker tlsctx revoke` takes effect within
//! a request, without restarting dockerd (which reads its own TLS files only
//! at start).
//!
//! The CRL is checked when it is read: issued by this CA (same subject, a
//! signature its key made) and not past its nextUpdate. A CRL that fails any
//! of these fails closed: every request with a client certificate is refused
//! with the reason, until a good crl.pem is in place. No crl.pem means
//! nothing is revoked.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use ::time::OffsetDateTime;
use x509_parser::prelude::{parse_x509_certificate, CertificateRevocationList, FromDer};

use super::policy;
use crate::pki::{CertInfo, Role};
use crate::text::{date, hex};

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

type Stamp = Option<(u64, SystemTime)>;

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok()?))
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
    ca_der: Result<Vec<u8>, String>,
    crl: Crl,
}

pub struct Trust {
    bundle: PathBuf,
    loaded: Mutex<Loaded>,
}

impl Trust {
    /// Reads the bundle; a missing or unreadable ca.pem is an error here,
    /// so the plugin does not start without one.
    pub fn open(bundle: &Path) -> Result<Trust, String> {
        let trust = Trust {
            bundle: bundle.to_path_buf(),
            loaded: Mutex::new(Loaded {
                ca_stamp: None,
                crl_stamp: None,
                ca_der: Err("not read yet".into()),
                crl: Crl::Missing,
            }),
        };
        trust.refresh();
        let loaded = trust.loaded.lock().expect("trust lock");
        if let Err(e) = &loaded.ca_der {
            return Err(e.clone());
        }
        drop(loaded);
        Ok(trust)
    }

    fn refresh(&self) {
        let mut l = self.loaded.lock().expect("trust lock");
        let ca_path = self.bundle.join("ca.pem");
        let crl_path = self.bundle.join("crl.pem");
        let (ca_now, crl_now) = (stamp(&ca_path), stamp(&crl_path));
        let ca_changed = ca_now != l.ca_stamp || l.ca_der.is_err();
        if ca_changed {
            l.ca_der = read_ca(&ca_path);
            l.ca_stamp = ca_now;
        }
        if ca_changed || crl_now != l.crl_stamp {
            l.crl = match (&l.ca_der, crl_now) {
                (_, None) => Crl::Missing,
                (Err(e), _) => Crl::Invalid(e.clone()),
                (Ok(ca), Some(_)) => read_crl(&crl_path, ca),
            };
            l.crl_stamp = crl_now;
        }
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
        self.refresh();
        let l = self.loaded.lock().expect("trust lock");
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
        match policy::decide(info.role, method, uri) {
            Ok(()) => Verdict::Allow {
                cn: info.subject_cn.clone(),
                serial: info.serial_hex.clone(),
                role: info.role,
            },
            Err(why) => deny(format!(
                "{} has role {}, and {why}",
                info.subject_cn, info.role
            )),
        }
    }
}

fn read_ca(path: &Path) -> Result<Vec<u8>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(text.as_bytes())
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

fn read_crl(path: &Path, ca_der: &[u8]) -> Crl {
    let shown = path.display();
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) => return Crl::Invalid(format!("cannot read {shown}: {e}")),
    };
    let damaged = |why: String| {
        Crl::Invalid(format!(
            "{shown} is damaged ({why}); nothing is allowed over TLS until a good CRL is in place (docker tlsctx revoke writes it)"
        ))
    };
    let pem = match x509_parser::pem::parse_x509_pem(&text) {
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
        // No CRL: nothing is revoked.
        std::fs::remove_file(w.dir.path().join("crl.pem")).unwrap();
        assert!(matches!(
            t.check(Some(&w.admin), "GET", "/_ping", at),
            Verdict::Allow { .. }
        ));
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
}
