//! `docker tlsctx export NAME --p12 FILE | --dir DIR | --keychain`.

use std::path::PathBuf;

use clap::Args;

use crate::args::P12Opts;
use crate::error::Result;
use crate::issuance::{identities::export, identities::identity, Env};
use crate::ui;

pub fn run(env: &Env, args: &ExportArgs) -> Result<()> {
    let m = identity::load(env, &args.name)?;
    let friendly = args.friendly_name.clone().unwrap_or_else(|| m.cn.clone());
    if let Some(dir) = &args.dir {
        export::write_dir(env, &m, dir, args.force)?;
        println!(
            "Wrote ca.pem, cert.pem and key.pem (0600) to {}",
            dir.display()
        );
        println!(
            "Use them with: DOCKER_HOST={} DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH={} docker version",
            m.host.url(),
            dir.display()
        );
        return Ok(());
    }
    if let Some(p) = &args.p12 {
        let plan = export::plan_p12(
            p,
            args.p12_opts.p12_profile,
            args.p12_opts.password_stdin,
            args.force,
        )?;
        ui::report_p12(&export::write_p12(env, &m, &plan, &friendly)?, &friendly);
    }
    if args.p12_opts.keychain {
        let login = export::import_into_keychain(env, &m, &friendly)?;
        ui::report_keychain(&login, &friendly, &m.host);
    }
    Ok(())
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("target").required(true).multiple(true).args(["p12", "dir", "keychain"])))]
pub struct ExportArgs {
    /// Name of the context
    pub name: String,
    /// Write the identity (key, certificate, CA) as PKCS#12 to FILE
    #[arg(long, value_name = "FILE")]
    pub p12: Option<PathBuf>,
    #[command(flatten)]
    pub p12_opts: P12Opts,
    /// Write ca.pem, cert.pem, key.pem (DOCKER_CERT_PATH layout) into DIR
    #[arg(long, value_name = "DIR", conflicts_with_all = ["p12", "keychain"])]
    pub dir: Option<PathBuf>,
    /// Friendly name of the identity in PKCS#12 and Keychain [default: the certificate's CN]
    #[arg(long = "name", value_name = "FRIENDLY")]
    pub friendly_name: Option<String>,
    /// Overwrite files that exist
    #[arg(long)]
    pub force: bool,
}
