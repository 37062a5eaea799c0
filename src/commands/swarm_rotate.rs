//! `docker tlsctx swarm rotate NAME --service SVC… [--target-cert F …]`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

use clap::Args;
use serde_json::json;

use crate::args::{Format, SwarmTarget};
use crate::docker::swarm::Docker;
use crate::error::Result;
use crate::issuance::swarm::publish::Targets;
use crate::issuance::swarm::rotate::{self, RotateRequest, Watch};
use crate::issuance::Env;
use crate::text::{date, rfc3339};
use crate::ui;

/// Progress on stderr: one line each time a service's update changes state.
#[derive(Default)]
struct Lines {
    last: RefCell<BTreeMap<String, String>>,
}

impl Watch for Lines {
    fn status(&self, service: &str, state: &str, elapsed: Duration) {
        let mut last = self.last.borrow_mut();
        if last.get(service).map(String::as_str) != Some(state) {
            eprintln!("{service}: {state} ({:.1} s)", elapsed.as_secs_f64());
            last.insert(service.into(), state.into());
        }
    }

    fn note(&self, text: &str) {
        eprintln!("Note: {text}");
    }
}

pub fn run(env: &Env, args: &SwarmRotateArgs) -> Result<()> {
    // --timeout bounds every docker call too: a hung dockerd must not hold
    // the rotation, and the lock, forever.
    let docker = Docker::find(&env.config_dir, args.target.context.as_deref(), &env.cancel)?
        .with_timeout(Duration::from_secs(args.timeout));
    let r = rotate::rotate(
        env,
        &docker,
        &RotateRequest {
            name: &args.name,
            prefix: args.prefix.as_deref(),
            services: &args.services,
            targets: Targets {
                cert: args.target_cert.clone(),
                key: args.target_key.clone(),
                ca: args.target_ca.clone(),
            },
            days: args.days,
            renew: true,
            timeout: Duration::from_secs(args.timeout),
        },
        &ui::Spinner::default(),
        &Lines::default(),
    )?;
    let p = &r.published;
    if args.format == Format::Json {
        let services: Vec<_> = r
            .outcomes
            .iter()
            .map(|o| json!({ "service": o.service, "from": o.from, "to": p.version, "seconds": o.seconds }))
            .collect();
        ui::print_json(&json!({
            "bundle": p.bundle,
            "prefix": p.prefix,
            "version": p.version,
            "not_after": rfc3339(p.not_after),
            "sha256": p.sha256,
            "services": services,
            "removed": r.removed,
            "seconds": r.seconds,
        }));
        return Ok(());
    }
    if let Some(renewed) = &r.renewed {
        println!(
            "Renewed {:?} (valid until {}, was {}) and published version {}",
            p.bundle,
            date(renewed.after.not_after),
            date(renewed.before.not_after),
            p.version
        );
    }
    for o in &r.outcomes {
        let from = o.from.map_or("none".to_string(), |v| format!("v{v}"));
        println!(
            "Moved service {} from {from} to v{} in {:.1} s",
            o.service, p.version, o.seconds
        );
    }
    if r.removed.is_empty() {
        println!("Kept the older versions: services still use them (docker tlsctx swarm ls)");
    } else {
        println!("Removed (no service uses them): {}", r.removed.join(", "));
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct SwarmRotateArgs {
    /// Server bundle or service certificate to rotate
    pub name: String,
    /// Service to move to the new version (repeatable; all move, each in one update)
    #[arg(long = "service", value_name = "SVC", required = true, num_args = 1..)]
    pub services: Vec<String>,
    /// Where the certificate goes in the services [default: the target they use now]
    #[arg(long, value_name = "F")]
    pub target_cert: Option<String>,
    /// Where the key goes [default: the target they use now]
    #[arg(long, value_name = "F")]
    pub target_key: Option<String>,
    /// Where the CA certificate goes [default: the target they use now]
    #[arg(long, value_name = "F")]
    pub target_ca: Option<String>,
    /// Secret name prefix [default: NAME]
    #[arg(long, value_name = "P")]
    pub prefix: Option<String>,
    /// Lifetime of the renewed certificate in days (at most 825: Apple's rule)
    #[arg(long, default_value_t = crate::pki::SERVER_DAYS)]
    pub days: u32,
    /// Seconds to wait for each service's update to converge
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub timeout: u64,
    #[command(flatten)]
    pub target: SwarmTarget,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}
