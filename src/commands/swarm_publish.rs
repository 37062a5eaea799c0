//! `docker tlsctx swarm publish NAME [--prefix P] [--context CTX]`.

use serde_json::json;

use crate::cli::{Format, SwarmPublishArgs};
use crate::docker::swarm::Docker;
use crate::error::Result;
use crate::issuance::swarm::{self, File};
use crate::issuance::Env;
use crate::text::{date, rfc3339};
use crate::ui;

pub fn run(env: &Env, args: &SwarmPublishArgs) -> Result<()> {
    let docker = Docker::find(&env.config_dir, args.target.context.as_deref())?;
    let p = swarm::publish(env, &docker, &args.name, args.prefix.as_deref())?;
    if args.format == Format::Json {
        ui::print_json(&json!({
            "bundle": p.bundle,
            "prefix": p.prefix,
            "version": p.version,
            "secrets": p.secrets,
            "not_after": rfc3339(p.not_after),
            "sha256": p.sha256,
        }));
        return Ok(());
    }
    println!(
        "Published {:?} as version {} (certificate valid until {}, SHA-256 {}):",
        p.bundle,
        p.version,
        date(p.not_after),
        p.sha256
    );
    for s in &p.secrets {
        println!("  {s}");
    }
    let name = |f| swarm::secret_name(&p.prefix, f, p.version);
    println!(
        "\nUse them in a service:\n  docker service create --secret source={},target=cert.pem --secret source={},target=key.pem,mode=0400 --secret source={},target=ca.pem ...",
        name(File::Cert),
        name(File::Key),
        name(File::Ca),
    );
    println!(
        "Rotate later, with no downtime: docker tlsctx swarm rotate {} --service SERVICE",
        p.bundle
    );
    Ok(())
}
