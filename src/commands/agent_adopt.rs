//! `docker tlsctx agent adopt NAME`: a context becomes keychain-only.

use crate::error::Result;
use crate::issuance::{identities::agent, Env};

pub fn run(env: &Env, name: &str) -> Result<()> {
    let rec = agent::adopt(env, name)?;
    println!(
        "Context {name:?} is keychain-only now: its key is only in the {} keystore, and Docker reaches {} through the agent.",
        rec.keystore,
        rec.host.as_ref().map(|h| h.url()).unwrap_or_default()
    );
    println!("Start it: docker tlsctx agent {name}");
    Ok(())
}
