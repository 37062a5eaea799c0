//! `renew --due`'s own record (`tlsctx/autorenew.json`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::fsio::{self};

use super::*;

/// `renew --due`'s own record (tlsctx/autorenew.json): which scheduler
/// runs it, and how its runs went, for the expiry warnings, `ls` and
/// `autorenew status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AutoRenew {
    /// "systemd user timer", "launchd agent", "Task Scheduler task"; None
    /// when `autorenew install` has not run (or `uninstall` did).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<String>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_attempt: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default)]
    pub consecutive_failures: u32,
    /// The first failed run of the current series.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub failing_since: Option<OffsetDateTime>,
    /// Server bundles renewed here that no host has yet (no SSH target),
    /// with the date renewed: said under every command's warnings until
    /// `server install` runs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub not_installed: BTreeMap<String, String>,
    /// Items the last run skipped (a locked keychain), with why.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub skipped: BTreeMap<String, String>,
}

impl State {
    fn autorenew_path(&self) -> PathBuf {
        self.root.join("autorenew.json")
    }

    /// The record, if `renew --due` or `autorenew install` ever ran. Read
    /// by every command that warns: only a small regular file is read (a
    /// FIFO or a device there would block or never end).
    pub fn autorenew(&self) -> Result<Option<AutoRenew>> {
        let path = self.autorenew_path();
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", &path)(e)),
            Ok(m) if !m.is_file() || m.len() > 1 << 20 => {
                return Err(Error::Corrupt {
                    path,
                    why: "not a regular file of at most 1 MiB".into(),
                })
            }
            Ok(_) => {}
        }
        read_json(&path)
    }

    pub fn write_autorenew(&self, a: &AutoRenew) -> Result<()> {
        fsio::create_dir_all(&self.root, fsio::SECRET_DIR)?;
        write_json(&self.autorenew_path(), a)
    }
}
