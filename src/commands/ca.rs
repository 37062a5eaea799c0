//! `docker tlsctx ca …`: certificate authorities. The CA key goes to the
//! keystore and nowhere else; only ca.pem and a record touch the disk.

use serde_json::json;

use super::{check_days, date, print_json, with_progress, Env};
use crate::cli::{CaInitArgs, Format};
use crate::context::validate_name;
use crate::error::{Error, Result};
use crate::keystore::{self, KeyStore};
use crate::pki::{self, Ca, CertInfo, KeyType};
use crate::state::CaRecord;

pub const DEFAULT_CA: &str = "default";

pub fn account(ca: &str) -> String {
    format!("ca/{ca}")
}

pub fn run_init(env: &Env, args: &CaInitArgs) -> Result<()> {
    validate_name("CA", &args.name)?;
    check_days("--days", args.days, pki::MAX_DAYS, "at most 10 years")?;
    if env.state().ca(&args.name)?.is_some() && !args.force {
        return Err(Error::CaExists(args.name.clone()));
    }
    let ks = env.keystore()?;
    let rec = create(
        env,
        ks.as_ref(),
        &args.name,
        args.cn.as_deref(),
        args.key_type.key_type,
        args.days,
    )?;
    match args.format {
        Format::Json => print_json(&json!({ "ca": rec })),
        Format::Text => {
            println!(
                "Created CA {:?} ({}, valid until {}); its key is in the {} keystore ({}).",
                rec.name,
                rec.key_type,
                date(rec.not_after),
                rec.keystore,
                ks.location()
            );
            println!(
                "Certificate: {}",
                env.state().ca_dir(&rec.name).join("ca.pem").display()
            );
        }
    }
    Ok(())
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
) -> Result<CaRecord> {
    let cn = cn
        .map(str::to_string)
        .unwrap_or_else(|| format!("docker-tlsctx CA {name}"));
    let issued = with_progress(key_type, &format!("CA {name}"), || {
        pki::new_ca(&cn, key_type, days, env.now)
    })?;
    super::check_cancelled()?;
    ks.set(&account(name), &issued.key_der())?;
    let info = CertInfo::from_pem(&issued.cert_pem)?;
    let rec = CaRecord {
        name: name.into(),
        cn,
        key_type: key_type.to_string(),
        created: env.now,
        not_after: issued.not_after,
        sha256: info.sha256,
        keystore: ks.backend().into(),
    };
    env.state().write_ca(&rec, &issued.cert_pem)?;
    Ok(rec)
}

/// Loads CA `name`, ready to sign, from its record and the keystore the record names.
pub fn load(env: &Env, name: &str) -> Result<(CaRecord, Ca)> {
    validate_name("CA", name)?;
    let (rec, pem) = env
        .state()
        .ca(name)?
        .ok_or_else(|| Error::CaNotFound(name.into()))?;
    let ks = keystore::open_recorded(&rec.keystore, &env.config_dir)?;
    let key = ks.get(&account(name))?.ok_or(Error::CaKeyMissing {
        ca: name.into(),
        backend: ks.backend(),
    })?;
    let ca = Ca::load(&pem, &key)?;
    Ok((rec, ca))
}
