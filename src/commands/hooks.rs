//! `docker tlsctx hooks enable|disable`: expiry hints after docker commands.

use clap::Subcommand;

use crate::docker::hooks::{self, HOOKED_COMMANDS};
use crate::error::Result;
use crate::issuance::Env;

pub fn run(env: &Env, cmd: &HooksCommand) -> Result<()> {
    let enable = matches!(cmd, HooksCommand::Enable);
    hooks::set_enabled(&env.config(), enable)?;
    if enable {
        println!(
            "Docker will show expiry hints after: {}",
            HOOKED_COMMANDS.replace(',', ", ")
        );
    } else {
        println!("Expiry hints after docker commands are off.");
    }
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum HooksCommand {
    /// Turn on Docker CLI hooks for tlsctx in config.json (features.hooks, plugins.tlsctx.hooks)
    Enable,
    /// Turn them off again
    Disable,
}
