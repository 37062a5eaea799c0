//! Where private keys live. Commands talk to the `KeyStore` trait only; the
//! backend is chosen in one place (`open`): the OS keychain (os.rs) or 0600
//! files (file.rs).
//!
//! Accounts (ARCHITECTURE.md, "State layout"): `ca/<ca>`, `client/<identity>`,
//! `server/<name>`, each holding the PKCS#8 DER of a private key (DER rather
//! than PEM text: Windows Credential Manager caps a blob at 2,560 bytes,
//! CRED_MAX_CREDENTIAL_BLOB_SIZE); registry credentials under their URL.

pub mod file;
pub mod os;

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One keystore entry. The names inside are validated names (names.rs), so
/// an account never holds a `/` of its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Account {
    Ca(String),
    Client(String),
    Server(String),
    /// A key made by `request`, until its response is accepted.
    Request(String),
    /// An issuer's token or AppRole secret_id (`issuer add`).
    Issuer(String),
    /// A registry credential, keyed by its normalised URL (credhelper).
    Registry(String),
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Account::Ca(n) => write!(f, "ca/{n}"),
            Account::Client(n) => write!(f, "client/{n}"),
            Account::Server(n) => write!(f, "server/{n}"),
            Account::Request(n) => write!(f, "request/{n}"),
            Account::Issuer(n) => write!(f, "issuer/{n}"),
            Account::Registry(url) => f.write_str(url),
        }
    }
}

/// Which store holds a key, as records write it ("os", "file").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Os,
    File,
    /// The in-memory store of unit tests; never written to a record.
    Memory,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Os => "os",
            Backend::File => "file",
            Backend::Memory => "memory",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub trait KeyStore {
    /// The backend, as recorded in ca.json and identity records.
    fn backend(&self) -> Backend;
    /// Where a user finds the keys, as a phrase: "the file keystore (PATH)".
    fn describe(&self) -> String;
    fn set(&self, account: &Account, secret: &[u8]) -> Result<()>;
    /// `Ok(None)` when there is no such entry.
    fn get(&self, account: &Account) -> Result<Option<Vec<u8>>>;
    /// `Ok(false)` when there was no such entry.
    fn delete(&self, account: &Account) -> Result<bool>;
}

/// The keychain service name of our keys (ARCHITECTURE.md, "State layout").
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
        match crate::environment::var(crate::environment::Var::Keystore) {
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
pub fn open_recorded(backend: Backend, config_dir: &Path) -> Result<Box<dyn KeyStore>> {
    match backend {
        Backend::File => Ok(Box::new(file::FileStore::new(config_dir))),
        Backend::Os => Ok(Box::new(os::OsStore::connect(KEYS_SERVICE)?)),
        Backend::Memory => Err(Error::KeystoreChoice(
            "a record names the in-memory test keystore, which holds nothing".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    /// Windows Credential Manager refuses a blob over 2,560 bytes
    /// (CRED_MAX_CREDENTIAL_BLOB_SIZE), and Wine does not enforce it: every
    /// key type's stored form must fit, RSA-4096 included.
    #[test]
    fn every_key_fits_a_credential_manager_blob() {
        let now = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        for kt in crate::pki::KeyType::ALL {
            let ca = crate::pki::new_ca("size", kt, 1, now).unwrap();
            let len = ca.key_der().len();
            assert!(len <= 2560, "{kt}: {len} bytes");
        }
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
        fn backend(&self) -> Backend {
            Backend::Memory
        }
        fn describe(&self) -> String {
            "memory".into()
        }
        fn set(&self, account: &Account, secret: &[u8]) -> Result<()> {
            self.0
                .borrow_mut()
                .insert(account.to_string(), secret.to_vec());
            Ok(())
        }
        fn get(&self, account: &Account) -> Result<Option<Vec<u8>>> {
            Ok(self.0.borrow().get(&account.to_string()).cloned())
        }
        fn delete(&self, account: &Account) -> Result<bool> {
            Ok(self.0.borrow_mut().remove(&account.to_string()).is_some())
        }
    }
}
