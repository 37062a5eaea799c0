//! `docker tlsctx ca import --cert F --key F`: adopt a CA made elsewhere.

use std::path::PathBuf;

use clap::Args;

use crate::error::Result;
use crate::issuance::{identities::ca, Env};
use crate::text::date;

pub fn run(env: &Env, args: &CaImportArgs) -> Result<()> {
    let (rec, keystore) = ca::import(env, &args.name, &args.cert, &args.key, args.force)?;
    println!(
        "Imported CA {:?} ({}, CN {}, valid until {}); its key is in {keystore}.",
        rec.name,
        rec.key_type,
        rec.cn,
        date(rec.not_after),
    );
    println!(
        "The key file {} is no longer needed: delete it (shred -u {}) once you have a backup.",
        args.key.display(),
        args.key.display()
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct CaImportArgs {
    /// The CA certificate (PEM)
    #[arg(long, value_name = "FILE")]
    pub cert: PathBuf,
    /// The CA private key (PEM: PKCS#8, PKCS#1 or SEC1, unencrypted)
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Name for the CA
    #[arg(long, default_value = "default")]
    pub name: String,
    /// Replace an existing CA of that name
    #[arg(long)]
    pub force: bool,
}
