//! The file keystore: one 0600 file per secret in 0700 folders under
//! `$DOCKER_CONFIG/tlsctx/keys/` (our keys) or `tlsctx/registry/`
//! (registry credentials), written atomically.

use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{KeyStore, Namespace};
use crate::error::{Error, Result};
use crate::fsio::{self, SECRET_DIR, SECRET_FILE};

pub const BACKEND: &str = "file";

pub struct FileStore {
    root: PathBuf,
    namespace: Namespace,
}

impl FileStore {
    pub fn new(config_dir: &Path) -> FileStore {
        FileStore::new_in(config_dir, Namespace::Keys)
    }

    pub fn new_in(config_dir: &Path, namespace: Namespace) -> FileStore {
        let root = match namespace {
            Namespace::Keys => config_dir.join("tlsctx/keys"),
            Namespace::Registry => config_dir.join("tlsctx/registry"),
        };
        FileStore { root, namespace }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `ca/default` → `keys/ca/default.key`. Account parts are validated names
    /// (no `/`, no `..`), checked again here so no account escapes the folder.
    fn path(&self, account: &str) -> Result<PathBuf> {
        if self.namespace == Namespace::Registry {
            // Registry accounts are URLs: the file is named by their hash.
            let name = crate::fsio::hex(&Sha256::digest(account.as_bytes()));
            return Ok(self.root.join(format!("{name}.json")));
        }
        let mut p = self.root.clone();
        let parts: Vec<&str> = account.split('/').collect();
        if parts.len() != 2
            || !parts
                .iter()
                .all(|s| crate::context::name_is_valid(s) || *s == "ca")
        {
            return Err(Error::Crypto(format!(
                "invalid keystore account {account:?}"
            )));
        }
        p.push(parts[0]);
        p.push(format!("{}.key", parts[1]));
        Ok(p)
    }
}

impl KeyStore for FileStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn describe(&self) -> String {
        format!("the file keystore ({})", self.root.display())
    }

    fn set(&self, account: &str, secret: &[u8]) -> Result<()> {
        let path = self.path(account)?;
        // The root folder itself is private too, not only the one per kind.
        fsio::create_dir_all(&self.root, SECRET_DIR)?;
        fsio::create_dir_all(path.parent().unwrap(), SECRET_DIR)?;
        fsio::write_atomic(&path, secret, SECRET_FILE)
    }

    fn get(&self, account: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(account)?;
        match fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", &path)(e)),
        }
    }

    fn delete(&self, account: &str) -> Result<bool> {
        let path = self.path(account)?;
        match fs::remove_file(&path) {
            Ok(()) => {
                // The per-kind folder goes once empty (a failure means it is not).
                let _ = fs::remove_dir(path.parent().unwrap());
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io("remove", &path)(e)),
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn round_trip_with_private_modes() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path());
        assert_eq!(store.get("ca/default").unwrap(), None);
        store.set("ca/default", b"secret").unwrap();
        assert_eq!(store.get("ca/default").unwrap().unwrap(), b"secret");
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("tlsctx/keys/ca/default.key")), 0o600);
        assert_eq!(mode(&dir.path().join("tlsctx/keys/ca")), 0o700);
        assert_eq!(mode(&dir.path().join("tlsctx/keys")), 0o700);
        assert!(store.delete("ca/default").unwrap());
        assert!(!store.delete("ca/default").unwrap());
        assert!(store.set("ca/../x", b"").is_err());
    }
}
