//! `docker tlsctx swarm publish NAME [--prefix P] [--context CTX]`.

use clap::Args;
use serde_json::json;

use crate::args::{Format, SwarmTarget};
use crate::docker::swarm::Docker;
use crate::error::Result;
use crate::issuance::swarm::publish::{self, File};
use crate::issuance::Env;
use crate::state::SwarmRotation;
use crate::text::{date, rfc3339};
use crate::ui;

pub fn run(env: &Env, args: &SwarmPublishArgs) -> Result<()> {
    // The context a scheduled run will use: the one named here, or the
    // one DOCKER_CONTEXT named (a scheduler does not set it); a DOCKER_HOST
    // is not kept, and the cluster ID recorded makes such a run fail
    // instead of publishing elsewhere.
    let context = args.target.context.clone().or_else(|| {
        crate::environment::var(crate::environment::Var::DockerContext)
            .ok()
            .filter(|c| !c.is_empty())
    });
    if args.rotate_on_renew {
        if let Some(c) = &context {
            crate::names::validate("context", c)?;
        }
    }
    let docker = Docker::find(&env.config_dir, args.target.context.as_deref(), &env.cancel)?;
    let p = publish::publish(env, &docker, &args.name, args.prefix.as_deref())?;
    if args.rotate_on_renew {
        publish::set_rotate_on_renew(
            env,
            &args.name,
            Some(SwarmRotation {
                prefix: p.prefix.clone(),
                context,
                cluster: p.cluster.clone(),
                rotated: Some(p.serial.clone()),
            }),
        )?;
    } else if args.no_rotate_on_renew {
        publish::set_rotate_on_renew(env, &args.name, None)?;
    }
    let auto = env
        .state()
        .server(&args.name)?
        .and_then(|r| r.renewal.swarm)
        .is_some_and(|s| s.prefix == p.prefix);
    if args.format == Format::Json {
        ui::print_json(&json!({
            "bundle": p.bundle,
            "prefix": p.prefix,
            "version": p.version,
            "secrets": p.secrets,
            "not_after": rfc3339(p.not_after),
            "sha256": p.sha256,
            "rotate_on_renew": auto,
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
    let name = |f| publish::secret_name(&p.prefix, f, p.version);
    println!(
        "\nUse them in a service:\n  docker service create --secret source={},target=cert.pem --secret source={},target=key.pem,mode=0400 --secret source={},target=ca.pem ...",
        name(File::Cert),
        name(File::Key),
        name(File::Ca),
    );
    if auto {
        println!(
            "Each renewal by docker tlsctx renew --due publishes the next version and moves the services that use these secrets to it (stop: docker tlsctx swarm publish {} --no-rotate-on-renew)",
            p.bundle
        );
    } else {
        println!(
            "Rotate later, with no downtime: docker tlsctx swarm rotate {} --service SERVICE (or let renew --due do it: publish with --rotate-on-renew)",
            p.bundle
        );
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct SwarmPublishArgs {
    /// Server bundle or service certificate to publish
    pub name: String,
    /// Secret name prefix [default: NAME]
    #[arg(long, value_name = "P")]
    pub prefix: Option<String>,
    /// From now on, renew --due publishes each renewal and moves the services that use these secrets to it (recorded with the bundle)
    #[arg(long, conflicts_with = "no_rotate_on_renew")]
    pub rotate_on_renew: bool,
    /// Stop renew --due from moving services (it renews and reports only)
    #[arg(long)]
    pub no_rotate_on_renew: bool,
    #[command(flatten)]
    pub target: SwarmTarget,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}
