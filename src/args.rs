//! Argument groups several commands share (issue 32): the output format,
//! the key type, PKCS#12 and install options, the swarm to talk to, the
//! context name, and `renew`'s arguments (`renew NAME` and `renew --due`
//! are two commands). Each command's own arguments live in its file under
//! commands/, as cargo keeps them; the tree of subcommands is `cli`.

use clap::{Args, ValueEnum};
use std::path::PathBuf;

use crate::pki::KeyType;

/// Which swarm: a context, or docker's own choice.
#[derive(Args, Debug, Clone)]
pub struct SwarmTarget {
    /// Docker context of a swarm manager [default: docker's: DOCKER_HOST, DOCKER_CONTEXT, the current context]
    #[arg(long, value_name = "CTX")]
    pub context: Option<String>,
}

/// PKCS#12 options shared by `export` and `new`.
#[derive(Args, Debug, Clone)]
pub struct P12Opts {
    /// PKCS#12 profile: legacy (3DES/SHA-1: imports everywhere, macOS Keychain included) or modern (AES-256/SHA-256)
    #[arg(long, value_name = "PROFILE", default_value = "legacy")]
    pub p12_profile: crate::p12::Profile,
    /// Read the PKCS#12 password from standard input (otherwise one is generated and shown once)
    #[arg(long)]
    pub password_stdin: bool,
    /// Import the identity into the macOS login keychain (security import)
    #[arg(long)]
    pub keychain: bool,
}

#[derive(Args, Debug)]
pub struct FormatArg {
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Args, Debug, Clone, Copy)]
pub struct KeyTypeArg {
    /// Key type: ecdsa-p256, ecdsa-p384, ed25519, rsa-2048, rsa-3072, rsa-4096
    #[arg(long = "key-type", value_name = "TYPE", default_value = "ecdsa-p256")]
    pub key_type: KeyType,
}

#[derive(Args, Debug, Clone, Default)]
pub struct InstallOpts {
    /// Confirm a restart that stops running containers or a swarm manager (needed when not on a terminal)
    #[arg(long)]
    pub yes: bool,
    /// Context whose client identity proves the install [default: the bundle's own context, else one of its CA for a host it names]
    #[arg(long, value_name = "CONTEXT")]
    pub context: Option<String>,
    /// Replace a TLS set-up of another CA on the host (its clients are locked out)
    #[arg(long = "force-ca")]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct RenewArgs {
    /// Name of the context
    #[arg(required_unless_present = "due", conflicts_with = "due")]
    pub name: Option<String>,
    /// Renew everything this tool manages that is due: 2/3 of its lifetime passed (1/2 under 10 days)
    #[arg(long, conflicts_with_all = ["rekey", "role"])]
    pub due: bool,
    /// With --due: say what is due and change nothing
    #[arg(long, requires = "due")]
    pub dry_run: bool,
    /// With --due: renew what has at most this left, a time (30d, 12h) or a share of its lifetime (33%)
    #[arg(long, value_name = "DURATION|PERCENT", requires = "due")]
    pub before: Option<String>,
    /// With --due: a server install may restart a daemon that runs containers
    #[arg(long, requires = "due")]
    pub yes: bool,
    /// Output format (with --due)
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Lifetime of the new certificate in days [default: 90]
    #[arg(long, conflicts_with = "due")]
    pub days: Option<u32>,
    /// Generate a new key too (otherwise the key is kept)
    #[arg(long)]
    pub rekey: bool,
    /// With --rekey: revoke the certificate it replaces at once (reason superseded), not at its expiry
    #[arg(long, requires = "rekey")]
    pub revoke_old: bool,
    /// Change the identity's role (admin, read-only or viewer) [default: the role it has]
    #[arg(long, value_name = "ROLE")]
    pub role: Option<crate::pki::Role>,
    /// For an identity signed by someone else's CA (accept): where its renewal request goes [default: NAME.tlsctx-request]
    #[arg(long, value_name = "FILE", conflicts_with = "due")]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct NameArg {
    /// Name of the context
    pub name: String,
}
