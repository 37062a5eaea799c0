//! `revoke NAME`: the serial goes into the CA's revocation list and a CRL
//! signed by the CA (RFC 5280 §5) goes into each of its server bundles,
//! where the tlsctx-authz plugin (authz/) reads it. dockerd itself has no
//! revocation (moby/moby#27778): without the plugin a revoked certificate
//! keeps working until it expires.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::issuance::{identities::ca, Env};
use crate::names;
use crate::state::{Journal, RevocationReason, Revocations, RevokedEntry};

/// What `revoke` did.
pub struct Revoked {
    pub ca: String,
    pub cn: String,
    pub not_after: time::OffsetDateTime,
    pub entry: RevokedEntry,
    /// Earlier certificates of the same holder revoked with it: (CA,
    /// serial). An identity's renewals, a signed request's renewals.
    pub also: Vec<(String, String)>,
    /// The crl.pem files written, one per server bundle of the CA.
    pub crls: Vec<PathBuf>,
    /// What an issuer said.
    pub notes: Vec<String>,
}

/// The certificate `revoke NAME` names.
struct Target {
    name: String,
    ca: String,
    cn: String,
    serial: String,
    not_after: time::OffsetDateTime,
    /// Older unexpired certificates of the same holder: (CA, serial). An
    /// identity's may come from another CA (`new --force --ca`).
    older: Vec<(String, String)>,
}

/// An identity of ours by name (with every unexpired certificate it had
/// before); else any certificate the CA issued by its serial (a context's,
/// a client or server bundle's, current or superseded); else a certificate
/// `sign` issued, by the requester's name, its CN or its serial (one live
/// match, or a refusal).
fn target(env: &Env, name: &str) -> Result<Target> {
    let state = env.state();
    if names::is_valid(name) {
        if let Some(rec) = state.identity(name)? {
            // Each into its own CA's list: a context moved to another CA
            // with --force left its old certificates valid under that one.
            let older = rec
                .superseded
                .iter()
                .filter(|s| s.not_after > env.now)
                .map(|s| (s.ca.clone(), s.serial.clone()))
                .collect();
            return Ok(Target {
                name: rec.name,
                ca: rec.ca,
                cn: rec.cn,
                serial: rec.serial,
                not_after: rec.not_after,
                older,
            });
        }
    } else {
        names::validate_cn(name)?;
    }
    if let Some(t) = by_serial(env, name)? {
        return Ok(t);
    }
    let mut found = Vec::new();
    for c in state.cas()? {
        for s in state.signed(&c.name)? {
            if s.name == name || s.cn == name || s.serial.eq_ignore_ascii_case(name) {
                found.push(s);
            }
        }
    }
    // Already revoked ones only matter when nothing else matches.
    if found.len() > 1 {
        found.retain(|s| !state.is_revoked(&s.ca, &s.serial));
    }
    // One holder renewed (same CA, CN and key): all of its certificates go.
    found.sort_by_key(|s| std::cmp::Reverse(s.not_after));
    let one_holder = found.first().is_some_and(|f| {
        found
            .iter()
            .all(|s| s.ca == f.ca && s.cn == f.cn && s.spki_sha256 == f.spki_sha256)
    });
    match found.as_slice() {
        [] => Err(Error::IdentityNotFound(name.into())),
        [s, rest @ ..] if one_holder => Ok(Target {
            name: s.name.clone(),
            ca: s.ca.clone(),
            cn: s.cn.clone(),
            serial: s.serial.clone(),
            not_after: s.not_after,
            older: rest
                .iter()
                .map(|r| (r.ca.clone(), r.serial.clone()))
                .collect(),
        }),
        many => Err(Error::RevokeAmbiguous {
            name: name.into(),
            serials: many.iter().map(|s| s.serial.clone()).collect(),
        }),
    }
}

/// A serial of one of our own identities or bundles, current or superseded:
/// that one certificate.
fn by_serial(env: &Env, serial: &str) -> Result<Option<Target>> {
    if serial.len() < 2 || !serial.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let state = env.state();
    let same = |s: &str| s.eq_ignore_ascii_case(serial);
    for rec in state.identities()? {
        if same(&rec.serial) {
            return Ok(Some(Target {
                older: Vec::new(),
                name: rec.name,
                ca: rec.ca,
                cn: rec.cn,
                serial: rec.serial,
                not_after: rec.not_after,
            }));
        }
        if let Some(s) = rec.superseded.iter().find(|s| same(&s.serial)) {
            return Ok(Some(Target {
                older: Vec::new(),
                name: rec.name.clone(),
                ca: s.ca.clone(),
                cn: rec.cn.clone(),
                serial: s.serial.clone(),
                not_after: s.not_after,
            }));
        }
    }
    for rec in state.servers()? {
        let cn = rec.sans.first().map(|s| s.host()).unwrap_or_default();
        let hit = if same(&rec.serial) {
            Some((rec.ca.clone(), rec.serial.clone(), rec.not_after))
        } else {
            rec.superseded
                .iter()
                .find(|s| same(&s.serial))
                .map(|s| (s.ca.clone(), s.serial.clone(), s.not_after))
        };
        if let Some((ca, serial, not_after)) = hit {
            return Ok(Some(Target {
                older: Vec::new(),
                name: rec.name,
                ca,
                cn,
                serial,
                not_after,
            }));
        }
    }
    Ok(None)
}

pub fn revoke(env: &Env, name: &str, reason: Option<RevocationReason>) -> Result<Revoked> {
    let rec = target(env, name)?;
    let entry = RevokedEntry {
        serial: rec.serial.clone(),
        name: rec.name.clone(),
        cn: rec.cn.clone(),
        revoked_at: env.now,
        reason,
    };
    // The serial and the holder's older ones, by CA, its own CA first.
    let mut by_ca: Vec<(String, Vec<String>)> = vec![(rec.ca.clone(), vec![rec.serial.clone()])];
    for (ca, serial) in &rec.older {
        match by_ca.iter_mut().find(|(c, _)| c == ca) {
            Some((_, list)) if !list.contains(serial) => list.push(serial.clone()),
            Some(_) => {}
            None => by_ca.push((ca.clone(), vec![serial.clone()])),
        }
    }
    let (mut newly, mut crls, mut notes) = (Vec::new(), Vec::new(), Vec::new());
    // One transaction per CA whose list changes (each its own CRL).
    for (ca, serials) in &by_ca {
        let (n, c, o) = revoke_in(env, ca, serials, &entry)?;
        newly.extend(n.into_iter().map(|s| (ca.clone(), s)));
        crls.extend(c);
        notes.extend(o);
    }
    if newly.is_empty() {
        return Err(Error::AlreadyRevoked(name.into()));
    }
    let also = newly
        .into_iter()
        .filter(|(ca, s)| !(*ca == rec.ca && *s == rec.serial))
        .collect();
    Ok(Revoked {
        ca: rec.ca,
        cn: rec.cn,
        not_after: rec.not_after,
        entry,
        also,
        crls,
        notes,
    })
}

/// Lists those of `serials` that CA `ca_name` has not revoked yet, each as
/// `template` says, and publishes the CA's CRL: one transaction (journal
/// `revoke`: the list is the commit point, the CRLs are made from it, again
/// by the next command if this one stops) for a CA here; at the engine
/// first for an issuer's. Returns the serials newly listed, the CRLs
/// written and what an issuer said.
fn revoke_in(
    env: &Env,
    ca_name: &str,
    serials: &[String],
    template: &RevokedEntry,
) -> Result<(Vec<String>, Vec<PathBuf>, Vec<String>)> {
    let mut revs = env.state().revocations(ca_name)?;
    let new: Vec<String> = serials
        .iter()
        .filter(|s| !revs.entries.iter().any(|e| &e.serial == *s))
        .cloned()
        .collect();
    if new.is_empty() {
        return Ok(Default::default());
    }
    for serial in &new {
        revs.entries.push(RevokedEntry {
            serial: serial.clone(),
            ..template.clone()
        });
    }
    revs.crl_number += 1;
    let (ca_rec, _) = ca::existing(env, ca_name)?;
    let (crls, notes) = if ca_rec.issuer.is_some() {
        publish(env, ca_name, &revs, &new)?
    } else {
        // The CA must be able to sign the CRL before anything is recorded.
        ca::load(env, ca_name)?;
        env.check_cancelled()?;
        let journal = Journal::Revoke {
            pid: std::process::id(),
            ca: ca_name.to_string(),
            revocations: revs.clone(),
        };
        crate::issuance::transaction(
            env,
            &journal,
            || settle(env, ca_name, &revs),
            || publish(env, ca_name, &revs, &new),
        )?
    };
    Ok((new, crls, notes))
}

/// Records `revs` (which lists `serials` newly) as CA `ca`'s revocations and
/// puts its CRL into each of the CA's server bundles. A Vault/OpenBao
/// issuer's CA: revoked there first (its list is the one that counts), and
/// the engine's own CRL goes into the bundles. No journal of its own: the
/// caller's transaction covers it. Returns the CRLs written and what an
/// issuer said.
fn publish(
    env: &Env,
    ca_name: &str,
    revs: &Revocations,
    serials: &[String],
) -> Result<(Vec<PathBuf>, Vec<String>)> {
    let state = env.state();
    let (ca_rec, _) = ca::existing(env, ca_name)?;
    if let Some(issuer) = &ca_rec.issuer {
        let remote = crate::issuance::teams::issuer::connect(env, issuer)?;
        for serial in serials {
            remote.revoke(serial)?;
        }
        // The engine's CRL is checked before anything is recorded here, so
        // a CRL that does not list the serial leaves the list as it was and
        // the same command finishes the job later.
        let mut must = crate::issuance::teams::issuer::still_listed(env, ca_name, revs)?;
        for s in serials {
            if !must.iter().any(|m| m.eq_ignore_ascii_case(s)) {
                must.push(s.clone());
            }
        }
        let pem = remote.crl_pem(&must, env.now)?;
        state.write_revocations(ca_name, revs)?;
        let mut crls = Vec::new();
        for s in state.servers()?.into_iter().filter(|s| s.ca == ca_name) {
            crls.push(ca::write_crl_into(&state.server_dir(&s), &pem)?);
        }
        return Ok((crls, crate::issuance::teams::signer::Signer::notes(&remote)));
    }
    let (_, signer) = ca::load(env, ca_name)?;
    state.write_revocations(ca_name, revs)?;
    Ok((ca::write_crls(env, &signer, revs)?, Vec::new()))
}

/// Revokes the certificates a renewal superseded (a role change, or `renew
/// --rekey --revoke-old`; `sign` renewing with another role), inside the
/// caller's transaction and again when it is settled. Idempotent: entries
/// already listed are not listed twice, and the CRLs are always written
/// from the whole list, so a stop between the list and the CRLs is
/// finished by the next run (found by review: an early return when the
/// serial was listed left crl.pem without it for good). Returns the CRLs
/// written.
pub(crate) fn supersede(
    env: &Env,
    ca_name: &str,
    entries: &[RevokedEntry],
) -> Result<Vec<PathBuf>> {
    let mut revs = env.state().revocations(ca_name)?;
    let new: Vec<&RevokedEntry> = entries
        .iter()
        .filter(|e| !revs.entries.iter().any(|r| r.serial == e.serial))
        .collect();
    let serials: Vec<String> = new.iter().map(|e| e.serial.clone()).collect();
    if !new.is_empty() {
        revs.entries.extend(new.into_iter().cloned());
        revs.crl_number += 1;
    }
    publish(env, ca_name, &revs, &serials).map(|(crls, _)| crls)
}

/// Every revocation of every CA, with its CA's name.
pub fn list(env: &Env) -> Result<Vec<(String, RevokedEntry)>> {
    let state = env.state();
    let mut out = Vec::new();
    for c in state.cas()? {
        for e in state.revocations(&c.name)?.entries {
            out.push((c.name.clone(), e));
        }
    }
    Ok(out)
}

/// Settles a `revoke` cut short: when the list was written, the CRLs are
/// written again from it; otherwise nothing happened.
pub fn settle(env: &Env, ca_name: &str, revocations: &Revocations) -> Result<String> {
    let state = env.state();
    if state.revocations(ca_name)? != *revocations {
        return Ok(format!(
            "undid a revocation by CA {ca_name:?} that an earlier command left unfinished"
        ));
    }
    let (_, signer) = ca::load(env, ca_name)?;
    ca::write_crls(env, &signer, revocations)?;
    Ok(format!(
        "finished writing the CRLs of CA {ca_name:?}, which an earlier revoke left half-done"
    ))
}
