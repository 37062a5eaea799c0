//! `docker tlsctx rm NAME [--force]`.

use clap::Args;

use crate::error::Result;
use crate::issuance::{identities::remove, Env};

pub fn run(env: &Env, args: &RmArgs) -> Result<()> {
    let removed = remove::context(env, &args.name, args.force)?;
    println!("Removed {}.", removed.join(", "));
    Ok(())
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Name of the context
    pub name: String,
    /// Remove it even if it is the current context
    #[arg(long, short)]
    pub force: bool,
}
