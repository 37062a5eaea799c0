//! The signer's side of the team flow (ARCHITECTURE.md, "Teams"): `sign`
//! reads a request (ours or any tool's PKCS#10), verifies its signature,
//! and issues a client certificate from policy only: the CN and role the
//! signer chose, clientAuth, the signer's lifetime. Nothing else of the
//! request reaches the certificate. `ca issued` lists what a CA issued.

use std::path::Path;

use time::OffsetDateTime;

use crate::csr::{self, Request, ResponseEnvelope};
use crate::error::{Error, Result};
use crate::fsio;
use crate::issuance::{identities::ca, Env};
use crate::names;
use crate::pki::Role;
use crate::state::SignedRecord;
use crate::text::rfc3339;

/// What `sign` is told.
pub struct Ask<'a> {
    pub request: &'a [u8],
    pub ca: &'a str,
    pub days: u32,
    pub role: Option<Role>,
    pub cn: Option<&'a str>,
}

/// What `sign` is about to sign, for the signer to read first.
pub struct Preview {
    pub request: Request,
    pub ca: String,
    pub ca_sha256: String,
    /// The name it is recorded under here (`ca issued`, `revoke NAME`).
    pub name: String,
    /// The requester's own name for it (the envelope's), answered in the
    /// response so their `accept` finds its request; None when it is
    /// `name`.
    pub requested_name: Option<String>,
    pub cn: String,
    pub role: Role,
    /// The role the request asks for, if it says.
    pub asked_role: Option<Role>,
    pub host: Option<String>,
    pub days: u32,
    /// A renewal of a live certificate this CA signed for the same key.
    pub renews: Option<SignedRecord>,
    /// Every live certificate of that holder (a role change revokes each
    /// whose role is not the new one).
    holder: Vec<SignedRecord>,
    signer: crate::pki::Ca,
}

/// Reads and checks the request against policy; nothing is written.
pub fn preview(env: &Env, ask: &Ask<'_>) -> Result<Preview> {
    let request = csr::read_request(ask.request)?;
    if !csr::key_allowed(&request.key) {
        return Err(Error::KeyRefused(request.key));
    }
    crate::issuance::check_client_days(ask.days)?;
    // Loaded once: the key is needed to sign, and a CA without one here
    // (someone else's, an issuer's) is refused before the signer is asked.
    let (ca_rec, signer) = ca::load(env, ask.ca)?;
    let envelope = request.envelope.clone();
    let cn = match (ask.cn, &request.cn, &envelope) {
        (Some(c), _, _) => c.to_string(),
        (None, Some(c), _) => c.clone(),
        (None, None, Some(e)) => e.name.clone(),
        (None, None, None) => {
            return Err(Error::RequestInvalid(
                "it names no CN; give one with --cn NAME".into(),
            ))
        }
    };
    names::validate_cn(&cn)?;
    let state = env.state();
    let live = |not_after: OffsetDateTime, serial: &str| {
        not_after > env.now && !state.is_revoked(&ca_rec.name, serial)
    };
    // The same key renewing its own certificate keeps its CN (and, unless
    // told, its role); any other holder of a live CN is refused.
    let signed = state.signed(&ca_rec.name)?;
    // Every live certificate of this holder (same CN and key); the renewal
    // is of the latest.
    let holder: Vec<SignedRecord> = signed
        .iter()
        .filter(|s| names::cn_key(&s.cn) == names::cn_key(&cn) && live(s.not_after, &s.serial))
        .filter(|s| s.spki_sha256 == request.spki_sha256)
        .cloned()
        .collect();
    let renews = holder.iter().max_by_key(|s| s.not_before).cloned();
    if renews.is_none() {
        if let Some(s) = signed
            .iter()
            .find(|s| names::cn_key(&s.cn) == names::cn_key(&cn) && live(s.not_after, &s.serial))
        {
            return Err(Error::CnInUse {
                cn,
                ca: ca_rec.name,
                by: format!("{:?} (signed, serial {})", s.name, s.serial),
            });
        }
    }
    for i in state.identities()? {
        if i.ca == ca_rec.name
            && names::cn_key(&i.cn) == names::cn_key(&cn)
            && live(i.not_after, &i.serial)
        {
            return Err(Error::CnInUse {
                cn,
                ca: ca_rec.name,
                by: format!("{:?}", i.name),
            });
        }
    }
    // Deny by default: the least role unless the signer grants one (or a
    // renewal keeps what was granted).
    let role = ask
        .role
        .or(renews.as_ref().map(|r| r.role))
        .unwrap_or(Role::ReadOnly);
    let asked_name = envelope
        .as_ref()
        .map(|e| e.name.clone())
        .filter(|n| names::is_valid(n))
        .or_else(|| names::is_valid(&cn).then(|| cn.clone()))
        .unwrap_or_else(|| format!("signed-{}", &request.spki_sha256[..12]));
    // The requester's name is their word. One that already names something
    // here (the signer's own context `prod`, another holder's certificate)
    // would make `revoke prod` revoke the wrong one while this one stayed
    // valid (issue 30): it is recorded under a name of its own, shown
    // before signing. A renewal keeps the name its certificate has.
    // A name of hex digits only could be one of our serials, which `revoke`
    // looks up before signed names (found by review: a request named after
    // the daemon's server certificate serial redirected `revoke NAME`).
    let taken = asked_name.bytes().all(|b| b.is_ascii_hexdigit())
        || state.identity(&asked_name)?.is_some()
        || signed.iter().any(|s| {
            s.name == asked_name
                && s.spki_sha256 != request.spki_sha256
                && live(s.not_after, &s.serial)
        });
    let name = match &renews {
        Some(r) => r.name.clone(),
        None if taken => format!("signed-{}", &request.spki_sha256[..12]),
        None => asked_name.clone(),
    };
    let requested_name = (name != asked_name).then_some(asked_name);
    // The host is the requester's claim, shown to the signer: it must be
    // one, not text that draws lines of its own on the signer's terminal.
    let host = match &envelope {
        Some(e) => Some(
            crate::docker::host::Host::parse(&e.host, false)
                .map_err(|_| {
                    Error::RequestInvalid(format!(
                        "its envelope's host {:?} is not tcp://HOST[:PORT]",
                        crate::text::one_line(&e.host)
                    ))
                })?
                .url(),
        ),
        None => None,
    };
    Ok(Preview {
        asked_role: envelope.as_ref().and_then(|e| e.role),
        host,
        request,
        ca: ca_rec.name,
        ca_sha256: ca_rec.sha256,
        name,
        requested_name,
        cn,
        role,
        days: ask.days,
        renews,
        holder,
        signer,
    })
}

/// What `sign` issued.
pub struct Signed {
    pub record: SignedRecord,
    /// The response file's text.
    pub text: String,
    pub clamped_to_ca: bool,
    /// The holder's earlier certificates, revoked because the role changed,
    /// and the CRLs written then.
    pub revoked_old: Vec<crate::state::RevokedEntry>,
    pub crls: Vec<std::path::PathBuf>,
}

/// Signs what `preview` showed. The record is written before the response
/// exists, so `revoke` can reach every certificate handed out.
pub fn sign(env: &Env, p: &Preview, out: Option<&Path>) -> Result<Signed> {
    if let Some(out) = out {
        if std::fs::symlink_metadata(out).is_ok() {
            return Err(Error::FileExists(out.into()));
        }
    }
    let signer = &p.signer;
    let s = signer.sign_client_key(&p.cn, p.role, &p.request.spki_der, p.days, env.now)?;
    // The key certified is the key shown and recorded, byte for byte: a
    // key encoded some other way than the certificate writes it would be
    // recorded (and read out to the signer) under a fingerprint the
    // certificate's key does not have (found by review).
    let info = crate::pki::CertInfo::from_pem(&s.cert_pem)?;
    if info.spki_der != p.request.spki_der {
        return Err(Error::RequestInvalid(
            "its public key is not encoded the one way a certificate writes it; nothing was signed"
                .into(),
        ));
    }
    env.check_cancelled()?;
    // A renewal that changes the role revokes the certificate it replaces
    // first (reason superseded): the old privilege must not outlive the
    // signer's decision. Stopped after this, the requester has neither
    // certificate until `sign` runs again: closed, not open.
    let revoked_old: Vec<crate::state::RevokedEntry> = p
        .holder
        .iter()
        .filter(|o| o.role != p.role)
        .map(|old| crate::state::RevokedEntry {
            serial: old.serial.clone(),
            name: old.name.clone(),
            cn: old.cn.clone(),
            revoked_at: env.now,
            reason: Some(crate::state::RevocationReason::Superseded),
        })
        .collect();
    let mut crls = Vec::new();
    if !revoked_old.is_empty() {
        // One transaction (journal `revoke`, as `revoke` writes it): a stop
        // between the list and the CRLs is finished by the next command.
        let mut revs = env.state().revocations(&p.ca)?;
        for e in &revoked_old {
            if !revs.entries.iter().any(|r| r.serial == e.serial) {
                revs.entries.push(e.clone());
            }
        }
        revs.crl_number += 1;
        let journal = crate::state::Journal::Revoke {
            pid: std::process::id(),
            ca: p.ca.clone(),
            revocations: revs.clone(),
        };
        crls = crate::issuance::transaction(
            env,
            &journal,
            || crate::issuance::identities::revoke::settle(env, &p.ca, &revs),
            || crate::issuance::identities::revoke::supersede(env, &p.ca, &revoked_old),
        )?;
    }
    let record = SignedRecord {
        name: p.name.clone(),
        ca: p.ca.clone(),
        cn: p.cn.clone(),
        role: p.role,
        serial: s.serial_hex.clone(),
        key: p.request.key.clone(),
        spki_sha256: p.request.spki_sha256.clone(),
        host: p.host.clone(),
        not_before: s.not_before,
        not_after: s.not_after,
    };
    env.state().write_signed(&record)?;
    let envelope = ResponseEnvelope::new(
        p.requested_name.as_deref().unwrap_or(&p.name),
        p.host.as_deref(),
        &p.ca_sha256,
        &p.cn,
        p.role,
        &s.serial_hex,
        &rfc3339(s.not_after),
    );
    let text = csr::response_text(&envelope, &s.cert_pem, &signer.cert_pem);
    if let Some(out) = out {
        fsio::write_public(out, text.as_bytes())?;
    }
    Ok(Signed {
        record,
        text,
        clamped_to_ca: s.clamped_to_ca,
        revoked_old,
        crls,
    })
}

/// One certificate a CA issued.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Issued {
    pub kind: &'static str,
    pub name: String,
    pub cn: String,
    /// Clients only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    pub serial: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    pub revoked: bool,
    /// An earlier certificate of the same name, replaced by a renewal but
    /// valid until it expires unless revoked (`revoke NAME` lists it).
    pub superseded: bool,
}

/// `ca issued`: contexts, client bundles, signed requests, server bundles
/// and service certificates of CA `ca`, soonest to expire first: the
/// answer to "who can reach prod?".
pub fn issued(env: &Env, ca_name: &str) -> Result<Vec<Issued>> {
    names::validate("ca", ca_name)?;
    let state = env.state();
    if state.ca(ca_name)?.is_none() {
        return Err(Error::CaNotFound(ca_name.into()));
    }
    let revoked = |serial: &str| state.is_revoked(ca_name, serial);
    let mut out = Vec::new();
    for i in state.identities()? {
        let kind = if i.context.is_some() {
            "context"
        } else {
            "client bundle"
        };
        for s in i.superseded.iter().filter(|s| s.ca == ca_name) {
            out.push(Issued {
                kind,
                name: i.name.clone(),
                cn: i.cn.clone(),
                role: s.role,
                serial: s.serial.clone(),
                not_after: s.not_after,
                revoked: revoked(&s.serial),
                superseded: true,
            });
        }
        if i.ca != ca_name {
            continue;
        }
        out.push(Issued {
            kind,
            superseded: false,
            revoked: revoked(&i.serial),
            name: i.name,
            cn: i.cn,
            role: Some(i.role),
            serial: i.serial,
            not_after: i.not_after,
        });
    }
    let signed = state.signed(ca_name)?;
    for s in &signed {
        let s = s.clone();
        // Renewed: a later certificate for the same CN and key.
        let superseded = signed.iter().any(|o| {
            o.serial != s.serial
                && names::cn_key(&o.cn) == names::cn_key(&s.cn)
                && o.spki_sha256 == s.spki_sha256
                && o.not_before > s.not_before
        });
        out.push(Issued {
            kind: "signed request",
            superseded,
            revoked: revoked(&s.serial),
            name: s.name,
            cn: s.cn,
            role: Some(s.role),
            serial: s.serial,
            not_after: s.not_after,
        });
    }
    for r in state.servers()? {
        let kind = if r.purpose.is_daemon() {
            "server bundle"
        } else {
            "service certificate"
        };
        let cn = r.sans.first().map(|s| s.host()).unwrap_or_default();
        for s in r.superseded.iter().filter(|s| s.ca == ca_name) {
            out.push(Issued {
                kind,
                name: r.name.clone(),
                cn: cn.clone(),
                role: None,
                serial: s.serial.clone(),
                not_after: s.not_after,
                revoked: revoked(&s.serial),
                superseded: true,
            });
        }
        if r.ca != ca_name {
            continue;
        }
        out.push(Issued {
            kind,
            superseded: false,
            revoked: revoked(&r.serial),
            cn,
            name: r.name,
            role: None,
            serial: r.serial,
            not_after: r.not_after,
        });
    }
    out.sort_by(|a, b| a.not_after.cmp(&b.not_after).then(a.name.cmp(&b.name)));
    Ok(out)
}
