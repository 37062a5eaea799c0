//! What a user reads when a command fails (issue 32): the message, naming
//! the flag that was given, and the next step, with the commands and flags
//! to follow. The interface owns both: the error types below it say what
//! happened (their `Display`), so renaming a flag or a command changes this
//! file and the CLI's definitions, never a leaf. Every variant has its own
//! arm in `hint` (no wildcard), so a new situation is a compile error here
//! until it says what to do next.

use crate::error::{Error, InstallNext, IssuerProblem, MissingKey, SshProblem};

const NAME_RULE_FIX: &str =
    "use letters, digits and _ . + - (at least two characters, starting with a letter or digit)";

const HOST_FIX: &str = "give the daemon's address as tcp://HOST[:PORT], e.g. tcp://203.0.113.7:2376 or tcp://docker.example.com";

/// What went wrong, and the next step (None when the message says it all).
pub fn explain(e: &Error) -> (String, Option<String>) {
    (message(e), hint(e))
}

/// The error's own sentence, with the flag the value came from where the
/// user gave one.
pub fn message(e: &Error) -> String {
    match e {
        Error::SanInvalid(v) => format!("--san {v:?} is neither an IP address nor a DNS name"),
        Error::NoSecurityTool => "no security command found: --keychain works on macOS only".into(),
        Error::DaemonDirInvalid { dir, why } => format!("--daemon-dir {dir:?} cannot be used: {why}"),
        Error::ExecInvalid { line, why } => format!("--exec {line:?} cannot be split into words: {why}"),
        Error::FlagNeedsDue(flag) => format!("{flag} goes with renew --due, not with a context name"),
        Error::BeforeInvalid(v) => format!("--before {v:?} is neither a time left nor a share of the lifetime"),
        Error::SshTarget { target, why } => format!("--ssh {target:?} is not an SSH destination: {why}"),
        Error::CnInvalid(why) => format!("--cn is invalid: {why}"),
        Error::OutNeedsRequest(name) => format!("--out is for identities signed by someone else's CA, and {name:?} is signed by a CA here; nothing was changed"),
        Error::SwarmMoved { name, context } => format!("the swarm reached through the context {context} is not the one {name:?} was published to with --rotate-on-renew; nothing was renewed"),
        Error::RenewedNotInstalled { host, not_after, source } => format!(
            "install on {host} failed: renewed here (valid until {}), not installed: {}",
            crate::text::date(*not_after),
            message(source)
        ),
        _ => e.to_string(),
    }
}

/// The next step for the user, or None when the message says it all.
pub fn hint(e: &Error) -> Option<String> {
    match e {
            Error::ContextNameEmpty => Some(format!("{NAME_RULE_FIX}, e.g. prod or web-1")),
            Error::ContextNameReserved => Some("pick another name; \"default\" is Docker's built-in context".into()),
            Error::ContextNameInvalid(_) => Some(format!("{NAME_RULE_FIX}, e.g. prod or web-1")),
            Error::ContextExists(name) => Some(format!("pass --force to replace it, or remove it first with: docker context rm {name}")),
            Error::NameInvalid { .. } => Some(NAME_RULE_FIX.into()),
            Error::HostScheme(_) => Some(HOST_FIX.into()),
            Error::HostInvalid { .. } => Some(HOST_FIX.into()),
            Error::PlaintextPort(_) => Some("use 2376, the TLS port (the default); pass --force if your daemon really serves TLS on 2375".into()),
            Error::SanInvalid(_) => Some("give an IP address (192.0.2.10, 2001:db8::1) or a DNS name (docker.example.com, *.example.com)".into()),
            Error::DaysOutOfRange { .. } => None,
            Error::CaExpired { .. } => Some("create a new CA (docker tlsctx ca init --name NAME) and issue new identities from it".into()),
            Error::CaNotFound(_) => Some("create it with: docker tlsctx ca init --name NAME (or omit --ca to use \"default\")".into()),
            Error::CaExists(name) => Some(format!("it is kept as is; pick another --name, or pass --force to replace CA \"{name}\" (certificates it issued stop working)")),
            Error::CaKeyMissing { ca, .. } => Some(format!("the CA certificate is there but its key is not; recreate the CA with: docker tlsctx ca init --name {ca} --force (then reissue its identities)")),
            Error::IdentityExists(_) => Some("pass --force to replace it, or pick another name".into()),
            Error::BundleExists { .. } => Some("pass --force to replace it, or choose another folder with --server-dir/--out".into()),
            Error::NotADirectory(_) => Some("choose a folder path that is not an existing file".into()),
            Error::ConfigUnwritable { .. } => Some("check the folder's owner and permissions, or point DOCKER_CONFIG (or --config) at a writable folder".into()),
            Error::Io { .. } => Some("check the path, its permissions and free disk space, then run the command again".into()),
            Error::Corrupt { .. } => Some("fix or remove the file named above, then run the command again".into()),
            Error::Crypto(_) => None,
            Error::Pki(_) => None,
            Error::Internal(_) => Some(format!(
                "this is a bug in docker-tlsctx, not something you did: please report it with the command you ran ({})",
                env!("CARGO_PKG_REPOSITORY")
            )),
            Error::Unsupported { .. } => None,
            Error::KeystoreUnavailable { .. } => Some(keychain::START.into()),
            Error::KeychainLocked { .. } => Some(keychain::UNLOCK.into()),
            Error::KeychainTimeout { .. } => Some("unlock the keychain (a locked one waits for an unlock prompt), raise DOCKER_TLSCTX_KEYCHAIN_TIMEOUT (seconds), or use --keystore file".into()),
            Error::KeystoreFailed { .. } => Some("run docker tlsctx keystore status to see which keystore answers; --keystore file avoids the OS keychain".into()),
            Error::KeystoreChoice(_) => Some("set DOCKER_TLSCTX_KEYSTORE to auto, os or file (or unset it)".into()),
            Error::KeyMissing { of, .. } => Some(missing_key_fix(of)),
            Error::EncryptedKey(p) => Some(format!(
                        "decrypt a copy first: openssl pkey -in {0} -out {0}.plain, import that, then delete it (shred -u {0}.plain)",
                        p.display()
                    )),
            Error::NotAKey(_) => Some("give the CA's private key in PEM (BEGIN PRIVATE KEY, BEGIN RSA PRIVATE KEY or BEGIN EC PRIVATE KEY)".into()),
            Error::NotACa { .. } => Some("give the CA certificate (ca.pem), not a server or client certificate".into()),
            Error::KeyDoesNotMatch { .. } => Some("give the key that belongs to this certificate (with docker-machine: ca-key.pem beside ca.pem)".into()),
            Error::CaInUse { ca, .. } => Some(format!("remove those contexts first (docker tlsctx rm NAME, or docker context rm NAME), or pass --force: they keep working until they expire, but cannot be renewed from CA \"{ca}\"")),
            Error::IdentityNotFound(_) => Some("create it with: docker tlsctx new NAME --host tcp://HOST:2376".into()),
            Error::FileExists(_) => Some("pass --force to overwrite it, or choose another path".into()),
            Error::BadPassword(_) => Some("pipe a non-empty password: printf '%s' \"$PASSWORD\" | docker tlsctx export NAME --p12 FILE --password-stdin; or drop --password-stdin to have one generated".into()),
            Error::NoSecurityTool => Some("--keychain imports into the macOS login keychain with security(1); elsewhere use --p12 FILE and import that file with your platform's tool".into()),
            Error::KeychainImport(_) => Some("unlock the login keychain (security unlock-keychain) and run the command again, or import a --p12 file by hand".into()),
            Error::ContextMissing(_) => Some("list contexts with docker context ls; create one with docker tlsctx new NAME --host tcp://HOST:2376".into()),
            Error::ServerNotFound(_) => Some("list server bundles with: docker tlsctx ls --all".into()),
            Error::BadClock(_) => Some("set DOCKER_TLSCTX_NOW to an RFC 3339 time such as 2027-01-31T12:00:00Z, or unset it".into()),
            Error::ContextInUse(_) => Some("switch to another context first (docker context use default), or pass --force: the context is removed and Docker falls back to DOCKER_HOST or the default context".into()),
            Error::CheckFailed { fix, .. } => Some(fix.clone()),
            Error::DaemonDirInvalid { .. } => Some("give an absolute folder of letters, digits and . _ - /, such as /etc/docker/tls".into()),
            Error::ExecInvalid { .. } => Some("quote words with spaces, e.g. --exec \"systemctl reload nginx\", or run a shell: --exec \"sh -c '…'\"".into()),
            Error::HookFailed { name, .. } => Some(format!("fix the hook (docker tlsctx inspect shows none; the record is tlsctx/servers/{name}/server.json), then reload the service by hand: its files are already new")),
            Error::FlagNeedsDue(flag) => Some(format!("run docker tlsctx renew --due {flag} …, or docker tlsctx renew NAME without it")),
            Error::BeforeInvalid(_) => Some("give a time left before expiry such as 30d, 12h or 90m, or a share of the lifetime such as 33%".into()),
            Error::RenewalsFailed { .. } => Some("fix what each one names, then run docker tlsctx renew --due again: what was renewed stays renewed".into()),
            Error::SshTarget { .. } => Some("give it as [USER@]HOST[:PORT], e.g. root@203.0.113.7 or admin@docker1.example.com:2222, or a Host alias from ~/.ssh/config".into()),
            Error::SshFailed { problem, .. } => Some(ssh_fix(problem)),
            Error::SudoPassword(_) => Some("log in as root (--ssh root@HOST), or allow this user sudo without a password (NOPASSWD in /etc/sudoers.d/)".into()),
            Error::InstallRefused { next, .. }
            | Error::InstallFailed { next, .. }
            | Error::InstallInterrupted { next, .. } => Some(install_next(next)),
            Error::RenewedNotInstalled { host, source, .. } => {
            Some(hint(source).unwrap_or_else(|| format!("docker tlsctx server install {host}")))
        }
        Error::UnschedulablePath { .. } => Some(format!(
            "use a folder whose path is UTF-8 with no quotes, {} or control characters (set DOCKER_CONFIG), then run this again",
            if cfg!(windows) { "%" } else { "backslashes" }
        )),
        Error::NoHome { vars, .. } => Some(format!("set {vars}, then run this again")),
        Error::AgentDidNotStart { log, exited: true, .. } => Some(format!(
            "run it in the foreground to see why: docker tlsctx agent --foreground; its log is {}",
            log.display()
        )),
        Error::AgentDidNotStart { log, exited: false, .. } => Some(format!("see its log: {}", log.display())),
        Error::InstallsFailed { .. } => Some("fix what each one names, then run docker tlsctx server install --all again: hosts already done are installed again and verified".into()),
            Error::Cancelled => Some("nothing was changed; run the command again when ready".into()),
            Error::SymlinkRefused(_) => Some("replace the link with a real folder (or file), or point DOCKER_CONFIG (or --config) at the folder it links to".into()),
            Error::Busy { .. } => Some("wait for it to finish (an unlock prompt of the keychain may be waiting), then run this command again; the lock goes with the process, so there is nothing to delete; DOCKER_TLSCTX_LOCK_TIMEOUT sets the wait in seconds".into()),
            Error::NameTooLong { .. } => Some("pick a shorter name: it becomes file names, which are limited to 255 bytes with room for the suffixes this tool adds".into()),
            Error::CnInvalid(_) => Some("give a printable name without control characters, at most 64 characters (RFC 5280 ub-common-name)".into()),
            Error::RevokeAmbiguous { .. } => Some("revoke one by its serial: docker tlsctx revoke SERIAL (docker tlsctx ca issued lists them)".into()),
            Error::AlreadyRevoked(_) => Some("see what is revoked with: docker tlsctx revoke --list".into()),
            Error::IdentityRevoked(name) => Some(format!("issue a new one in its place: docker tlsctx new {name} --host tcp://HOST:2376 --force (or docker tlsctx client {name} --force)")),
            Error::ContextNotOurs(name) => Some(format!("remove it with Docker itself: docker context rm {name}")),
            Error::BundleNameTaken { name, .. } => Some(format!("pick another name, or remove the bundle first: docker tlsctx rm {name}")),
            Error::AgentUnsupported(_) => Some("use a context with a key file (docker tlsctx new without --keychain-only)".into()),
            Error::SocketPathTooLong(_) => Some("use a configuration folder with a shorter path (DOCKER_CONFIG or --config)".into()),
            Error::EndpointMoved(name) => Some(format!("point it at the new one: docker tlsctx agent adopt {name} (or docker tlsctx restore {name} --force)")),
            Error::UnsafeSocketDir { .. } => Some("another user may have made it to receive your Docker traffic: do not use it; remove it (ask an administrator if it is not yours), or keep your configuration folder where only you and root can change anything above it (not under /tmp; DOCKER_CONFIG or --config), then start the agent again".into()),
            Error::NotKeychainOnly(name) => Some(format!("make it keychain-only first: docker tlsctx agent adopt {name}")),
            Error::AgentRunning(_) => Some("it keeps serving; to restart it, stop it first (systemctl --user stop docker-tlsctx-agent.service, or kill the process)".into()),
            Error::PipeTaken { .. } => Some("if it is an agent of yours it is serving already (docker tlsctx ls says so); otherwise do not use the context: find and stop the process that holds it (Sysinternals' handle names it), then start the agent again".into()),
            Error::DockerNotFound => Some("install the docker CLI (docker.io or docker-ce-cli), or put it on PATH; docker tlsctx's swarm commands talk to the swarm through it".into()),
            Error::PrefixInvalid(_) => Some("give --prefix with at most 48 such characters (room for -cert.pem-vN), e.g. --prefix web".into()),
            Error::DockerFailed { .. } => Some("check that the context reaches a running daemon: docker version (or docker --context CTX version)".into()),
            Error::NotASwarmManager { .. } => Some("make it one with: docker swarm init --advertise-addr ADDRESS (or point --context at a manager of the swarm)".into()),
            Error::SecretTooLarge { .. } => Some("use a smaller certificate chain or key (the default ecdsa-p256 keys are a few hundred bytes)".into()),
            Error::NotOwned { .. } => Some("make it yours and writable by you alone (chown, chmod go-w), or point HOME / XDG_CONFIG_HOME elsewhere".into()),
            Error::IssuerFailed { problem, .. } => Some(issuer_fix(problem)),
            Error::RequestInvalid(_) => Some("ask for a new one (docker tlsctx request NAME --host tcp://HOST:2376, or openssl req -new -key KEY -subj /CN=NAME)".into()),
            Error::ResponseInvalid(_) => Some("ask the signer for the file docker tlsctx sign wrote, unchanged".into()),
            Error::ResponseRefused(_) => Some("ask the signer to sign your request again (docker tlsctx sign REQUEST)".into()),
            Error::KeyRefused(_) => Some("ask for a new request with a supported key (docker tlsctx request NAME --key-type ecdsa-p256)".into()),
            Error::CnInUse { .. } => Some("choose another with --cn NAME, or revoke the old one first (docker tlsctx revoke NAME)".into()),
            Error::OutNeedsRequest(name) => Some(format!("renew it in place: docker tlsctx renew {name}")),
            Error::RenewElsewhere(name) => Some(format!("run docker tlsctx renew {name} without --rekey, --role or --days; for a new key: docker tlsctx request NAME2 --host …")),
            Error::RequestPending(name) => Some(format!("see it with docker tlsctx ls; replace a pending request with: docker tlsctx request {name} --host … --force (the old request can then not be accepted)")),
            Error::NeedsConfirmation { flag, .. } => Some(format!("check it, then run again with {flag}")),
            Error::CaFingerprintMismatch { .. } => Some("this is not the CA you expected: ask the signer to read out the CA's fingerprint (docker tlsctx ca ls --format json)".into()),
            Error::SwarmMoved { name, .. } => Some(format!("point it at that swarm's manager: docker tlsctx swarm publish {name} --rotate-on-renew --context CONTEXT (or stop it: --no-rotate-on-renew)")),
            Error::ServiceNotFound(_) => Some("list services with: docker service ls".into()),
            Error::ServiceHasNoTargets { .. } => Some("say where the files go: --target-cert FILE --target-key FILE --target-ca FILE (names under /run/secrets/)".into()),
            Error::NotPublished { bundle, .. } => Some(format!("publish it first: docker tlsctx swarm publish {bundle}")),
            Error::SecretInUse { .. } => Some("move the services to a newer version first (docker tlsctx swarm rotate), then prune".into()),
            Error::RotationFailed { .. } => Some("the old secrets are kept; see why with docker service ps --no-trunc SERVICE, fix it, then run swarm rotate again".into()),
            Error::ServiceBusy { service, .. } => Some(format!("wait for it (docker service inspect {service} --format '{{{{.UpdateStatus.State}}}}'), or finish it with docker service rollback {service} or docker service update {service}, then run swarm rotate again")),
            Error::RotationInterrupted { cancelled, .. } => Some(if *cancelled {
                        "the services keep the versions above (swarm finishes an update it started); run swarm rotate again to move them all".into()
                    } else {
                        "the old secrets are kept; fix the cause, then run swarm rotate again (it renews once more and moves every service)".into()
                    }),
    }
}

/// The way out when the keystore lacks a key: it depends on what the
/// command was doing with it.
fn missing_key_fix(of: &MissingKey) -> String {
    match of {
        MissingKey::Identity { name, host } => {
            format!("issue a new identity: docker tlsctx new {name} --host {host} --no-server --force")
        }
        MissingKey::IdentityRenewed { name } => {
            format!("renew with a new key: docker tlsctx renew {name} --rekey")
        }
        MissingKey::IdentityRequested { name, host } => format!(
            "make a new request: docker tlsctx rm {name}, then docker tlsctx request {name} --host {host}"
        ),
        MissingKey::PendingRequest { name, host } => {
            format!("make a new request: docker tlsctx request {name} --host {host} --force")
        }
        MissingKey::ServerBundle { name } => {
            format!("issue it again: docker tlsctx server renew {name}")
        }
    }
}

/// How to start or unlock this build's keychain (issue 32: the keystore
/// says which one it is; the way out, with its flags, is worded here).
mod keychain {
    use crate::keystore::os::{Kind, KIND};

    pub const UNLOCK: &str = match KIND {
        Kind::SecretService => "unlock the login keyring (log in to the desktop, or run: gnome-keyring-daemon --unlock and type its password), or use --keystore file",
        Kind::MacosKeychain => "unlock it with: security -v unlock-keychain ~/Library/Keychains/login.keychain-db",
        Kind::CredentialManager => "sign in to Windows with the account that owns the credentials",
        Kind::None => "use --keystore file",
    };

    pub const START: &str = match KIND {
        Kind::SecretService => "run inside a desktop session (gnome-keyring or KWallet provide the Secret Service); headless: dbus-run-session -- sh -c 'echo -n PASSWORD | gnome-keyring-daemon --unlock --components=secrets; exec $SHELL'; or use --keystore file",
        Kind::MacosKeychain => "log in to a macOS user session (the login Keychain needs one), or use --keystore file",
        Kind::CredentialManager => "run in a signed-in Windows user session, or use --keystore file",
        Kind::None => "this OS has no supported keychain; use --keystore file",
    };
}

/// The way out of an ssh failure.
fn ssh_fix(p: &SshProblem) -> String {
    match p {
        SshProblem::NoClient => "install the OpenSSH client (ssh) and try again".into(),
        SshProblem::NoLogin => "check that the host is up and sshd listens on that port".into(),
        SshProblem::SudoNeedsTty => "this sudo wants a terminal (requiretty): allow this user without one (Defaults:USER !requiretty in /etc/sudoers.d/), or log in as root".into(),
        SshProblem::SudoRefused => "log in as root, or give this user sudo without a password (NOPASSWD)".into(),
        SshProblem::HostKeyUnknown { try_line } => format!(
            "the host's key is not in known_hosts (or has changed): connect once with `{try_line}`, compare the fingerprint it shows with the host's own (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on the host), accept it, then try again"
        ),
        SshProblem::KeyRefused { host } => format!(
            "log in works only with a key here (BatchMode): add yours with ssh-add, or name it in ~/.ssh/config for {host}"
        ),
        SshProblem::Unreachable => {
            "check the host name, that the host is up and that sshd listens on that port".into()
        }
        SshProblem::Other { try_line } => format!("try `{try_line}` to see the whole message"),
        SshProblem::CommandHung => "the host is overloaded or a command there hangs (a stopped dockerd?); look at it, then run this again".into(),
        SshProblem::CommandFailed => "see the message above; nothing after that step ran".into(),
    }
}

/// The way out of an issuer's failure.
fn issuer_fix(p: &IssuerProblem) -> String {
    match p {
        IssuerProblem::Overloaded => "check that the engine is not overloaded (bao status), then run this again".into(),
        IssuerProblem::NotTheEngine => "check that --url is the Vault or OpenBao server".into(),
        IssuerProblem::Untrusted => "give the engine's CA certificate: docker tlsctx issuer add NAME --url … --ca-file CA.pem (for a dev server: its vault-ca.pem)".into(),
        IssuerProblem::Unreachable => "check the address and that the server runs (bao status / vault status)".into(),
        IssuerProblem::Redirect => "give the engine's own address with --url (a token is never sent on to another place)".into(),
        IssuerProblem::Sealed => "unseal it (bao operator unseal / vault operator unseal), then run this again".into(),
        IssuerProblem::Denied => "the token is missing, expired, or its policy does not allow this path: log in again (BAO_TOKEN/VAULT_TOKEN, or docker tlsctx issuer add … --force with a new token or secret_id)".into(),
        IssuerProblem::NotFound { mount } => format!("check the mount and role names (bao secrets list; bao list {mount}/roles)"),
        IssuerProblem::Refused => "the role decides names, key types and lifetimes: check it with bao read MOUNT/roles/ROLE".into(),
        IssuerProblem::NotPki => "is this a Vault or OpenBao PKI mount?".into(),
        IssuerProblem::NoAppRole => "is AppRole enabled at auth/approle?".into(),
        IssuerProblem::BadUrl => "give the engine's address alone, e.g. https://bao.example.com:8200 (the mount goes in --mount)".into(),
        IssuerProblem::BadMount => "give the PKI mount as the engine lists it, e.g. --mount pki".into(),
        IssuerProblem::BadRole => "give the role as the engine lists it (bao list MOUNT/roles)".into(),
        IssuerProblem::BadCaFile => "give a PEM certificate with --ca-file".into(),
        IssuerProblem::NoCaYet => "generate or import one: bao write MOUNT/root/generate/internal common_name=…".into(),
        IssuerProblem::SecretNotText => "pipe the token or secret_id alone".into(),
        IssuerProblem::TokenEnvUnset => "log in first (bao login), or pipe the token in instead".into(),
        IssuerProblem::TokenTwice => "choose one".into(),
        IssuerProblem::NoToken => "pipe it in (docker tlsctx issuer add … < token-file), or pass --token-from-env to read BAO_TOKEN/VAULT_TOKEN at each use".into(),
        IssuerProblem::NeedsRoleId => "give the AppRole's role_id with --role-id".into(),
        IssuerProblem::NeedsSecretId => "pipe it in: docker tlsctx issuer add … --auth approle --role-id ID < secret-id-file".into(),
        IssuerProblem::NotRecorded => "add it: docker tlsctx issuer add NAME --url https://HOST:8200 --mount pki --client-role ROLE".into(),
        IssuerProblem::TokenMissing => "store it again: docker tlsctx issuer add … --force < token-file".into(),
        IssuerProblem::TokenUnset => "set BAO_TOKEN (or VAULT_TOKEN), or store one: docker tlsctx issuer add … --force < token-file".into(),
        IssuerProblem::SecretIdMissing => "store it again: docker tlsctx issuer add … --auth approle --role-id ID --force < secret-id-file".into(),
        IssuerProblem::NoServerRole => "give one: docker tlsctx issuer add … --server-role ROLE --force".into(),
        IssuerProblem::CaChanged { issuer } => format!("record its new CA (contexts of the old one stop working): docker tlsctx issuer add {issuer} … --force"),
        IssuerProblem::OtherKey => "this is not what sign/ROLE does: check the engine".into(),
        IssuerProblem::ClientProfile => "the client role must issue clientAuth alone for the request's CN with no SANs: client_flag=true server_flag=false use_csr_common_name=true, no alt_names, not_before_duration of an hour or less".into(),
        IssuerProblem::ServerProfile => "the server role must issue serverAuth alone for exactly the daemon's names: server_flag=true client_flag=false, allow_ip_sans=true with allowed_domains or allow_any_name, not_before_duration of an hour or less".into(),
        IssuerProblem::ServiceClient => "use a CA of this tool for them (docker tlsctx cert … --ca CA)".into(),
        IssuerProblem::WrongRole { claimed: Some(r), ou } => format!("ask for --role {r}, or give the engine role ou=\"{ou}\""),
        IssuerProblem::WrongRole { claimed: None, ou } => format!("give the engine role ou=\"{ou}\""),
        IssuerProblem::CrlIncomplete { mount, rotate_refused: true } => format!("let the token's policy rebuild the CRL (path \"{mount}/crl/rotate\" {{ capabilities = [\"read\"] }}), or wait for the engine's own rebuild; then run the same revoke again"),
        IssuerProblem::CrlIncomplete { mount, rotate_refused: false } => format!("run the same revoke again in a minute (the engine's CRL may be rebuilt on a schedule: bao read {mount}/config/crl)"),
        IssuerProblem::CrlBad { mount } => format!("check the mount's CRL (bao read {mount}/cert/crl), then run the same command again"),
    }
}

/// The way out of an install that did not happen.
fn install_next(n: &InstallNext) -> String {
    let again =
        |bundle: &str| format!("run docker tlsctx server install {bundle} again when ready");
    let by_hand = "by hand with the files of `docker tlsctx server` (write unix:///var/run/docker.sock for the fd:// in its daemon.json: only systemd hands dockerd a socket)";
    match n {
        InstallNext::OnHost(what) => what.clone(),
        InstallNext::OnHostThenAgain { what, bundle } => {
            format!("{what}; then run docker tlsctx server install {bundle} again")
        }
        InstallNext::Again { bundle } => again(bundle),
        InstallNext::CheckThenAgain { bundle } => format!(
            "check on the host later with: docker tlsctx server install {bundle} --dry-run; then {}",
            again(bundle)
        ),
        InstallNext::StillRunning { work } => format!("look at {work}/log on the host; the next docker tlsctx server install finishes or undoes it"),
        InstallNext::NeedsAuthz { bundle } => format!("revocation needs the plugin: docker tlsctx server {bundle} --san … --authz --force, then server install {bundle}"),
        InstallNext::RevokeFirst => "revoke first: docker tlsctx revoke NAME".into(),
        InstallNext::InstallFirst { bundle } => format!("install it: docker tlsctx server install {bundle}"),
        InstallNext::InstallOneFirst => "install one first: docker tlsctx server install NAME --ssh [USER@]HOST[:PORT]".into(),
        InstallNext::NeedsContext { host, port, ca } => format!(
            "pass --context NAME, or make one: docker tlsctx new NAME --host tcp://{host}:{port} --ca {ca} --no-server"
        ),
        InstallNext::NameTheHost { bundle } => format!("name the host once: docker tlsctx server install {bundle} --ssh [USER@]HOST[:PORT]"),
        InstallNext::AddSan { bundle, hostname } => format!("add the name: docker tlsctx server renew {bundle} --add-san {hostname} --install"),
        InstallNext::RenewFirst { bundle } => format!("renew it first (docker tlsctx server renew {bundle} --install), or set the host's clock if it is wrong"),
        InstallNext::ConfirmRestart => "pass --yes when that is fine (or enable live-restore in daemon.json first)".into(),
        InstallNext::ForceCa { bundle } => format!("if that is what you want: docker tlsctx server install {bundle} --force-ca"),
        InstallNext::FreePort { port } => format!("free it (ss -ltnp 'sport = :{port}' on the host shows which program), or issue the bundle for another port (--port)"),
        InstallNext::Snap => format!("not supported: install docker-ce or the distribution's package instead, or configure the snap {by_hand}"),
        InstallNext::NoServiceManager => format!("start dockerd from a service manager, or configure it {by_hand}"),
    }
}
