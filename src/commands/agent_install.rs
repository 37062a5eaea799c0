//! `docker tlsctx agent install`: the agent starts on first use.

use crate::agent::{self, units};
use crate::docker::endpoint;
use crate::error::Result;
use crate::issuance::Env;

pub fn run(env: &Env) -> Result<()> {
    let names = agent::contexts(env, &[])?;
    // A relative folder (DOCKER_CONFIG=cfg) would be read from wherever
    // the service manager starts the agent, as autorenew's job would.
    let config_dir = std::path::absolute(&env.config_dir)
        .map_err(crate::error::Error::io("find", &env.config_dir))?;
    let sockets = names
        .iter()
        .map(|n| Ok((n.clone(), endpoint::socket_path(&config_dir, n)?)))
        .collect::<Result<Vec<_>>>()?;
    let done = units::install(&config_dir, &sockets)?;
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
