//! `docker tlsctx ca export NAME --out DIR [--include-key]`.

use std::path::PathBuf;

use clap::Args;

use crate::error::Result;
use crate::issuance::{identities::ca, Env};

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

#[derive(Args, Debug)]
pub struct CaExportArgs {
    /// Name of the CA
    #[arg(long, default_value = "default")]
    pub name: String,
    /// Folder to write ca.pem (and ca-key.pem) into
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Also write the private key (0600): whoever has it can reach every daemon that trusts this CA
    #[arg(long)]
    pub include_key: bool,
    /// Overwrite files that exist
    #[arg(long)]
    pub force: bool,
}
