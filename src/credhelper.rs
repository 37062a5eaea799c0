//! `docker-credential-tlsctx`: Docker's credential-helper protocol
//! (docker/docker-credential-helpers). The protocol itself is another issue;
//! until then every action answers as the helpers do on failure: the message
//! on stdout, exit 1 (credentials/credentials.go `Serve`).

use std::io::Write;

pub fn main() -> i32 {
    let msg = crate::error::Error::CredHelperNotImplemented.to_string();
    let _ = writeln!(std::io::stdout(), "{msg}");
    1
}
