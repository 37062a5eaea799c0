//! The real helper: secrets in a keystore (their own namespace, so `list`
//! never reaches a TLS key), an index of URLs and user names beside them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::protocol::{CredError, CredResult, Credentials, Helper};
use super::url::RegistryUrl;
use crate::fsio;
use crate::keystore::{Account, KeyStore};

/// The index entry of one credential (no secret): what `list` and alias
/// lookups need, since keychains cannot enumerate portably.
#[derive(Serialize, Deserialize, Debug, Clone)]
struct IndexEntry {
    server_url: String,
    username: String,
}

pub struct KeystoreHelper {
    pub(super) store: Box<dyn KeyStore>,
    index_path: PathBuf,
}

impl KeystoreHelper {
    pub fn new(store: Box<dyn KeyStore>, index_path: PathBuf) -> KeystoreHelper {
        KeystoreHelper { store, index_path }
    }

    fn index(&self) -> CredResult<BTreeMap<String, IndexEntry>> {
        match std::fs::read(&self.index_path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| {
                CredError::Damaged(format!("{} is damaged: {e}", self.index_path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(CredError::Damaged(format!(
                "cannot read {}: {e}",
                self.index_path.display()
            ))),
        }
    }

    fn save_index(&self, index: &BTreeMap<String, IndexEntry>) -> CredResult<()> {
        let dir = self.index_path.parent().expect("index has a folder");
        fsio::create_dir_all(dir, fsio::SECRET_DIR)?;
        let mut bytes = serde_json::to_vec_pretty(index).expect("index serializes");
        bytes.push(b'\n');
        // 0600: registry user names are not secrets, but nobody else's business.
        Ok(fsio::write_atomic(
            &self.index_path,
            &bytes,
            fsio::SECRET_FILE,
        )?)
    }

    /// The credential a store or erase was changing when it stopped: the
    /// keystore and the index are two writes, and this names the one key
    /// they may disagree on until `settle` puts the index right.
    fn pending_path(&self) -> PathBuf {
        self.index_path.with_file_name("registry-pending.json")
    }

    fn pending(&self) -> Option<String> {
        let b = std::fs::read(self.pending_path()).ok()?;
        serde_json::from_slice::<String>(&b).ok()
    }

    fn begin(&self, key: &str) -> CredResult<()> {
        let dir = self.index_path.parent().expect("index has a folder");
        fsio::create_dir_all(dir, fsio::SECRET_DIR)?;
        let bytes = serde_json::to_vec(key).expect("a string serializes");
        Ok(fsio::write_atomic(
            &self.pending_path(),
            &bytes,
            fsio::SECRET_FILE,
        )?)
    }

    fn end(&self) -> CredResult<()> {
        Ok(fsio::remove_file(&self.pending_path())?)
    }

    /// Whether a change was cut short (the caller then takes the lock and
    /// calls `settle`).
    pub fn unsettled(&self) -> bool {
        self.pending_path().exists()
    }

    /// Makes the index agree with the keystore about the pending key: the
    /// stored credential (it holds its own URL and user name) is listed, a
    /// missing one is not. Called under the lock.
    pub fn settle(&self) -> CredResult<()> {
        let Some(key) = self.pending() else {
            return self.end();
        };
        let mut index = self.index()?;
        match self.load(&key)? {
            Some(c) => {
                index.insert(
                    key,
                    IndexEntry {
                        server_url: c.server_url,
                        username: c.username,
                    },
                );
            }
            None => {
                index.remove(&key);
            }
        }
        self.save_index(&index)?;
        self.end()
    }

    fn load(&self, key: &str) -> CredResult<Option<Credentials>> {
        match self.store.get(&Account::Registry(key.into()))? {
            None => Ok(None),
            Some(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
                CredError::Damaged(format!("stored credential for {key} is damaged: {e}"))
            }),
        }
    }
}

impl Helper for KeystoreHelper {
    fn add(&mut self, c: &Credentials) -> CredResult<()> {
        let url = RegistryUrl::parse(&c.server_url)?;
        let key = url.key();
        let blob = serde_json::to_vec(c).expect("credentials serialize");
        self.settle()?;
        self.begin(&key)?;
        self.store.set(&Account::Registry(key.clone()), &blob)?;
        let mut index = self.index()?;
        index.insert(
            key,
            IndexEntry {
                server_url: c.server_url.clone(),
                username: c.username.clone(),
            },
        );
        self.save_index(&index)?;
        self.end()
    }

    fn get(&self, server_url: &str) -> CredResult<(String, String)> {
        let url = RegistryUrl::parse(server_url)?;
        let mut candidates = vec![url.key()];
        // Less specific reads (no port, no path) find a stored credential too.
        for k in self.index()?.keys() {
            if !candidates.contains(k)
                && RegistryUrl::parse(k).is_ok_and(|stored| url.finds(&stored))
            {
                candidates.push(k.clone());
            }
        }
        for k in candidates {
            if let Some(c) = self.load(&k)? {
                return Ok((c.username, c.secret));
            }
        }
        Err(CredError::NotFound)
    }

    fn delete(&mut self, server_url: &str) -> CredResult<()> {
        let key = RegistryUrl::parse(server_url)?.key();
        // A missing entry is not an error: docker-credential-secretservice
        // exits 0 too, so `docker logout` can clean config.json regardless.
        self.settle()?;
        self.begin(&key)?;
        self.store.delete(&Account::Registry(key.clone()))?;
        let mut index = self.index()?;
        if index.remove(&key).is_some() {
            self.save_index(&index)?;
        }
        self.end()
    }

    fn list(&self) -> CredResult<BTreeMap<String, String>> {
        Ok(self
            .index()?
            .into_values()
            .map(|e| (e.server_url, e.username))
            .collect())
    }
}
