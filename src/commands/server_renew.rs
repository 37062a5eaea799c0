//! `docker tlsctx server renew NAME [--add-san VALUE] [--days N]`.

use clap::Args;

use crate::args::InstallOpts;
use crate::error::Result;
use crate::issuance::{install, server, Env};
use crate::ui;

pub fn run(env: &Env, args: &ServerRenewArgs) -> Result<()> {
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
        "server",
        &r.after.ca,
        args.days,
    );
    ui::bundle_renewed("server bundle", &r.before, &r.after);
    if args.install {
        let done = install::install(
            env,
            &args.name,
            &install::Options {
                ssh: args.ssh.as_deref(),
                context: args.opts.context.as_deref(),
                dry_run: false,
                yes: args.opts.yes,
                force: args.opts.force,
                confirm: &ui::ask_yes,
                progress: &ui::progress,
            },
        )?;
        ui::report_install(&done);
        return Ok(());
    }
    println!("dockerd reads its certificate only at start: copy the new files and restart it (or: docker tlsctx server install {}).", r.after.name);
    print!(
        "\n{}",
        ui::server_next_steps(
            &r.after.name,
            &r.after.dir,
            &r.daemon_dir,
            &r.after.sans[0].host(),
            r.after.host.authz,
        )
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct ServerRenewArgs {
    /// Name of the server bundle (the context name for bundles made by `new`)
    pub name: String,
    /// Add a name or address to the certificate (repeatable)
    #[arg(long = "add-san", value_name = "VALUE")]
    pub add_sans: Vec<String>,
    /// Lifetime in days (at most 825: Apple's rule)
    #[arg(long, default_value_t = crate::pki::SERVER_DAYS)]
    pub days: u32,
    /// Then install the renewed bundle on its host (docker tlsctx server install)
    #[arg(long)]
    pub install: bool,
    /// With --install: the Docker host, [USER@]HOST[:PORT] (recorded)
    #[arg(long, value_name = "TARGET", requires = "install")]
    pub ssh: Option<String>,
    #[command(flatten)]
    pub opts: InstallOpts,
}
