//! `revoke NAME`: the serial goes into the CA's revocation list and a CRL
//! signed by the CA (RFC 5280 §5) goes into each of its server bundles,
//! where the tlsctx-authz plugin (authz/) reads it. dockerd itself has no
//! revocation (moby/moby#27778): without the plugin a revoked certificate
//! keeps working until it expires.

use std::path::PathBuf;

use super::{ca, check_cancelled, Env};
use crate::error::{Error, Result};
use crate::names;
use crate::state::{IdentityRecord, Journal, RevocationReason, Revocations, RevokedEntry};

/// What `revoke` did.
pub struct Revoked {
    pub identity: IdentityRecord,
    pub entry: RevokedEntry,
    /// The crl.pem files written, one per server bundle of the CA.
    pub crls: Vec<PathBuf>,
}

pub fn revoke(env: &Env, name: &str, reason: Option<RevocationReason>) -> Result<Revoked> {
    names::validate("identity", name)?;
    let state = env.state();
    let rec = state
        .identity(name)?
        .ok_or_else(|| Error::IdentityNotFound(name.into()))?;
    let mut revs = state.revocations(&rec.ca)?;
    if revs.entries.iter().any(|e| e.serial == rec.serial) {
        return Err(Error::AlreadyRevoked(name.into()));
    }
    // The CA must be able to sign the CRL before anything is recorded.
    let (_, signer) = ca::load(env, &rec.ca)?;
    let entry = RevokedEntry {
        serial: rec.serial.clone(),
        name: rec.name.clone(),
        cn: rec.cn.clone(),
        revoked_at: env.now,
        reason,
    };
    revs.entries.push(entry.clone());
    revs.crl_number += 1;
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
        identity: rec,
        entry,
        crls,
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
