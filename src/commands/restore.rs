//! `docker tlsctx restore NAME`: rebuild a context that `docker context rm`
//! deleted (or that was damaged) from what we keep.

use clap::Args;

use crate::error::Result;
use crate::issuance::{identities::identity, Env};
use crate::text::date;

pub fn run(env: &Env, args: &RestoreArgs) -> Result<()> {
    let (rec, m) = identity::restore(env, &args.name, args.force)?;
    println!(
        "Restored context {:?} for {} (client identity CN {}, valid until {}).",
        args.name,
        m.host.url(),
        rec.cn,
        date(rec.not_after)
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// Name of the context (and of its client identity)
    pub name: String,
    /// Replace the context if it still exists
    #[arg(long)]
    pub force: bool,
}
