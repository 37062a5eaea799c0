//! `docker tlsctx ca rm NAME [--force]`.

use clap::Args;

use crate::error::Result;
use crate::issuance::{identities::ca, Env};

pub fn run(env: &Env, args: &CaRmArgs) -> Result<()> {
    let keystore = ca::remove(env, &args.name, args.force)?;
    println!("Removed CA {:?} and its key from {keystore}.", args.name);
    Ok(())
}

#[derive(Args, Debug)]
pub struct CaRmArgs {
    /// Name of the CA
    pub name: String,
    /// Remove it even while contexts use identities it issued
    #[arg(long)]
    pub force: bool,
}
