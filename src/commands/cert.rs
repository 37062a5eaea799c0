//! `docker tlsctx cert NAME --san VALUE… [--client]`: a certificate for a
//! service behind the daemon, kept like a server bundle.

use serde_json::json;

use crate::cli::{CertArgs, Format};
use crate::error::Result;
use crate::issuance::server::{self, Request};
use crate::issuance::Env;
use crate::pki::Purpose;
use crate::text::date;
use crate::ui;

pub fn run(env: &Env, args: &CertArgs) -> Result<()> {
    let name = args
        .name
        .as_deref()
        .expect("clap requires NAME without a subcommand");
    let purpose = if args.client {
        Purpose::ServiceClient
    } else {
        Purpose::Service
    };
    let (rec, clamped) = server::create(
        env,
        &Request {
            name,
            sans: &args.sans,
            days: args.days,
            out: args.out.clone(),
            ca: &args.ca,
            key_type: args.key_type.key_type,
            port: 0,
            daemon_dir: server::DEFAULT_DAEMON_DIR,
            authz: false,
            force: args.force,
            purpose,
            exec: server::parse_exec(args.exec.as_deref())?,
        },
        &ui::Spinner::default(),
    )?;
    ui::warn_if_clamped(clamped, rec.not_after, "certificate", &rec.ca, args.days);
    match args.format {
        Format::Json => ui::print_json(&json!({ "certificate": rec })),
        Format::Text => {
            let sans: Vec<String> = rec.sans.iter().map(ToString::to_string).collect();
            let role = if args.client {
                "TLS client"
            } else {
                "TLS server"
            };
            println!(
                "Issued {role} certificate {:?} for {} (valid until {}) in {}",
                rec.name,
                sans.join(", "),
                date(rec.not_after),
                rec.dir.display()
            );
            println!("  ca.pem, cert.pem, key.pem (0600)");
            println!(
                "\nTo hand it to swarm services: docker tlsctx swarm publish {}",
                rec.name
            );
        }
    }
    Ok(())
}
