//! `docker tlsctx client NAME`: a client bundle alone, in DOCKER_CERT_PATH
//! layout (CI jobs).

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use crate::args::{Format, KeyTypeArg};
use crate::error::Result;
use crate::issuance::identities::client::{self, Request};
use crate::issuance::Env;
use crate::text::date;
use crate::ui;

pub fn run(env: &Env, args: &ClientArgs) -> Result<()> {
    let b = client::create_bundle(
        env,
        &Request {
            name: &args.name,
            out: args.out.clone(),
            days: args.days,
            ca: &args.ca,
            cn: args.cn.as_deref(),
            key_type: args.key_type.key_type,
            role: args.role,
            force: args.force,
        },
        &ui::Spinner::default(),
    )?;
    let rec = &b.record;
    ui::warn_if_clamped(b.clamped_to_ca, rec.not_after, "client", &rec.ca, args.days);
    match args.format {
        Format::Json => ui::print_json(&json!({ "identity": rec })),
        Format::Text => {
            println!(
                "Issued client identity {:?} (CN {}, {}, valid until {}) in {}",
                rec.name,
                rec.cn,
                rec.key_type,
                date(rec.not_after),
                b.dir.display()
            );
            println!(
                "Use it with: DOCKER_HOST=tcp://HOST:2376 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH={} docker version",
                b.dir.display()
            );
        }
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct ClientArgs {
    /// Name of the client identity
    pub name: String,
    /// Where to write ca.pem, cert.pem, key.pem [default: $DOCKER_CONFIG/tlsctx/clients/NAME]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Lifetime in days
    #[arg(long, default_value_t = crate::pki::CLIENT_DAYS)]
    pub days: u32,
    /// CA that signs the certificate
    #[arg(long, default_value = "default")]
    pub ca: String,
    /// Common name [default: NAME]
    #[arg(long)]
    pub cn: Option<String>,
    #[command(flatten)]
    pub key_type: KeyTypeArg,
    /// What the identity may do where dockerd runs the tlsctx-authz plugin: admin, read-only (GET and HEAD only; no exec, attach or archive download), or viewer (lists and versions only)
    #[arg(long, value_name = "ROLE", default_value = "admin")]
    pub role: crate::pki::Role,
    /// Replace an existing identity of that name
    #[arg(long)]
    pub force: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}
