//! `docker tlsctx ca import --cert F --key F`: adopt a CA made elsewhere.

use crate::cli::CaImportArgs;
use crate::error::Result;
use crate::issuance::{ca, Env};
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
