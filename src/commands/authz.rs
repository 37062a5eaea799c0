//! `docker tlsctx authz serve --bundle DIR [--socket PATH] [--log]`.

use crate::cli::AuthzServeArgs;
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
