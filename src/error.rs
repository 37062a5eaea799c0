//! One variant per situation the user can be in. `explain` writes, side by
//! side in one match arm, what went wrong and what to do next; `Display`
//! and `hint` only read it. A leaf: it imports nothing of this crate.

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
    /// No keychain to talk to (no D-Bus session, no Secret Service provider).
    KeystoreUnavailable {
        backend: &'static str,
        why: String,
        how: &'static str,
    },
    /// The keychain is there but locked.
    KeychainLocked {
        backend: &'static str,
        why: String,
        how: &'static str,
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
        what: String,
        backend: String,
        fix: String,
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
        fix: String,
    },
    /// `sudo -n` on the host wants a password.
    SudoPassword(String),
    /// Pre-flight refused to change the host: what it found, what to do.
    InstallRefused {
        host: String,
        what: String,
        fix: String,
    },
    /// Ctrl-C (SIGINT, SIGTERM or Docker's socket) during an install; `what`
    /// says what the host did or will do.
    InstallInterrupted {
        host: String,
        what: String,
        fix: String,
    },
    /// The new configuration failed and was rolled back (or could not be).
    InstallFailed {
        host: String,
        what: String,
        fix: String,
    },
    /// `server install --all`: some hosts failed (each reported above).
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
        fix: String,
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

const NAME_RULE_FIX: &str =
    "use letters, digits and _ . + - (at least two characters, starting with a letter or digit)";

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

    /// What went wrong, and the next step (None when the message says it all).
    pub fn explain(&self) -> (String, Option<String>) {
        let (what, next): (String, Option<String>) = match self {
            Error::ContextNameEmpty => (
                "context name cannot be empty".into(),
                Some(format!("{NAME_RULE_FIX}, e.g. prod or web-1")),
            ),
            Error::ContextNameReserved => (
                "\"default\" is a reserved context name".into(),
                Some("pick another name; \"default\" is Docker's built-in context".into()),
            ),
            Error::ContextNameInvalid(name) => (
                regexp_text("context", name),
                Some(format!("{NAME_RULE_FIX}, e.g. prod or web-1")),
            ),
            Error::ContextExists(name) => (
                format!("context {name:?} already exists"),
                Some(format!("pass --force to replace it, or remove it first with: docker context rm {name}")),
            ),
            Error::NameInvalid { what, name } => (regexp_text(what, name), Some(NAME_RULE_FIX.into())),
            Error::HostScheme(host) => (
                if host.is_empty() {
                    "the host is empty".into()
                } else {
                    format!("host {host:?} is not a tcp:// address; TLS contexts reach the daemon over TCP")
                },
                Some(HOST_FIX.into()),
            ),
            Error::HostInvalid { host, why } => (format!("host {host:?} is invalid: {why}"), Some(HOST_FIX.into())),
            Error::PlaintextPort(host) => (
                format!("host {host:?} uses port 2375, Docker's plaintext (unencrypted) port"),
                Some("use 2376, the TLS port (the default); pass --force if your daemon really serves TLS on 2375".into()),
            ),
            Error::SanInvalid(v) => (
                format!("--san {v:?} is neither an IP address nor a DNS name"),
                Some("give an IP address (192.0.2.10, 2001:db8::1) or a DNS name (docker.example.com, *.example.com)".into()),
            ),
            Error::DaysOutOfRange { flag, days, max, why } => (
                format!("{flag} {days} is out of range: give 1 to {max} days ({why})"),
                None,
            ),
            Error::CaExpired { ca, on } => (
                format!("CA {ca:?} expired on {}", text::date(*on)),
                Some("create a new CA (docker tlsctx ca init --name NAME) and issue new identities from it".into()),
            ),
            Error::CaNotFound(name) => (
                format!("CA {name:?} does not exist"),
                Some("create it with: docker tlsctx ca init --name NAME (or omit --ca to use \"default\")".into()),
            ),
            Error::CaExists(name) => (
                format!("CA {name:?} already exists"),
                Some(format!("it is kept as is; pick another --name, or pass --force to replace CA \"{name}\" (certificates it issued stop working)")),
            ),
            Error::CaKeyMissing { ca, backend } => (
                format!("the key of CA {ca:?} is missing from the {backend} keystore"),
                Some(format!("the CA certificate is there but its key is not; recreate the CA with: docker tlsctx ca init --name {ca} --force (then reissue its identities)")),
            ),
            Error::IdentityExists(name) => (
                format!("client identity {name:?} already exists"),
                Some("pass --force to replace it, or pick another name".into()),
            ),
            Error::BundleExists { what, dir } => (
                format!("a {what} bundle already exists in {}", dir.display()),
                Some("pass --force to replace it, or choose another folder with --server-dir/--out".into()),
            ),
            Error::NotADirectory(p) => (
                format!("{} exists and is not a folder", p.display()),
                Some("choose a folder path that is not an existing file".into()),
            ),
            Error::ConfigUnwritable { path, source } => (
                format!("cannot use {}: {source}", path.display()),
                Some("check the folder's owner and permissions, or point DOCKER_CONFIG (or --config) at a writable folder".into()),
            ),
            Error::Io { action, path, source } => (
                format!("cannot {action} {}: {source}", path.display()),
                Some("check the path, its permissions and free disk space, then run the command again".into()),
            ),
            Error::Corrupt { path, why } => (
                format!("{} is damaged: {why}", path.display()),
                Some("fix or remove the file named above, then run the command again".into()),
            ),
            Error::Crypto(why) => (format!("certificate or key operation failed: {why}"), None),
            Error::KeystoreUnavailable { backend, why, how } => (
                format!("no OS keychain is available ({backend}: {why})"),
                Some((*how).into()),
            ),
            Error::KeychainLocked { backend, why, how } => (
                format!("the {backend} keychain is locked: {why}"),
                Some((*how).into()),
            ),
            Error::KeychainTimeout { backend, secs } => (
                format!("the {backend} keychain did not answer within {secs} s"),
                Some("unlock the keychain (a locked one waits for an unlock prompt), raise DOCKER_TLSCTX_KEYCHAIN_TIMEOUT (seconds), or use --keystore file".into()),
            ),
            Error::KeystoreFailed { backend, why } => (
                format!("the {backend} keychain failed: {why}"),
                Some("run docker tlsctx keystore status to see which keystore answers; --keystore file avoids the OS keychain".into()),
            ),
            Error::KeystoreChoice(why) => (
                format!("DOCKER_TLSCTX_KEYSTORE: {why}"),
                Some("set DOCKER_TLSCTX_KEYSTORE to auto, os or file (or unset it)".into()),
            ),
            Error::KeyMissing { what, backend, fix } => (
                format!("the key of {what} is missing from the {backend} keystore"),
                Some(fix.clone()),
            ),
            Error::EncryptedKey(p) => (
                format!("{} is an encrypted private key", p.display()),
                Some(format!(
                    "decrypt a copy first: openssl pkey -in {0} -out {0}.plain, import that, then delete it (shred -u {0}.plain)",
                    p.display()
                )),
            ),
            Error::NotAKey(p) => (
                format!("{} holds no private key in PEM", p.display()),
                Some("give the CA's private key in PEM (BEGIN PRIVATE KEY, BEGIN RSA PRIVATE KEY or BEGIN EC PRIVATE KEY)".into()),
            ),
            Error::NotACa { path, why } => (
                format!("{} cannot be used as a CA: {why}", path.display()),
                Some("give the CA certificate (ca.pem), not a server or client certificate".into()),
            ),
            Error::KeyDoesNotMatch { key, cert } => (
                format!(
                    "the key in {} does not belong to the certificate in {}",
                    key.display(),
                    cert.display()
                ),
                Some("give the key that belongs to this certificate (with docker-machine: ca-key.pem beside ca.pem)".into()),
            ),
            Error::CaInUse { ca, contexts } => (
                format!("CA {ca:?} issued the identities of contexts still in use: {}", contexts.join(", ")),
                Some(format!("remove those contexts first (docker tlsctx rm NAME, or docker context rm NAME), or pass --force: they keep working until they expire, but cannot be renewed from CA \"{ca}\"")),
            ),
            Error::IdentityNotFound(name) => (
                format!("no identity {name:?} is recorded"),
                Some("create it with: docker tlsctx new NAME --host tcp://HOST:2376".into()),
            ),
            Error::FileExists(p) => (
                format!("{} already exists", p.display()),
                Some("pass --force to overwrite it, or choose another path".into()),
            ),
            Error::BadPassword(why) => (
                format!("the password on standard input cannot be used: {why}"),
                Some("pipe a non-empty password: printf '%s' \"$PASSWORD\" | docker tlsctx export NAME --p12 FILE --password-stdin; or drop --password-stdin to have one generated".into()),
            ),
            Error::NoSecurityTool => (
                "no security command found: --keychain works on macOS only".into(),
                Some("--keychain imports into the macOS login keychain with security(1); elsewhere use --p12 FILE and import that file with your platform's tool".into()),
            ),
            Error::KeychainImport(why) => (
                format!("security import failed: {why}"),
                Some("unlock the login keychain (security unlock-keychain) and run the command again, or import a --p12 file by hand".into()),
            ),
            Error::ContextMissing(name) => (
                format!("context {name:?} does not exist"),
                Some("list contexts with docker context ls; create one with docker tlsctx new NAME --host tcp://HOST:2376".into()),
            ),
            Error::ServerNotFound(name) => (
                format!("no server bundle or service certificate {name:?} is recorded"),
                Some("list server bundles with: docker tlsctx ls --all".into()),
            ),
            Error::BadClock(why) => (
                format!("DOCKER_TLSCTX_NOW is not a time: {why}"),
                Some("set DOCKER_TLSCTX_NOW to an RFC 3339 time such as 2027-01-31T12:00:00Z, or unset it".into()),
            ),
            Error::ContextInUse(name) => (
                format!("context {name:?} is in use, set -f flag to force remove"),
                Some("switch to another context first (docker context use default), or pass --force: the context is removed and Docker falls back to DOCKER_HOST or the default context".into()),
            ),
            Error::CheckFailed { what, fix } => (what.clone(), Some(fix.clone())),
            Error::DaemonDirInvalid { dir, why } => (
                format!("--daemon-dir {dir:?} cannot be used: {why}"),
                Some("give an absolute folder of letters, digits and . _ - /, such as /etc/docker/tls".into()),
            ),
            Error::ExecInvalid { line, why } => (
                format!("--exec {line:?} cannot be split into words: {why}"),
                Some("quote words with spaces, e.g. --exec \"systemctl reload nginx\", or run a shell: --exec \"sh -c '…'\"".into()),
            ),
            Error::HookFailed { name, why } => (
                format!("{name:?} was renewed, but its deploy hook failed: {why}"),
                Some(format!("fix the hook (docker tlsctx inspect shows none; the record is tlsctx/servers/{name}/server.json), then reload the service by hand: its files are already new")),
            ),
            Error::FlagNeedsDue(flag) => (
                format!("{flag} goes with renew --due, not with a context name"),
                Some(format!("run docker tlsctx renew --due {flag} …, or docker tlsctx renew NAME without it")),
            ),
            Error::BeforeInvalid(v) => (
                format!("--before {v:?} is neither a time left nor a share of the lifetime"),
                Some("give a time left before expiry such as 30d, 12h or 90m, or a share of the lifetime such as 33%".into()),
            ),
            Error::RenewalsFailed { failed, total } => (
                format!("{failed} of {total} renewals failed (each is named above)"),
                Some("fix what each one names, then run docker tlsctx renew --due again: what was renewed stays renewed".into()),
            ),
            Error::SshTarget { target, why } => (
                format!("--ssh {target:?} is not an SSH destination: {why}"),
                Some("give it as [USER@]HOST[:PORT], e.g. root@203.0.113.7 or admin@docker1.example.com:2222, or a Host alias from ~/.ssh/config".into()),
            ),
            Error::SshFailed { target, detail, fix } => (
                format!("ssh to {target} failed: {detail}"),
                Some(fix.clone()),
            ),
            Error::SudoPassword(target) => (
                format!("sudo on {target} wants a password, and docker-tlsctx never types one (sudo -n)"),
                Some("log in as root (--ssh root@HOST), or allow this user sudo without a password (NOPASSWD in /etc/sudoers.d/)".into()),
            ),
            Error::InstallRefused { host, what, fix } => (
                format!("not installing on {host}: {what}; nothing was changed"),
                Some(fix.clone()),
            ),
            Error::InstallFailed { host, what, fix } => (
                format!("install on {host} failed: {what}"),
                Some(fix.clone()),
            ),
            Error::InstallInterrupted { host, what, fix } => (
                format!("install on {host} interrupted: {what}"),
                Some(fix.clone()),
            ),
            Error::InstallsFailed { failed, total } => (
                format!("{failed} of {total} installs failed (each is reported above)"),
                Some("fix what each one names, then run docker tlsctx server install --all again: hosts already done are installed again and verified".into()),
            ),
            Error::Cancelled => (
                "cancelled".into(),
                Some("nothing was changed; run the command again when ready".into()),
            ),
            Error::SymlinkRefused(p) => (
                format!("{} is a symbolic link, and docker-tlsctx never follows one where keys live", p.display()),
                Some("replace the link with a real folder (or file), or point DOCKER_CONFIG (or --config) at the folder it links to".into()),
            ),
            Error::Busy { secs } => (
                format!("another docker-tlsctx command is still changing this configuration after {secs} s"),
                Some("wait for it to finish (an unlock prompt of the keychain may be waiting), then run this command again; the lock goes with the process, so there is nothing to delete; DOCKER_TLSCTX_LOCK_TIMEOUT sets the wait in seconds".into()),
            ),
            Error::NameTooLong { what, len, max } => (
                format!("the {what} name is {len} characters long; at most {max} are allowed"),
                Some("pick a shorter name: it becomes file names, which are limited to 255 bytes with room for the suffixes this tool adds".into()),
            ),
            Error::CnInvalid(why) => (
                format!("--cn is invalid: {why}"),
                Some("give a printable name without control characters, at most 64 characters (RFC 5280 ub-common-name)".into()),
            ),
            Error::RevokeAmbiguous { name, serials } => (
                format!("{name:?} names {} certificates signed from requests (serials {}); nothing was revoked", serials.len(), serials.join(", ")),
                Some("revoke one by its serial: docker tlsctx revoke SERIAL (docker tlsctx ca issued lists them)".into()),
            ),
            Error::AlreadyRevoked(name) => (
                format!("identity {name:?} is already revoked"),
                Some("see what is revoked with: docker tlsctx revoke --list".into()),
            ),
            Error::IdentityRevoked(name) => (
                format!("identity {name:?} is revoked and cannot be renewed"),
                Some(format!("issue a new one in its place: docker tlsctx new {name} --host tcp://HOST:2376 --force (or docker tlsctx client {name} --force)")),
            ),
            Error::ContextNotOurs(name) => (
                format!("context {name:?} was not created by docker-tlsctx"),
                Some(format!("remove it with Docker itself: docker context rm {name}")),
            ),
            Error::BundleNameTaken { name, purpose } => (
                if *purpose == "daemon" {
                    format!("{name:?} is already the name of a daemon server bundle")
                } else {
                    format!("{name:?} is already the name of a service certificate ({purpose})")
                },
                Some(format!("pick another name, or remove the bundle first: docker tlsctx rm {name}")),
            ),
            Error::AgentUnsupported(why) => ((*why).into(), Some("use a context with a key file (docker tlsctx new without --keychain-only)".into())),
            Error::SocketPathTooLong(p) => (
                format!("the agent's socket {} would be longer than the 103 bytes a unix socket path may have", p.display()),
                Some("use a configuration folder with a shorter path (DOCKER_CONFIG or --config)".into()),
            ),
            Error::EndpointMoved(name) => (
                format!("context {name:?} does not point at the agent's socket (an older version put it under /tmp or XDG_RUNTIME_DIR, where another user could listen)"),
                Some(format!("point it at the new one: docker tlsctx agent adopt {name} (or docker tlsctx restore {name} --force)")),
            ),
            Error::UnsafeSocketDir { path, why } => (
                format!("the agent's socket folder {} is not safe to use: {why}", path.display()),
                Some("another user may have made it to receive your Docker traffic: do not use it; remove it (ask an administrator if it is not yours), or keep your configuration folder where only you and root can change anything above it (not under /tmp; DOCKER_CONFIG or --config), then start the agent again".into()),
            ),
            Error::NotKeychainOnly(name) => (
                format!("context {name:?} is not keychain-only: Docker reads its key.pem directly"),
                Some(format!("make it keychain-only first: docker tlsctx agent adopt {name}")),
            ),
            Error::AgentRunning(name) => (
                format!("an agent already serves context {name:?}"),
                Some("it keeps serving; to restart it, stop it first (systemctl --user stop docker-tlsctx-agent.service, or kill the process)".into()),
            ),
            Error::PipeTaken { name, pipe, who } => (
                format!("the named pipe {} of context {name:?} exists already, made by {who}: the agent does not share it, and until it is gone Docker sends whatever it sends for {name:?} (requests, registry credentials in X-Registry-Auth, secrets) to that process", pipe.display()),
                Some("if it is an agent of yours it is serving already (docker tlsctx ls says so); otherwise do not use the context: find and stop the process that holds it (Sysinternals' handle names it), then start the agent again".into()),
            ),
            Error::DockerNotFound => (
                "the docker CLI was not found on PATH".into(),
                Some("install the docker CLI (docker.io or docker-ce-cli), or put it on PATH; docker tlsctx's swarm commands talk to the swarm through it".into()),
            ),
            Error::PrefixInvalid(p) => (
                format!("swarm secret prefix {p:?} is invalid: swarm names allow only letters, digits and - _ . and start and end with a letter or digit, and at most 64 characters in all"),
                Some("give --prefix with at most 48 such characters (room for -cert.pem-vN), e.g. --prefix web".into()),
            ),
            Error::DockerFailed { what, message } => (
                format!("docker could not {what}: {message}"),
                Some("check that the context reaches a running daemon: docker version (or docker --context CTX version)".into()),
            ),
            Error::NotASwarmManager { context, state } => (
                format!("the daemon of context {context} is not a swarm manager (swarm state: {state})"),
                Some("make it one with: docker swarm init --advertise-addr ADDRESS (or point --context at a manager of the swarm)".into()),
            ),
            Error::SecretTooLarge { name, size } => (
                format!("secret {name:?} would be {size} bytes; swarm secrets are limited to 500 KiB (512000 bytes)"),
                Some("use a smaller certificate chain or key (the default ecdsa-p256 keys are a few hundred bytes)".into()),
            ),
            Error::NotOwned { what, path, why } => (
                format!("{what} {} is not safe to use: {why}; another user could change what runs; nothing was written", path.display()),
                Some("make it yours and writable by you alone (chown, chmod go-w), or point HOME / XDG_CONFIG_HOME elsewhere".into()),
            ),
            Error::IssuerFailed { what, fix } => (format!("{what}; nothing was changed"), Some(fix.clone())),
            Error::RequestInvalid(why) => (
                format!("the request cannot be signed: {why}; nothing was signed"),
                Some("ask for a new one (docker tlsctx request NAME --host tcp://HOST:2376, or openssl req -new -key KEY -subj /CN=NAME)".into()),
            ),
            Error::ResponseInvalid(why) => (
                format!("the response cannot be read: {why}; nothing was changed"),
                Some("ask the signer for the file docker tlsctx sign wrote, unchanged".into()),
            ),
            Error::ResponseRefused(why) => (
                format!("the response was refused: {why}; nothing was changed"),
                Some("ask the signer to sign your request again (docker tlsctx sign REQUEST)".into()),
            ),
            Error::KeyRefused(key) => (
                format!("the request's key is {key}; only ECDSA P-256 or P-384, Ed25519 and RSA of 2048 to 8192 bits are signed; nothing was signed"),
                Some("ask for a new request with a supported key (docker tlsctx request NAME --key-type ecdsa-p256)".into()),
            ),
            Error::CnInUse { cn, ca, by } => (
                format!("CN {cn:?} already names {by}, a live identity of CA {ca:?} (the same, or one that looks the same: case, composition and look-alike letters of other scripts do not tell people apart): dockerd's logs and the authorization plugin tell people apart by CN; nothing was issued"),
                Some("choose another with --cn NAME, or revoke the old one first (docker tlsctx revoke NAME)".into()),
            ),
            Error::OutNeedsRequest(name) => (
                format!("--out is for identities signed by someone else's CA, and {name:?} is signed by a CA here; nothing was changed"),
                Some(format!("renew it in place: docker tlsctx renew {name}")),
            ),
            Error::RenewElsewhere(name) => (
                format!("{name:?} was signed by someone else's CA: its renewal is a request for the same key, and the signer decides the role and lifetime; nothing was changed"),
                Some(format!("run docker tlsctx renew {name} without --rekey, --role or --days; for a new key: docker tlsctx request NAME2 --host …")),
            ),
            Error::RequestPending(name) => (
                format!("{name:?} is already taken: a request is pending, or a context or identity has that name; nothing was changed"),
                Some(format!("see it with docker tlsctx ls; replace a pending request with: docker tlsctx request {name} --host … --force (the old request can then not be accepted)")),
            ),
            Error::NeedsConfirmation { what, flag } => (
                format!("{what}, and there is no terminal to ask on; nothing was changed"),
                Some(format!("check it, then run again with {flag}")),
            ),
            Error::CaFingerprintMismatch { given, actual } => (
                format!("the response's CA has SHA-256 {actual}, not the {given} given; nothing was changed"),
                Some("this is not the CA you expected: ask the signer to read out the CA's fingerprint (docker tlsctx ca ls --format json)".into()),
            ),
            Error::SwarmMoved { name, context } => (
                format!("the swarm reached through the context {context} is not the one {name:?} was published to with --rotate-on-renew; nothing was renewed"),
                Some(format!("point it at that swarm's manager: docker tlsctx swarm publish {name} --rotate-on-renew --context CONTEXT (or stop it: --no-rotate-on-renew)")),
            ),
            Error::ServiceNotFound(svc) => (
                format!("service {svc:?} does not exist; nothing was changed"),
                Some("list services with: docker service ls".into()),
            ),
            Error::ServiceHasNoTargets { service, bundle } => (
                format!("service {service:?} uses none of the secrets of {bundle:?}, so there are no targets to keep; nothing was changed"),
                Some("say where the files go: --target-cert FILE --target-key FILE --target-ca FILE (names under /run/secrets/)".into()),
            ),
            Error::NotPublished { bundle, prefix } => (
                format!("{bundle:?} has no secrets {prefix}-*-vN in this swarm"),
                Some(format!("publish it first: docker tlsctx swarm publish {bundle}")),
            ),
            Error::SecretInUse { secret, services } => (
                format!("secret {secret:?} is in use by {}", services.join(", ")),
                Some("move the services to a newer version first (docker tlsctx swarm rotate), then prune".into()),
            ),
            Error::RotationFailed { why, on } => (
                format!("the rotation did not complete: {why}; services now: {}", on.join(", ")),
                Some("the old secrets are kept; see why with docker service ps --no-trunc SERVICE, fix it, then run swarm rotate again".into()),
            ),
            Error::ServiceBusy { service, state } => (
                format!("service {service} is in the middle of an earlier update (swarm: {state}); nothing was changed"),
                Some(format!("wait for it (docker service inspect {service} --format '{{{{.UpdateStatus.State}}}}'), or finish it with docker service rollback {service} or docker service update {service}, then run swarm rotate again")),
            ),
            Error::RotationInterrupted { why, cancelled, renewed, version, on, notes } => (
                format!(
                    "the rotation {}: {why}. What changed: the bundle {renewed}; {}; services now: {}{}",
                    if *cancelled { "was cancelled" } else { "did not complete" },
                    match version {
                        Some(v) => format!("version {v} was published and its secrets that no service uses were removed"),
                        None => "no new version was published".into(),
                    },
                    on.join(", "),
                    if notes.is_empty() { String::new() } else { format!(" ({})", notes.join("; ")) }
                ),
                Some(if *cancelled {
                    "the services keep the versions above (swarm finishes an update it started); run swarm rotate again to move them all".into()
                } else {
                    "the old secrets are kept; fix the cause, then run swarm rotate again (it renews once more and moves every service)".into()
                }),
            ),
        };
        (what, next)
    }

    /// The next step for the user, or None when the message says it all.
    pub fn hint(&self) -> Option<String> {
        self.explain().1
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

const HOST_FIX: &str = "give the daemon's address as tcp://HOST[:PORT], e.g. tcp://203.0.113.7:2376 or tcp://docker.example.com";

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.explain().0)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } | Error::ConfigUnwritable { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<rcgen::Error> for Error {
    fn from(e: rcgen::Error) -> Self {
        Error::Crypto(e.to_string())
    }
}
