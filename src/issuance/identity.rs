//! A context's client identity after `new`: its material read back
//! (export, restore), and renewal.

use super::{ca, check_cancelled, client, Env, Progress};
use crate::docker::context::NewContext;
use crate::error::{Error, Result};
use crate::fsio;
use crate::keystore;
use crate::names;
use crate::pki;
use crate::state::IdentityRecord;
use crate::text::sha256_hex;

/// A context's identity, read back: what every export writes.
pub struct Material {
    pub host: String,
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
            what: format!("identity {name:?}"),
            backend: rec.keystore.to_string(),
            fix: format!(
                "issue a new identity: docker tlsctx new {name} --host {host} --no-server --force"
            ),
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
    let key_pem = pki::key_pem_from_der(&m.key_der);
    contexts.write(
        &NewContext {
            name,
            description: rec.description.as_deref(),
            host: &m.host,
            ca_pem: &m.ca_pem,
            cert_pem: &m.cert_pem,
            key_pem: &key_pem,
        },
        force,
        check_cancelled,
    )?;
    Ok((rec, m))
}

/// What `renew` did.
pub struct Renewal {
    pub before: IdentityRecord,
    pub after: IdentityRecord,
    pub clamped_to_ca: bool,
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
    progress: &dyn Progress,
) -> Result<Renewal> {
    names::validate_context(name)?;
    super::check_client_days(days)?;
    let state = env.state();
    let rec = state
        .identity(name)?
        .ok_or_else(|| Error::IdentityNotFound(name.into()))?;
    let (Some(ctx), Some(host)) = (rec.context.clone(), rec.host.clone()) else {
        return Err(Error::IdentityNotFound(name.into()));
    };
    let (_, signer) = ca::load(env, &rec.ca)?;
    let ks = keystore::open_recorded(rec.keystore, &env.config_dir)?;
    let account = client::account(name);
    let kt = rec.key_type;
    let issued = if rekey {
        client::issue(env, &signer, &rec.cn, kt, days, progress)?
    } else {
        let key = ks.get(&account)?.ok_or_else(|| Error::KeyMissing {
            what: format!("identity {name:?}"),
            backend: rec.keystore.to_string(),
            fix: format!("renew with a new key: docker tlsctx renew {name} --rekey"),
        })?;
        signer.reissue_client(&rec.cn, &key, kt, days, env.now)?
    };
    check_cancelled()?;
    let contexts = env.contexts();
    // What Docker uses now, to put back if a later step fails.
    let old_dir = contexts.tls_dir(&ctx).join("docker");
    let old: Option<Vec<String>> = ["cert.pem", "key.pem", "ca.pem"]
        .iter()
        .map(|f| std::fs::read_to_string(old_dir.join(f)).ok())
        .collect();
    let key_pem = issued.key_pem();
    contexts.write(
        &NewContext {
            name: &ctx,
            description: rec.description.as_deref(),
            host: &host,
            ca_pem: &signer.cert_pem,
            cert_pem: &issued.cert_pem,
            key_pem: &key_pem,
        },
        true,
        check_cancelled,
    )?;
    if rekey {
        if let Err(e) = ks.set(&account, &issued.key_der()) {
            // The keystore must keep matching the context: put the old files back.
            if let Some(o) = &old {
                let _ = contexts.write(
                    &NewContext {
                        name: &ctx,
                        description: rec.description.as_deref(),
                        host: &host,
                        ca_pem: &o[2],
                        cert_pem: &o[0],
                        key_pem: &o[1],
                    },
                    true,
                    || Ok(()),
                );
            }
            return Err(e);
        }
    }
    let mut after = rec.clone();
    after.key_pem_sha256 = Some(sha256_hex(key_pem.as_bytes()));
    after.serial = issued.serial_hex.clone();
    after.not_before = issued.not_before;
    after.not_after = issued.not_after;
    state.write_identity(&after, &issued.cert_pem)?;
    Ok(Renewal {
        before: rec,
        after,
        clamped_to_ca: issued.clamped_to_ca,
    })
}
