//! `docker tlsctx cert NAME --san VALUE… [--client]`: a certificate for a
//! service behind the daemon, kept like a server bundle.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use crate::args::{Format, KeyTypeArg};
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

#[derive(Args, Debug)]
pub struct CertArgs {
    /// Name of the certificate (also its keystore entry and its swarm secrets' prefix)
    #[arg(required = true)]
    pub name: Option<String>,
    /// Name or address on the certificate (repeatable, at least one; the first is also its CN)
    #[arg(long = "san", value_name = "VALUE", required = true)]
    pub sans: Vec<String>,
    /// Lifetime in days (at most 825: Apple's rule)
    #[arg(long, default_value_t = crate::pki::SERVER_DAYS)]
    pub days: u32,
    /// CA that signs the certificate
    #[arg(long, default_value = "default")]
    pub ca: String,
    /// A TLS client's certificate (EKU clientAuth) instead of a server's (serverAuth)
    #[arg(long)]
    pub client: bool,
    /// Deploy hook run by `renew --due` after renewing it, e.g. "systemctl reload nginx" (no shell; TLSCTX_NAME, TLSCTX_DIR, TLSCTX_CERT, TLSCTX_KEY, TLSCTX_CA in its environment)
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,
    #[command(flatten)]
    pub key_type: KeyTypeArg,
    /// Where to write ca.pem, cert.pem, key.pem [default: $DOCKER_CONFIG/tlsctx/servers/NAME]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace an existing certificate of that name
    #[arg(long)]
    pub force: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}
