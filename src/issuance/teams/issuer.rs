//! Over 600 lines: one protocol written once: what the engine answers is read, checked and recorded
//! in one place.
//!
//! A Vault/OpenBao PKI mount as the CA (ARCHITECTURE.md, "Teams"): `issuer
//! add` records it (and its CA, under the same name), and `Remote` signs
//! what `new`, `server` and `renew` ask for through `POST <mount>/sign/<role>`
//! with a key made here. What comes back is checked before it is used: the
//! certificate is for our key, from the recorded CA, for the right usage.

use std::cell::RefCell;
use std::path::Path;

use time::OffsetDateTime;

use crate::environment::Var;
use crate::error::{Error, IssuerProblem, Result};
use crate::issuance::teams::signer::Signer;
use crate::issuance::{identities::ca, Env};
use crate::keystore::{self, Account};
use crate::names;
use crate::pki::{self, CertInfo, Leaf, LeafRequest, Profile, Purpose, Role, RoleClaim, San};
use crate::state::{CaRecord, IssuerAuth, IssuerRecord};
use crate::vault::{self, Engine};

/// Where a token comes from when none is stored (`bao` and `vault` read
/// the same variables).
const TOKEN_VARS: [Var; 2] = [Var::BaoToken, Var::VaultToken];

fn env_token() -> Option<String> {
    TOKEN_VARS
        .iter()
        .filter_map(|v| crate::environment::var(*v).ok())
        .find(|t| !t.trim().is_empty())
        .map(|t| t.trim().to_string())
}

/// What `issuer add` is told.
pub struct Add<'a> {
    pub name: &'a str,
    pub url: &'a str,
    pub mount: &'a str,
    pub client_role: &'a str,
    pub server_role: Option<&'a str>,
    pub auth: IssuerAuth,
    pub role_id: Option<&'a str>,
    pub ca_file: Option<&'a Path>,
    /// The token or secret_id (from standard input).
    pub secret: Option<String>,
    /// `--token-from-env`: no token kept; BAO_TOKEN / VAULT_TOKEN at each
    /// use (only ever sent to this issuer because the user said so).
    pub token_from_env: bool,
    pub force: bool,
}

pub struct Added {
    pub issuer: IssuerRecord,
    pub ca: CaRecord,
}

fn failed(what: impl Into<String>, problem: IssuerProblem) -> Error {
    Error::IssuerFailed {
        what: what.into(),
        problem,
    }
}

/// Records an issuer after trying it: the engine reached over verified
/// TLS, its mount's CA read, the token (or AppRole login) accepted.
pub fn add(env: &Env, a: &Add<'_>) -> Result<Added> {
    names::validate("issuer", a.name)?;
    let state = env.state();
    if let Some((c, _)) = state.ca(a.name)? {
        if c.issuer.as_deref() != Some(a.name) || !a.force {
            return Err(Error::CaExists(a.name.into()));
        }
    }
    for r in std::iter::once(a.client_role).chain(a.server_role) {
        if !vault::valid_path(r, false) {
            return Err(failed(
                format!("role {r:?} is not a name of letters, digits, - and _"),
                IssuerProblem::BadRole,
            ));
        }
    }
    let tls_ca = match a.ca_file {
        // A CA file is a few KiB: bounded, and a FIFO or /dev/zero refused.
        Some(f) => Some(
            String::from_utf8(crate::fsio::read_limited(f, crate::csr::MAX_FILE)?).map_err(
                |_| failed("the engine's CA file is not text", IssuerProblem::BadCaFile),
            )?,
        ),
        None => None,
    };
    let engine = Engine::new(a.url, a.mount, tls_ca.as_deref())?;
    let ca_pem = engine.ca_pem()?;
    let info = CertInfo::from_pem(&ca_pem).map_err(|_| {
        failed(
            format!("mount {:?} has no CA certificate yet", a.mount),
            IssuerProblem::NoCaYet,
        )
    })?;
    // The secret is tried before anything is kept.
    match a.auth {
        IssuerAuth::Token => {
            let token = match (&a.secret, a.token_from_env) {
                (Some(t), false) => t.clone(),
                (None, true) => env_token().ok_or_else(|| {
                    failed(
                        "--token-from-env, but BAO_TOKEN and VAULT_TOKEN are unset",
                        IssuerProblem::TokenEnvUnset,
                    )
                })?,
                (Some(_), true) => {
                    return Err(failed(
                        "a token on standard input and --token-from-env",
                        IssuerProblem::TokenTwice,
                    ))
                }
                (None, false) => {
                    return Err(failed("no token on standard input", IssuerProblem::NoToken))
                }
            };
            engine.check_token(&token)?;
        }
        IssuerAuth::Approle => {
            let role_id = a.role_id.ok_or_else(|| {
                failed("--auth approle needs --role-id", IssuerProblem::NeedsRoleId)
            })?;
            let secret = a.secret.as_deref().ok_or_else(|| {
                failed(
                    "--auth approle needs its secret_id on standard input",
                    IssuerProblem::NeedsSecretId,
                )
            })?;
            engine.login_approle(role_id, secret)?;
        }
    }
    let ks = env.keystore()?;
    let rec = IssuerRecord {
        name: a.name.into(),
        url: a.url.into(),
        mount: a.mount.into(),
        client_role: a.client_role.into(),
        server_role: a.server_role.map(str::to_string),
        auth: a.auth,
        role_id: a.role_id.map(str::to_string),
        keystore: ks.backend(),
        secret_stored: a.secret.is_some(),
        tls_ca: tls_ca.is_some(),
    };
    let ca = CaRecord {
        name: a.name.into(),
        cn: info.subject_cn.clone(),
        key_type: pki::KeyKind::from_name(&info.key_type),
        created: env.now,
        not_after: info.not_after,
        sha256: info.sha256.clone(),
        keystore: ks.backend(),
        external: true,
        issuer: Some(a.name.into()),
    };
    env.check_cancelled()?;
    // The secret first (nothing names it yet), the records last: the CA
    // record is what makes the issuer usable.
    let account = Account::Issuer(a.name.into());
    match &a.secret {
        Some(s) => ks.set(&account, s.as_bytes())?,
        None => {
            ks.delete(&account)?;
        }
    }
    state.write_issuer(&rec, tls_ca.as_deref())?;
    state.write_ca(&ca, &ca_pem)?;
    Ok(Added { issuer: rec, ca })
}

/// A logged-in issuer, signing for one command.
pub struct Remote {
    rec: IssuerRecord,
    engine: Engine,
    token: String,
    ca_pem: String,
    ca_der: Vec<u8>,
    notes: RefCell<Vec<String>>,
}

/// The issuer `name`, logged in.
pub fn connect(env: &Env, name: &str) -> Result<Remote> {
    let state = env.state();
    let rec = state.issuer(name)?.ok_or_else(|| {
        failed(
            format!("issuer {name:?} is not recorded"),
            IssuerProblem::NotRecorded,
        )
    })?;
    let (_, ca_pem) = state
        .ca(name)?
        .ok_or_else(|| Error::CaNotFound(name.into()))?;
    let tls_ca = if rec.tls_ca {
        Some(crate::fsio::read_to_string(
            &state.issuer_dir(name).join("tls-ca.pem"),
        )?)
    } else {
        None
    };
    let engine = Engine::new(&rec.url, &rec.mount, tls_ca.as_deref())?;
    let stored = if rec.secret_stored {
        let ks = keystore::open_recorded(rec.keystore, &env.config_dir)?;
        ks.get(&Account::Issuer(name.into()))?
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    } else {
        None
    };
    let token = match rec.auth {
        // A token in the environment wins: it is the one the user just
        // logged in with (bao login), and stored ones expire.
        // A stored token is this issuer's; the environment's only for an
        // issuer recorded to use it (it may be another engine's token).
        IssuerAuth::Token if rec.secret_stored => stored.ok_or_else(|| {
            failed(
                format!("issuer {name:?}'s token is missing from the keystore"),
                IssuerProblem::TokenMissing,
            )
        })?,
        IssuerAuth::Token => env_token().ok_or_else(|| {
            failed(
                format!(
                    "no token for issuer {name:?}: none stored, BAO_TOKEN and VAULT_TOKEN unset"
                ),
                IssuerProblem::TokenUnset,
            )
        })?,
        IssuerAuth::Approle => {
            let secret = stored.ok_or_else(|| {
                failed(
                    format!("issuer {name:?}'s AppRole secret_id is missing from the keystore"),
                    IssuerProblem::SecretIdMissing,
                )
            })?;
            engine.login_approle(rec.role_id.as_deref().unwrap_or_default(), &secret)?
        }
    };
    let ca_der = ::pem::parse(&ca_pem)
        .map(|p| p.contents().to_vec())
        .map_err(|e| Error::Crypto(e.to_string()))?;
    Ok(Remote {
        rec,
        engine,
        token,
        ca_pem,
        ca_der,
        notes: RefCell::new(Vec::new()),
    })
}

impl Remote {
    fn note(&self, n: String) {
        self.notes.borrow_mut().push(n);
    }

    /// Signs a CSR for `key` under `role` and checks the answer.
    #[allow(clippy::too_many_arguments)]
    fn sign_at_engine(
        &self,
        role: &str,
        key: rcgen::KeyPair,
        cn: &str,
        sans: &[San],
        extra: serde_json::Value,
        days: u32,
        now: OffsetDateTime,
        client: bool,
    ) -> Result<Leaf> {
        let key_der = pki::key_der_of(&key);
        let csr = crate::csr::csr_pem_with_sans(&key_der, cn, sans)?;
        // The CN travels in the CSR (roles default to use_csr_common_name;
        // a common_name beside it only draws a warning).
        let mut body = serde_json::json!({
            "csr": csr,
            "ttl": format!("{}h", u64::from(days) * 24),
            "format": "pem",
        });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        let (signed, warnings) = self.engine.sign(&self.token, role, &body)?;
        for w in warnings {
            self.note(format!(
                "{} says: {}",
                self.rec.name,
                crate::text::one_line(&w)
            ));
        }
        let cert_der = ::pem::parse(&signed.certificate)
            .ok()
            .filter(|p| p.tag() == "CERTIFICATE")
            .map(|p| p.contents().to_vec())
            .ok_or_else(|| {
                failed(
                    format!(
                        "role {role:?} of issuer {:?} answered without a certificate",
                        self.rec.name
                    ),
                    IssuerProblem::NotPki,
                )
            })?;
        // Whatever is refused below and came from the recorded CA is
        // revoked at the engine: it was issued, and nobody will use it.
        let refuse =
            |why: String, problem: IssuerProblem| -> Error {
                let revoked = crate::issued::signed_by(&cert_der, &self.ca_der)
                    && CertInfo::from_der(&cert_der)
                        .is_ok_and(|i| self.revoke(&i.serial_hex).is_ok());
                failed(
                    format!(
                    "role {role:?} of issuer {:?} issued a certificate that cannot be {}: {why}{}",
                    self.rec.name,
                    if client { "a client identity" } else { "a daemon's" },
                    if revoked { "; it was revoked at the engine" } else { "" }
                ),
                    problem,
                )
            };
        let issuing_ours =
            ::pem::parse(&signed.issuing_ca).is_ok_and(|p| p.contents() == self.ca_der.as_slice());
        if !issuing_ours && !crate::issued::signed_by(&cert_der, &self.ca_der) {
            return Err(failed(
                format!(
                    "issuer {:?} now signs with another CA than the one recorded",
                    self.rec.name
                ),
                IssuerProblem::CaChanged {
                    issuer: self.rec.name.clone(),
                },
            ));
        }
        if !pki::key_matches_cert(&key_der, &signed.certificate)? {
            return Err(refuse(
                "it is for another key".into(),
                IssuerProblem::OtherKey,
            ));
        }
        let names: Vec<String> = sans.iter().map(San::to_string).collect();
        let want = crate::issued::Expect {
            usage: if client {
                crate::issued::Usage::Client
            } else {
                crate::issued::Usage::Server
            },
            cn,
            sans: &names,
        };
        crate::issued::check_leaf(&cert_der, &self.ca_der, &want, now).map_err(|why| {
            refuse(
                why,
                if client {
                    IssuerProblem::ClientProfile
                } else {
                    IssuerProblem::ServerProfile
                },
            )
        })?;
        let info = CertInfo::from_der(&cert_der)?;
        // The role's max_ttl caps the lifetime with only a warning: said.
        let asked = now + time::Duration::days(i64::from(days));
        if info.not_after < asked - time::Duration::hours(1) {
            self.note(format!(
                "{cn}: valid until {}, not the {days} days asked: role {role:?} caps the lifetime (its max_ttl)",
                crate::text::date(info.not_after)
            ));
        }
        Ok(Leaf {
            cert_pem: signed.certificate,
            key,
            serial_hex: info.serial_hex,
            not_before: info.not_before,
            not_after: info.not_after,
            clamped_to_ca: false,
        })
    }

    pub fn revoke(&self, serial_hex: &str) -> Result<()> {
        for w in self
            .engine
            .revoke(&self.token, &vault::engine_serial(serial_hex))?
        {
            self.note(format!(
                "{} says: {}",
                self.rec.name,
                crate::text::one_line(&w)
            ));
        }
        Ok(())
    }

    /// The engine's CRL, checked before anyone writes it into a bundle:
    /// the recorded CA's, current, listing `must_list`. An engine that
    /// rebuilds its CRL on a schedule (OpenBao's `auto_rebuild`) is asked
    /// once to rebuild it now (`crl/rotate`); a CRL still without the
    /// serials is refused, as is anything that is not that CA's CRL (the
    /// plugin would refuse every identity with it).
    pub fn crl_pem(&self, must_list: &[String], now: OffsetDateTime) -> Result<String> {
        use crate::issued::{check_crl, CrlProblem};
        let mut pem = self.engine.crl_pem()?;
        let mut outcome = check_crl(&pem, &self.ca_der, must_list, now);
        let mut rotate_refused = None;
        if matches!(outcome, Err(CrlProblem::Missing(_))) {
            match self.engine.rotate_crl(&self.token) {
                Ok(()) => {
                    pem = self.engine.crl_pem()?;
                    outcome = check_crl(&pem, &self.ca_der, must_list, now);
                }
                Err(e) => rotate_refused = Some(e.to_string()),
            }
        }
        match outcome {
            Ok(checked) => Ok(checked),
            Err(CrlProblem::Missing(serials)) => Err(failed(
                format!(
                    "the CRL of issuer {:?} does not list {} ({}), {}; no CRL was written here",
                    self.rec.name,
                    serials.join(", "),
                    if serials.len() == 1 { "revoked" } else { "all revoked" },
                    match &rotate_refused {
                        Some(why) => format!("and asking it to rebuild the CRL failed ({why})"),
                        None => "even after a rebuild".to_string(),
                    }
                ),
                IssuerProblem::CrlIncomplete {
                    mount: self.rec.mount.clone(),
                    rotate_refused: rotate_refused.is_some(),
                },
            )),
            Err(CrlProblem::Bad(why)) => Err(failed(
                format!(
                    "issuer {:?} returned a CRL that cannot be used: {why}; no CRL was written here",
                    self.rec.name
                ),
                IssuerProblem::CrlBad {
                    mount: self.rec.mount.clone(),
                },
            )),
        }
    }
}

impl Signer for Remote {
    fn name(&self) -> &str {
        &self.rec.name
    }
    fn cert_pem(&self) -> &str {
        &self.ca_pem
    }
    fn sign(&self, req: &LeafRequest<'_>) -> Result<Leaf> {
        let (days, now) = (req.days, req.now);
        match req.profile {
            Profile::Client { cn, role } => {
                let (key, _) = req.key.key_pair()?;
                self.client(cn, role, key, days, now)
            }
            Profile::Service { purpose, sans } => {
                let role = self.rec.server_role.as_deref().ok_or_else(|| {
                    failed(
                        format!("issuer {:?} has no server role", self.rec.name),
                        IssuerProblem::NoServerRole,
                    )
                })?;
                if purpose == Purpose::ServiceClient {
                    return Err(failed(
                        "service client certificates are not signed by issuers yet",
                        IssuerProblem::ServiceClient,
                    ));
                }
                let cn = sans.first().map(San::host).unwrap_or_default();
                let (ips, dns): (Vec<&San>, Vec<&San>) =
                    sans.iter().partition(|s| matches!(s, San::Ip(_)));
                // Every name is asked for in alt_names/ip_sans: the CN (the first
                // of them) is not added again, which OpenBao does as a DNS name
                // even when it is an address ("DNS:127.0.0.1").
                let extra = serde_json::json!({
                    "exclude_cn_from_sans": true,
                    "alt_names": dns.iter().map(|s| s.host()).collect::<Vec<_>>().join(","),
                    "ip_sans": ips.iter().map(|s| s.host()).collect::<Vec<_>>().join(","),
                });
                let (key, _) = req.key.key_pair()?;
                self.sign_at_engine(role, key, &cn, sans, extra, days, now, false)
            }
        }
    }
    fn notes(&self) -> Vec<String> {
        self.notes.borrow().clone()
    }
}

impl Remote {
    /// The engine's role decides the subject's OU, which is the role the
    /// plugin reads: a certificate whose role is not the one asked for is
    /// revoked at once and refused.
    fn client(
        &self,
        cn: &str,
        role: Role,
        key: rcgen::KeyPair,
        days: u32,
        now: OffsetDateTime,
    ) -> Result<Leaf> {
        let leaf = self.sign_at_engine(
            &self.rec.client_role.clone(),
            key,
            cn,
            &[],
            serde_json::json!({ "exclude_cn_from_sans": true }),
            days,
            now,
            true,
        )?;
        // The CN, SANs and usage were checked with the answer; the role is
        // what the plugin will read: exactly one OU spelled as we write it
        // (an unmarked subject would be an admin by v0.2's rule, so it is
        // refused too: the engine role must say which).
        let info = CertInfo::from_pem(&leaf.cert_pem)?;
        if info.role_claim != RoleClaim::Client(role) {
            let _ = self.revoke(&leaf.serial_hex);
            let got = match &info.role_claim {
                RoleClaim::Client(r) => format!("{} identities (its ou)", r.as_str()),
                RoleClaim::Service => "service certificates (its ou)".into(),
                RoleClaim::Unmarked => "identities with no role ou".into(),
                RoleClaim::Ambiguous(why) => {
                    format!("identities whose role cannot be read ({why})")
                }
            };
            let problem = IssuerProblem::WrongRole {
                claimed: match info.role_claim {
                    RoleClaim::Client(r) => Some(r.as_str().to_string()),
                    _ => None,
                },
                ou: role.ou().to_string(),
            };
            return Err(failed(
                format!(
                    "role {:?} of issuer {:?} issues {got}, not {}; the certificate was revoked at the engine",
                    self.rec.client_role,
                    self.rec.name,
                    role.as_str()
                ),
                problem,
            ));
        }
        Ok(leaf)
    }
}

/// The signer of CA `name`: its issuer when it has one, else its key.
pub fn signer_of(env: &Env, name: &str) -> Result<(CaRecord, Box<dyn Signer>)> {
    let (rec, _) = ca::existing(env, name)?;
    if let Some(i) = &rec.issuer {
        let remote = connect(env, i)?;
        return Ok((rec, Box::new(remote)));
    }
    let (rec, ca) = ca::load(env, name)?;
    Ok((rec, Box::new(ca)))
}

/// The serials of `revs` whose certificates are known here (an identity's
/// or a bundle's, current or superseded, or one `sign` issued) and have
/// not expired: an engine's CRL must still list every one of them (found
/// by review: a CRL that dropped earlier revocations was written into
/// every bundle, un-revoking them for the plugin). An expired certificate
/// may leave the engine's CRL (tidy), and one whose record is gone (`rm`)
/// cannot be told.
pub(crate) fn still_listed(
    env: &Env,
    ca_name: &str,
    revs: &crate::state::Revocations,
) -> Result<Vec<String>> {
    let state = env.state();
    let mut live = std::collections::HashSet::new();
    let mut note = |ca: &str, serial: &str, not_after: OffsetDateTime| {
        if ca == ca_name && not_after > env.now {
            live.insert(serial.to_ascii_lowercase());
        }
    };
    for r in state.identities()? {
        note(&r.ca, &r.serial, r.not_after);
        for s in &r.superseded {
            note(&s.ca, &s.serial, s.not_after);
        }
    }
    for r in state.servers()? {
        note(&r.ca, &r.serial, r.not_after);
        for s in &r.superseded {
            note(&s.ca, &s.serial, s.not_after);
        }
    }
    for s in state.signed(ca_name)? {
        note(ca_name, &s.serial, s.not_after);
    }
    Ok(revs
        .entries
        .iter()
        .map(|e| e.serial.to_ascii_lowercase())
        .filter(|s| live.contains(s))
        .collect())
}

/// The current CRL of CA `name`: signed here, or the issuer's own (which
/// must list every live revoked certificate recorded here).
pub fn crl_for(env: &Env, name: &str, revs: &crate::state::Revocations) -> Result<String> {
    let (rec, _) = ca::existing(env, name)?;
    if let Some(i) = &rec.issuer {
        let must = still_listed(env, name, revs)?;
        return connect(env, i)?.crl_pem(&must, env.now);
    }
    let (_, signer) = ca::load(env, name)?;
    ca::crl_pem(env, &signer, revs)
}
