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
