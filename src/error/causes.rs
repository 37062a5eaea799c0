//! What an error variant says of its cause where one variant covers
//! situations whose ways out differ (issue 32): the interface words the way
//! out from these facts; the code that fails only states them.

use std::fmt;

/// Whose key the keystore does not have, and what the command was doing
/// with it: the way out differs (issue 32: the interface words it, from
/// these facts, where the callers wrote the hint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MissingKey {
    /// An identity of this CA, read to be used as it is (`restore`,
    /// `client`, the agent).
    Identity { name: String, host: String },
    /// An identity renewed without --rekey.
    IdentityRenewed { name: String },
    /// An identity that was signed elsewhere, whose renewal request needs it.
    IdentityRequested { name: String, host: String },
    /// A pending request being accepted.
    PendingRequest { name: String, host: String },
    /// A server bundle being installed.
    ServerBundle { name: String },
}

impl fmt::Display for MissingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MissingKey::Identity { name, .. }
            | MissingKey::IdentityRenewed { name }
            | MissingKey::IdentityRequested { name, .. } => write!(f, "identity {name:?}"),
            MissingKey::PendingRequest { name, .. } => write!(f, "pending request {name:?}"),
            MissingKey::ServerBundle { name } => write!(f, "server bundle {name:?}"),
        }
    }
}

/// What went wrong with ssh, told apart by OpenSSH's messages and by what
/// the command was doing (issue 32: the interface words the way out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SshProblem {
    /// The ssh program cannot be run.
    NoClient,
    /// No login within the connect limit.
    NoLogin,
    /// `sudo -n` wants a terminal (requiretty).
    SudoNeedsTty,
    /// `sudo -n` refused for another reason.
    SudoRefused,
    /// The host's key is not known, or changed; `try_line` is the ssh
    /// command that shows its fingerprint.
    HostKeyUnknown { try_line: String },
    /// The server wants a key this login does not offer.
    KeyRefused { host: String },
    /// The host cannot be reached (refused, timed out, no such name).
    Unreachable,
    /// Something else ssh said; `try_line` shows all of it.
    Other { try_line: String },
    /// A remote command did not end in time.
    CommandHung,
    /// A remote command failed (its words are in the message).
    CommandFailed,
}

/// Why a Vault/OpenBao issuer could not do what was asked, told apart by
/// the way out (issue 32: the interface words it; `vault` and the issuer
/// only say what happened).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerProblem {
    /// The engine did not answer in full in time.
    Overloaded,
    /// An answer larger than any PKI engine sends: not the engine.
    NotTheEngine,
    /// Its TLS certificate is not trusted.
    Untrusted,
    /// It cannot be reached.
    Unreachable,
    /// It answered with a redirect, which is not followed.
    Redirect,
    /// It is sealed.
    Sealed,
    /// 401/403: the token or its policy.
    Denied,
    /// 404: a mount or role name.
    NotFound { mount: String },
    /// Another refusal: the role decides.
    Refused,
    /// An answer that is not a PKI mount's.
    NotPki,
    /// An AppRole login answer that cannot be read.
    NoAppRole,
    /// `--url` that is not `https://HOST[:PORT]`.
    BadUrl,
    /// `--mount` that is not a path of names.
    BadMount,
    /// A role that is not a name.
    BadRole,
    /// `--ca-file` that holds no PEM certificate.
    BadCaFile,
    /// The mount has no CA certificate yet.
    NoCaYet,
    /// Standard input that is not text.
    SecretNotText,
    /// `--token-from-env` with neither variable set.
    TokenEnvUnset,
    /// A token on standard input and `--token-from-env`.
    TokenTwice,
    /// No token anywhere when adding.
    NoToken,
    /// `--auth approle` without `--role-id`.
    NeedsRoleId,
    /// `--auth approle` without a secret_id on standard input.
    NeedsSecretId,
    /// The issuer is not recorded.
    NotRecorded,
    /// Its stored token is gone from the keystore.
    TokenMissing,
    /// A token from the environment, and none set.
    TokenUnset,
    /// Its stored AppRole secret_id is gone from the keystore.
    SecretIdMissing,
    /// It was added without a server role.
    NoServerRole,
    /// It signs with another CA than the one recorded.
    CaChanged { issuer: String },
    /// It issued a certificate for another key.
    OtherKey,
    /// The client role issues what a client identity cannot be.
    ClientProfile,
    /// The server role issues what a daemon's certificate cannot be.
    ServerProfile,
    /// Service client certificates are not signed by issuers.
    ServiceClient,
    /// The client role issues another role than asked; `asked` is the role
    /// the certificate claims when it claims one, `ou` the asked role's OU.
    WrongRole { claimed: Option<String>, ou: String },
    /// Its CRL does not list what was revoked; `rotate_refused`: asking it
    /// to rebuild the CRL failed.
    CrlIncomplete { mount: String, rotate_refused: bool },
    /// Its CRL cannot be used.
    CrlBad { mount: String },
}

/// The way out of a refused, failed or interrupted install (issue 32):
/// what to do on the host itself is said where the host's facts are known
/// (`OnHost`: its programs and files, no command of ours); every way out
/// that runs one of our commands is a variant the interface words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallNext {
    /// Something to do on the host; it names none of our commands.
    OnHost(String),
    /// Something to do on the host, then the install again.
    OnHostThenAgain { what: String, bundle: String },
    /// Run the install again when ready.
    Again { bundle: String },
    /// The host was not told: look at it later with a dry run, then again.
    CheckThenAgain { bundle: String },
    /// The host's script still runs: its log, and the next install.
    StillRunning { work: String },
    /// The bundle was made without the authorization plugin.
    NeedsAuthz { bundle: String },
    /// The CA has revoked nothing yet.
    RevokeFirst,
    /// The bundle was never installed on the host.
    InstallFirst { bundle: String },
    /// No bundle has an SSH target yet.
    InstallOneFirst,
    /// No context could prove the install.
    NeedsContext { host: String, port: u16, ca: String },
    /// The bundle has no SSH target yet.
    NameTheHost { bundle: String },
    /// The certificate does not name the host the context reaches.
    AddSan { bundle: String, hostname: String },
    /// The host's clock is past the server certificate.
    RenewFirst { bundle: String },
    /// The restart costs containers or a manager, and was not confirmed.
    ConfirmRestart,
    /// The host trusts another CA for its clients.
    ForceCa { bundle: String },
    /// The bundle's port is another program's.
    FreePort { port: u16 },
    /// Docker comes from snap.
    Snap,
    /// No service manager starts dockerd.
    NoServiceManager,
}

impl From<String> for InstallNext {
    fn from(s: String) -> Self {
        InstallNext::OnHost(s)
    }
}

impl From<&str> for InstallNext {
    fn from(s: &str) -> Self {
        InstallNext::OnHost(s.into())
    }
}
