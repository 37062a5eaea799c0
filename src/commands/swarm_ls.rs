//! `docker tlsctx swarm ls [--format json]`.

use clap::Args;

use crate::args::{Format, SwarmTarget};
use crate::docker::swarm::Docker;
use crate::error::Result;
use crate::issuance::{swarm::publish, Env};
use crate::ui;

pub fn run(env: &Env, args: &SwarmLsArgs) -> Result<()> {
    let docker = Docker::find(&env.config_dir, args.target.context.as_deref(), &env.cancel)?;
    let versions = publish::list(&docker)?;
    if args.format == Format::Json {
        ui::print_json(&serde_json::to_value(&versions).expect("json"));
        return Ok(());
    }
    let lines: Vec<[String; 7]> = versions
        .iter()
        .map(|v| {
            [
                v.bundle.clone(),
                v.prefix.clone(),
                if v.complete {
                    format!("v{}", v.version)
                } else {
                    format!("v{} (incomplete)", v.version)
                },
                v.not_after
                    .as_deref()
                    .map(|t| t.get(..10).unwrap_or(t))
                    .unwrap_or("-")
                    .into(),
                v.sha256
                    .as_deref()
                    .map(|s| s.get(..16).unwrap_or(s))
                    .unwrap_or("-")
                    .into(),
                if v.services.is_empty() {
                    "-".into()
                } else {
                    v.services.join(",")
                },
                if v.prunable { "yes" } else { "no" }.into(),
            ]
        })
        .collect();
    print!(
        "{}",
        ui::table(
            &[
                "BUNDLE",
                "PREFIX",
                "VERSION",
                "NOT AFTER",
                "SHA-256",
                "SERVICES",
                "PRUNABLE"
            ],
            &lines
        )
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct SwarmLsArgs {
    #[command(flatten)]
    pub target: SwarmTarget,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}
