//! `docker tlsctx ca …`: certificate authorities. The CA key goes to the
//! keystore and nowhere else; only ca.pem and a record touch the disk.

use serde_json::json;

use super::{check_days, date, print_json, with_progress, Env};
use crate::cli::{CaExportArgs, CaImportArgs, CaInitArgs, CaRmArgs, Format};
use crate::context::validate_name;
use crate::error::{Error, Result};
use crate::fsio;
use crate::keystore::{self, KeyStore};
use crate::pki::KeyPemError;
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
                "Created CA {:?} ({}, valid until {}); its key is in {}.",
                rec.name,
                rec.key_type,
                date(rec.not_after),
                ks.describe()
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
/// CA `name`'s record and certificate, or the error that it does not exist.
fn existing(env: &Env, name: &str) -> Result<(CaRecord, String)> {
    validate_name("CA", name)?;
    env.state()
        .ca(name)?
        .ok_or_else(|| Error::CaNotFound(name.into()))
}

pub fn load(env: &Env, name: &str) -> Result<(CaRecord, Ca)> {
    let (rec, pem) = existing(env, name)?;
    let ks = keystore::open_recorded(&rec.keystore, &env.config_dir)?;
    let key = ks.get(&account(name))?.ok_or(Error::CaKeyMissing {
        ca: name.into(),
        backend: ks.backend(),
    })?;
    let ca = Ca::load(&pem, &key)?;
    Ok((rec, ca))
}

/// `ca import`: adopt a CA made elsewhere. Everything is checked before
/// anything is stored: a readable, unencrypted key; a certificate that may
/// sign (CA:TRUE, keyCertSign, not expired); a key that belongs to it.
pub fn run_import(env: &Env, args: &CaImportArgs) -> Result<()> {
    validate_name("CA", &args.name)?;
    if env.state().ca(&args.name)?.is_some() && !args.force {
        return Err(Error::CaExists(args.name.clone()));
    }
    let cert_pem = fsio::read_to_string(&args.cert)?;
    let key_text = fsio::read_to_string(&args.key)?;
    let key_der = pki::parse_private_key_pem(&key_text).map_err(|e| match e {
        KeyPemError::Encrypted => Error::EncryptedKey(args.key.clone()),
        KeyPemError::NotAKey => Error::NotAKey(args.key.clone()),
    })?;
    let info = CertInfo::from_pem(&cert_pem).map_err(|e| Error::NotACa {
        path: args.cert.clone(),
        why: e.to_string(),
    })?;
    let not_ca = |why: &str| Error::NotACa {
        path: args.cert.clone(),
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
        return Err(not_ca(&format!("it expired on {}", date(info.not_after))));
    }
    if !pki::key_matches_cert(&key_der, &cert_pem).map_err(|_| Error::NotAKey(args.key.clone()))? {
        return Err(Error::KeyDoesNotMatch {
            key: args.key.clone(),
            cert: args.cert.clone(),
        });
    }
    // And it can really sign: the same path `new` will take.
    Ca::load(&cert_pem, &key_der)?;

    let ks = env.keystore()?;
    super::check_cancelled()?;
    ks.set(&account(&args.name), &key_der)?;
    let rec = CaRecord {
        name: args.name.clone(),
        cn: info.subject_cn.clone(),
        key_type: info.key_type.clone(),
        created: env.now,
        not_after: info.not_after,
        sha256: info.sha256.clone(),
        keystore: ks.backend().into(),
    };
    // Re-encode: one certificate, our line endings, nothing else from the file.
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes())
        .map_err(|e| Error::Crypto(e.to_string()))?;
    env.state()
        .write_ca(&rec, &pki::pem_encode("CERTIFICATE", &pem.contents))?;
    println!(
        "Imported CA {:?} ({}, CN {}, valid until {}); its key is in {}.",
        rec.name,
        rec.key_type,
        rec.cn,
        date(rec.not_after),
        ks.describe()
    );
    println!(
        "The key file {} is no longer needed: delete it (shred -u {}) once you have a backup.",
        args.key.display(),
        args.key.display()
    );
    Ok(())
}

pub fn run_export(env: &Env, args: &CaExportArgs) -> Result<()> {
    let (rec, pem) = existing(env, &args.name)?;
    let cert_path = args.out.join("ca.pem");
    let key_path = args.out.join("ca-key.pem");
    if !args.force {
        for p in [&cert_path, &key_path] {
            if p.exists() && (p == &cert_path || args.include_key) {
                return Err(Error::FileExists(p.clone()));
            }
        }
    }
    let key = if args.include_key {
        let ks = keystore::open_recorded(&rec.keystore, &env.config_dir)?;
        Some(ks.get(&account(&rec.name))?.ok_or(Error::CaKeyMissing {
            ca: rec.name.clone(),
            backend: ks.backend(),
        })?)
    } else {
        None
    };
    fsio::create_dir_all(
        &args.out,
        if key.is_some() {
            fsio::SECRET_DIR
        } else {
            fsio::PUBLIC_DIR
        },
    )?;
    fsio::write_atomic(&cert_path, pem.as_bytes(), fsio::PUBLIC_FILE)?;
    println!("Wrote {}", cert_path.display());
    if let Some(der) = key {
        fsio::write_atomic(
            &key_path,
            pki::key_pem_from_der(&der).as_bytes(),
            fsio::SECRET_FILE,
        )?;
        println!("Wrote {} (mode 0600)", key_path.display());
        eprintln!(
            "Warning: {} is the CA's private key: whoever reads it can issue identities for every daemon that trusts CA {:?}. Keep it offline and delete it when done.",
            key_path.display(),
            rec.name
        );
    }
    Ok(())
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

pub fn run_ls(env: &Env, format: Format) -> Result<()> {
    let state = env.state();
    let ids = state.identities()?;
    let cas = state.cas()?;
    let count = |ca: &str| ids.iter().filter(|i| i.ca == ca).count();
    match format {
        Format::Json => {
            let v: Vec<_> = cas
                .iter()
                .map(|c| {
                    let mut j = serde_json::to_value(c).expect("json");
                    j["identities"] = count(&c.name).into();
                    j
                })
                .collect();
            print_json(&serde_json::Value::Array(v));
        }
        Format::Text => {
            let rows: Vec<[String; 6]> = cas
                .iter()
                .map(|c| {
                    [
                        c.name.clone(),
                        c.key_type.clone(),
                        date(c.not_after),
                        (c.not_after - env.now).whole_days().to_string(),
                        c.keystore.clone(),
                        count(&c.name).to_string(),
                    ]
                })
                .collect();
            print!(
                "{}",
                super::table(
                    &[
                        "NAME",
                        "KEY TYPE",
                        "NOT AFTER",
                        "DAYS LEFT",
                        "KEYSTORE",
                        "IDENTITIES"
                    ],
                    &rows
                )
            );
        }
    }
    Ok(())
}

pub fn run_rm(env: &Env, args: &CaRmArgs) -> Result<()> {
    let (rec, _) = existing(env, &args.name)?;
    let used = contexts_using(env, &args.name)?;
    if !used.is_empty() && !args.force {
        return Err(Error::CaInUse {
            ca: args.name.clone(),
            contexts: used,
        });
    }
    // The record goes first: a CA without its record does not exist, so a
    // failure after it leaves at worst an unused key in the keystore.
    env.state().remove_ca(&args.name)?;
    let ks = keystore::open_recorded(&rec.keystore, &env.config_dir)?;
    ks.delete(&account(&args.name))?;
    println!(
        "Removed CA {:?} and its key from {}.",
        args.name,
        ks.describe()
    );
    Ok(())
}
