//! Over 600 lines: the clap definitions of every command in one tree, which `complete` walks and
//! the help snapshots read; argument structs next to their commands is a later step of issue 32.
//!
//! clap definitions only.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::keystore::Choice;
use crate::pki::KeyType;

#[derive(Parser, Debug)]
#[command(
    name = "docker tlsctx",
    bin_name = "docker tlsctx",
    version,
    about = "Mutual-TLS Docker contexts in one command: a CA in your keystore, a server bundle for the daemon, a client identity and a context the docker CLI uses as is.",
    after_help = "Quick start:\n  docker tlsctx new prod --host tcp://203.0.113.7:2376\n  docker --context prod version"
)]
pub struct Cli {
    /// Where private keys live: auto (OS keychain, else files), os, file [env: DOCKER_TLSCTX_KEYSTORE]
    #[arg(long, global = true, value_name = "STORE")]
    pub keystore: Option<Choice>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a context: CA (if none), server bundle, client identity
    New(NewArgs),
    /// Manage certificate authorities
    #[command(subcommand)]
    Ca(CaCommand),
    /// Issue a server bundle alone (rotation, extra daemons); `server renew NAME` re-issues one
    Server(ServerCmd),
    /// List the contexts this tool manages, with expiry and state
    Ls(LsArgs),
    /// Show a context's certificates: subject, issuer, serial, SANs, EKU, validity, fingerprint, key
    Inspect(InspectArgs),
    /// Issue a new client certificate for a context, swapped in atomically; `renew --due` renews everything due
    Renew(RenewArgs),
    /// Connect to a context's daemon with its own material and report what works or fails
    Check(NameArg),
    /// Remove a context, its identity record and its keys
    Rm(RmArgs),
    /// Show expiry hints after docker context commands (Docker CLI hooks)
    #[command(subcommand)]
    Hooks(HooksCommand),
    /// Issue a client bundle alone, in DOCKER_CERT_PATH layout (CI jobs)
    Client(ClientArgs),
    /// Rebuild a deleted or damaged context from the keystore and its record
    Restore(RestoreArgs),
    /// Revoke an identity: its serial goes into a CRL signed by its CA, written into the CA's server bundles
    Revoke(RevokeArgs),
    /// Docker authorization plugin that enforces revocation and roles (docker tlsctx authz serve)
    #[command(subcommand)]
    Authz(AuthzCommand),
    /// Hand a context's client identity to other tools: PKCS#12, PEM folder, macOS Keychain
    Export(ExportArgs),
    /// Print DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH for a context: eval "$(docker tlsctx env NAME)"
    Env(EnvArgs),
    /// Inspect the keystores
    #[command(subcommand)]
    Keystore(KeystoreCommand),
    /// Issue a certificate for a service behind the daemon (an nginx or registry site); `cert renew NAME` re-issues one
    Cert(CertCmd),
    /// Keep a bundle's certificate as versioned swarm secrets and rotate it on live services
    #[command(subcommand)]
    Swarm(SwarmCommand),
    /// Serve keychain-only contexts: a private socket (a named pipe on Windows) per context, carried on over mutual TLS with the key from the keystore
    Agent(AgentCmd),
    /// Renew what is due on a schedule: the OS's own scheduler runs `renew --due` twice a day
    #[command(subcommand)]
    Autorenew(AutorenewCommand),
    /// Vault/OpenBao PKI mounts that sign instead of a CA here: the CA key stays in the engine
    #[command(subcommand)]
    Issuer(IssuerCommand),
    /// Ask a CA's owner for access: a key in your keystore and a certificate request (CSR) for it, to send
    Request(RequestArgs),
    /// Sign a certificate request (ours, or any PKCS#10 CSR) as a client identity of one of your CAs
    Sign(SignArgs),
    /// Take the signer's response to your request and make the context from it
    Accept(AcceptArgs),
}

#[derive(Subcommand, Debug)]
pub enum IssuerCommand {
    /// Record a PKI mount (its CA becomes a CA named NAME); a token or secret_id is read from standard input into the keystore
    Add(IssuerAddArgs),
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

#[derive(Args, Debug)]
pub struct SignArgs {
    /// The request file (docker tlsctx request, openssl req, step, easy-rsa gen-req, cfssl)
    pub request: PathBuf,
    /// CA that signs it
    #[arg(long, default_value = "default")]
    pub ca: String,
    /// Lifetime in days
    #[arg(long, default_value_t = crate::pki::CLIENT_DAYS)]
    pub days: u32,
    /// Role granted: admin, read-only or viewer [default: read-only, or the role a renewed certificate had]
    #[arg(long, value_name = "ROLE")]
    pub role: Option<crate::pki::Role>,
    /// Common name to issue [default: the request's]
    #[arg(long)]
    pub cn: Option<String>,
    /// Sign without asking (what would be signed is still shown)
    #[arg(long)]
    pub yes: bool,
    /// Where the response goes ('-': standard output) [default: NAME.tlsctx-response]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct AcceptArgs {
    /// The response file from docker tlsctx sign
    pub response: PathBuf,
    /// The CA's SHA-256 fingerprint, as its owner read it out (asked on a terminal otherwise)
    #[arg(long, value_name = "SHA256")]
    pub ca_fingerprint: Option<String>,
    /// Make it the current context, as docker context use does
    #[arg(long = "use")]
    pub use_it: bool,
}

#[derive(Subcommand, Debug)]
pub enum AutorenewCommand {
    /// Install the scheduler's job: a systemd user timer (Linux), a launchd agent (macOS), a Task Scheduler task (Windows)
    Install,
    /// Remove it
    Uninstall,
    /// Whether it is installed, its last run and result, the next item due
    Status(FormatArg),
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AgentCmd {
    #[command(subcommand)]
    pub action: Option<AgentAction>,
    #[command(flatten)]
    pub serve: AgentArgs,
}

#[derive(Subcommand, Debug)]
pub enum AgentAction {
    /// Make an existing context keychain-only: it points Docker at the agent and its key.pem goes
    Adopt(NameArg),
    /// Start the agent on demand: systemd user socket + service (Linux), launchd sockets (macOS); at logon: a Task Scheduler task (Windows)
    Install,
    /// Remove what install wrote
    Uninstall,
}

#[derive(Args, Debug)]
pub struct AgentArgs {
    /// Contexts to serve [default: every keychain-only context]
    pub names: Vec<String>,
    /// Stay in the foreground (otherwise the agent detaches and logs to its folder)
    #[arg(long)]
    pub foreground: bool,
    /// Exit after this many seconds without a connection (0: never)
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub idle_timeout: u64,
    /// Connections served at once; more get an error at once
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_connections: usize,
    /// Log each connection on standard error
    #[arg(long)]
    pub log: bool,
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct CertCmd {
    #[command(subcommand)]
    pub action: Option<CertAction>,
    #[command(flatten)]
    pub issue: CertArgs,
}

#[derive(Subcommand, Debug)]
pub enum CertAction {
    /// Re-issue a service certificate from the same CA, for the same names (plus --add-san)
    Renew(CertRenewArgs),
}

#[derive(Args, Debug)]
pub struct CertRenewArgs {
    /// Name of the service certificate
    pub name: String,
    /// Add a name or address to the certificate (repeatable)
    #[arg(long = "add-san", value_name = "VALUE")]
    pub add_sans: Vec<String>,
    /// Lifetime in days (at most 825: Apple's rule)
    #[arg(long, default_value_t = crate::pki::SERVER_DAYS)]
    pub days: u32,
}

#[derive(Args, Debug)]
pub struct CertArgs {
    /// Name of the certificate (also its keystore entry and its swarm secrets' prefix)
    #[arg(required = true)]
    pub name: Option<String>,
    /// Name or address on the certificate (repeatable, at least one; the first is also its CN)
    #[arg(long = "san", value_name = "VALUE", required = true)]
    pub sans: Vec<String>,
    /// Lifetime in days (at most 825: Apple's rule)
    #[arg(long, default_value_t = crate::pki::SERVER_DAYS)]
    pub days: u32,
    /// CA that signs the certificate
    #[arg(long, default_value = "default")]
    pub ca: String,
    /// A TLS client's certificate (EKU clientAuth) instead of a server's (serverAuth)
    #[arg(long)]
    pub client: bool,
    /// Deploy hook run by `renew --due` after renewing it, e.g. "systemctl reload nginx" (no shell; TLSCTX_NAME, TLSCTX_DIR, TLSCTX_CERT, TLSCTX_KEY, TLSCTX_CA in its environment)
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,
    #[command(flatten)]
    pub key_type: KeyTypeArg,
    /// Where to write ca.pem, cert.pem, key.pem [default: $DOCKER_CONFIG/tlsctx/servers/NAME]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace an existing certificate of that name
    #[arg(long)]
    pub force: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Subcommand, Debug)]
pub enum SwarmCommand {
    /// Publish a bundle's CA, certificate and key as secrets PREFIX-{ca,cert,key}.pem-vN (N grows)
    Publish(SwarmPublishArgs),
    /// Renew the certificate, publish the next version, move services to it, wait, remove what no service uses
    Rotate(SwarmRotateArgs),
    /// Versions per bundle, the services using each, and which can be pruned
    Ls(SwarmLsArgs),
    /// Remove a bundle's old versions that no service uses (the newest stays)
    Prune(SwarmPruneArgs),
}

impl SwarmCommand {
    /// Which swarm the command talks to.
    pub fn target(&mut self) -> &mut SwarmTarget {
        match self {
            SwarmCommand::Publish(a) => &mut a.target,
            SwarmCommand::Rotate(a) => &mut a.target,
            SwarmCommand::Ls(a) => &mut a.target,
            SwarmCommand::Prune(a) => &mut a.target,
        }
    }
}

/// Which swarm: a context, or docker's own choice.
#[derive(Args, Debug, Clone)]
pub struct SwarmTarget {
    /// Docker context of a swarm manager [default: docker's: DOCKER_HOST, DOCKER_CONTEXT, the current context]
    #[arg(long, value_name = "CTX")]
    pub context: Option<String>,
}

#[derive(Args, Debug)]
pub struct SwarmPublishArgs {
    /// Server bundle or service certificate to publish
    pub name: String,
    /// Secret name prefix [default: NAME]
    #[arg(long, value_name = "P")]
    pub prefix: Option<String>,
    /// From now on, renew --due publishes each renewal and moves the services that use these secrets to it (recorded with the bundle)
    #[arg(long, conflicts_with = "no_rotate_on_renew")]
    pub rotate_on_renew: bool,
    /// Stop renew --due from moving services (it renews and reports only)
    #[arg(long)]
    pub no_rotate_on_renew: bool,
    #[command(flatten)]
    pub target: SwarmTarget,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct SwarmRotateArgs {
    /// Server bundle or service certificate to rotate
    pub name: String,
    /// Service to move to the new version (repeatable; all move, each in one update)
    #[arg(long = "service", value_name = "SVC", required = true, num_args = 1..)]
    pub services: Vec<String>,
    /// Where the certificate goes in the services [default: the target they use now]
    #[arg(long, value_name = "F")]
    pub target_cert: Option<String>,
    /// Where the key goes [default: the target they use now]
    #[arg(long, value_name = "F")]
    pub target_key: Option<String>,
    /// Where the CA certificate goes [default: the target they use now]
    #[arg(long, value_name = "F")]
    pub target_ca: Option<String>,
    /// Secret name prefix [default: NAME]
    #[arg(long, value_name = "P")]
    pub prefix: Option<String>,
    /// Lifetime of the renewed certificate in days (at most 825: Apple's rule)
    #[arg(long, default_value_t = crate::pki::SERVER_DAYS)]
    pub days: u32,
    /// Seconds to wait for each service's update to converge
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub timeout: u64,
    #[command(flatten)]
    pub target: SwarmTarget,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct SwarmLsArgs {
    #[command(flatten)]
    pub target: SwarmTarget,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct SwarmPruneArgs {
    /// Bundle whose unused old versions go
    pub name: String,
    #[command(flatten)]
    pub target: SwarmTarget,
}

#[derive(Args, Debug)]
pub struct RevokeArgs {
    /// Name of the identity (a context's, or a client bundle's)
    #[arg(required_unless_present = "list")]
    pub name: Option<String>,
    /// Why (RFC 5280 reason code)
    #[arg(long, value_enum)]
    pub reason: Option<crate::state::RevocationReason>,
    /// Show what is revoked instead
    #[arg(long, conflicts_with_all = ["name", "reason"])]
    pub list: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Subcommand, Debug)]
pub enum AuthzCommand {
    /// Serve Docker's authorization plugin protocol on a unix socket (dockerd --authorization-plugin=NAME)
    Serve(AuthzServeArgs),
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

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// Name of the context (and of its client identity)
    pub name: String,
    /// Replace the context if it still exists
    #[arg(long)]
    pub force: bool,
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
pub struct EnvArgs {
    /// Name of the context
    pub name: String,
    /// Shell syntax
    #[arg(long, value_enum, default_value_t = Shell::Sh)]
    pub shell: Shell,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Sh,
    Fish,
    Powershell,
}

#[derive(Subcommand, Debug)]
pub enum KeystoreCommand {
    /// Which keystore answers, where the keys are, and what to fix if none does
    Status(FormatArg),
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

#[derive(Args, Debug)]
pub struct NewArgs {
    /// Name of the Docker context to create
    pub name: String,
    /// The daemon's address: tcp://HOST[:PORT] (port 2376 by default)
    #[arg(long, value_name = "URL")]
    pub host: String,
    /// Extra name or address on the server certificate (repeatable)
    #[arg(long = "san", value_name = "VALUE")]
    pub sans: Vec<String>,
    /// Where to write the server bundle [default: $DOCKER_CONFIG/tlsctx/servers/NAME]
    #[arg(long, value_name = "DIR")]
    pub server_dir: Option<PathBuf>,
    /// Skip the server bundle (the daemon already has one from this CA)
    #[arg(long, conflicts_with_all = ["server_dir", "sans", "server_days", "daemon_dir", "authz"])]
    pub no_server: bool,
    /// Common name of the client certificate [default: NAME-client]
    #[arg(long)]
    pub cn: Option<String>,
    /// CA that signs the certificates
    #[arg(long, default_value = "default")]
    pub ca: String,
    /// Sign through this Vault/OpenBao issuer (docker tlsctx issuer add) instead of a CA here
    #[arg(long, value_name = "NAME", conflicts_with = "ca")]
    pub issuer: Option<String>,
    /// Client certificate lifetime in days
    #[arg(long, default_value_t = crate::pki::CLIENT_DAYS)]
    pub days: u32,
    /// Server certificate lifetime in days (at most 825: Apple's rule)
    #[arg(long, default_value_t = crate::pki::SERVER_DAYS)]
    pub server_days: u32,
    #[command(flatten)]
    pub key_type: KeyTypeArg,
    /// What the identity may do where dockerd runs the tlsctx-authz plugin: admin, read-only (GET and HEAD only; no exec, attach or archive download), or viewer (lists and versions only)
    #[arg(long, value_name = "ROLE", default_value = "admin")]
    pub role: crate::pki::Role,
    /// Context description (shown by docker context ls)
    #[arg(long)]
    pub description: Option<String>,
    /// Folder on the daemon host where daemon.json points for the TLS files
    #[arg(long, value_name = "DIR", default_value = "/etc/docker/tls")]
    pub daemon_dir: String,
    /// Also make dockerd ask the tlsctx-authz plugin (revocation, roles): daemon.json names it and the bundle gets its systemd unit
    #[arg(long)]
    pub authz: bool,
    /// Make it the current context, as docker context use does
    #[arg(long = "use")]
    pub use_it: bool,
    /// Replace an existing context, identity or server bundle of that name
    #[arg(long)]
    pub force: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also write the client identity as PKCS#12 to FILE
    #[arg(long, value_name = "FILE")]
    pub p12: Option<PathBuf>,
    #[command(flatten)]
    pub p12_opts: P12Opts,
    /// Keep the client key in the keystore only: no key.pem; the context points Docker at the agent's socket (docker tlsctx agent)
    #[arg(long)]
    pub keychain_only: bool,
    /// Then install the server bundle on the Docker host over SSH: [USER@]HOST[:PORT] (docker tlsctx server install)
    #[arg(long, value_name = "TARGET", conflicts_with = "no_server")]
    pub ssh: Option<String>,
    /// With --ssh: confirm a restart that stops running containers or a swarm manager
    #[arg(long, requires = "ssh")]
    pub yes: bool,
}

#[derive(Args, Debug, Clone, Copy)]
pub struct KeyTypeArg {
    /// Key type: ecdsa-p256, ecdsa-p384, ed25519, rsa-2048, rsa-3072, rsa-4096
    #[arg(long = "key-type", value_name = "TYPE", default_value = "ecdsa-p256")]
    pub key_type: KeyType,
}

#[derive(Subcommand, Debug)]
pub enum CaCommand {
    /// Create a CA; its key goes into the keystore
    Init(CaInitArgs),
    /// Adopt an existing CA (openssl recipe, docker-machine); its key goes into the keystore
    Import(CaImportArgs),
    /// Write a CA's certificate (and, on request, its key) to a folder
    Export(CaExportArgs),
    /// List CAs
    Ls(FormatArg),
    /// Remove a CA and its key
    Rm(CaRmArgs),
    /// Every certificate a CA issued (contexts, client bundles, signed requests, server bundles, service certificates): who can reach its daemons
    Issued(CaIssuedArgs),
}

#[derive(Args, Debug)]
pub struct CaIssuedArgs {
    /// The CA
    #[arg(long, default_value = "default")]
    pub ca: String,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct CaImportArgs {
    /// The CA certificate (PEM)
    #[arg(long, value_name = "FILE")]
    pub cert: PathBuf,
    /// The CA private key (PEM: PKCS#8, PKCS#1 or SEC1, unencrypted)
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Name for the CA
    #[arg(long, default_value = "default")]
    pub name: String,
    /// Replace an existing CA of that name
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct CaExportArgs {
    /// Name of the CA
    #[arg(long, default_value = "default")]
    pub name: String,
    /// Folder to write ca.pem (and ca-key.pem) into
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Also write the private key (0600): whoever has it can reach every daemon that trusts this CA
    #[arg(long)]
    pub include_key: bool,
    /// Overwrite files that exist
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct CaRmArgs {
    /// Name of the CA
    pub name: String,
    /// Remove it even while contexts use identities it issued
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct CaInitArgs {
    /// Name of the CA
    #[arg(long, default_value = "default")]
    pub name: String,
    #[command(flatten)]
    pub key_type: KeyTypeArg,
    /// Lifetime in days
    #[arg(long, default_value_t = crate::pki::CA_DAYS)]
    pub days: u32,
    /// Common name of the CA certificate [default: docker-tlsctx CA NAME]
    #[arg(long)]
    pub cn: Option<String>,
    /// Replace an existing CA of that name (what it issued stops working)
    #[arg(long)]
    pub force: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ServerCmd {
    #[command(subcommand)]
    pub action: Option<ServerAction>,
    #[command(flatten)]
    pub issue: ServerArgs,
}

#[derive(Subcommand, Debug)]
pub enum ServerAction {
    /// Re-issue a server bundle from the same CA (clients keep working); prints the restart steps
    Renew(ServerRenewArgs),
    /// Install a server bundle on its Docker host over SSH: pre-flight, merge daemon.json, restart, verify with a client identity, roll back on failure
    Install(ServerInstallArgs),
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
pub struct ServerInstallArgs {
    /// Name of the server bundle (the context name for bundles made by `new`)
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub name: Option<String>,
    /// The Docker host, as the system ssh reaches it: [USER@]HOST[:PORT] or a Host alias (recorded; later installs need no flag)
    #[arg(long, value_name = "TARGET", conflicts_with = "all")]
    pub ssh: Option<String>,
    /// Print the plan (files and modes, the daemon.json change, the drop-in, the commands) and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Every server bundle with a recorded SSH target
    #[arg(long)]
    pub all: bool,
    /// Only copy the bundle's crl.pem (written by revoke) to the host; the tlsctx-authz plugin reads it again without a restart
    #[arg(long, conflicts_with = "dry_run")]
    pub crl_only: bool,
    /// With --all: how many hosts at once
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: u16,
    #[command(flatten)]
    pub opts: InstallOpts,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
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

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = LsFormat::Table)]
    pub format: LsFormat,
    /// Only the context names
    #[arg(long, short)]
    pub quiet: bool,
    /// Also list server bundles, client bundles and CAs
    #[arg(long, short)]
    pub all: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LsFormat {
    Table,
    Json,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Name of the context
    pub name: String,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
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

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Name of the context
    pub name: String,
    /// Remove it even if it is the current context
    #[arg(long, short)]
    pub force: bool,
}

#[derive(Subcommand, Debug)]
pub enum HooksCommand {
    /// Turn on Docker CLI hooks for tlsctx in config.json (features.hooks, plugins.tlsctx.hooks)
    Enable,
    /// Turn them off again
    Disable,
}

#[derive(Args, Debug)]
pub struct ServerArgs {
    /// Name of the server bundle
    #[arg(required = true)]
    pub name: Option<String>,
    /// Name or address on the certificate (repeatable, at least one)
    #[arg(long = "san", value_name = "VALUE", required = true)]
    pub sans: Vec<String>,
    /// Where to write the bundle [default: $DOCKER_CONFIG/tlsctx/servers/NAME]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Lifetime in days (at most 825: Apple's rule)
    #[arg(long, default_value_t = crate::pki::SERVER_DAYS)]
    pub days: u32,
    /// CA that signs the certificate
    #[arg(long, default_value = "default")]
    pub ca: String,
    /// Sign through this Vault/OpenBao issuer (docker tlsctx issuer add; its --server-role) instead of a CA here
    #[arg(long, value_name = "NAME", conflicts_with = "ca")]
    pub issuer: Option<String>,
    #[command(flatten)]
    pub key_type: KeyTypeArg,
    /// TCP port the daemon listens on (written to daemon.json)
    #[arg(long, default_value_t = 2376)]
    pub port: u16,
    /// Folder on the daemon host where daemon.json points for the TLS files
    #[arg(long, value_name = "DIR", default_value = "/etc/docker/tls")]
    pub daemon_dir: String,
    /// Also make dockerd ask the tlsctx-authz plugin (revocation, roles): daemon.json names it and the bundle gets its systemd unit
    #[arg(long)]
    pub authz: bool,
    /// Deploy hook run by `renew --due` after renewing it (no shell; TLSCTX_NAME, TLSCTX_DIR, TLSCTX_CERT, TLSCTX_KEY, TLSCTX_CA in its environment)
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,
    /// Replace an existing bundle
    #[arg(long)]
    pub force: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct ClientArgs {
    /// Name of the client identity
    pub name: String,
    /// Where to write ca.pem, cert.pem, key.pem [default: $DOCKER_CONFIG/tlsctx/clients/NAME]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Lifetime in days
    #[arg(long, default_value_t = crate::pki::CLIENT_DAYS)]
    pub days: u32,
    /// CA that signs the certificate
    #[arg(long, default_value = "default")]
    pub ca: String,
    /// Common name [default: NAME]
    #[arg(long)]
    pub cn: Option<String>,
    #[command(flatten)]
    pub key_type: KeyTypeArg,
    /// What the identity may do where dockerd runs the tlsctx-authz plugin: admin, read-only (GET and HEAD only; no exec, attach or archive download), or viewer (lists and versions only)
    #[arg(long, value_name = "ROLE", default_value = "admin")]
    pub role: crate::pki::Role,
    /// Replace an existing identity of that name
    #[arg(long)]
    pub force: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}
