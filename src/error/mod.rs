//! One variant per situation the user can be in, with its data and, where
//! there is one, its source. `Display` says what happened; what to do next,
//! and the commands and flags that say it, belong to the interface
//! (`explain`, beside the CLI's definitions). A leaf: it imports nothing of
//! this crate but `text`.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::text;

#[derive(Debug)]
pub enum Error {
    /// Docker's own context-name rules, with Docker's own texts
    /// (docker/cli cli/context/store/store.go `ValidateContextName`).
    ContextNameEmpty,
    ContextNameReserved,
    ContextNameInvalid(String),
    ContextExists(String),
    /// A name for a CA, server bundle or client identity (same rule as contexts).
    NameInvalid {
        what: &'static str,
        name: String,
    },
    HostScheme(String),
    HostInvalid {
        host: String,
        why: String,
    },
    PlaintextPort(String),
    SanInvalid(String),
    DaysOutOfRange {
        flag: &'static str,
        days: u32,
        max: u32,
        why: &'static str,
    },
    CaExpired {
        ca: String,
        on: time::OffsetDateTime,
    },
    CaNotFound(String),
    CaExists(String),
    CaKeyMissing {
        ca: String,
        backend: &'static str,
    },
    IdentityExists(String),
    BundleExists {
        what: &'static str,
        dir: PathBuf,
    },
    NotADirectory(PathBuf),
    ConfigUnwritable {
        path: PathBuf,
        source: io::Error,
    },
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    Corrupt {
        path: PathBuf,
        why: String,
    },
    Crypto(String),
    /// rcgen refused to make a key, a certificate or a CRL; kept whole as
    /// the source.
    Pki(rcgen::Error),
    /// Something this program holds true did not hold: a bug, not the
    /// user's doing (issue 32: no catch-all for invariants).
    Internal(&'static str),
    /// What this platform cannot do at all.
    Unsupported {
        what: &'static str,
        why: &'static str,
    },
    /// No keychain to talk to (no D-Bus session, no Secret Service provider).
    KeystoreUnavailable {
        backend: &'static str,
        why: String,
    },
    /// The keychain is there but locked.
    KeychainLocked {
        backend: &'static str,
        why: String,
    },
    /// The keychain did not answer in time (an unlock prompt nobody sees).
    KeychainTimeout {
        backend: &'static str,
        secs: f64,
    },
    /// Any other failure of the platform store, its text passed through.
    KeystoreFailed {
        backend: &'static str,
        why: String,
    },
    /// DOCKER_TLSCTX_KEYSTORE holds something we do not know.
    KeystoreChoice(String),
    /// A record names a key that its keystore does not hold.
    KeyMissing {
        of: MissingKey,
        backend: String,
    },
    /// `ca import` of an encrypted key: Docker and we need it in the clear once.
    EncryptedKey(PathBuf),
    NotAKey(PathBuf),
    NotACa {
        path: PathBuf,
        why: String,
    },
    KeyDoesNotMatch {
        key: PathBuf,
        cert: PathBuf,
    },
    CaInUse {
        ca: String,
        contexts: Vec<String>,
    },
    IdentityNotFound(String),
    FileExists(PathBuf),
    /// A PKCS#12 password from stdin that cannot be used.
    BadPassword(String),
    /// `--keychain` without macOS's `security` tool.
    NoSecurityTool,
    KeychainImport(String),
    /// No Docker context of that name.
    ContextMissing(String),
    ServerNotFound(String),
    /// DOCKER_TLSCTX_NOW that is not an RFC 3339 time.
    BadClock(String),
    /// `rm` of the current context without --force (Docker's text).
    ContextInUse(String),
    /// `check` found a problem: the situation, and the fix.
    CheckFailed {
        what: String,
        fix: String,
    },
    Cancelled,
    /// `--daemon-dir` that is not a plain absolute path.
    DaemonDirInvalid {
        dir: String,
        why: &'static str,
    },
    /// `--exec` that cannot be split into words.
    ExecInvalid {
        line: String,
        why: String,
    },
    /// A deploy hook that failed after its item was renewed.
    HookFailed {
        name: String,
        why: String,
    },
    /// A `renew` flag that only means something with --due.
    FlagNeedsDue(&'static str),
    /// `renew --before` that is neither a duration nor a percentage.
    BeforeInvalid(String),
    /// `renew --due`: some items failed (each reported above).
    RenewalsFailed {
        failed: usize,
        total: usize,
    },
    /// `--ssh TARGET` that is not `[USER@]HOST[:PORT]`.
    SshTarget {
        target: String,
        why: String,
    },
    /// The system `ssh` could not reach or log in to the host.
    SshFailed {
        target: String,
        detail: String,
        problem: SshProblem,
    },
    /// `sudo -n` on the host wants a password.
    SudoPassword(String),
    /// Pre-flight refused to change the host: what it found, what to do.
    InstallRefused {
        host: String,
        what: String,
        next: InstallNext,
    },
    /// Ctrl-C (SIGINT, SIGTERM or Docker's socket) during an install; `what`
    /// says what the host did or will do.
    InstallInterrupted {
        host: String,
        what: String,
        next: InstallNext,
    },
    /// The new configuration failed and was rolled back (or could not be).
    InstallFailed {
        host: String,
        what: String,
        next: InstallNext,
    },
    /// `server install --all`: some hosts failed (each reported above).
    /// `renew --due` renewed a bundle here, and its install on the host
    /// then failed.
    RenewedNotInstalled {
        host: String,
        not_after: time::OffsetDateTime,
        source: Box<Error>,
    },
    /// A path the scheduler's job would name cannot be written there.
    UnschedulablePath {
        what: String,
        path: String,
        why: String,
    },
    /// No home folder to put a per-user unit or agent in.
    NoHome {
        what: &'static str,
        vars: &'static str,
    },
    /// The agent started in the background did not come up.
    AgentDidNotStart {
        what: String,
        log: PathBuf,
        exited: bool,
    },
    InstallsFailed {
        failed: usize,
        total: usize,
    },
    /// A symlink where a key is read or written, or a private folder is.
    SymlinkRefused(PathBuf),
    /// Another docker-tlsctx command holds the lock past our wait.
    Busy {
        secs: u64,
    },
    /// A name longer than the file names it becomes allow.
    NameTooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    /// A certificate subject with a control character or that is too long.
    CnInvalid(String),
    /// `revoke` of an identity already revoked.
    AlreadyRevoked(String),
    /// `revoke NAME` where NAME fits several signed certificates.
    RevokeAmbiguous {
        name: String,
        serials: Vec<String>,
    },
    /// `renew` of a revoked identity.
    IdentityRevoked(String),
    /// `rm` of a Docker context this tool did not create.
    ContextNotOurs(String),
    /// `cert NAME` where a daemon bundle is called NAME, or the reverse.
    BundleNameTaken {
        name: String,
        /// "daemon", "service" or "service-client" (pki::Purpose).
        purpose: &'static str,
    },
    /// `swarm …` without a docker CLI on PATH.
    DockerNotFound,
    /// Keychain-only contexts where the agent cannot run.
    AgentUnsupported(&'static str),
    /// The agent's socket path would be longer than a unix socket allows.
    SocketPathTooLong(PathBuf),
    /// A keychain-only context points somewhere other than its socket.
    EndpointMoved(String),
    /// The agent's socket folder is not one only we can use.
    UnsafeSocketDir {
        path: PathBuf,
        why: String,
    },
    /// An agent command for a context that is not keychain-only.
    NotKeychainOnly(String),
    /// Another agent already answers on a context's socket.
    AgentRunning(String),
    /// Windows: a pipe of the context's name exists already.
    PipeTaken {
        name: String,
        pipe: PathBuf,
        /// Whose process serves it, as far as can be told.
        who: String,
    },
    /// A secret name prefix swarm would refuse.
    PrefixInvalid(String),
    /// The docker CLI failed at something; its own message passed through.
    DockerFailed {
        what: String,
        message: String,
    },
    /// The context's daemon is not a swarm manager.
    NotASwarmManager {
        context: String,
        state: String,
    },
    /// A secret over swarm's 500 KiB limit (moby api/validation).
    SecretTooLarge {
        name: String,
        size: usize,
    },
    /// `swarm rotate --service X` for a service that does not exist.
    ServiceNotFound(String),
    /// A folder or program someone else could change (fsio::check_owned).
    NotOwned {
        what: String,
        path: PathBuf,
        why: String,
    },
    /// A Vault/OpenBao issuer that could not do what was asked.
    IssuerFailed {
        what: String,
        problem: IssuerProblem,
    },
    /// `sign`: a request that cannot be read or whose signature fails.
    RequestInvalid(String),
    /// `accept`: a response that cannot be read.
    ResponseInvalid(String),
    /// `accept`: a response that is read but must not be used.
    ResponseRefused(String),
    /// `sign`: a key outside ECDSA P-256/P-384, Ed25519, RSA 2048..8192.
    KeyRefused(String),
    /// `sign`: the CN already names a live identity of the CA.
    CnInUse {
        cn: String,
        ca: String,
        by: String,
    },
    /// `renew NAME --out` of an identity whose CA is here.
    OutNeedsRequest(String),
    /// `renew NAME --rekey/--role/--days` of an identity signed elsewhere.
    RenewElsewhere(String),
    /// `request NAME` while one is pending (or NAME is taken).
    RequestPending(String),
    /// `sign` or `accept` needs a decision only a person can give.
    NeedsConfirmation {
        what: String,
        flag: String,
    },
    /// `accept --ca-fingerprint` that does not match the response's CA.
    CaFingerprintMismatch {
        given: String,
        actual: String,
    },
    /// `renew --due` reached another swarm than the one a bundle was
    /// published to with --rotate-on-renew.
    SwarmMoved {
        name: String,
        context: String,
    },
    /// A service to rotate that uses none of the bundle's secrets and no
    /// --target-* flags said where they go.
    ServiceHasNoTargets {
        service: String,
        bundle: String,
    },
    /// The bundle was never published to this swarm.
    NotPublished {
        bundle: String,
        prefix: String,
    },
    /// A secret still used by a service.
    SecretInUse {
        secret: String,
        services: Vec<String>,
    },
    /// A service update failed, rolled back or did not converge in time;
    /// `on` says which service is on which version now.
    RotationFailed {
        why: String,
        on: Vec<String>,
    },
    /// A service's earlier update is still running or paused.
    ServiceBusy {
        service: String,
        state: String,
    },
    /// A rotation stopped after the bundle was renewed: what changed.
    RotationInterrupted {
        why: String,
        cancelled: bool,
        renewed: String,
        /// The version published, if it was.
        version: Option<u32>,
        on: Vec<String>,
        notes: Vec<String>,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

mod causes;
pub use causes::{InstallNext, IssuerProblem, MissingKey, SshProblem};

fn regexp_text(what: &str, name: &str) -> String {
    format!("{what} name {name:?} is invalid, names are validated against regexp \"^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$\"")
}

impl Error {
    pub fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| {
            // Permission denied, a read-only file system, or a file where a
            // folder should be: the configuration folder cannot be used.
            if matches!(
                source.kind(),
                io::ErrorKind::PermissionDenied
                    | io::ErrorKind::ReadOnlyFilesystem
                    | io::ErrorKind::NotADirectory
            ) {
                Error::ConfigUnwritable { path, source }
            } else {
                Error::Io {
                    action,
                    path,
                    source,
                }
            }
        }
    }

    /// What went wrong, in one sentence. The next step, and every
    /// command and flag name a message gives, is the interface's
    /// (`explain`, next to the CLI): this layer only says what happened.
    fn message(&self) -> String {
        match self {
            Error::ContextNameEmpty => "context name cannot be empty".into(),
            Error::ContextNameReserved => "\"default\" is a reserved context name".into(),
            Error::ContextNameInvalid(name) => regexp_text("context", name),
            Error::ContextExists(name) => format!("context {name:?} already exists"),
            Error::NameInvalid { what, name } => regexp_text(what, name),
            Error::HostScheme(host) => if host.is_empty() {
                    "the host is empty".into()
                } else {
                    format!("host {host:?} is not a tcp:// address; TLS contexts reach the daemon over TCP")
                },
            Error::HostInvalid { host, why } => format!("host {host:?} is invalid: {why}"),
            Error::PlaintextPort(host) => format!("host {host:?} uses port 2375, Docker's plaintext (unencrypted) port"),
            Error::SanInvalid(v) => format!("SAN {v:?} is neither an IP address nor a DNS name"),
            Error::DaysOutOfRange { flag, days, max, why } => format!("{flag} {days} is out of range: give 1 to {max} days ({why})"),
            Error::CaExpired { ca, on } => format!("CA {ca:?} expired on {}", text::date(*on)),
            Error::CaNotFound(name) => format!("CA {name:?} does not exist"),
            Error::CaExists(name) => format!("CA {name:?} already exists"),
            Error::CaKeyMissing { ca, backend } => format!("the key of CA {ca:?} is missing from the {backend} keystore"),
            Error::IdentityExists(name) => format!("client identity {name:?} already exists"),
            Error::BundleExists { what, dir } => format!("a {what} bundle already exists in {}", dir.display()),
            Error::NotADirectory(p) => format!("{} exists and is not a folder", p.display()),
            Error::ConfigUnwritable { path, source } => format!("cannot use {}: {source}", path.display()),
            Error::Io { action, path, source } => format!("cannot {action} {}: {source}", path.display()),
            Error::Corrupt { path, why } => format!("{} is damaged: {why}", path.display()),
            Error::Crypto(why) => format!("certificate or key operation failed: {why}"),
            Error::Pki(e) => format!("certificate or key operation failed: {e}"),
            Error::Internal(what) => format!("internal error: {what}"),
            Error::Unsupported { what, why } => format!("{what} is not supported here: {why}"),
            Error::KeystoreUnavailable { backend, why, .. } => format!("no OS keychain is available ({backend}: {why})"),
            Error::KeychainLocked { backend, why, .. } => format!("the {backend} keychain is locked: {why}"),
            Error::KeychainTimeout { backend, secs } => format!("the {backend} keychain did not answer within {secs} s"),
            Error::KeystoreFailed { backend, why } => format!("the {backend} keychain failed: {why}"),
            Error::KeystoreChoice(why) => format!("DOCKER_TLSCTX_KEYSTORE: {why}"),
            Error::KeyMissing { of, backend } => format!("the key of {of} is missing from the {backend} keystore"),
            Error::EncryptedKey(p) => format!("{} is an encrypted private key", p.display()),
            Error::NotAKey(p) => format!("{} holds no private key in PEM", p.display()),
            Error::NotACa { path, why } => format!("{} cannot be used as a CA: {why}", path.display()),
            Error::KeyDoesNotMatch { key, cert } => format!(
                    "the key in {} does not belong to the certificate in {}",
                    key.display(),
                    cert.display()
                ),
            Error::CaInUse { ca, contexts } => format!("CA {ca:?} issued the identities of contexts still in use: {}", contexts.join(", ")),
            Error::IdentityNotFound(name) => format!("no identity {name:?} is recorded"),
            Error::FileExists(p) => format!("{} already exists", p.display()),
            Error::BadPassword(why) => format!("the password on standard input cannot be used: {why}"),
            Error::NoSecurityTool => "no security command found: importing into a keychain works on macOS only".into(),
            Error::KeychainImport(why) => format!("security import failed: {why}"),
            Error::ContextMissing(name) => format!("context {name:?} does not exist"),
            Error::ServerNotFound(name) => format!("no server bundle or service certificate {name:?} is recorded"),
            Error::BadClock(why) => format!("DOCKER_TLSCTX_NOW is not a time: {why}"),
            Error::ContextInUse(name) => format!("context {name:?} is in use, set -f flag to force remove"),
            Error::CheckFailed { what, .. } => what.clone(),
            Error::DaemonDirInvalid { dir, why } => format!("the daemon's folder {dir:?} cannot be used: {why}"),
            Error::ExecInvalid { line, why } => format!("the deploy hook {line:?} cannot be split into words: {why}"),
            Error::HookFailed { name, why } => format!("{name:?} was renewed, but its deploy hook failed: {why}"),
            Error::FlagNeedsDue(flag) => format!("{flag} goes with renewing what is due, not with a context name"),
            Error::BeforeInvalid(v) => format!("{v:?} is neither a time left nor a share of the lifetime"),
            Error::RenewalsFailed { failed, total } => format!("{failed} of {total} renewals failed (each is named above)"),
            Error::SshTarget { target, why } => format!("{target:?} is not an SSH destination: {why}"),
            Error::SshFailed { target, detail, .. } => format!("ssh to {target} failed: {detail}"),
            Error::SudoPassword(target) => format!("sudo on {target} wants a password, and docker-tlsctx never types one (sudo -n)"),
            Error::InstallRefused { host, what, .. } => format!("not installing on {host}: {what}; nothing was changed"),
            Error::InstallFailed { host, what, .. } => format!("install on {host} failed: {what}"),
            Error::InstallInterrupted { host, what, .. } => format!("install on {host} interrupted: {what}"),
            Error::RenewedNotInstalled { host, not_after, source } => format!(
                "install on {host} failed: renewed here (valid until {}), not installed: {source}",
                text::date(*not_after)
            ),
            Error::UnschedulablePath { what, path, why } => {
                format!("{what} {path:?} cannot go into the scheduler's job: {why}")
            }
            Error::NoHome { what, .. } => format!("no home folder for {what}"),
            Error::AgentDidNotStart { what, .. } => what.clone(),
            Error::InstallsFailed { failed, total } => format!("{failed} of {total} installs failed (each is reported above)"),
            Error::Cancelled => "cancelled".into(),
            Error::SymlinkRefused(p) => format!("{} is a symbolic link, and docker-tlsctx never follows one where keys live", p.display()),
            Error::Busy { secs } => format!("another docker-tlsctx command is still changing this configuration after {secs} s"),
            Error::NameTooLong { what, len, max } => format!("the {what} name is {len} characters long; at most {max} are allowed"),
            Error::CnInvalid(why) => format!("the CN is invalid: {why}"),
            Error::RevokeAmbiguous { name, serials } => format!("{name:?} names {} certificates signed from requests (serials {}); nothing was revoked", serials.len(), serials.join(", ")),
            Error::AlreadyRevoked(name) => format!("identity {name:?} is already revoked"),
            Error::IdentityRevoked(name) => format!("identity {name:?} is revoked and cannot be renewed"),
            Error::ContextNotOurs(name) => format!("context {name:?} was not created by docker-tlsctx"),
            Error::BundleNameTaken { name, purpose } => if *purpose == "daemon" {
                    format!("{name:?} is already the name of a daemon server bundle")
                } else {
                    format!("{name:?} is already the name of a service certificate ({purpose})")
                },
            Error::AgentUnsupported(why) => (*why).into(),
            Error::SocketPathTooLong(p) => format!("the agent's socket {} would be longer than the 103 bytes a unix socket path may have", p.display()),
            Error::EndpointMoved(name) => format!("context {name:?} does not point at the agent's socket (an older version put it under /tmp or XDG_RUNTIME_DIR, where another user could listen)"),
            Error::UnsafeSocketDir { path, why } => format!("the agent's socket folder {} is not safe to use: {why}", path.display()),
            Error::NotKeychainOnly(name) => format!("context {name:?} is not keychain-only: Docker reads its key.pem directly"),
            Error::AgentRunning(name) => format!("an agent already serves context {name:?}"),
            Error::PipeTaken { name, pipe, who } => format!("the named pipe {} of context {name:?} exists already, made by {who}: the agent does not share it, and until it is gone Docker sends whatever it sends for {name:?} (requests, registry credentials in X-Registry-Auth, secrets) to that process", pipe.display()),
            Error::DockerNotFound => "the docker CLI was not found on PATH".into(),
            Error::PrefixInvalid(p) => format!("swarm secret prefix {p:?} is invalid: swarm names allow only letters, digits and - _ . and start and end with a letter or digit, and at most 64 characters in all"),
            Error::DockerFailed { what, message } => format!("docker could not {what}: {message}"),
            Error::NotASwarmManager { context, state } => format!("the daemon of context {context} is not a swarm manager (swarm state: {state})"),
            Error::SecretTooLarge { name, size } => format!("secret {name:?} would be {size} bytes; swarm secrets are limited to 500 KiB (512000 bytes)"),
            Error::NotOwned { what, path, why } => format!("{what} {} is not safe to use: {why}; another user could change what runs; nothing was written", path.display()),
            Error::IssuerFailed { what, .. } => format!("{what}; nothing was changed"),
            Error::RequestInvalid(why) => format!("the request cannot be signed: {why}; nothing was signed"),
            Error::ResponseInvalid(why) => format!("the response cannot be read: {why}; nothing was changed"),
            Error::ResponseRefused(why) => format!("the response was refused: {why}; nothing was changed"),
            Error::KeyRefused(key) => format!("the request's key is {key}; only ECDSA P-256 or P-384, Ed25519 and RSA of 2048 to 8192 bits are signed; nothing was signed"),
            Error::CnInUse { cn, ca, by } => format!("CN {cn:?} already names {by}, a live identity of CA {ca:?} (the same, or one that looks the same: case, composition and look-alike letters of other scripts do not tell people apart): dockerd's logs and the authorization plugin tell people apart by CN; nothing was issued"),
            Error::OutNeedsRequest(name) => format!("an output folder is for identities signed by someone else's CA, and {name:?} is signed by a CA here; nothing was changed"),
            Error::RenewElsewhere(name) => format!("{name:?} was signed by someone else's CA: its renewal is a request for the same key, and the signer decides the role and lifetime; nothing was changed"),
            Error::RequestPending(name) => format!("{name:?} is already taken: a request is pending, or a context or identity has that name; nothing was changed"),
            Error::NeedsConfirmation { what, .. } => format!("{what}, and there is no terminal to ask on; nothing was changed"),
            Error::CaFingerprintMismatch { given, actual } => format!("the response's CA has SHA-256 {actual}, not the {given} given; nothing was changed"),
            Error::SwarmMoved { name, context } => format!("the swarm reached through the context {context} is not the one {name:?} was published to for rotation on renewal; nothing was renewed"),
            Error::ServiceNotFound(svc) => format!("service {svc:?} does not exist; nothing was changed"),
            Error::ServiceHasNoTargets { service, bundle } => format!("service {service:?} uses none of the secrets of {bundle:?}, so there are no targets to keep; nothing was changed"),
            Error::NotPublished { bundle, prefix } => format!("{bundle:?} has no secrets {prefix}-*-vN in this swarm"),
            Error::SecretInUse { secret, services } => format!("secret {secret:?} is in use by {}", services.join(", ")),
            Error::RotationFailed { why, on } => format!("the rotation did not complete: {why}; services now: {}", on.join(", ")),
            Error::ServiceBusy { service, state } => format!("service {service} is in the middle of an earlier update (swarm: {state}); nothing was changed"),
            Error::RotationInterrupted { why, cancelled, renewed, version, on, notes } => format!(
                    "the rotation {}: {why}. What changed: the bundle {renewed}; {}; services now: {}{}",
                    if *cancelled { "was cancelled" } else { "did not complete" },
                    match version {
                        Some(v) => format!("version {v} was published and its secrets that no service uses were removed"),
                        None => "no new version was published".into(),
                    },
                    on.join(", "),
                    if notes.is_empty() { String::new() } else { format!(" ({})", notes.join("; ")) }
                ),
        }
    }

    /// Process exit code: 130 for cancellation (as a shell reports SIGINT), 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Cancelled | Error::InstallInterrupted { .. } => 130,
            Error::RotationInterrupted {
                cancelled: true, ..
            } => 130,
            _ => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } | Error::ConfigUnwritable { source, .. } => Some(source),
            Error::Pki(source) => Some(source),
            Error::RenewedNotInstalled { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

impl From<rcgen::Error> for Error {
    fn from(e: rcgen::Error) -> Self {
        Error::Pki(e)
    }
}
