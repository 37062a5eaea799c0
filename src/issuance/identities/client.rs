//! Client identities: `client NAME` writes a DOCKER_CERT_PATH bundle (CI
//! jobs); `new` and `renew` use the same issuance for a context.

use std::path::PathBuf;

use crate::docker::host::Host;
use crate::error::{Error, Result};
use crate::fsio::{self, SECRET_DIR, SECRET_FILE};
use crate::issuance::{generating, Env, Progress};
use crate::keystore::{self, Account, KeyStore};
use crate::names;
use crate::pki::{KeyType, Leaf, LeafKey, LeafRequest, Role};
use crate::state::{IdentityRecord, Journal};
use crate::text::sha256_hex;

/// The files of a DOCKER_CERT_PATH folder (docker/cli cli/flags/options.go).
pub const FILES: [&str; 3] = ["ca.pem", "cert.pem", "key.pem"];

pub fn account(name: &str) -> Account {
    Account::Client(name.into())
}

/// Refuses to replace an identity unless `force`.
pub fn check_free(env: &Env, name: &str, force: bool) -> Result<()> {
    if !force && env.state().identity(name)?.is_some() {
        return Err(Error::IdentityExists(name.into()));
    }
    Ok(())
}

pub fn issue(
    env: &Env,
    ca: &dyn crate::issuance::teams::signer::Signer,
    cn: &str,
    role: Role,
    kt: KeyType,
    days: u32,
    progress: &dyn Progress,
) -> Result<Leaf> {
    generating(progress, kt, &format!("client {cn}"), || {
        ca.sign(&LeafRequest::client(
            cn,
            role,
            LeafKey::Generate(kt),
            days,
            env.now,
        ))
    })
}

pub struct Recorded<'a> {
    pub name: &'a str,
    pub context: Option<&'a str>,
    pub host: Option<&'a Host>,
    pub out: Option<PathBuf>,
    pub ca: &'a str,
    pub cn: &'a str,
    pub key_type: KeyType,
    pub role: Role,
    pub description: Option<&'a str>,
}

pub fn record(r: Recorded<'_>, issued: &Leaf, ks: &dyn KeyStore) -> IdentityRecord {
    IdentityRecord {
        name: r.name.into(),
        context: r.context.map(Into::into),
        host: r.host.cloned(),
        out: r.out,
        description: r.description.map(Into::into),
        ca: r.ca.into(),
        cn: r.cn.into(),
        serial: issued.serial_hex.clone(),
        key_type: r.key_type,
        role: r.role,
        not_before: issued.not_before,
        not_after: issued.not_after,
        keystore: ks.backend(),
        key_pem_sha256: Some(sha256_hex(issued.key_pem().as_bytes())),
        keychain_only: false,
        cert_pem_sha256: None,
        superseded: Vec::new(),
    }
}

/// What `client NAME` asks for.
pub struct Request<'a> {
    pub name: &'a str,
    pub out: Option<PathBuf>,
    pub days: u32,
    pub ca: &'a str,
    pub cn: Option<&'a str>,
    pub key_type: KeyType,
    pub role: Role,
    pub force: bool,
}

/// What `client NAME` made.
pub struct Bundle {
    pub record: IdentityRecord,
    pub dir: PathBuf,
    pub clamped_to_ca: bool,
}

/// A client bundle in DOCKER_CERT_PATH layout, its key also in the keystore.
pub fn create_bundle(env: &Env, req: &Request<'_>, progress: &dyn Progress) -> Result<Bundle> {
    names::validate("client identity", req.name)?;
    crate::issuance::check_client_days(req.days)?;
    if let Some(cn) = req.cn {
        names::validate_cn(cn)?;
    }
    let dir = req
        .out
        .clone()
        .unwrap_or_else(|| env.state().default_client_dir(req.name));
    if dir.exists() && !dir.is_dir() {
        return Err(Error::NotADirectory(dir));
    }
    check_free(env, req.name, req.force)?;
    if !req.force && FILES.iter().any(|f| dir.join(f).exists()) {
        return Err(Error::BundleExists {
            what: "client",
            dir,
        });
    }
    let (ca_rec, ca) = crate::issuance::teams::issuer::signer_of(env, req.ca)?;
    let cn = req.cn.unwrap_or(req.name).to_string();
    crate::issuance::check_cn_free(env, ca.name(), &cn, req.name)?;
    let issued = issue(
        env,
        ca.as_ref(),
        &cn,
        req.role,
        req.key_type,
        req.days,
        progress,
    )?;
    let ks = env.keystore()?;

    env.check_cancelled()?;
    let new_bundle = !FILES.iter().any(|f| dir.join(f).exists());
    let added_key = ks.get(&account(req.name))?.is_none();
    let rec = record(
        Recorded {
            name: req.name,
            context: None,
            host: None,
            out: Some(dir.clone()),
            ca: &ca_rec.name,
            cn: &cn,
            key_type: req.key_type,
            role: req.role,
            description: None,
        },
        &issued,
        ks.as_ref(),
    );
    // One transaction (ARCHITECTURE.md, "Write and commit order"): the
    // bundle files, then the keystore key (the commit point), then the
    // record; the next command finishes or undoes a run cut short.
    let journal = Journal::Client {
        pid: std::process::id(),
        record: rec.clone(),
        cert_pem: issued.cert_pem.clone(),
        new_bundle,
        added_key,
    };
    let state = env.state();
    crate::issuance::transaction(
        env,
        &journal,
        || settle(env, &journal),
        || {
            fsio::create_dir_all(&dir, SECRET_DIR)?;
            fsio::refuse_symlink(&dir.join("key.pem"))?;
            fsio::write_atomic(
                &dir.join("key.pem"),
                issued.key_pem().as_bytes(),
                SECRET_FILE,
            )?;
            fsio::write_public(&dir.join("cert.pem"), issued.cert_pem.as_bytes())?;
            fsio::write_public(&dir.join("ca.pem"), ca.cert_pem().as_bytes())?;
            ks.set(&account(req.name), &issued.key_der())?;
            state.write_identity(&rec, &issued.cert_pem)
        },
    )?;
    Ok(Bundle {
        record: rec,
        dir,
        clamped_to_ca: issued.clamped_to_ca,
    })
}

/// Settles a client bundle: committed when the keystore holds the key of
/// the journal's certificate (then the record is written), otherwise
/// undone (a key this run added goes, and so do bundle files new to their
/// folder). Returns what it did.
pub fn settle(env: &Env, journal: &Journal) -> Result<String> {
    let Journal::Client {
        record,
        cert_pem,
        new_bundle,
        added_key,
        ..
    } = journal
    else {
        return Err(Error::Internal(
            "a client bundle settled with another transaction's journal",
        ));
    };
    let name = &record.name;
    let ks = keystore::open_recorded(record.keystore, &env.config_dir)?;
    let key = ks.get(&account(name))?;
    if key
        .as_deref()
        .is_some_and(|k| crate::pki::key_matches_cert(k, cert_pem).unwrap_or(false))
    {
        env.state().write_identity(record, cert_pem)?;
        return Ok(format!(
            "finished client bundle {name:?}, which an earlier command left without its record"
        ));
    }
    if *added_key {
        ks.delete(&account(name))?;
    }
    if *new_bundle {
        if let Some(dir) = &record.out {
            for f in FILES {
                fsio::remove_file(&dir.join(f))?;
            }
            let _ = std::fs::remove_dir(dir);
        }
    }
    Ok(format!(
        "undid client bundle {name:?}, which an earlier command left unfinished"
    ))
}
