//! Certificate authorities. The CA key goes to the keystore and nowhere
//! else; only ca.pem and a record touch the disk.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fsio;
use crate::issuance::{generating, Env, Progress};
use crate::keystore::{self, Account, Backend, KeyStore};
use crate::names;
use crate::pki::{self, Ca, CertInfo, KeyKind, KeyPemError, KeyType};
use crate::state::{CaRecord, IdentityRecord, Journal, Revocations};

pub const DEFAULT_CA: &str = "default";

pub fn account(ca: &str) -> Account {
    Account::Ca(ca.into())
}

/// Makes a CA: key into the keystore first, then the certificate and record
/// (the record's presence is what makes the CA exist, so a failure in between
/// leaves an unused keystore entry, never a CA without its key).
pub fn create(
    env: &Env,
    ks: &dyn KeyStore,
    name: &str,
    cn: Option<&str>,
    key_type: KeyType,
    days: u32,
    progress: &dyn Progress,
) -> Result<CaRecord> {
    let cn = cn
        .map(str::to_string)
        .unwrap_or_else(|| format!("docker-tlsctx CA {name}"));
    let issued = generating(progress, key_type, &format!("CA {name}"), || {
        pki::new_ca(&cn, key_type, days, env.now)
    })?;
    env.check_cancelled()?;
    let info = CertInfo::from_pem(&issued.cert_pem)?;
    let rec = CaRecord {
        name: name.into(),
        cn,
        key_type: KeyKind::Known(key_type),
        created: env.now,
        not_after: issued.not_after,
        sha256: info.sha256,
        keystore: ks.backend(),
        external: false,
        issuer: None,
    };
    store(env, ks, &rec, &issued.cert_pem, &issued.key_der())?;
    Ok(rec)
}

/// Stores a CA inside a journal (ARCHITECTURE.md, "Write and commit
/// order"): the key into the keystore is the commit point, then ca.pem and
/// ca.json. A run cut short between them is finished by the next command
/// (the keystore key matches the journal's certificate) or undone (it does
/// not), so the key and ca.pem never come from different runs.
fn store(
    env: &Env,
    ks: &dyn KeyStore,
    rec: &CaRecord,
    cert_pem: &str,
    key_der: &[u8],
) -> Result<()> {
    let journal = Journal::Ca {
        pid: std::process::id(),
        record: rec.clone(),
        cert_pem: cert_pem.into(),
    };
    crate::issuance::transaction(
        env,
        &journal,
        || settle(env, rec, cert_pem),
        || {
            ks.set(&account(&rec.name), key_der)?;
            env.state().write_ca(rec, cert_pem)
        },
    )
}

/// Finishes a CA whose key reached the keystore (it matches `cert_pem`),
/// or leaves the CA as it was; returns what it did.
pub(crate) fn settle(env: &Env, record: &CaRecord, cert_pem: &str) -> Result<String> {
    let ks = keystore::open_recorded(record.keystore, &env.config_dir)?;
    let key = ks.get(&account(&record.name))?;
    let committed = key
        .as_deref()
        .is_some_and(|k| pki::key_matches_cert(k, cert_pem).unwrap_or(false));
    Ok(if committed {
        env.state().write_ca(record, cert_pem)?;
        format!(
            "finished creating CA {:?}, which an earlier command left half-made",
            record.name
        )
    } else {
        format!(
            "undid the creation of CA {:?}, which an earlier command left unfinished; the CA is as it was",
            record.name
        )
    })
}

/// CA `name`'s record and certificate, or the error that it does not exist.
pub fn existing(env: &Env, name: &str) -> Result<(CaRecord, String)> {
    names::validate("CA", name)?;
    env.state()
        .ca(name)?
        .ok_or_else(|| Error::CaNotFound(name.into()))
}

/// Loads CA `name`, ready to sign, from its record and the keystore the record names.
pub fn load(env: &Env, name: &str) -> Result<(CaRecord, Ca)> {
    let (rec, pem) = existing(env, name)?;
    let ks = keystore::open_recorded(rec.keystore, &env.config_dir)?;
    let key = ks.get(&account(name))?.ok_or(Error::CaKeyMissing {
        ca: name.into(),
        backend: ks.backend().as_str(),
    })?;
    let ca = Ca::load(name, &pem, &key)?;
    Ok((rec, ca))
}

/// `ca import`: adopt a CA made elsewhere. Everything is checked before
/// anything is stored: a readable, unencrypted key; a certificate that may
/// sign (CA:TRUE, keyCertSign, not expired); a key that belongs to it.
/// Returns the record and where the key went.
pub fn import(
    env: &Env,
    name: &str,
    cert: &Path,
    key: &Path,
    force: bool,
) -> Result<(CaRecord, String)> {
    names::validate("CA", name)?;
    if env.state().ca(name)?.is_some() && !force {
        return Err(Error::CaExists(name.into()));
    }
    let cert_pem = fsio::read_to_string(cert)?;
    let key_text = fsio::read_to_string(key)?;
    let key_der = pki::parse_private_key_pem(&key_text).map_err(|e| match e {
        KeyPemError::Encrypted => Error::EncryptedKey(key.into()),
        KeyPemError::NotAKey => Error::NotAKey(key.into()),
    })?;
    let info = CertInfo::from_pem(&cert_pem).map_err(|e| Error::NotACa {
        path: cert.into(),
        why: e.to_string(),
    })?;
    let not_ca = |why: &str| Error::NotACa {
        path: cert.into(),
        why: why.into(),
    };
    if !info.is_ca {
        return Err(not_ca(
            "it is not a CA certificate (basicConstraints CA:TRUE is missing)",
        ));
    }
    if !info.can_sign_certs {
        return Err(not_ca("its keyUsage does not allow keyCertSign"));
    }
    if info.not_after <= env.now {
        return Err(not_ca(&format!(
            "it expired on {}",
            crate::text::date(info.not_after)
        )));
    }
    if !pki::key_matches_cert(&key_der, &cert_pem).map_err(|_| Error::NotAKey(key.into()))? {
        return Err(Error::KeyDoesNotMatch {
            key: key.into(),
            cert: cert.into(),
        });
    }
    // And it can really sign: the same path `new` will take.
    Ca::load(name, &cert_pem, &key_der)?;

    let ks = env.keystore()?;
    env.check_cancelled()?;
    let rec = CaRecord {
        name: name.into(),
        cn: info.subject_cn.clone(),
        key_type: KeyKind::from_name(&info.key_type),
        created: env.now,
        not_after: info.not_after,
        sha256: info.sha256.clone(),
        keystore: ks.backend(),
        external: false,
        issuer: None,
    };
    // Re-encode: one certificate, our line endings, nothing else from the file.
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes())
        .map_err(|e| Error::Crypto(e.to_string()))?;
    store(
        env,
        ks.as_ref(),
        &rec,
        &pki::pem_encode("CERTIFICATE", &pem.contents),
        &key_der,
    )?;
    Ok((rec, ks.describe()))
}

/// The CRL of `revs`, signed by `signer`. Its nextUpdate is the CA's own
/// end: this tool writes a new CRL whenever something is revoked, so a
/// reader that enforces nextUpdate (the authz plugin, nginx) must never
/// find it stale before the CA itself has expired.
pub fn crl_pem(env: &Env, signer: &Ca, revs: &Revocations) -> Result<String> {
    let revoked: Vec<pki::Revoked> = revs
        .entries
        .iter()
        .map(|e| pki::Revoked {
            serial_hex: e.serial.clone(),
            at: e.revoked_at,
            reason: e.reason.map(|r| r.code()),
        })
        .collect();
    let next_update = signer.not_after.max(env.now + time::Duration::days(1));
    signer.crl(&revoked, revs.crl_number.max(1), env.now, next_update)
}

/// Writes crl.pem into every server bundle of `signer`'s CA; returns them.
pub fn write_crls(env: &Env, signer: &Ca, revs: &Revocations) -> Result<Vec<PathBuf>> {
    let state = env.state();
    let pem = crl_pem(env, signer, revs)?;
    let mut written = Vec::new();
    for s in state
        .servers()?
        .into_iter()
        .filter(|s| s.ca == signer.name())
    {
        written.push(write_crl_into(&state.server_dir(&s), &pem)?);
    }
    Ok(written)
}

/// A bundle's crl.pem and the marker that says one is required (state.rs,
/// CRL_REQUIRED): the plugin then refuses TLS requests while crl.pem is
/// missing. Returns crl.pem's path.
pub fn write_crl_into(dir: &Path, pem: &str) -> Result<PathBuf> {
    let path = dir.join("crl.pem");
    fsio::write_public(&path, pem.as_bytes())?;
    fsio::write_public(
        &dir.join(crate::state::CRL_REQUIRED),
        b"This CA has revoked certificates: copy crl.pem with this file; tlsctx-authz refuses TLS requests while crl.pem is missing.\n",
    )?;
    Ok(path)
}

/// What `ca export` wrote.
pub struct Exported {
    pub cert: PathBuf,
    /// The CA key file, only with `--include-key`.
    pub key: Option<PathBuf>,
}

pub fn export(
    env: &Env,
    name: &str,
    out: &Path,
    include_key: bool,
    force: bool,
) -> Result<Exported> {
    let (rec, pem) = existing(env, name)?;
    let cert_path = out.join("ca.pem");
    let key_path = out.join("ca-key.pem");
    if !force {
        for p in [&cert_path, &key_path] {
            if p.exists() && (p == &cert_path || include_key) {
                return Err(Error::FileExists(p.clone()));
            }
        }
    }
    let key = if include_key {
        let ks = keystore::open_recorded(rec.keystore, &env.config_dir)?;
        Some(ks.get(&account(&rec.name))?.ok_or(Error::CaKeyMissing {
            ca: rec.name.clone(),
            backend: ks.backend().as_str(),
        })?)
    } else {
        None
    };
    fsio::create_dir_all(
        out,
        if key.is_some() {
            fsio::SECRET_DIR
        } else {
            fsio::PUBLIC_DIR
        },
    )?;
    fsio::write_atomic(&cert_path, pem.as_bytes(), fsio::PUBLIC_FILE)?;
    let key_written = match key {
        Some(der) => {
            fsio::write_atomic(
                &key_path,
                pki::key_pem_from_der(&der).as_bytes(),
                fsio::SECRET_FILE,
            )?;
            Some(key_path)
        }
        None => None,
    };
    Ok(Exported {
        cert: cert_path,
        key: key_written,
    })
}

/// Contexts that still use identities issued by `ca`.
fn contexts_using(env: &Env, ca: &str) -> Result<Vec<String>> {
    let contexts = env.contexts();
    Ok(env
        .state()
        .identities()?
        .into_iter()
        .filter(|i| i.ca == ca)
        .filter_map(|i| i.context)
        .filter(|c| contexts.exists(c))
        .collect())
}

/// Every CA with the number of identities it issued.
pub fn list(env: &Env) -> Result<Vec<(CaRecord, usize)>> {
    let state = env.state();
    let ids: Vec<IdentityRecord> = state.identities()?;
    Ok(state
        .cas()?
        .into_iter()
        .map(|c| {
            let n = ids.iter().filter(|i| i.ca == c.name).count();
            (c, n)
        })
        .collect())
}

/// Removes CA `name` and its key; returns where the key was.
pub fn remove(env: &Env, name: &str, force: bool) -> Result<String> {
    let (rec, _) = existing(env, name)?;
    let used = contexts_using(env, name)?;
    if !used.is_empty() && !force {
        return Err(Error::CaInUse {
            ca: name.into(),
            contexts: used,
        });
    }
    // Committed from the start: a journal entry lets the next command
    // finish a removal cut short, so no key is left without its CA.
    let state = env.state();
    state.open_journal(&Journal::RemoveCa {
        pid: std::process::id(),
        ca: name.into(),
        keystore: rec.keystore,
    })?;
    let described = finish_remove(env, name, rec.keystore)?;
    state.close_journal();
    Ok(described)
}

/// The steps of `ca rm`, each done only if still needed: the record first
/// (a CA without it does not exist), then its folder, then the key.
/// Returns where the key was.
pub(crate) fn finish_remove(env: &Env, name: &str, backend: Backend) -> Result<String> {
    let state = env.state();
    if state.ca_dir(name).exists() {
        state.remove_ca(name)?;
    }
    let ks = keystore::open_recorded(backend, &env.config_dir)?;
    ks.delete(&account(name))?;
    Ok(ks.describe())
}
