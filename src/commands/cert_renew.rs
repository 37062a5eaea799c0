//! `docker tlsctx cert renew NAME [--add-san VALUE] [--days N]`.

use clap::Args;

use crate::error::Result;
use crate::issuance::{server, Env};
use crate::ui;

pub fn run(env: &Env, args: &CertRenewArgs) -> Result<()> {
    let r = server::renew(
        env,
        &args.name,
        &args.add_sans,
        args.days,
        &ui::Spinner::default(),
    )?;
    ui::renewal_notes(
        &r.notes,
        r.clamped_to_ca,
        r.after.not_after,
        "certificate",
        &r.after.ca,
        args.days,
    );
    ui::bundle_renewed("certificate", &r.before, &r.after);
    println!(
        "Services read it at start: to move swarm services to it, docker tlsctx swarm rotate {} --service SVC",
        r.after.name
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct CertRenewArgs {
    /// Name of the service certificate
    pub name: String,
    /// Add a name or address to the certificate (repeatable)
    #[arg(long = "add-san", value_name = "VALUE")]
    pub add_sans: Vec<String>,
    /// Lifetime in days (at most 825: Apple's rule)
    #[arg(long, default_value_t = crate::pki::SERVER_DAYS)]
    pub days: u32,
}
