//! The file keystore: one 0600 file per secret in 0700 folders under
//! `$DOCKER_CONFIG/tlsctx/keys/` (our keys) or `tlsctx/registry/`
//! (registry credentials), written atomically.

use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{Account, Backend, KeyStore, Namespace};
use crate::error::{Error, Result};
use crate::fsio::{self, SECRET_DIR, SECRET_FILE};

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

    /// `ca/default` → `keys/ca/default.key`. Names are validated when they
    /// come in; checked again here so no account escapes the folder.
    fn path(&self, account: &Account) -> Result<PathBuf> {
        let (kind, name) = match (self.namespace, account) {
            // Registry accounts are URLs: the file is named by their hash.
            (Namespace::Registry, Account::Registry(url)) => {
                let name = crate::text::hex(&Sha256::digest(url.as_bytes()));
                return Ok(self.root.join(format!("{name}.json")));
            }
            (Namespace::Keys, Account::Ca(n)) => ("ca", n),
            (Namespace::Keys, Account::Client(n)) => ("client", n),
            (Namespace::Keys, Account::Server(n)) => ("server", n),
            (Namespace::Keys, Account::Request(n)) => ("request", n),
            (Namespace::Keys, Account::Issuer(n)) => ("issuer", n),
            _ => {
                return Err(Error::Crypto(format!(
                    "keystore account {account} does not belong in {}",
                    self.root.display()
                )))
            }
        };
        if !crate::names::is_valid(name) {
            return Err(Error::Crypto(format!(
                "invalid keystore account {account:?}"
            )));
        }
        Ok(self.root.join(kind).join(format!("{name}.key")))
    }
}

impl KeyStore for FileStore {
    fn backend(&self) -> Backend {
        Backend::File
    }

    fn describe(&self) -> String {
        format!("the file keystore ({})", self.root.display())
    }

    fn set(&self, account: &Account, secret: &[u8]) -> Result<()> {
        let path = self.path(account)?;
        // The root folder itself is private too, not only the one per kind.
        fsio::create_dir_all(&self.root, SECRET_DIR)?;
        fsio::create_dir_all(path.parent().unwrap(), SECRET_DIR)?;
        fsio::write_atomic(&path, secret, SECRET_FILE)
    }

    fn get(&self, account: &Account) -> Result<Option<Vec<u8>>> {
        let path = self.path(account)?;
        // A planted link would make us read (and use as a key) any file.
        fsio::refuse_symlink(&path)?;
        match fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", &path)(e)),
        }
    }

    fn delete(&self, account: &Account) -> Result<bool> {
        let path = self.path(account)?;
        fsio::step("remove").map_err(Error::io("remove", &path))?;
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
        let ca = Account::Ca("default".into());
        assert_eq!(store.get(&ca).unwrap(), None);
        store.set(&ca, b"secret").unwrap();
        assert_eq!(store.get(&ca).unwrap().unwrap(), b"secret");
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("tlsctx/keys/ca/default.key")), 0o600);
        assert_eq!(mode(&dir.path().join("tlsctx/keys/ca")), 0o700);
        assert_eq!(mode(&dir.path().join("tlsctx/keys")), 0o700);
        assert!(store.delete(&ca).unwrap());
        assert!(!store.delete(&ca).unwrap());
        assert!(store.set(&Account::Ca("..".into()), b"").is_err());
        assert!(store.set(&Account::Client("../x".into()), b"").is_err());
    }
}
