//! `docker tlsctx export NAME --p12 FILE | --dir DIR | --keychain`.

use crate::cli::ExportArgs;
use crate::error::Result;
use crate::issuance::{export, identity, Env};
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
