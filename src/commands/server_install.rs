//! `docker tlsctx server install NAME [--ssh TARGET] [--dry-run]`,
//! `server install --all [--parallel N]`, and `--crl-only` for either.

use std::time::Duration;

use clap::Args;
use serde_json::json;

use crate::args::{Format, InstallOpts};
use crate::error::{Error, Result};
use crate::issuance::install::{self, Installed, Options, Pushed};
use crate::issuance::Env;
use crate::ssh::Target;
use crate::ui;

/// One host's outcome, either kind.
enum Done {
    Installed(Box<Installed>),
    Pushed(Pushed),
}

impl Done {
    fn target(&self) -> &Target {
        match self {
            Done::Installed(i) => &i.target,
            Done::Pushed(p) => &p.target,
        }
    }
    fn total(&self) -> Duration {
        match self {
            Done::Installed(i) => i.total,
            Done::Pushed(p) => p.total,
        }
    }
    fn result(&self) -> &'static str {
        match self {
            Done::Installed(i) if i.dry_run => "planned",
            Done::Installed(_) => "installed",
            Done::Pushed(_) => "crl pushed",
        }
    }
    fn report(&self) {
        match self {
            Done::Installed(i) => ui::report_install(i),
            Done::Pushed(p) => println!(
                "Copied the CRL of server bundle {:?} to {} on {}: the tlsctx-authz plugin refuses the revoked identities from its next request.",
                p.name, p.dest, p.target
            ),
        }
    }
}

pub fn run(env: &Env, args: &ServerInstallArgs) -> Result<()> {
    let opts = Options {
        ssh: args.ssh.as_deref(),
        context: args.opts.context.as_deref(),
        dry_run: args.dry_run,
        yes: args.opts.yes,
        force: args.opts.force,
        confirm: &ui::ask_yes,
        progress: &ui::progress,
    };
    let one = |name: &str| -> Result<Done> {
        if args.crl_only {
            install::push_crl(env, name, opts.ssh).map(Done::Pushed)
        } else {
            install::install(env, name, &opts).map(|i| Done::Installed(Box::new(i)))
        }
    };
    if !args.all {
        let name = args
            .name
            .as_deref()
            .expect("clap requires NAME without --all");
        let done = one(name)?;
        match args.format {
            Format::Json => ui::print_json(&summary(name, &Ok(done))),
            Format::Text => done.report(),
        }
        return Ok(());
    }
    let text = args.format == Format::Text;
    let names = install::fleet(env, args.crl_only)?;
    let results = install::in_parallel(names, usize::from(args.parallel), &one, &|name, r| {
        if text {
            match r {
                Ok(done) => done.report(),
                Err(e) => eprintln!("{name}: {}", crate::explain::explain(e).0),
            }
        }
    });
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    match args.format {
        Format::Json => ui::print_json(&json!({
            "installs": results.iter().map(|(n, r)| summary(n, r)).collect::<Vec<_>>(),
        })),
        Format::Text => {
            let rows: Vec<[String; 4]> = results
                .iter()
                .map(|(n, r)| match r {
                    Ok(d) => [
                        n.clone(),
                        d.target().to_string(),
                        d.result().into(),
                        format!("{:.1} s", d.total().as_secs_f64()),
                    ],
                    Err(e) => [
                        n.clone(),
                        String::new(),
                        "FAILED".into(),
                        crate::explain::explain(e).0,
                    ],
                })
                .collect();
            print!(
                "{}",
                ui::table(&["BUNDLE", "HOST", "RESULT", "DETAIL"], &rows)
            );
        }
    }
    if failed > 0 {
        return Err(Error::InstallsFailed {
            failed,
            total: results.len(),
        });
    }
    Ok(())
}

fn summary(name: &str, r: &Result<Done>) -> serde_json::Value {
    match r {
        Ok(d) => {
            let mut v = json!({
                "name": name,
                "ssh": d.target().to_string(),
                "result": d.result(),
                "total_ms": d.total().as_millis() as u64,
            });
            if let Done::Installed(i) = d {
                v["address"] = json!(i.address);
                v["context"] = json!(i.context);
                v["version"] = json!(i.version);
                v["restart_ms"] = json!(i.restart.as_millis() as u64);
                v["notes"] = json!(i.notes);
            }
            v
        }
        Err(e) => {
            let (what, fix) = crate::explain::explain(e);
            json!({ "name": name, "result": "failed", "error": what, "fix": fix })
        }
    }
}

#[derive(Args, Debug)]
pub struct ServerInstallArgs {
    /// Name of the server bundle (the context name for bundles made by `new`)
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub name: Option<String>,
    /// The Docker host, as the system ssh reaches it: [USER@]HOST[:PORT] or a Host alias (recorded; later installs need no flag)
    #[arg(long, value_name = "TARGET", conflicts_with = "all")]
    pub ssh: Option<String>,
    /// Print the plan (files and modes, the daemon.json change, the drop-in, the commands) and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Every server bundle with a recorded SSH target
    #[arg(long)]
    pub all: bool,
    /// Only copy the bundle's crl.pem (written by revoke) to the host; the tlsctx-authz plugin reads it again without a restart
    #[arg(long, conflicts_with = "dry_run")]
    pub crl_only: bool,
    /// With --all: how many hosts at once
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: u16,
    #[command(flatten)]
    pub opts: InstallOpts,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}
