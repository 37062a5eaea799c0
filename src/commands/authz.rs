//! `docker tlsctx authz serve --bundle DIR [--socket PATH] [--log]`.

use std::path::PathBuf;

use clap::Args;

use crate::error::Result;
use crate::issuance::Env;

#[cfg(unix)]
pub fn run(env: &Env, args: &AuthzServeArgs) -> Result<()> {
    let options = crate::authz::ServeOptions {
        log: args.log,
        cancel: env.cancel.clone(),
        trust: crate::authz::trust::Options {
            require_role: args.require_role,
            state_dir: Some(
                args.state_dir
                    .clone()
                    .unwrap_or_else(crate::authz::default_state_dir),
            ),
        },
    };
    crate::authz::serve(&args.bundle, &args.socket, options)
}

/// dockerd's plugins are unix sockets; on Windows there is none to serve.
#[cfg(not(unix))]
pub fn run(_env: &Env, _args: &AuthzServeArgs) -> Result<()> {
    Err(crate::error::Error::Unsupported {
        what: "authz serve",
        why: "the authorization plugin serves a unix socket beside dockerd: run it on the daemon host (Linux)",
    })
}

#[derive(Args, Debug)]
pub struct AuthzServeArgs {
    /// Server bundle folder holding ca.pem and, once something is revoked, crl.pem
    #[arg(long, value_name = "DIR")]
    pub bundle: PathBuf,
    /// Socket; dockerd finds the plugin by the file name (OTHER.sock is plugin OTHER)
    #[arg(
        long,
        value_name = "PATH",
        default_value = "/run/docker/plugins/tlsctx-authz.sock"
    )]
    pub socket: PathBuf,
    /// Log each decision (CN, serial, role, method, path) on standard error
    #[arg(long)]
    pub log: bool,
    /// Refuse certificates that carry no role (issued before roles were explicit); renew them with --role first
    #[arg(long)]
    pub require_role: bool,
    /// Where the highest CRL number accepted per CA is kept, so an older CRL is refused [default: /var/lib/docker-tlsctx/authz]
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}
