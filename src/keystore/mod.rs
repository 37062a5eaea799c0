//! Where private keys live. Commands talk to the `KeyStore` trait only; the
//! backend is chosen in one place (`open`): the OS keychain (os.rs) or 0600
//! files (file.rs).
//!
//! Accounts (DESIGN §9): `ca/<ca>`, `client/<identity>`, `server/<name>`,
//! each holding the PKCS#8 DER of a private key (DER rather than PEM text:
//! Windows Credential Manager caps a blob at 2,560 bytes).

pub mod file;
pub mod os;

use std::path::Path;

use crate::error::{Error, Result};

pub trait KeyStore {
    /// The backend's name as recorded in ca.json and identity records.
    fn backend(&self) -> &'static str;
    /// Where a user finds the keys, as a phrase: "the file keystore (PATH)".
    fn describe(&self) -> String;
    fn set(&self, account: &str, secret: &[u8]) -> Result<()>;
    /// `Ok(None)` when there is no such entry.
    fn get(&self, account: &str) -> Result<Option<Vec<u8>>>;
    /// `Ok(false)` when there was no such entry.
    fn delete(&self, account: &str) -> Result<bool>;
}

/// The keychain service name of our keys (DESIGN §9).
pub const KEYS_SERVICE: &str = "docker-tlsctx";
/// Registry credentials live under a service of their own, so that nothing
/// that lists them (the credential helper's `list`) can reach a TLS key.
pub const REGISTRY_SERVICE: &str = "docker-tlsctx-registry";

/// Which of the two namespaces a store serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Namespace {
    Keys,
    Registry,
}

impl Namespace {
    fn service(self) -> &'static str {
        match self {
            Namespace::Keys => KEYS_SERVICE,
            Namespace::Registry => REGISTRY_SERVICE,
        }
    }
}

/// The user's choice: `--keystore` or `DOCKER_TLSCTX_KEYSTORE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// The OS keychain when one answers, else the file store with a warning.
    Auto,
    /// The OS keychain or an error.
    Os,
    File,
}

impl std::str::FromStr for Choice {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(Choice::Auto),
            "os" => Ok(Choice::Os),
            "file" => Ok(Choice::File),
            _ => Err(format!("unknown keystore {s:?}; choose auto, os or file")),
        }
    }
}

impl Choice {
    pub fn from_env() -> Result<Choice> {
        match std::env::var("DOCKER_TLSCTX_KEYSTORE") {
            Ok(v) if !v.is_empty() => v.parse().map_err(Error::KeystoreChoice),
            _ => Ok(Choice::Auto),
        }
    }
}

/// Opens the backend for `choice`: the one place a backend is chosen.
pub fn open(choice: Choice, config_dir: &Path) -> Result<Box<dyn KeyStore>> {
    open_in(choice, config_dir, Namespace::Keys)
}

pub fn open_in(choice: Choice, config_dir: &Path, ns: Namespace) -> Result<Box<dyn KeyStore>> {
    match choice {
        Choice::File => Ok(Box::new(file::FileStore::new_in(config_dir, ns))),
        Choice::Os => Ok(Box::new(os::OsStore::connect(ns.service())?)),
        Choice::Auto => match os::OsStore::connect(ns.service()) {
            Ok(s) => Ok(Box::new(s)),
            Err(Error::KeystoreUnavailable { backend, why, .. }) => {
                let f = file::FileStore::new_in(config_dir, ns);
                eprintln!(
                    "Warning: no OS keychain answered ({backend}: {why}); keys go to the file store in {}. \
                     Start a keychain (a desktop session's gnome-keyring or KWallet) or pass --keystore file to choose the file store.",
                    f.root().display()
                );
                Ok(Box::new(f))
            }
            Err(e) => Err(e),
        },
    }
}

/// Opens the backend a record names (ca.json, identity records), so a key is
/// found where it was put even if the default changed since.
pub fn open_recorded(backend: &str, config_dir: &Path) -> Result<Box<dyn KeyStore>> {
    match backend {
        file::BACKEND => Ok(Box::new(file::FileStore::new(config_dir))),
        os::BACKEND => Ok(Box::new(os::OsStore::connect(KEYS_SERVICE)?)),
        other => Err(Error::KeystoreChoice(format!(
            "a record names the keystore {other:?}, which this build does not know"
        ))),
    }
}

#[doc(hidden)]
pub mod memory {
    //! An in-memory store for unit tests of the logic above the trait.
    use super::*;
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    #[derive(Default)]
    pub struct MemoryStore(pub RefCell<BTreeMap<String, Vec<u8>>>);

    impl KeyStore for MemoryStore {
        fn backend(&self) -> &'static str {
            "memory"
        }
        fn describe(&self) -> String {
            "memory".into()
        }
        fn set(&self, account: &str, secret: &[u8]) -> Result<()> {
            self.0.borrow_mut().insert(account.into(), secret.to_vec());
            Ok(())
        }
        fn get(&self, account: &str) -> Result<Option<Vec<u8>>> {
            Ok(self.0.borrow().get(account).cloned())
        }
        fn delete(&self, account: &str) -> Result<bool> {
            Ok(self.0.borrow_mut().remove(account).is_some())
        }
    }
}
