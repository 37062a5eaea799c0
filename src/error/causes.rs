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
