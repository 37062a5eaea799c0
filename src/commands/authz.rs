//! `docker tlsctx authz serve --bundle DIR [--socket PATH] [--log]`.

use crate::cli::AuthzServeArgs;
use crate::error::Result;

#[cfg(unix)]
pub fn run(args: &AuthzServeArgs) -> Result<()> {
    crate::authz::serve(&args.bundle, &args.socket, args.log)
}

/// dockerd's plugins are unix sockets; on Windows there is none to serve.
#[cfg(not(unix))]
pub fn run(_args: &AuthzServeArgs) -> Result<()> {
    Err(crate::error::Error::Crypto(
        "the authorization plugin serves a unix socket beside dockerd: run it on the daemon host (Linux)".into(),
    ))
}
