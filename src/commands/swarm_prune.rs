//! `docker tlsctx swarm prune NAME`.

use clap::Args;

use crate::args::SwarmTarget;
use crate::docker::swarm::Docker;
use crate::error::Result;
use crate::issuance::{swarm::publish, Env};

pub fn run(env: &Env, args: &SwarmPruneArgs) -> Result<()> {
    let docker = Docker::find(&env.config_dir, args.target.context.as_deref(), &env.cancel)?;
    let removed = publish::prune(&docker, &args.name)?;
    if removed.is_empty() {
        println!(
            "Nothing to prune for {:?}: every older version is in use, or there is only the newest",
            args.name
        );
    } else {
        for s in &removed {
            println!("Removed {s}");
        }
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct SwarmPruneArgs {
    /// Bundle whose unused old versions go
    pub name: String,
    #[command(flatten)]
    pub target: SwarmTarget,
}
