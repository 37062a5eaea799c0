//! `docker tlsctx agent install`: the agent starts on first use.

use crate::agent::{self, units};
use crate::docker::endpoint;
use crate::error::Result;
use crate::issuance::Env;

pub fn run(env: &Env) -> Result<()> {
    let names = agent::contexts(env, &[])?;
    let sockets = names
        .iter()
        .map(|n| Ok((n.clone(), endpoint::socket_path(&env.config_dir, n)?)))
        .collect::<Result<Vec<_>>>()?;
    let done = units::install(&env.config_dir, &sockets)?;
    for f in &done.files {
        println!("Wrote {}", f.display());
    }
    if names.is_empty() {
        println!("No keychain-only context yet: run this again after docker tlsctx new NAME --host tcp://HOST --keychain-only.");
    } else {
        println!(
            "{} for: {}",
            if cfg!(windows) { "Pipes" } else { "Sockets" },
            names.join(", ")
        );
    }
    println!("\nTo start listening now and at every login:");
    for n in &done.next {
        println!("  {n}");
    }
    Ok(())
}
