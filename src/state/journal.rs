//! The journal of a command that did not finish (`tlsctx/journal.json`;
//! ARCHITECTURE.md, "One lock, one transaction").

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::fsio::{self, PUBLIC_DIR};

use super::*;

/// What a command that did not finish was doing: enough to finish it or
/// undo it (issuance/recover.rs). Public data only: never a key.
// Variants differ in size (a context carries a record and a server plan);
// one journal exists per command, so boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Journal {
    /// A CA being created or replaced: committed once the keystore holds
    /// the key of `cert_pem`.
    Ca {
        pid: u32,
        record: CaRecord,
        cert_pem: String,
    },
    /// A context being created or replaced (`new`, `renew`): committed once
    /// the context's cert.pem is `cert_pem`.
    Context {
        pid: u32,
        context: String,
        record: IdentityRecord,
        cert_pem: String,
        /// Keystore entries that did not exist before this command.
        added: Vec<String>,
        /// The server bundle this command writes with the context.
        server: Option<ServerPlan>,
        /// `--use`: set currentContext once committed.
        use_context: bool,
        /// `renew` with a role change or `--revoke-old`: the certificates it
        /// supersedes (the one it replaces and every earlier unexpired one),
        /// revoked once committed (issuance/identities/revoke.rs).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        supersede: Vec<RevokedEntry>,
    },
    /// A server bundle alone (`server`, `server renew`): committed once the
    /// keystore holds the key of the plan's certificate.
    Server { pid: u32, plan: ServerPlan },
    /// A client bundle (`client`): committed once the keystore holds the
    /// key of `cert_pem`; the record is then written.
    Client {
        pid: u32,
        record: IdentityRecord,
        cert_pem: String,
        /// No bundle files were in its folder before.
        new_bundle: bool,
        /// The keystore had no key of that name before.
        added_key: bool,
    },
    /// `ca rm`: committed from the start; finishing removes the rest.
    RemoveCa {
        pid: u32,
        ca: String,
        keystore: Backend,
    },
    /// `revoke`: committed once the CA's revoked.json lists the serial;
    /// finishing writes the CRL into each of the CA's server bundles.
    Revoke {
        pid: u32,
        ca: String,
        revocations: Revocations,
    },
    /// `rm`: committed from the start; finishing means removing the rest.
    Remove { pid: u32, context: String },
}

/// Everything of a server bundle but its key (which is in the keystore
/// from the bundle's commit point on): enough to write it again.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ServerPlan {
    pub record: ServerRecord,
    pub cert_pem: String,
    pub ca_pem: String,
    pub daemon_dir: String,
    /// No bundle was there before: undoing removes it.
    pub new_bundle: bool,
}

impl State {
    fn journal_path(&self) -> PathBuf {
        self.root.join("journal.json")
    }

    /// The open transaction of a command that did not finish, if any
    /// (ARCHITECTURE.md, "One lock, one transaction").
    pub fn journal(&self) -> Result<Option<Journal>> {
        read_json(&self.journal_path())
    }

    /// Written before a command's first change, durably: it must outlive a
    /// power cut as long as what it describes does.
    pub fn open_journal(&self, j: &Journal) -> Result<()> {
        fsio::create_dir_all(&self.root, PUBLIC_DIR)?;
        let mut bytes = serde_json::to_vec_pretty(j).expect("journal serializes");
        bytes.push(b'\n');
        fsio::write_atomic(&self.journal_path(), &bytes, fsio::PUBLIC_FILE)
    }

    /// Closes the journal of work that is done. Best effort: a journal that
    /// cannot be removed is settled again by the next command, which finds
    /// the work done and only closes it, so the command that did the work
    /// does not report a failure it did not have.
    pub fn close_journal(&self) {
        let _ = fsio::remove_file(&self.journal_path());
    }
}
