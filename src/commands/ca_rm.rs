//! `docker tlsctx ca rm NAME [--force]`.

use crate::cli::CaRmArgs;
use crate::error::Result;
use crate::issuance::{ca, Env};

pub fn run(env: &Env, args: &CaRmArgs) -> Result<()> {
    let keystore = ca::remove(env, &args.name, args.force)?;
    println!("Removed CA {:?} and its key from {keystore}.", args.name);
    Ok(())
}
