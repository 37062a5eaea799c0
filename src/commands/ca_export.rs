//! `docker tlsctx ca export NAME --out DIR [--include-key]`.

use crate::cli::CaExportArgs;
use crate::error::Result;
use crate::issuance::{ca, Env};

pub fn run(env: &Env, args: &CaExportArgs) -> Result<()> {
    let out = ca::export(env, &args.name, &args.out, args.include_key, args.force)?;
    println!("Wrote {}", out.cert.display());
    if let Some(key) = &out.key {
        println!("Wrote {} (mode 0600)", key.display());
        eprintln!(
            "Warning: {} is the CA's private key: whoever reads it can issue identities for every daemon that trusts CA {:?}. Keep it offline and delete it when done.",
            key.display(),
            args.name
        );
    }
    Ok(())
}
