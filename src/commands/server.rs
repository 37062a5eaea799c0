//! `docker tlsctx server NAME --san VALUE…`: a server bundle alone.

use serde_json::json;

use crate::cli::{Format, ServerArgs};
use crate::error::Result;
use crate::issuance::server::{self, Request};
use crate::issuance::Env;
use crate::text::date;
use crate::ui;

pub fn run(env: &Env, args: &ServerArgs) -> Result<()> {
    let name = args
        .name
        .as_deref()
        .expect("clap requires NAME without a subcommand");
    let (rec, clamped) = server::create(
        env,
        &Request {
            name,
            sans: &args.sans,
            days: args.days,
            out: args.out.clone(),
            ca: args.issuer.as_deref().unwrap_or(&args.ca),
            key_type: args.key_type.key_type,
            port: args.port,
            daemon_dir: &args.daemon_dir,
            authz: args.authz,
            force: args.force,
            purpose: crate::pki::Purpose::Daemon,
            exec: server::parse_exec(args.exec.as_deref())?,
        },
        &ui::Spinner::default(),
    )?;
    ui::warn_if_clamped(clamped, rec.not_after, "server", &rec.ca, args.days);
    match args.format {
        Format::Json => ui::print_json(&json!({ "server": rec })),
        Format::Text => {
            let sans: Vec<String> = rec.sans.iter().map(ToString::to_string).collect();
            println!(
                "Issued server bundle {:?} for {} (valid until {}) in {}",
                rec.name,
                sans.join(", "),
                date(rec.not_after),
                rec.dir.display()
            );
            print!(
                "\n{}",
                ui::server_next_steps(
                    &rec.name,
                    &rec.dir,
                    &args.daemon_dir,
                    &rec.sans[0].host(),
                    rec.authz
                )
            );
        }
    }
    Ok(())
}
