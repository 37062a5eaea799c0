//! `docker tlsctx issuer add NAME --url https://HOST:8200 --mount pki
//! --client-role R [--server-role R] [--auth token|approle] [--role-id ID]
//! [--ca-file F] [--force]`; the token or secret_id on standard input.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use clap::Args;

use crate::error::{Error, Result};
use crate::issuance::teams::issuer::{self, Add};
use crate::issuance::Env;

/// The secret from standard input, when something is piped in (never
/// from argv, where every user of the machine can read it).
fn secret_from_stdin() -> Result<Option<String>> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(None);
    }
    let mut buf = Vec::new();
    stdin
        .take(64 * 1024)
        .read_to_end(&mut buf)
        .map_err(Error::io("read", "standard input"))?;
    let text = String::from_utf8(buf).map_err(|_| Error::IssuerFailed {
        what: "standard input is not text".into(),
        problem: crate::error::IssuerProblem::SecretNotText,
    })?;
    let t = text.trim();
    Ok((!t.is_empty()).then(|| t.to_string()))
}

pub fn run(env: &Env, args: &IssuerAddArgs) -> Result<()> {
    let secret = secret_from_stdin()?;
    let a = issuer::add(
        env,
        &Add {
            name: &args.name,
            url: &args.url,
            mount: &args.mount,
            client_role: &args.client_role,
            server_role: args.server_role.as_deref(),
            auth: args.auth,
            role_id: args.role_id.as_deref(),
            ca_file: args.ca_file.as_deref(),
            secret,
            token_from_env: args.token_from_env,
            force: args.force,
        },
    )?;
    let i = &a.issuer;
    println!(
        "Added issuer {:?}: {} mount {:?}, client role {:?}{}.",
        i.name,
        i.url,
        i.mount,
        i.client_role,
        i.server_role
            .as_ref()
            .map(|r| format!(", server role {r:?}"))
            .unwrap_or_default()
    );
    println!(
        "Its CA {:?} (SHA-256 {}) is CA {:?} here; its key stays in the engine.",
        a.ca.cn, a.ca.sha256, a.ca.name
    );
    println!(
        "{}",
        match (i.auth, i.secret_stored) {
            (crate::state::IssuerAuth::Approle, _) =>
                format!("AppRole secret_id kept in the {} keystore.", i.keystore),
            (_, true) => format!("Token kept in the {} keystore.", i.keystore),
            _ => "No token kept: BAO_TOKEN or VAULT_TOKEN is read at each use.".into(),
        }
    );
    println!(
        "Use it: docker tlsctx new NAME --host tcp://HOST:2376 --issuer {}",
        i.name
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct IssuerAddArgs {
    /// Name of the issuer (and of its CA here)
    pub name: String,
    /// The engine's address: https://HOST[:PORT]
    #[arg(long)]
    pub url: String,
    /// The PKI secrets engine's mount path
    #[arg(long, default_value = "pki")]
    pub mount: String,
    /// Role that signs client identities (client_flag=true; its ou decides the tlsctx role)
    #[arg(long, value_name = "ROLE")]
    pub client_role: String,
    /// Role that signs server bundles (server_flag=true)
    #[arg(long, value_name = "ROLE")]
    pub server_role: Option<String>,
    /// token: from standard input (or --token-from-env); approle: --role-id and the secret_id from standard input
    #[arg(long, value_enum, default_value = "token")]
    pub auth: crate::state::IssuerAuth,
    /// AppRole role_id (not a secret)
    #[arg(long, value_name = "ID")]
    pub role_id: Option<String>,
    /// Keep no token: read BAO_TOKEN or VAULT_TOKEN at each use (they are sent to this issuer's URL)
    #[arg(long)]
    pub token_from_env: bool,
    /// The engine's TLS CA certificate (PEM) [default: Mozilla's roots]
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Replace an issuer of that name
    #[arg(long)]
    pub force: bool,
}
