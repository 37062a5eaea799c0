//! `docker tlsctx ca init [--name default]`: a new certificate authority.

use clap::Args;
use serde_json::json;

use crate::args::{Format, KeyTypeArg};
use crate::error::{Error, Result};
use crate::issuance::{check_days, identities::ca, Env};
use crate::text::date;
use crate::{names, pki, ui};

pub fn run(env: &Env, args: &CaInitArgs) -> Result<()> {
    names::validate("CA", &args.name)?;
    check_days("--days", args.days, pki::MAX_DAYS, "at most 10 years")?;
    if let Some(cn) = &args.cn {
        names::validate_cn(cn)?;
    }
    if env.state().ca(&args.name)?.is_some() && !args.force {
        return Err(Error::CaExists(args.name.clone()));
    }
    let ks = env.keystore()?;
    let rec = ca::create(
        env,
        ks.as_ref(),
        &args.name,
        args.cn.as_deref(),
        args.key_type.key_type,
        args.days,
        &ui::Spinner::default(),
    )?;
    match args.format {
        Format::Json => ui::print_json(&json!({ "ca": rec })),
        Format::Text => {
            println!(
                "Created CA {:?} ({}, valid until {}); its key is in {}.",
                rec.name,
                rec.key_type,
                date(rec.not_after),
                ks.describe()
            );
            println!(
                "Certificate: {}",
                env.state().ca_dir(&rec.name).join("ca.pem").display()
            );
        }
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct CaInitArgs {
    /// Name of the CA
    #[arg(long, default_value = "default")]
    pub name: String,
    #[command(flatten)]
    pub key_type: KeyTypeArg,
    /// Lifetime in days
    #[arg(long, default_value_t = crate::pki::CA_DAYS)]
    pub days: u32,
    /// Common name of the CA certificate [default: docker-tlsctx CA NAME]
    #[arg(long)]
    pub cn: Option<String>,
    /// Replace an existing CA of that name (what it issued stops working)
    #[arg(long)]
    pub force: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}
