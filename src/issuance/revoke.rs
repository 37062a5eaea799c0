//! `revoke NAME`: the serial goes into the CA's revocation list and a CRL
//! signed by the CA (RFC 5280 §5) goes into each of its server bundles,
//! where the tlsctx-authz plugin (authz/) reads it. dockerd itself has no
//! revocation (moby/moby#27778): without the plugin a revoked certificate
//! keeps working until it expires.

use std::path::PathBuf;

use super::{ca, check_cancelled, Env};
use crate::error::{Error, Result};
use crate::names;
use crate::state::{Journal, RevocationReason, Revocations, RevokedEntry};

/// What `revoke` did.
pub struct Revoked {
    pub ca: String,
    pub cn: String,
    pub not_after: time::OffsetDateTime,
    pub entry: RevokedEntry,
    /// Earlier certificates of the same holder revoked with it (a signed
    /// request renewed: every serial its CN and key were given).
    pub also: Vec<String>,
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
    /// Older serials of the same holder (same CA, CN and key).
    older: Vec<String>,
}

/// An identity of ours by name; else a certificate `sign` issued, by the
/// requester's name, its CN or its serial (one live match, or a refusal).
fn target(env: &Env, name: &str) -> Result<Target> {
    let state = env.state();
    if names::is_valid(name) {
        if let Some(rec) = state.identity(name)? {
            return Ok(Target {
                name: rec.name,
                ca: rec.ca,
                cn: rec.cn,
                serial: rec.serial,
                not_after: rec.not_after,
                older: Vec::new(),
            });
        }
    } else {
        names::validate_cn(name)?;
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
            older: rest.iter().map(|r| r.serial.clone()).collect(),
        }),
        many => Err(Error::RevokeAmbiguous {
            name: name.into(),
            serials: many.iter().map(|s| s.serial.clone()).collect(),
        }),
    }
}

pub fn revoke(env: &Env, name: &str, reason: Option<RevocationReason>) -> Result<Revoked> {
    let state = env.state();
    let rec = target(env, name)?;
    let mut revs = state.revocations(&rec.ca)?;
    if revs.entries.iter().any(|e| e.serial == rec.serial) {
        return Err(Error::AlreadyRevoked(name.into()));
    }
    // The serial, and the holder's older ones not yet listed.
    let entry = RevokedEntry {
        serial: rec.serial.clone(),
        name: rec.name.clone(),
        cn: rec.cn.clone(),
        revoked_at: env.now,
        reason,
    };
    revs.entries.push(entry.clone());
    let mut also = Vec::new();
    for serial in &rec.older {
        if !revs.entries.iter().any(|e| &e.serial == serial) {
            revs.entries.push(RevokedEntry {
                serial: serial.clone(),
                ..entry.clone()
            });
            also.push(serial.clone());
        }
    }
    revs.crl_number += 1;
    // A Vault/OpenBao issuer's CA: revoked there (its list is the one
    // that counts), then recorded here, and the engine's own CRL goes into
    // the bundles for the authorization plugin.
    let (ca_rec, _) = ca::existing(env, &rec.ca)?;
    if let Some(name) = &ca_rec.issuer {
        let remote = super::issuer::connect(env, name)?;
        for serial in std::iter::once(&rec.serial).chain(&also) {
            remote.revoke(serial)?;
        }
        state.write_revocations(&rec.ca, &revs)?;
        let pem = remote.crl_pem()?;
        let mut crls = Vec::new();
        for s in state.servers()?.into_iter().filter(|s| s.ca == rec.ca) {
            crls.push(ca::write_crl_into(&state.server_dir(&s), &pem)?);
        }
        return Ok(Revoked {
            ca: rec.ca,
            cn: rec.cn,
            not_after: rec.not_after,
            entry,
            also,
            crls,
            notes: super::signer::Signer::notes(&remote),
        });
    }
    // The CA must be able to sign the CRL before anything is recorded.
    let (_, signer) = ca::load(env, &rec.ca)?;
    check_cancelled()?;
    // One transaction (ARCHITECTURE.md): the list is the commit point; the
    // CRLs are made from it, again by the next command if this one stops.
    let journal = Journal::Revoke {
        pid: std::process::id(),
        ca: rec.ca.clone(),
        revocations: revs.clone(),
    };
    let crls = super::transaction(
        env,
        &journal,
        || settle(env, &rec.ca, &revs),
        || {
            state.write_revocations(&rec.ca, &revs)?;
            ca::write_crls(env, &signer, &revs)
        },
    )?;
    Ok(Revoked {
        ca: rec.ca,
        cn: rec.cn,
        not_after: rec.not_after,
        entry,
        also,
        crls,
        notes: Vec::new(),
    })
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
