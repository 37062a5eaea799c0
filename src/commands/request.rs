//! `docker tlsctx request NAME --host tcp://HOST[:PORT] [--role R]
//! [--cn CN] [--key-type T] [--keychain-only] [--out FILE] [--force]`.

use std::path::PathBuf;

use clap::Args;

use crate::args::KeyTypeArg;
use crate::error::Result;
use crate::issuance::teams::request::{self, Ask};
use crate::issuance::Env;

pub fn run(env: &Env, args: &RequestArgs) -> Result<()> {
    let to_stdout = args.out.as_deref() == Some(std::path::Path::new("-"));
    let out = match &args.out {
        _ if to_stdout => None,
        Some(p) => Some(p.clone()),
        None => Some(PathBuf::from(format!("{}.tlsctx-request", args.name))),
    };
    let r = request::request(
        env,
        &Ask {
            name: &args.name,
            host: &args.host,
            cn: args.cn.as_deref(),
            role: args.role,
            key_type: args.key_type.key_type,
            keychain_only: args.keychain_only,
            out: out.as_deref(),
            force: args.force,
        },
    )?;
    let p = &r.pending;
    if to_stdout {
        print!("{}", r.text);
    }
    let whom = match &out {
        Some(o) => format!("Wrote the request for {:?} to {}", p.name, o.display()),
        None => format!("The request for {:?} is above", p.name),
    };
    eprintln!(
        "{whom} (CN {}, {} key kept in the {} keystore, never in the file).",
        p.cn,
        p.key_type.as_str(),
        p.keystore.as_str()
    );
    eprintln!("Read this key fingerprint to the CA's owner, who checks it before signing:");
    eprintln!("  SHA-256 {}", p.spki_sha256);
    eprintln!(
        "They run: docker tlsctx sign {}{}; then you: docker tlsctx accept RESPONSE",
        out.as_ref()
            .map_or("REQUEST".into(), |o| o.display().to_string()),
        p.role
            .map(|r| format!(" --role {}", r.as_str()))
            .unwrap_or_default()
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct RequestArgs {
    /// Name of the context it becomes
    pub name: String,
    /// The daemon's TCP endpoint: tcp://HOST[:PORT] (port 2376 if omitted)
    #[arg(long)]
    pub host: String,
    /// Role to ask for: admin, read-only or viewer (the signer decides)
    #[arg(long, value_name = "ROLE")]
    pub role: Option<crate::pki::Role>,
    /// Common name to ask for [default: your login name]
    #[arg(long)]
    pub cn: Option<String>,
    #[command(flatten)]
    pub key_type: KeyTypeArg,
    /// Keep the key in the keystore only, as new --keychain-only (the agent serves the context)
    #[arg(long)]
    pub keychain_only: bool,
    /// Where the request goes ('-': standard output) [default: NAME.tlsctx-request]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace a pending request of that name (and its key)
    #[arg(long)]
    pub force: bool,
}
