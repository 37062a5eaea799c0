//! A CA's revocations (`cas/<ca>/revoked.json`): what its CRL lists.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::Result;

use super::*;

/// A CA's revocations: what its CRL lists (`cas/<ca>/revoked.json`).
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct Revocations {
    /// The number of the last CRL made from it (RFC 5280 §5.2.3: grows).
    pub crl_number: u64,
    pub entries: Vec<RevokedEntry>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct RevokedEntry {
    pub serial: String,
    pub name: String,
    pub cn: String,
    #[serde(with = "time::serde::rfc3339")]
    pub revoked_at: OffsetDateTime,
    #[serde(default)]
    pub reason: Option<RevocationReason>,
}

/// RFC 5280 §5.3.1 reasons, by their names in kebab case.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum RevocationReason {
    Unspecified,
    KeyCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    PrivilegeWithdrawn,
}

impl RevocationReason {
    pub fn code(self) -> rcgen::RevocationReason {
        match self {
            RevocationReason::Unspecified => rcgen::RevocationReason::Unspecified,
            RevocationReason::KeyCompromise => rcgen::RevocationReason::KeyCompromise,
            RevocationReason::AffiliationChanged => rcgen::RevocationReason::AffiliationChanged,
            RevocationReason::Superseded => rcgen::RevocationReason::Superseded,
            RevocationReason::CessationOfOperation => rcgen::RevocationReason::CessationOfOperation,
            RevocationReason::PrivilegeWithdrawn => rcgen::RevocationReason::PrivilegeWithdrawn,
        }
    }
}

impl State {
    fn revocations_path(&self, ca: &str) -> PathBuf {
        self.ca_dir(ca).join("revoked.json")
    }

    /// What CA `ca` revoked (empty when nothing is).
    pub fn revocations(&self, ca: &str) -> Result<Revocations> {
        Ok(read_json(&self.revocations_path(ca))?.unwrap_or_default())
    }

    pub fn write_revocations(&self, ca: &str, r: &Revocations) -> Result<()> {
        write_json(&self.revocations_path(ca), r)
    }

    /// Whether CA `ca` revoked the certificate with this serial. A damaged
    /// list counts as not revoked here (ls, health): `revoke` reports it.
    pub fn is_revoked(&self, ca: &str, serial: &str) -> bool {
        self.revocations(ca)
            .map(|r| r.entries.iter().any(|e| e.serial == serial))
            .unwrap_or(false)
    }
}
