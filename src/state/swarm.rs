//! `tlsctx/swarm/<cluster>.json`: the versions `swarm publish` numbered.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::fsio::{self, PUBLIC_DIR};

use super::*;

/// `tlsctx/swarm/<cluster>.json`: prefix → the last version published.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct SwarmVersions {
    pub last: BTreeMap<String, u32>,
}

impl State {
    fn swarm_versions_path(&self, cluster: &str) -> PathBuf {
        self.root.join("swarm").join(format!("{cluster}.json"))
    }

    /// The last version `swarm publish` numbered for each prefix in the
    /// swarm `cluster` (its ID), so that a name is never used twice even
    /// when every secret of a prefix was removed by hand.
    pub fn swarm_versions(&self, cluster: &str) -> Result<SwarmVersions> {
        crate::names::validate("swarm cluster ID", cluster)?;
        Ok(read_json(&self.swarm_versions_path(cluster))?.unwrap_or_default())
    }

    /// Whether `swarm publish` numbered versions under `prefix` in any
    /// swarm this configuration published to.
    pub fn swarm_published(&self, prefix: &str) -> bool {
        let Ok(rd) = std::fs::read_dir(self.root.join("swarm")) else {
            return false;
        };
        rd.flatten().any(|e| {
            read_json::<SwarmVersions>(&e.path())
                .ok()
                .flatten()
                .is_some_and(|v| v.last.contains_key(prefix))
        })
    }

    pub fn write_swarm_versions(&self, cluster: &str, v: &SwarmVersions) -> Result<()> {
        crate::names::validate("swarm cluster ID", cluster)?;
        let path = self.swarm_versions_path(cluster);
        fsio::create_dir_all(path.parent().unwrap(), PUBLIC_DIR)?;
        write_json(&path, v)
    }
}
