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
    for (cmd, ok) in &done.ran {
        println!("{} {cmd}", if *ok { "Ran" } else { "Could not run" });
    }
    if done.ran.is_empty() || !done.next.is_empty() {
        println!(
            "\n{}",
            if done.ran.is_empty() {
                "To start listening now and at every login:"
            } else {
                "Not listening yet: the user's service manager could not be reached from here. In your login session, run:"
            }
        );
        for n in &done.next {
            println!("  {n}");
        }
    } else {
        println!(
            "\nListening now and at every login: the docker CLI starts the agent on first use."
        );
    }
    Ok(())
}
