//! A context's client identity after `new`: its material read back
//! (export, restore), and renewal.

use crate::docker::context::NewContext;
use crate::docker::endpoint;
use crate::docker::host::Host;
use crate::error::{Error, MissingKey, Result};
use crate::issuance::{identities::client, server, Env, Progress};
use crate::pki::{self, LeafKey, LeafRequest, Role};
use crate::state::{IdentityRecord, Journal, RevocationReason, RevokedEntry};
use crate::text::sha256_hex;
use crate::{fsio, keystore, names};

/// A context's identity, read back: what every export writes.
pub struct Material {
    pub host: Host,
    pub cn: String,
    pub ca_pem: String,
    pub cert_pem: String,
    /// PKCS#8 DER, from the keystore (the canonical copy).
    pub key_der: Vec<u8>,
}

pub fn load(env: &Env, name: &str) -> Result<Material> {
    load_with_record(env, name).map(|(_, m)| m)
}

/// A context's identity from what we keep (record, certificate, CA, the key
/// in the keystore), checked to belong together. `restore` rebuilds a
/// context from the same.
pub fn load_with_record(env: &Env, name: &str) -> Result<(IdentityRecord, Material)> {
    names::validate_context(name)?;
    let state = env.state();
    let rec = state
        .identity(name)?
        .ok_or_else(|| Error::IdentityNotFound(name.into()))?;
    let host = match (&rec.context, &rec.host) {
        (Some(_), Some(h)) => h.clone(),
        _ => {
            return Err(Error::Corrupt {
                path: state.identity_cert_path(name).with_extension("json"),
                why: "this identity is a client bundle (docker tlsctx client), not a context"
                    .into(),
            })
        }
    };
    let cert_pem = fsio::read_to_string(&state.identity_cert_path(name))?;
    let (_, ca_pem) = state
        .ca(&rec.ca)?
        .ok_or_else(|| Error::CaNotFound(rec.ca.clone()))?;
    let ks = keystore::open_recorded(rec.keystore, &env.config_dir)?;
    let key_der = ks
        .get(&client::account(name))?
        .ok_or_else(|| Error::KeyMissing {
            of: MissingKey::Identity {
                name: name.into(),
                host: host.url(),
            },
            backend: rec.keystore.to_string(),
        })?;
    if !pki::key_matches_cert(&key_der, &cert_pem)? {
        return Err(Error::Corrupt {
            path: state.identity_cert_path(name),
            why: "the certificate does not belong to the key in the keystore".into(),
        });
    }
    let m = Material {
        host,
        cn: rec.cn.clone(),
        ca_pem,
        cert_pem,
        key_der,
    };
    Ok((rec, m))
}

/// `restore NAME`: rebuilds a context that `docker context rm` deleted (or
/// that was damaged) from the record, the certificates and the keystore.
pub fn restore(env: &Env, name: &str, force: bool) -> Result<(IdentityRecord, Material)> {
    names::validate_context(name)?;
    let contexts = env.contexts();
    if contexts.exists(name) && !force {
        return Err(Error::ContextExists(name.into()));
    }
    let (rec, m) = load_with_record(env, name)?;
    if rec.keychain_only {
        // The agent's socket, and no key file (ARCHITECTURE.md, "The agent").
        let socket = endpoint::prepare_socket_url(&env.config_dir, name)?;
        contexts.write_plain(name, rec.description.as_deref(), &socket, force, || {
            env.check_cancelled()
        })?;
        return Ok((rec, m));
    }
    let key_pem = pki::key_pem_from_der(&m.key_der);
    let url = m.host.url();
    contexts.write(
        &NewContext {
            name,
            description: rec.description.as_deref(),
            host: &url,
            ca_pem: &m.ca_pem,
            cert_pem: &m.cert_pem,
            key_pem: &key_pem,
        },
        force,
        || env.check_cancelled(),
    )?;
    Ok((rec, m))
}

/// What `renew` did.
pub struct Renewal {
    pub before: IdentityRecord,
    pub after: IdentityRecord,
    pub clamped_to_ca: bool,
    /// What an issuer said.
    pub notes: Vec<String>,
    /// The superseded certificates revoked at once (a role change, or
    /// --revoke-old): their entries, and the CRLs written.
    pub revoked_old: Vec<RevokedEntry>,
    pub crls: Vec<std::path::PathBuf>,
}

/// `renew NAME`: a new client certificate from the same CA, the same key
/// unless `rekey`. The context is swapped in one rename (docker/context.rs),
/// so until then the old identity keeps working, and after a failure it
/// still does.
pub fn renew(
    env: &Env,
    name: &str,
    days: u32,
    rekey: bool,
    revoke_old: bool,
    role: Option<Role>,
    progress: &dyn Progress,
) -> Result<Renewal> {
    names::validate_context(name)?;
    crate::issuance::check_client_days(days)?;
    let state = env.state();
    let rec = state
        .identity(name)?
        .ok_or_else(|| Error::IdentityNotFound(name.into()))?;
    let (Some(ctx), Some(host)) = (rec.context.clone(), rec.host.as_ref().map(Host::url)) else {
        return Err(Error::IdentityNotFound(name.into()));
    };
    if state.is_revoked(&rec.ca, &rec.serial) {
        return Err(Error::IdentityRevoked(name.into()));
    }
    let (_, signer) = crate::issuance::teams::issuer::signer_of(env, &rec.ca)?;
    let ks = keystore::open_recorded(rec.keystore, &env.config_dir)?;
    let account = client::account(name);
    let kt = rec.key_type;
    // --role changes it; otherwise the renewed certificate keeps it.
    let role = role.unwrap_or(rec.role);
    let issued = if rekey {
        client::issue(env, signer.as_ref(), &rec.cn, role, kt, days, progress)?
    } else {
        let key = ks.get(&account)?.ok_or_else(|| Error::KeyMissing {
            of: MissingKey::IdentityRenewed { name: name.into() },
            backend: rec.keystore.to_string(),
        })?;
        signer.sign(&LeafRequest::client(
            &rec.cn,
            role,
            LeafKey::Existing {
                der: &key,
                key_type: kt,
            },
            days,
            env.now,
        ))?
    };
    env.check_cancelled()?;
    let key_pem = issued.key_pem();
    let mut after = rec.clone();
    if !rec.keychain_only {
        after.key_pem_sha256 = Some(sha256_hex(key_pem.as_bytes()));
    }
    after.serial = issued.serial_hex.clone();
    after.not_before = issued.not_before;
    after.not_after = issued.not_after;
    after.role = role;
    // A role change revokes the certificates it supersedes at once: their
    // privilege is no longer what the identity has (a demoted admin's old
    // certificate would stay admin until it expires); --revoke-old asks the
    // same of a new key. Every earlier unexpired one goes, not only the one
    // replaced (found by review: a renewal before this one left its
    // predecessor valid with the old role). Those of another CA (a `new
    // --force --ca`) are for `revoke NAME`, which lists them under theirs.
    let supersede: Vec<RevokedEntry> = if role != rec.role || revoke_old {
        std::iter::once(rec.serial.clone())
            .chain(
                rec.superseded
                    .iter()
                    .filter(|s| s.ca == rec.ca && s.not_after > env.now)
                    .map(|s| s.serial.clone()),
            )
            .map(|serial| RevokedEntry {
                serial,
                name: rec.name.clone(),
                cn: rec.cn.clone(),
                revoked_at: env.now,
                reason: Some(RevocationReason::Superseded),
            })
            .collect()
    } else {
        Vec::new()
    };
    // One transaction (ARCHITECTURE.md, "Write and commit order"): the
    // context swap is the commit point; the keystore then gets the new key
    // (--rekey) and the record the new certificate. A failure or a kill
    // before the swap leaves the old identity working; after it, the next
    // command finishes the rest from the context itself.
    let journal = Journal::Context {
        pid: std::process::id(),
        context: ctx.clone(),
        record: after.clone(),
        cert_pem: issued.cert_pem.clone(),
        added: Vec::new(),
        server: None,
        use_context: false,
        supersede: supersede.clone(),
    };
    let contexts = env.contexts();
    let crls = crate::issuance::transaction(
        env,
        &journal,
        || settle(env, &journal),
        || {
            // A keychain-only context has no TLS files to swap: the agent
            // reads the certificate from the record and the key from the
            // keystore, so the keystore (with --rekey) is the commit point.
            if !rec.keychain_only {
                contexts.write(
                    &NewContext {
                        name: &ctx,
                        description: rec.description.as_deref(),
                        host: &host,
                        ca_pem: signer.cert_pem(),
                        cert_pem: &issued.cert_pem,
                        key_pem: &key_pem,
                    },
                    true,
                    || env.check_cancelled(),
                )?;
            }
            env.check_cancelled()?;
            if rekey {
                ks.set(&account, &issued.key_der())?;
            }
            state.write_identity(&after, &issued.cert_pem)?;
            if supersede.is_empty() {
                return Ok(Vec::new());
            }
            crate::issuance::identities::revoke::supersede(env, &rec.ca, &supersede)
        },
    )?;
    Ok(Renewal {
        before: rec,
        after,
        clamped_to_ca: issued.clamped_to_ca,
        notes: signer.notes(),
        revoked_old: supersede,
        crls,
    })
}

/// Settles a context transaction (`new`, `renew`): committed when the
/// context's cert.pem is the journal's certificate. Then the rest is
/// finished (keystore key from the context's key.pem, server bundle,
/// record, currentContext); otherwise it is undone (the keystore gets back
/// the key the context still uses, or loses the one this command added; a
/// server bundle new to its folder goes). Returns what it did.
pub fn settle(env: &Env, journal: &Journal) -> Result<String> {
    let Journal::Context {
        context,
        record,
        cert_pem,
        added,
        server: server_plan,
        use_context,
        supersede,
        ..
    } = journal
    else {
        return Err(Error::Internal(
            "a context settled with another transaction's journal",
        ));
    };
    let state = env.state();
    let contexts = env.contexts();
    let tls = contexts.tls_dir(context).join("docker");
    let exists = contexts.exists(context);
    let ks = keystore::open_recorded(record.keystore, &env.config_dir)?;
    let account = client::account(context);
    let committed = if record.keychain_only {
        // No TLS files: committed once the context points at the agent and
        // the keystore holds the key of the journal's certificate.
        let socket = endpoint::socket_url(&env.config_dir, context)?;
        let key = ks.get(&account)?;
        exists
            && contexts.host(context)?.as_deref() == Some(socket.as_str())
            && key.is_some_and(|k| pki::key_matches_cert(&k, cert_pem).unwrap_or(false))
    } else {
        let on_disk = std::fs::read_to_string(tls.join("cert.pem")).ok();
        exists && on_disk.as_deref() == Some(cert_pem.as_str())
    };
    // Whatever happened, the keystore ends up holding the key the context
    // uses (renew --rekey sets it after the swap).
    let context_key = std::fs::read_to_string(tls.join("key.pem"))
        .ok()
        .filter(|_| exists)
        .and_then(|pem| pki::parse_private_key_pem(&pem).ok());
    if committed {
        if record.keychain_only {
            // A TLS folder (with the key.pem of before) that the
            // interrupted command had not removed yet.
            crate::fsio::remove_dir_all(&contexts.tls_dir(context))?;
        } else if let Some(der) = &context_key {
            ks.set(&account, der)?;
        }
        if let Some(plan) = server_plan {
            server::finish(env, plan)?;
        }
        state.write_identity(record, cert_pem)?;
        if !supersede.is_empty() {
            crate::issuance::identities::revoke::supersede(env, &record.ca, supersede)?;
        }
        if *use_context {
            env.config().use_context(context)?;
        }
        return Ok(format!(
            "finished context {context:?}, which an earlier command left without its record"
        ));
    }
    match &context_key {
        Some(der) => ks.set(&account, der)?,
        None if added.contains(&account.to_string()) => {
            ks.delete(&account)?;
        }
        None => {}
    }
    if let Some(plan) = server_plan {
        server::undo(env, plan)?;
    }
    Ok(format!(
        "undid the unfinished change to context {context:?} that an earlier command left; it is as it was"
    ))
}
