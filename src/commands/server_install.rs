//! `docker tlsctx server install NAME [--ssh TARGET] [--dry-run]` and
//! `server install --all [--parallel N]`.

use serde_json::json;

use crate::cli::{Format, ServerInstallArgs};
use crate::error::{Error, Result};
use crate::issuance::install::{self, Installed, Options};
use crate::issuance::Env;
use crate::ui;

pub fn run(env: &Env, args: &ServerInstallArgs) -> Result<()> {
    let opts = Options {
        ssh: args.ssh.as_deref(),
        context: args.opts.context.as_deref(),
        dry_run: args.dry_run,
        yes: args.opts.yes,
        confirm: &ui::ask_yes,
    };
    if !args.all {
        let name = args
            .name
            .as_deref()
            .expect("clap requires NAME without --all");
        let done = install::install(env, name, &opts)?;
        match args.format {
            Format::Json => ui::print_json(&summary(name, &Ok(done))),
            Format::Text => ui::report_install(&done),
        }
        return Ok(());
    }
    let text = args.format == Format::Text;
    let results = install::install_all(env, usize::from(args.parallel), &opts, &|name, r| {
        if text {
            match r {
                Ok(done) => ui::report_install(done),
                Err(e) => eprintln!("{name}: {}", e.explain().0),
            }
        }
    })?;
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
                        d.target.to_string(),
                        if d.dry_run { "planned" } else { "installed" }.into(),
                        format!("{:.1} s", d.total.as_secs_f64()),
                    ],
                    Err(e) => [n.clone(), String::new(), "FAILED".into(), e.explain().0],
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

fn summary(name: &str, r: &Result<Installed>) -> serde_json::Value {
    match r {
        Ok(d) => json!({
            "name": name,
            "ssh": d.target.to_string(),
            "result": if d.dry_run { "planned" } else { "installed" },
            "address": d.address,
            "context": d.context,
            "version": d.version,
            "restart_ms": d.restart.as_millis() as u64,
            "total_ms": d.total.as_millis() as u64,
            "notes": d.notes,
        }),
        Err(e) => {
            let (what, fix) = e.explain();
            json!({ "name": name, "result": "failed", "error": what, "fix": fix })
        }
    }
}
