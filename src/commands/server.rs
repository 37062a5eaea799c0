//! `docker tlsctx server NAME --san VALUE…`: a server bundle alone.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use crate::args::{Format, KeyTypeArg};
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
                    rec.host.authz
                )
            );
        }
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct ServerArgs {
    /// Name of the server bundle
    #[arg(required = true)]
    pub name: Option<String>,
    /// Name or address on the certificate (repeatable, at least one)
    #[arg(long = "san", value_name = "VALUE", required = true)]
    pub sans: Vec<String>,
    /// Where to write the bundle [default: $DOCKER_CONFIG/tlsctx/servers/NAME]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Lifetime in days (at most 825: Apple's rule)
    #[arg(long, default_value_t = crate::pki::SERVER_DAYS)]
    pub days: u32,
    /// CA that signs the certificate
    #[arg(long, default_value = "default")]
    pub ca: String,
    /// Sign through this Vault/OpenBao issuer (docker tlsctx issuer add; its --server-role) instead of a CA here
    #[arg(long, value_name = "NAME", conflicts_with = "ca")]
    pub issuer: Option<String>,
    #[command(flatten)]
    pub key_type: KeyTypeArg,
    /// TCP port the daemon listens on (written to daemon.json)
    #[arg(long, default_value_t = 2376)]
    pub port: u16,
    /// Folder on the daemon host where daemon.json points for the TLS files
    #[arg(long, value_name = "DIR", default_value = "/etc/docker/tls")]
    pub daemon_dir: String,
    /// Also make dockerd ask the tlsctx-authz plugin (revocation, roles): daemon.json names it and the bundle gets its systemd unit
    #[arg(long)]
    pub authz: bool,
    /// Deploy hook run by `renew --due` after renewing it (no shell; TLSCTX_NAME, TLSCTX_DIR, TLSCTX_CERT, TLSCTX_KEY, TLSCTX_CA in its environment)
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,
    /// Replace an existing bundle
    #[arg(long)]
    pub force: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}
