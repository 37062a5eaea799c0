//! `docker tlsctx rm NAME [--force]`.

use crate::cli::RmArgs;
use crate::error::Result;
use crate::issuance::{remove, Env};

pub fn run(env: &Env, args: &RmArgs) -> Result<()> {
    let removed = remove::context(env, &args.name, args.force)?;
    println!("Removed {}.", removed.join(", "));
    Ok(())
}
