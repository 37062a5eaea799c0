//! The tree of subcommands docker-tlsctx parses (clap): which command
//! takes which arguments. Each command's argument struct lives in its own
//! file under commands/ (issue 32, as cargo does), the groups several share
//! in `args`; `complete` walks this tree, and the help snapshots read it.

use clap::{Args, Parser, Subcommand};

use crate::args::{FormatArg, NameArg, RenewArgs, SwarmTarget};
use crate::commands::accept::AcceptArgs;
use crate::commands::agent::AgentArgs;
use crate::commands::authz::AuthzServeArgs;
use crate::commands::ca_export::CaExportArgs;
use crate::commands::ca_import::CaImportArgs;
use crate::commands::ca_init::CaInitArgs;
use crate::commands::ca_issued::CaIssuedArgs;
use crate::commands::ca_rm::CaRmArgs;
use crate::commands::cert::CertArgs;
use crate::commands::cert_renew::CertRenewArgs;
use crate::commands::client::ClientArgs;
use crate::commands::env::EnvArgs;
use crate::commands::export::ExportArgs;
use crate::commands::hooks::HooksCommand;
use crate::commands::inspect::InspectArgs;
use crate::commands::issuer_add::IssuerAddArgs;
use crate::commands::ls::LsArgs;
use crate::commands::new::NewArgs;
use crate::commands::request::RequestArgs;
use crate::commands::restore::RestoreArgs;
use crate::commands::revoke::RevokeArgs;
use crate::commands::rm::RmArgs;
use crate::commands::server::ServerArgs;
use crate::commands::server_install::ServerInstallArgs;
use crate::commands::server_renew::ServerRenewArgs;
use crate::commands::sign::SignArgs;
use crate::commands::swarm_ls::SwarmLsArgs;
use crate::commands::swarm_prune::SwarmPruneArgs;
use crate::commands::swarm_publish::SwarmPublishArgs;
use crate::commands::swarm_rotate::SwarmRotateArgs;
use crate::keystore::Choice;

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

#[derive(Subcommand, Debug)]
pub enum AuthzCommand {
    /// Serve Docker's authorization plugin protocol on a unix socket (dockerd --authorization-plugin=NAME)
    Serve(AuthzServeArgs),
}

#[derive(Subcommand, Debug)]
pub enum KeystoreCommand {
    /// Which keystore answers, where the keys are, and what to fix if none does
    Status(FormatArg),
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
