//! One variant per situation the user can be in; each says what went wrong
//! (`Display`) and what to do next (`hint`).

use std::fmt;
use std::io;
use std::path::PathBuf;

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
}

pub type Result<T> = std::result::Result<T, Error>;

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

    /// The next step for the user, or None when the message says it all.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Error::ContextNameEmpty | Error::ContextNameInvalid(_) => {
                "use letters, digits and _ . + - (at least two characters, starting with a letter or digit), e.g. prod or web-1".into()
            }
            Error::ContextNameReserved => "pick another name; \"default\" is Docker's built-in context".into(),
            Error::NameInvalid { .. } => {
                "use letters, digits and _ . + - (at least two characters, starting with a letter or digit)".into()
            }
            Error::ContextExists(name) => format!(
                "pass --force to replace it, or remove it first with: docker context rm {name}"
            ),
            Error::HostScheme(_) | Error::HostInvalid { .. } => {
                "give the daemon's address as tcp://HOST[:PORT], e.g. tcp://203.0.113.7:2376 or tcp://docker.example.com".into()
            }
            Error::PlaintextPort(_) => {
                "use 2376, the TLS port (the default); pass --force if your daemon really serves TLS on 2375".into()
            }
            Error::SanInvalid(_) => {
                "give an IP address (192.0.2.10, 2001:db8::1) or a DNS name (docker.example.com, *.example.com)".into()
            }
            Error::DaysOutOfRange { .. } => return None,
            Error::CaExpired { .. } => "create a new CA (docker tlsctx ca init --name NAME) and issue new identities from it".into(),
            Error::CaNotFound(_) => "create it with: docker tlsctx ca init --name NAME (or omit --ca to use \"default\")".into(),
            Error::CaExists(name) => format!("it is kept as is; pick another --name, or pass --force to replace CA \"{name}\" (certificates it issued stop working)"),
            Error::CaKeyMissing { ca, .. } => format!(
                "the CA certificate is there but its key is not; recreate the CA with: docker tlsctx ca init --name {ca} --force (then reissue its identities)"
            ),
            Error::IdentityExists(_) => "pass --force to replace it, or pick another name".into(),
            Error::BundleExists { .. } => "pass --force to replace it, or choose another folder with --server-dir/--out".into(),
            Error::NotADirectory(_) => "choose a folder path that is not an existing file".into(),
            Error::ConfigUnwritable { .. } => {
                "check the folder's owner and permissions, or point DOCKER_CONFIG (or --config) at a writable folder".into()
            }
            Error::Io { .. } => "check the path, its permissions and free disk space, then run the command again".into(),
            Error::Corrupt { .. } => "fix or remove the file named above, then run the command again".into(),
            Error::Crypto(_) => return None,
            Error::KeystoreUnavailable { how, .. } => (*how).into(),
            Error::KeychainLocked { how, .. } => (*how).into(),
            Error::KeychainTimeout { .. } => "unlock the keychain (a locked one waits for an unlock prompt), raise DOCKER_TLSCTX_KEYCHAIN_TIMEOUT (seconds), or use --keystore file".into(),
            Error::KeystoreFailed { .. } => "run docker tlsctx keystore status to see which keystore answers; --keystore file avoids the OS keychain".into(),
            Error::KeystoreChoice(_) => "set DOCKER_TLSCTX_KEYSTORE to auto, os or file (or unset it)".into(),
            Error::KeyMissing { fix, .. } => fix.clone(),
            Error::EncryptedKey(p) => format!(
                "decrypt a copy first: openssl pkey -in {0} -out {0}.plain, import that, then delete it (shred -u {0}.plain)",
                p.display()
            ),
            Error::NotAKey(_) => "give the CA's private key in PEM (BEGIN PRIVATE KEY, BEGIN RSA PRIVATE KEY or BEGIN EC PRIVATE KEY)".into(),
            Error::NotACa { .. } => "give the CA certificate (ca.pem), not a server or client certificate".into(),
            Error::KeyDoesNotMatch { .. } => "give the key that belongs to this certificate (with docker-machine: ca-key.pem beside ca.pem)".into(),
            Error::CaInUse { ca, .. } => format!(
                "remove those contexts first (docker tlsctx rm NAME, or docker context rm NAME), or pass --force: they keep working until they expire, but cannot be renewed from CA \"{ca}\""
            ),
            Error::IdentityNotFound(_) => "create it with: docker tlsctx new NAME --host tcp://HOST:2376".into(),
            Error::FileExists(_) => "pass --force to overwrite it, or choose another path".into(),
            Error::BadPassword(_) => "pipe a non-empty password: printf '%s' \"$PASSWORD\" | docker tlsctx export NAME --p12 FILE --password-stdin; or drop --password-stdin to have one generated".into(),
            Error::NoSecurityTool => "--keychain imports into the macOS login keychain with security(1); elsewhere use --p12 FILE and import that file with your platform's tool".into(),
            Error::KeychainImport(_) => "unlock the login keychain (security unlock-keychain) and run the command again, or import a --p12 file by hand".into(),
            Error::BadClock(_) => "set DOCKER_TLSCTX_NOW to an RFC 3339 time such as 2027-01-31T12:00:00Z, or unset it".into(),
            Error::ServerNotFound(_) => "list server bundles with: docker tlsctx ls --all".into(),
            Error::ContextInUse(_) => "switch to another context first (docker context use default), or pass --force: the context is removed and Docker falls back to DOCKER_HOST or the default context".into(),
            Error::CheckFailed { fix, .. } => fix.clone(),
            Error::ContextMissing(_) => "list contexts with docker context ls; create one with docker tlsctx new NAME --host tcp://HOST:2376".into(),
            Error::Cancelled => "nothing was changed; run the command again when ready".into(),
        })
    }

    /// Process exit code: 130 for cancellation (as a shell reports SIGINT), 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Cancelled => 130,
            _ => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ContextNameEmpty => write!(f, "context name cannot be empty"),
            Error::ContextNameReserved => write!(f, "\"default\" is a reserved context name"),
            Error::ContextNameInvalid(name) => write!(
                f,
                "context name {name:?} is invalid, names are validated against regexp \"^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$\""
            ),
            Error::ContextExists(name) => write!(f, "context {name:?} already exists"),
            Error::NameInvalid { what, name } => write!(
                f,
                "{what} name {name:?} is invalid, names are validated against regexp \"^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$\""
            ),
            Error::HostScheme(host) if host.is_empty() => write!(f, "the host is empty"),
            Error::HostScheme(host) => write!(
                f,
                "host {host:?} is not a tcp:// address; TLS contexts reach the daemon over TCP"
            ),
            Error::HostInvalid { host, why } => write!(f, "host {host:?} is invalid: {why}"),
            Error::PlaintextPort(host) => write!(
                f,
                "host {host:?} uses port 2375, Docker's plaintext (unencrypted) port"
            ),
            Error::SanInvalid(v) => write!(f, "--san {v:?} is neither an IP address nor a DNS name"),
            Error::DaysOutOfRange { flag, days, max, why } => {
                write!(f, "{flag} {days} is out of range: give 1 to {max} days ({why})")
            }
            Error::CaExpired { ca, on } => {
                write!(f, "CA {ca:?} expired on {}", crate::commands::date(*on))
            }
            Error::CaNotFound(name) => write!(f, "CA {name:?} does not exist"),
            Error::CaExists(name) => write!(f, "CA {name:?} already exists"),
            Error::CaKeyMissing { ca, backend } => {
                write!(f, "the key of CA {ca:?} is missing from the {backend} keystore")
            }
            Error::IdentityExists(name) => write!(f, "client identity {name:?} already exists"),
            Error::BundleExists { what, dir } => {
                write!(f, "a {what} bundle already exists in {}", dir.display())
            }
            Error::NotADirectory(p) => write!(f, "{} exists and is not a folder", p.display()),
            Error::ConfigUnwritable { path, source } => {
                write!(f, "cannot use {}: {source}", path.display())
            }
            Error::Io { action, path, source } => {
                write!(f, "cannot {action} {}: {source}", path.display())
            }
            Error::Corrupt { path, why } => write!(f, "{} is damaged: {why}", path.display()),
            Error::Crypto(why) => write!(f, "certificate or key operation failed: {why}"),
            Error::KeystoreUnavailable { backend, why, .. } => {
                write!(f, "no OS keychain is available ({backend}: {why})")
            }
            Error::KeychainLocked { backend, why, .. } => write!(f, "the {backend} keychain is locked: {why}"),
            Error::KeychainTimeout { backend, secs } => {
                write!(f, "the {backend} keychain did not answer within {secs} s")
            }
            Error::KeystoreFailed { backend, why } => write!(f, "the {backend} keychain failed: {why}"),
            Error::KeystoreChoice(why) => write!(f, "DOCKER_TLSCTX_KEYSTORE: {why}"),
            Error::KeyMissing { what, backend, .. } => {
                write!(f, "the key of {what} is missing from the {backend} keystore")
            }
            Error::EncryptedKey(p) => write!(f, "{} is an encrypted private key", p.display()),
            Error::NotAKey(p) => write!(f, "{} holds no private key in PEM", p.display()),
            Error::NotACa { path, why } => write!(f, "{} cannot be used as a CA: {why}", path.display()),
            Error::KeyDoesNotMatch { key, cert } => write!(
                f,
                "the key in {} does not belong to the certificate in {}",
                key.display(),
                cert.display()
            ),
            Error::CaInUse { ca, contexts } => write!(
                f,
                "CA {ca:?} issued the identities of contexts still in use: {}",
                contexts.join(", ")
            ),
            Error::IdentityNotFound(name) => write!(f, "no identity {name:?} is recorded"),
            Error::FileExists(p) => write!(f, "{} already exists", p.display()),
            Error::BadPassword(why) => write!(f, "the password on standard input cannot be used: {why}"),
            Error::NoSecurityTool => write!(f, "no security command found: --keychain works on macOS only"),
            Error::KeychainImport(why) => write!(f, "security import failed: {why}"),
            Error::ContextMissing(name) => write!(f, "context {name:?} does not exist"),
            Error::ServerNotFound(name) => write!(f, "no server bundle {name:?} is recorded"),
            Error::BadClock(why) => write!(f, "DOCKER_TLSCTX_NOW is not a time: {why}"),
            Error::ContextInUse(name) => write!(f, "context {name:?} is in use, set -f flag to force remove"),
            Error::CheckFailed { what, .. } => write!(f, "{what}"),
            Error::Cancelled => write!(f, "cancelled"),
        }
    }
}

impl std::error::Error for Error {}

impl From<rcgen::Error> for Error {
    fn from(e: rcgen::Error) -> Self {
        Error::Crypto(e.to_string())
    }
}
