//! Client identities: `client NAME` writes a DOCKER_CERT_PATH bundle (CI
//! jobs); `new` uses the same issuance for a context.

use std::path::PathBuf;

use serde_json::json;

use super::{ca, check_cancelled, check_client_days, date, print_json, with_progress, Env};
use crate::cli::{ClientArgs, Format};
use crate::context::validate_name;
use crate::error::{Error, Result};
use crate::fsio::{self, PUBLIC_FILE, SECRET_DIR, SECRET_FILE};
use crate::keystore::KeyStore;
use crate::pki::{Ca, Issued, KeyType};
use crate::state::IdentityRecord;

/// The files of a DOCKER_CERT_PATH folder (docker/cli cli/flags/options.go).
pub const FILES: [&str; 3] = ["ca.pem", "cert.pem", "key.pem"];

pub fn account(name: &str) -> String {
    format!("client/{name}")
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
    ca: &Ca,
    ca_name: &str,
    cn: &str,
    kt: KeyType,
    days: u32,
) -> Result<Issued> {
    let issued = with_progress(kt, &format!("client {cn}"), || {
        ca.issue_client(cn, kt, days, env.now, ca_name)
    })?;
    super::warn_if_clamped(&issued, "client", ca_name, days);
    Ok(issued)
}

pub struct Recorded<'a> {
    pub name: &'a str,
    pub context: Option<&'a str>,
    pub host: Option<&'a str>,
    pub out: Option<PathBuf>,
    pub ca: &'a str,
    pub cn: &'a str,
    pub key_type: KeyType,
    pub description: Option<&'a str>,
}

pub fn record(r: Recorded<'_>, issued: &Issued, ks: &dyn KeyStore) -> IdentityRecord {
    IdentityRecord {
        name: r.name.into(),
        context: r.context.map(Into::into),
        host: r.host.map(Into::into),
        out: r.out,
        description: r.description.map(Into::into),
        ca: r.ca.into(),
        cn: r.cn.into(),
        serial: issued.serial_hex.clone(),
        key_type: r.key_type.to_string(),
        not_before: issued.not_before,
        not_after: issued.not_after,
        keystore: ks.backend().into(),
        key_pem_sha256: Some(sha256_hex(issued.key_pem().as_bytes())),
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    crate::fsio::hex(&sha2::Sha256::digest(data))
}

pub fn run(env: &Env, args: &ClientArgs) -> Result<()> {
    validate_name("client identity", &args.name)?;
    check_client_days(args.days)?;
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| env.state().default_client_dir(&args.name));
    if dir.exists() && !dir.is_dir() {
        return Err(Error::NotADirectory(dir));
    }
    check_free(env, &args.name, args.force)?;
    if !args.force && FILES.iter().any(|f| dir.join(f).exists()) {
        return Err(Error::BundleExists {
            what: "client",
            dir,
        });
    }
    let (ca_rec, ca) = ca::load(env, &args.ca)?;
    let cn = args.cn.clone().unwrap_or_else(|| args.name.clone());
    let kt = args.key_type.key_type;
    let issued = issue(env, &ca, &ca_rec.name, &cn, kt, args.days)?;
    let ks = env.keystore()?;

    check_cancelled()?;
    fsio::create_dir_all(&dir, SECRET_DIR)?;
    fsio::write_atomic(
        &dir.join("key.pem"),
        issued.key_pem().as_bytes(),
        SECRET_FILE,
    )?;
    fsio::write_public(
        &dir.join("cert.pem"),
        issued.cert_pem.as_bytes(),
        PUBLIC_FILE,
    )?;
    fsio::write_public(&dir.join("ca.pem"), ca.cert_pem.as_bytes(), PUBLIC_FILE)?;
    ks.set(&account(&args.name), &issued.key_der())?;
    let rec = record(
        Recorded {
            name: &args.name,
            context: None,
            host: None,
            out: Some(dir.clone()),
            ca: &ca_rec.name,
            cn: &cn,
            key_type: kt,
            description: None,
        },
        &issued,
        ks.as_ref(),
    );
    env.state().write_identity(&rec, &issued.cert_pem)?;
    match args.format {
        Format::Json => print_json(&json!({ "identity": rec })),
        Format::Text => {
            println!(
                "Issued client identity {:?} (CN {cn}, {kt}, valid until {}) in {}",
                rec.name,
                date(rec.not_after),
                dir.display()
            );
            println!(
                "Use it with: DOCKER_HOST=tcp://HOST:2376 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH={} docker version",
                dir.display()
            );
        }
    }
    Ok(())
}
